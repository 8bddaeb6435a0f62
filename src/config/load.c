#include "config/load.h"

#include "core/config.h"

#include <curl/curl.h>
#include <openssl/ssl.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <yaml.h>

#include "core/forwarding.h"
#include "core/log.h"
#include "core/random.h"
#include "engines/engine.h"

enum { MAX_CONFIG_BYTES = 4 * 1024 * 1024 };

/* What the walker needs while it validates one document. */
typedef struct loader {
    const char *file;
    yaml_document_t doc;
    gw_config *cfg;
    gw_config_errors *errs;
    const char *sim_base_url;
} loader;

static void add_error(loader *ld, const yaml_node_t *node, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void add_error(loader *ld, const yaml_node_t *node, const char *fmt, ...) {
    if (ld->errs->count >= GW_CONFIG_MAX_ERRORS) return;
    char *out = ld->errs->messages[ld->errs->count++];
    size_t cap = sizeof ld->errs->messages[0];
    int n = snprintf(out, cap, "%s:%zu:%zu: ", ld->file, node ? node->start_mark.line + 1 : 1,
                     node ? node->start_mark.column + 1 : 1);
    if (n < 0 || (size_t)n >= cap) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out + n, cap - (size_t)n, fmt, ap);
    va_end(ap);
}

static const char *node_kind(const yaml_node_t *node) {
    switch (node->type) {
    case YAML_SCALAR_NODE:
        return "a scalar";
    case YAML_SEQUENCE_NODE:
        return "a list";
    case YAML_MAPPING_NODE:
        return "a mapping";
    default:
        return "nothing";
    }
}

static yaml_node_t *node_at(loader *ld, int index) {
    return yaml_document_get_node(&ld->doc, index);
}

static int expect_kind(loader *ld, yaml_node_t *node, yaml_node_type_t type, const char *what) {
    if (node->type == type) return 0;
    add_error(ld, node, "expected %s for %s, found %s",
              type == YAML_MAPPING_NODE    ? "a mapping"
              : type == YAML_SEQUENCE_NODE ? "a list"
                                           : "a scalar",
              what, node_kind(node));
    return -1;
}

/* Expands a scalar that is exactly ${VAR} or ${VAR:-default} from the environment, so secrets
 * (API keys, the admin token) stay out of the file. */
static const char *expand_scalar(loader *ld, yaml_node_t *node) {
    const char *raw = (const char *)node->data.scalar.value;
    size_t len = node->data.scalar.length;
    if (len < 4 || raw[0] != '$' || raw[1] != '{' || raw[len - 1] != '}')
        return gw_arena_strndup(&ld->cfg->arena, raw, len);
    char name[128];
    const char *inner = raw + 2;
    size_t inner_len = len - 3;
    const char *dflt = NULL;
    size_t dflt_len = 0;
    const char *sep = memmem(inner, inner_len, ":-", 2);
    size_t name_len = sep ? (size_t)(sep - inner) : inner_len;
    if (sep) {
        dflt = sep + 2;
        dflt_len = inner_len - name_len - 2;
    }
    if (name_len == 0 || name_len >= sizeof name) {
        add_error(ld, node, "expected an environment variable name inside ${...}");
        return NULL;
    }
    memcpy(name, inner, name_len);
    name[name_len] = '\0';
    const char *value = getenv(name);
    if (value) return gw_arena_strdup(&ld->cfg->arena, value);
    if (dflt) return gw_arena_strndup(&ld->cfg->arena, dflt, dflt_len);
    add_error(ld, node, "environment variable %s is not set (write ${%s:-default} for a default)",
              name, name);
    return NULL;
}

static const char *get_string(loader *ld, yaml_node_t *node, const char *what) {
    if (expect_kind(ld, node, YAML_SCALAR_NODE, what) < 0) return NULL;
    return expand_scalar(ld, node);
}

static int get_int(loader *ld, yaml_node_t *node, const char *what, long min, long max, long *out) {
    if (expect_kind(ld, node, YAML_SCALAR_NODE, what) < 0) return -1;
    const char *s = (const char *)node->data.scalar.value;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max) {
        add_error(ld, node, "expected an integer from %ld to %ld for %s, found '%s'", min, max,
                  what, s);
        return -1;
    }
    *out = v;
    return 0;
}

static int get_bool(loader *ld, yaml_node_t *node, const char *what, int *out) {
    if (expect_kind(ld, node, YAML_SCALAR_NODE, what) < 0) return -1;
    const char *s = (const char *)node->data.scalar.value;
    if (!strcmp(s, "true") || !strcmp(s, "yes") || !strcmp(s, "on")) {
        *out = 1;
        return 0;
    }
    if (!strcmp(s, "false") || !strcmp(s, "no") || !strcmp(s, "off")) {
        *out = 0;
        return 0;
    }
    add_error(ld, node, "expected true or false for %s, found '%s'", what, s);
    return -1;
}

/* "host:port", ":port", "[v6]:port", or "off". */
static void get_listen(loader *ld, yaml_node_t *node, const char *what, gw_listen *out) {
    const char *s = get_string(ld, node, what);
    if (!s) return;
    if (!*s || !strcmp(s, "off") || !strcmp(s, "false")) {
        out->host = NULL;
        return;
    }
    const char *colon = strrchr(s, ':');
    char *end;
    long port = colon ? strtol(colon + 1, &end, 10) : 0;
    if (!colon || colon[1] == '\0' || *end || port < 1 || port > 65535) {
        add_error(ld, node, "expected host:port (or off) for %s, found '%s'", what, s);
        return;
    }
    const char *host = s;
    size_t host_len = (size_t)(colon - s);
    if (host_len >= 2 && host[0] == '[' && host[host_len - 1] == ']') {
        host++;
        host_len -= 2;
    }
    out->host = host_len ? gw_arena_strndup(&ld->cfg->arena, host, host_len) : "0.0.0.0";
    out->port = (int)port;
}

typedef void (*key_handler)(loader *ld, yaml_node_t *value, void *target);
typedef struct key_spec {
    const char *key;
    key_handler handle;
} key_spec;

/* A key written twice in one mapping is an error naming both places: YAML parsers disagree on
 * which one wins, and a handler run twice would see a second list where it sized the first. */
static int duplicate_key(loader *ld, yaml_node_t *node, yaml_node_pair_t *pair, const char *what) {
    yaml_node_t *key = node_at(ld, pair->key);
    for (yaml_node_pair_t *p = node->data.mapping.pairs.start; p < pair; p++) {
        yaml_node_t *earlier = node_at(ld, p->key);
        if (earlier->type == YAML_SCALAR_NODE &&
            earlier->data.scalar.length == key->data.scalar.length &&
            !memcmp(earlier->data.scalar.value, key->data.scalar.value, key->data.scalar.length)) {
            add_error(ld, key, "duplicate key '%s' in %s (first at line %zu, column %zu)",
                      (const char *)key->data.scalar.value, what, earlier->start_mark.line + 1,
                      earlier->start_mark.column + 1);
            return 1;
        }
    }
    return 0;
}

/* Walks a mapping, dispatching known keys and reporting unknown ones with the list of valid. */
static void walk_mapping(loader *ld, yaml_node_t *node, const char *what, const key_spec *specs,
                         void *target) {
    if (expect_kind(ld, node, YAML_MAPPING_NODE, what) < 0) return;
    for (yaml_node_pair_t *pair = node->data.mapping.pairs.start;
         pair < node->data.mapping.pairs.top; pair++) {
        yaml_node_t *key = node_at(ld, pair->key), *value = node_at(ld, pair->value);
        if (key->type != YAML_SCALAR_NODE) {
            add_error(ld, key, "expected a key name in %s", what);
            continue;
        }
        if (duplicate_key(ld, node, pair, what)) continue;
        const char *name = (const char *)key->data.scalar.value;
        const key_spec *spec = specs;
        while (spec->key && strcmp(spec->key, name))
            spec++;
        if (spec->key) {
            spec->handle(ld, value, target);
            continue;
        }
        char expected[256] = "";
        size_t n = 0;
        for (spec = specs; spec->key && n < sizeof expected - 40; spec++)
            n += (size_t)snprintf(expected + n, sizeof expected - n, "%s%s",
                                  spec == specs ? "" : ", ", spec->key);
        add_error(ld, key, "unknown key '%s' in %s (expected one of: %s)", name, what, expected);
    }
}

#define INT_FIELD(fn, field, what, min, max)                                                       \
    static void fn(loader *ld, yaml_node_t *v, void *t) {                                          \
        long x;                                                                                    \
        if (get_int(ld, v, what, min, max, &x) == 0) field = (__typeof__(field))x;                 \
    }

/* --- server --- */
static void h_http(loader *ld, yaml_node_t *v, void *t);
static void h_https(loader *ld, yaml_node_t *v, void *t);
static void h_admin(loader *ld, yaml_node_t *v, void *t);
INT_FIELD(h_workers, ((gw_config *)t)->workers, "server.workers", 0, 256)
INT_FIELD(h_max_body, ((gw_config *)t)->max_body_bytes, "server.max_body_bytes", 1024, 1L << 30)
INT_FIELD(h_max_response, ((gw_config *)t)->max_response_bytes, "server.max_response_bytes", 1024,
          1L << 31)
INT_FIELD(h_max_event, ((gw_config *)t)->max_event_bytes, "server.max_event_bytes", 1024, 1L << 30)
INT_FIELD(h_max_conns, ((gw_config *)t)->max_connections, "server.max_connections", 1, 1000000)
INT_FIELD(h_request_timeout, ((gw_config *)t)->request_timeout_ms, "server.request_timeout_ms", 100,
          3600000)
INT_FIELD(h_max_header, ((gw_config *)t)->max_header_bytes, "server.max_header_bytes", 1024,
          1L << 20)
INT_FIELD(h_shutdown, ((gw_config *)t)->shutdown_timeout_ms, "server.shutdown_timeout_ms", 0,
          3600000)
INT_FIELD(h_keepalive, ((gw_config *)t)->keepalive_timeout_ms, "server.keepalive_timeout_ms", 100,
          3600000)
INT_FIELD(h_client_timeout, ((gw_config *)t)->client_timeout_ms, "server.client_timeout_ms", 100,
          3600000)

static void h_listen(loader *ld, yaml_node_t *v, void *t) {
    get_listen(ld, v, "listen", t);
}
static void h_cert(loader *ld, yaml_node_t *v, void *t) {
    ((gw_config *)t)->tls_cert = get_string(ld, v, "server.https.cert");
}
static void h_key(loader *ld, yaml_node_t *v, void *t) {
    ((gw_config *)t)->tls_key = get_string(ld, v, "server.https.key");
}
static void h_self_signed(loader *ld, yaml_node_t *v, void *t) {
    get_bool(ld, v, "server.https.self_signed", &((gw_config *)t)->tls_self_signed);
}
static void h_token(loader *ld, yaml_node_t *v, void *t) {
    ((gw_config *)t)->admin_token = get_string(ld, v, "server.admin.token");
}

static void h_http(loader *ld, yaml_node_t *v, void *t) {
    gw_config *cfg = t;
    static const key_spec specs[] = {{"listen", h_listen}, {NULL, NULL}};
    walk_mapping(ld, v, "server.http", specs, &cfg->http);
}

static void h_https_listen(loader *ld, yaml_node_t *v, void *t) {
    get_listen(ld, v, "server.https.listen", &((gw_config *)t)->https);
}
static void h_https(loader *ld, yaml_node_t *v, void *t) {
    static const key_spec specs[] = {{"listen", h_https_listen},
                                     {"cert", h_cert},
                                     {"key", h_key},
                                     {"self_signed", h_self_signed},
                                     {NULL, NULL}};
    walk_mapping(ld, v, "server.https", specs, t);
}

static void h_admin_listen(loader *ld, yaml_node_t *v, void *t) {
    get_listen(ld, v, "server.admin.listen", &((gw_config *)t)->admin);
}
static void h_admin(loader *ld, yaml_node_t *v, void *t) {
    static const key_spec specs[] = {{"listen", h_admin_listen}, {"token", h_token}, {NULL, NULL}};
    walk_mapping(ld, v, "server.admin", specs, t);
}

static void h_server(loader *ld, yaml_node_t *v, void *t) {
    static const key_spec specs[] = {{"workers", h_workers},
                                     {"http", h_http},
                                     {"https", h_https},
                                     {"admin", h_admin},
                                     {"max_body_bytes", h_max_body},
                                     {"max_response_bytes", h_max_response},
                                     {"max_event_bytes", h_max_event},
                                     {"max_header_bytes", h_max_header},
                                     {"max_connections", h_max_conns},
                                     {"request_timeout_ms", h_request_timeout},
                                     {"shutdown_timeout_ms", h_shutdown},
                                     {"keepalive_timeout_ms", h_keepalive},
                                     {"client_timeout_ms", h_client_timeout},
                                     {NULL, NULL}};
    walk_mapping(ld, v, "server", specs, t);
}

/* --- log --- */
static void h_access(loader *ld, yaml_node_t *v, void *t) {
    ((gw_config *)t)->access_log = get_string(ld, v, "log.access");
}
static void h_level(loader *ld, yaml_node_t *v, void *t) {
    const char *s = get_string(ld, v, "log.level");
    static const char *const names[] = {"debug", "info", "warn", "error"};
    for (int i = 0; s && i < 4; i++)
        if (!strcmp(s, names[i])) {
            ((gw_config *)t)->log_level = i;
            return;
        }
    if (s) add_error(ld, v, "expected debug, info, warn or error for log.level, found '%s'", s);
}
static void h_log(loader *ld, yaml_node_t *v, void *t) {
    static const key_spec specs[] = {{"access", h_access}, {"level", h_level}, {NULL, NULL}};
    walk_mapping(ld, v, "log", specs, t);
}

/* --- channels --- */
static void h_ch_name(loader *ld, yaml_node_t *v, void *t) {
    ((gw_channel *)t)->name = get_string(ld, v, "channel name");
}
static void h_ch_type(loader *ld, yaml_node_t *v, void *t) {
    gw_channel *ch = t;
    ch->type = get_string(ld, v, "channel type");
    if (!ch->type) return;
    ch->engine = gw_engine_find(ch->type);
    if (!ch->engine)
        add_error(ld, v, "unknown channel type '%s' (expected one of: %s)", ch->type,
                  gw_engine_names());
}
static void h_ch_base_url(loader *ld, yaml_node_t *v, void *t) {
    gw_channel *ch = t;
    ch->base_url = get_string(ld, v, "channel base_url");
    if (!ch->base_url) return;
    if (strcmp(ch->base_url, "builtin:sim") && strncmp(ch->base_url, "http://", 7) &&
        strncmp(ch->base_url, "https://", 8))
        add_error(ld, v, "expected an http:// or https:// URL, or builtin:sim, found '%s'",
                  ch->base_url);
}
static void h_ch_api_key(loader *ld, yaml_node_t *v, void *t) {
    ((gw_channel *)t)->api_key = get_string(ld, v, "channel api_key");
}
INT_FIELD(h_ch_max_conn, ((gw_channel *)t)->max_connections, "channel max_connections", 1, 100000)
INT_FIELD(h_to_connect, ((gw_timeouts *)t)->connect_ms, "timeouts.connect_ms", 1, 3600000)
INT_FIELD(h_to_first, ((gw_timeouts *)t)->first_byte_ms, "timeouts.first_byte_ms", 1, 3600000)
INT_FIELD(h_to_idle, ((gw_timeouts *)t)->idle_ms, "timeouts.idle_ms", 1, 3600000)
INT_FIELD(h_to_total, ((gw_timeouts *)t)->total_ms, "timeouts.total_ms", 1, 86400000)
static void h_ch_timeouts(loader *ld, yaml_node_t *v, void *t) {
    static const key_spec specs[] = {{"connect_ms", h_to_connect},
                                     {"first_byte_ms", h_to_first},
                                     {"idle_ms", h_to_idle},
                                     {"total_ms", h_to_total},
                                     {NULL, NULL}};
    walk_mapping(ld, v, "channel timeouts", specs, &((gw_channel *)t)->timeouts);
}
static void h_ch_forward(loader *ld, yaml_node_t *v, void *t) {
    gw_channel *ch = t;
    if (expect_kind(ld, v, YAML_SEQUENCE_NODE, "channel forward_headers") < 0) return;
    size_t n = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
    ch->forward_headers = gw_arena_alloc(&ld->cfg->arena, (n + 1) * sizeof(char *));
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *item = node_at(ld, v->data.sequence.items.start[i]);
        const char *h = get_string(ld, item, "a forward_headers entry");
        if (!h) continue;
        if (gw_header_never_forwarded(h, strlen(h))) {
            add_error(ld, item,
                      "forward_headers: '%s' is never forwarded (a hop-by-hop, framing or "
                      "credential header the gateway sets itself)",
                      h);
            continue;
        }
        char *lower = gw_arena_strdup(&ld->cfg->arena, h);
        for (char *p = lower; *p; p++)
            if (*p >= 'A' && *p <= 'Z') *p = (char)(*p + 32);
        ch->forward_headers[ch->forward_header_count++] = lower;
    }
}

static void h_channels(loader *ld, yaml_node_t *v, void *t) {
    gw_config *cfg = t;
    if (expect_kind(ld, v, YAML_SEQUENCE_NODE, "channels") < 0) return;
    size_t n = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
    cfg->channels = gw_arena_alloc(&cfg->arena, (n ? n : 1) * sizeof(gw_channel));
    static const key_spec specs[] = {{"name", h_ch_name},
                                     {"type", h_ch_type},
                                     {"base_url", h_ch_base_url},
                                     {"api_key", h_ch_api_key},
                                     {"timeouts", h_ch_timeouts},
                                     {"forward_headers", h_ch_forward},
                                     {"max_connections", h_ch_max_conn},
                                     {NULL, NULL}};
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *item = node_at(ld, v->data.sequence.items.start[i]);
        gw_channel *ch = &cfg->channels[cfg->channel_count++];
        ch->line = (int)item->start_mark.line + 1;
        ch->type = "openai";
        ch->engine = gw_engine_find("openai");
        ch->timeouts = (gw_timeouts){
            .connect_ms = 5000, .first_byte_ms = 120000, .idle_ms = 60000, .total_ms = 1800000};
        ch->max_connections = 256;
        walk_mapping(ld, item, "a channel", specs, ch);
        if (item->type != YAML_MAPPING_NODE) continue;
        if (!ch->name) add_error(ld, item, "channel needs a name");
        if (!ch->base_url)
            add_error(ld, item, "channel '%s' needs a base_url", ch->name ? ch->name : "?");
        for (size_t j = 0; ch->name && j + 1 < cfg->channel_count; j++)
            if (cfg->channels[j].name && !strcmp(cfg->channels[j].name, ch->name))
                add_error(ld, item, "channel '%s' is defined twice (first at line %d)", ch->name,
                          cfg->channels[j].line);
    }
}

/* --- models --- */
typedef struct model_draft {
    gw_model *model;
    const char *channel_name;
    yaml_node_t *channel_node;
} model_draft;

static void h_m_name(loader *ld, yaml_node_t *v, void *t) {
    ((model_draft *)t)->model->name = get_string(ld, v, "model name");
}
static void h_m_channel(loader *ld, yaml_node_t *v, void *t) {
    model_draft *d = t;
    d->channel_name = get_string(ld, v, "model channel");
    d->channel_node = v;
}
static void h_m_upstream(loader *ld, yaml_node_t *v, void *t) {
    ((model_draft *)t)->model->upstream_model = get_string(ld, v, "model upstream_model");
}

/* Sized for the worst case (every byte escaped as \u00XX), so no name is ever cut. */
static const char *json_string_literal(gw_arena *arena, const char *s, size_t *len_out) {
    size_t len = strlen(s), cap = len * 6 + 1;
    char *lit = gw_arena_alloc(arena, cap + 2);
    size_t n = gw_json_escape(lit + 1, cap, s, len);
    lit[0] = '"';
    lit[n + 1] = '"';
    lit[n + 2] = '\0';
    *len_out = n + 2;
    return lit;
}

static void h_models(loader *ld, yaml_node_t *v, void *t) {
    gw_config *cfg = t;
    if (expect_kind(ld, v, YAML_SEQUENCE_NODE, "models") < 0) return;
    size_t n = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
    cfg->models = gw_arena_alloc(&cfg->arena, (n ? n : 1) * sizeof(gw_model));
    static const key_spec specs[] = {{"name", h_m_name},
                                     {"channel", h_m_channel},
                                     {"upstream_model", h_m_upstream},
                                     {NULL, NULL}};
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *item = node_at(ld, v->data.sequence.items.start[i]);
        gw_model *m = &cfg->models[cfg->model_count++];
        model_draft d = {.model = m};
        walk_mapping(ld, item, "a model", specs, &d);
        if (item->type != YAML_MAPPING_NODE) continue;
        if (!m->name || !*m->name) {
            add_error(ld, item, "model needs a name");
            continue;
        }
        m->name_len = strlen(m->name);
        if (!m->upstream_model || !*m->upstream_model) m->upstream_model = m->name;
        m->upstream_model_len = strlen(m->upstream_model);
        m->rewrite = strcmp(m->name, m->upstream_model) != 0;
        m->name_json = json_string_literal(&cfg->arena, m->name, &m->name_json_len);
        m->upstream_model_json =
            json_string_literal(&cfg->arena, m->upstream_model, &m->upstream_model_json_len);
        if (!d.channel_name) {
            add_error(ld, item, "model '%s' needs a channel", m->name);
        } else {
            for (size_t j = 0; j < cfg->channel_count; j++)
                if (cfg->channels[j].name && !strcmp(cfg->channels[j].name, d.channel_name))
                    m->channel = &cfg->channels[j];
            if (!m->channel)
                add_error(ld, d.channel_node, "model '%s' names channel '%s', which is not defined",
                          m->name, d.channel_name);
        }
        for (size_t j = 0; j + 1 < cfg->model_count; j++)
            if (cfg->models[j].name && !strcmp(cfg->models[j].name, m->name))
                add_error(ld, item, "model '%s' is defined twice", m->name);
    }
}

static void build_model_index(gw_config *cfg) {
    size_t slots = 8;
    while (slots < cfg->model_count * 2)
        slots *= 2;
    cfg->model_slots = gw_arena_alloc(&cfg->arena, slots * sizeof(uint32_t));
    cfg->model_slot_mask = slots - 1;
    for (size_t i = 0; i < cfg->model_count; i++) {
        const gw_model *m = &cfg->models[i];
        if (!m->name) continue;
        size_t s = gw_config_name_hash(m->name, m->name_len) & cfg->model_slot_mask;
        while (cfg->model_slots[s])
            s = (s + 1) & cfg->model_slot_mask;
        cfg->model_slots[s] = (uint32_t)i + 1;
    }
}

/* Per-channel data built once per snapshot so requests format nothing. */
static void finish_channel(loader *ld, gw_channel *ch) {
    const char *base = ch->base_url;
    if (!base) return;
    if (!strcmp(base, "builtin:sim")) {
        if (!ld->sim_base_url) return; /* `check` validates without a running simulator */
        base = ld->sim_base_url;
    }
    size_t base_len = strlen(base);
    while (base_len && base[base_len - 1] == '/')
        base_len--;
    static const char *const suffix[GW_API_COUNT] = {"/chat/completions", "/completions",
                                                     "/embeddings"};
    for (int api = 0; api < GW_API_COUNT; api++) {
        size_t slen = strlen(suffix[api]);
        char *url = gw_arena_alloc(&ld->cfg->arena, base_len + slen + 1);
        memcpy(url, base, base_len);
        memcpy(url + base_len, suffix[api], slen + 1);
        ch->url[api] = url;
    }
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    h = curl_slist_append(h, "Expect:"); /* no 100-continue round trip */
    if (ch->api_key && *ch->api_key) {
        char auth[1100];
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", ch->api_key);
        h = curl_slist_append(h, auth);
    }
    ch->headers = h;
}

static void apply_defaults(gw_config *cfg) {
    cfg->http = (gw_listen){"0.0.0.0", 8080};
    cfg->https = (gw_listen){NULL, 8443};
    cfg->admin = (gw_listen){"127.0.0.1", 9090};
    cfg->max_body_bytes = 10 * 1024 * 1024;
    cfg->max_response_bytes = 32 * 1024 * 1024;
    cfg->max_event_bytes = 1024 * 1024;
    cfg->max_connections = 10000;
    cfg->request_timeout_ms = 60000;
    cfg->max_header_bytes = 64 * 1024;
    cfg->shutdown_timeout_ms = 30000;
    cfg->keepalive_timeout_ms = 75000;
    cfg->client_timeout_ms = 300000;
    cfg->access_log = "stdout";
    cfg->log_level = 1;
}

static void finish_config(loader *ld) {
    gw_config *cfg = ld->cfg;
    if (cfg->https.host && (!cfg->tls_cert || !cfg->tls_key))
        add_error(ld, NULL, "server.https needs cert and key (or listen: off)");
    if (cfg->model_count == 0) add_error(ld, NULL, "at least one model is needed under models:");
    if (!cfg->admin_token || !*cfg->admin_token) {
        char token[33];
        gw_random_hex(token, 16);
        cfg->admin_token = gw_arena_strdup(&cfg->arena, token);
        cfg->admin_token_generated = 1;
    }
    for (size_t i = 0; i < cfg->channel_count; i++)
        finish_channel(ld, &cfg->channels[i]);
    build_model_index(cfg);
}

gw_config *gw_config_load_string(const char *name, const char *yaml, size_t len,
                                 const char *sim_base_url, gw_config_errors *errs) {
    errs->count = 0;
    gw_config *cfg = calloc(1, sizeof *cfg);
    if (!cfg) return NULL;
    atomic_init(&cfg->refs, 1);
    apply_defaults(cfg);
    loader ld = {.file = name, .cfg = cfg, .errs = errs, .sim_base_url = sim_base_url};

    yaml_parser_t parser;
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_string(&parser, (const unsigned char *)yaml, len);
    if (!yaml_parser_load(&parser, &ld.doc)) {
        yaml_node_t where = {.start_mark = parser.problem_mark};
        add_error(&ld, &where, "invalid YAML: %s%s%s", parser.problem ? parser.problem : "error",
                  parser.context ? " " : "", parser.context ? parser.context : "");
        yaml_parser_delete(&parser);
        gw_config_unref(cfg);
        return NULL;
    }
    yaml_parser_delete(&parser);

    yaml_node_t *root = yaml_document_get_root_node(&ld.doc);
    if (!root) {
        add_error(&ld, NULL, "the config is empty: expected a mapping with models: and channels:");
    } else {
        /* channels before models, whatever the file's order, so models can name them */
        static const key_spec first_pass[] = {{"server", h_server},
                                              {"log", h_log},
                                              {"channels", h_channels},
                                              {"models", NULL},
                                              {NULL, NULL}};
        yaml_node_t *models = NULL;
        if (expect_kind(&ld, root, YAML_MAPPING_NODE, "the config") == 0) {
            for (yaml_node_pair_t *p = root->data.mapping.pairs.start;
                 p < root->data.mapping.pairs.top; p++) {
                yaml_node_t *k = node_at(&ld, p->key);
                const char *kn =
                    k->type == YAML_SCALAR_NODE ? (const char *)k->data.scalar.value : "";
                if (k->type == YAML_SCALAR_NODE && duplicate_key(&ld, root, p, "the config"))
                    continue;
                const key_spec *s = first_pass;
                while (s->key && strcmp(s->key, kn))
                    s++;
                if (!s->key)
                    add_error(&ld, k,
                              "unknown key '%s' at the top level (expected one of: server, log, "
                              "channels, models)",
                              kn);
                else if (s->handle)
                    s->handle(&ld, node_at(&ld, p->value), cfg);
                else
                    models = node_at(&ld, p->value);
            }
            if (models) h_models(&ld, models, cfg);
        }
        finish_config(&ld);
    }
    yaml_document_delete(&ld.doc);
    if (errs->count) {
        gw_config_unref(cfg);
        return NULL;
    }
    return cfg;
}

gw_config *gw_config_load(const char *path, const char *sim_base_url, gw_config_errors *errs) {
    errs->count = 0;
    if (!path)
        return gw_config_load_string("<default>", gw_default_config_yaml,
                                     strlen(gw_default_config_yaml), sim_base_url, errs);
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(errs->messages[0], sizeof errs->messages[0], "%s:1:1: cannot open: %s", path,
                 strerror(errno));
        errs->count = 1;
        return NULL;
    }
    char *buf = malloc(MAX_CONFIG_BYTES + 1);
    size_t len = buf ? fread(buf, 1, MAX_CONFIG_BYTES + 1, f) : 0;
    fclose(f);
    if (!buf || len > MAX_CONFIG_BYTES) {
        snprintf(errs->messages[0], sizeof errs->messages[0], "%s:1:1: larger than %d bytes", path,
                 MAX_CONFIG_BYTES);
        errs->count = 1;
        free(buf);
        return NULL;
    }
    gw_config *cfg = gw_config_load_string(path, buf, len, sim_base_url, errs);
    free(buf);
    if (cfg) cfg->source = gw_arena_strdup(&cfg->arena, path);
    return cfg;
}

int gw_config_wants_sim(const gw_config *cfg) {
    for (size_t i = 0; i < cfg->channel_count; i++)
        if (cfg->channels[i].base_url && !strcmp(cfg->channels[i].base_url, "builtin:sim"))
            return 1;
    return 0;
}
