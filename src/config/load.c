#include "config/load.h"
#include "config/load_alerts.h"
#include "config/loader.h"
#include "config/load_metering.h"
#include "config/load_metrics.h"
#include "config/env_refs.h"
#include "config/load_mcp.h"
#include "mcp/mcp-t.h"

#include "core/config.h"

#include <curl/curl.h>
#include <openssl/ssl.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "core/forwarding.h"
#include "core/log.h"
#include "core/random.h"
#include "engines/engine.h"
#include "filters/filter.h"
#include "route/route.h"
#include "security/cidr_list.h"
#include "security/jwt_cache.h"
#include "filters/auth.h"
#include "filters/limits.h"
#include "filters/pii_guard.h"
#include "store/keys_secret.h"
#include "filters/words_guard.h"
#include "route/rules.h"
#include "upstream/endpoints.h"
#include "upstream/pools.h"

enum { MAX_CONFIG_BYTES = 4 * 1024 * 1024 };
#define INT_FIELD(fn, field, what, min, max)                                                       \
    static void fn(loader *ld, yaml_node_t *v, void *t) {                                          \
        long x;                                                                                    \
        if (ld_int(ld, v, what, min, max, &x) == 0) field = (__typeof__(field))x;                  \
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
    ld_listen(ld, v, "listen", t);
}
static void h_cert(loader *ld, yaml_node_t *v, void *t) {
    ((gw_config *)t)->tls_cert = ld_string(ld, v, "server.https.cert");
}
static void h_key(loader *ld, yaml_node_t *v, void *t) {
    ((gw_config *)t)->tls_key = ld_string(ld, v, "server.https.key");
}
static void h_self_signed(loader *ld, yaml_node_t *v, void *t) {
    ld_bool(ld, v, "server.https.self_signed", &((gw_config *)t)->tls_self_signed);
}
static void h_token(loader *ld, yaml_node_t *v, void *t) {
    ((gw_config *)t)->admin_token = ld_string(ld, v, "server.admin.token");
}

static void h_http(loader *ld, yaml_node_t *v, void *t) {
    gw_config *cfg = t;
    static const key_spec specs[] = {{"listen", h_listen}, {NULL, NULL}};
    ld_walk_mapping(ld, v, "server.http", specs, &cfg->http);
}

static void h_https_listen(loader *ld, yaml_node_t *v, void *t) {
    ld_listen(ld, v, "server.https.listen", &((gw_config *)t)->https);
}
static void h_https(loader *ld, yaml_node_t *v, void *t) {
    static const key_spec specs[] = {{"listen", h_https_listen},
                                     {"cert", h_cert},
                                     {"key", h_key},
                                     {"self_signed", h_self_signed},
                                     {NULL, NULL}};
    ld_walk_mapping(ld, v, "server.https", specs, t);
}

static void h_admin_listen(loader *ld, yaml_node_t *v, void *t) {
    ld_listen(ld, v, "server.admin.listen", &((gw_config *)t)->admin);
}
static void h_admin(loader *ld, yaml_node_t *v, void *t) {
    static const key_spec specs[] = {{"listen", h_admin_listen}, {"token", h_token}, {NULL, NULL}};
    ld_walk_mapping(ld, v, "server.admin", specs, t);
}

/* The value of key in a mapping node (the last, as the walk keeps it); NULL when absent. */
static yaml_node_t *mapping_value(loader *ld, yaml_node_t *map, const char *key) {
    yaml_node_t *found = NULL;
    if (map->type != YAML_MAPPING_NODE) return NULL;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = ld_node(ld, p->key);
        if (k->type == YAML_SCALAR_NODE && !strcmp((const char *)k->data.scalar.value, key))
            found = ld_node(ld, p->value);
    }
    return found;
}

/* The value node of server.<section>.listen, for an error's place; NULL when the file does not
 * set it (the default applies). */
static yaml_node_t *listen_node(loader *ld, yaml_node_t *server, const char *section) {
    yaml_node_t *listener = mapping_value(ld, server, section);
    return listener ? mapping_value(ld, listener, "listen") : NULL;
}

static int wildcard_host(const char *host) {
    return !strcmp(host, "0.0.0.0") || !strcmp(host, "::");
}

/* Two listeners of one gateway on one port: every listening socket is bound with SO_REUSEPORT
 * (the workers share a port that way), so the kernel takes the second bind and spreads the
 * port's connections over both listeners. Seen: http and https on one port, the plain
 * connections the kernel gave the TLS listener were reset ("fetch failed"). Refused here.
 * The same host, or a wildcard on either side, overlaps; two names of one address (localhost
 * and 127.0.0.1) are not told apart. */
static void check_listen_ports(loader *ld, yaml_node_t *server) {
    gw_config *cfg = ld->cfg;
    const gw_listen *listens[] = {&cfg->http, &cfg->https, &cfg->admin};
    static const char *const names[] = {"http", "https", "admin"};
    for (int i = 1; i < 3; i++) {
        for (int j = 0; j < i; j++) {
            const gw_listen *a = listens[j], *b = listens[i];
            if (!a->host || !b->host || a->port != b->port ||
                (strcmp(a->host, b->host) && !wildcard_host(a->host) && !wildcard_host(b->host)))
                continue;
            yaml_node_t *at = listen_node(ld, server, names[i]);
            ld_error(ld, at ? at : listen_node(ld, server, names[j]),
                     "server.%s.listen %s:%d overlaps server.%s.listen %s:%d: each listener needs "
                     "a port of its own (or a different address)",
                     names[i], b->host, b->port, names[j], a->host, a->port);
        }
    }
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
    ld_walk_mapping(ld, v, "server", specs, t);
    if (v->type == YAML_MAPPING_NODE) check_listen_ports(ld, v);
}

/* --- log --- */
static void h_access(loader *ld, yaml_node_t *v, void *t) {
    ((gw_config *)t)->access_log = ld_string(ld, v, "log.access");
}
static void h_level(loader *ld, yaml_node_t *v, void *t) {
    const char *s = ld_string(ld, v, "log.level");
    static const char *const names[] = {"debug", "info", "warn", "error"};
    for (int i = 0; s && i < 4; i++)
        if (!strcmp(s, names[i])) {
            ((gw_config *)t)->log_level = i;
            return;
        }
    if (s) ld_error(ld, v, "expected debug, info, warn or error for log.level, found '%s'", s);
}
static void h_log(loader *ld, yaml_node_t *v, void *t) {
    static const key_spec specs[] = {{"access", h_access}, {"level", h_level}, {NULL, NULL}};
    ld_walk_mapping(ld, v, "log", specs, t);
}

/* --- access: client address lists --- */
/* A list of CIDR blocks, each entry checked at its own line; NULL (and errors) when bad. */
static struct gw_cidr_list *cidr_list(loader *ld, yaml_node_t *v, const char *what) {
    if (ld_expect_kind(ld, v, YAML_SEQUENCE_NODE, what) < 0) return NULL;
    size_t n = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
    if (n > 100000) {
        ld_error(ld, v, "expected at most 100000 entries in %s, found %zu", what, n);
        return NULL;
    }
    gw_cidr *entries = gw_arena_alloc(&ld->cfg->arena, (n ? n : 1) * sizeof *entries);
    int ok = 1;
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *item = ld_node(ld, v->data.sequence.items.start[i]);
        const char *text = ld_string(ld, item, what);
        char err[200];
        if (!text || gw_cidr_parse(text, strlen(text), &entries[i], err, sizeof err) < 0) {
            if (text) ld_error(ld, item, "%s: %s", what, err);
            ok = 0;
        }
    }
    if (!ok) return NULL;
    struct gw_cidr_list *list = gw_cidr_list_new(entries, n);
    if (!list) ld_error(ld, v, "out of memory for %s", what);
    return list;
}
static void h_acc_allow(loader *ld, yaml_node_t *v, void *t) {
    ((gw_config *)t)->access_allow = cidr_list(ld, v, "access.allow");
}
static void h_acc_deny(loader *ld, yaml_node_t *v, void *t) {
    ((gw_config *)t)->access_deny = cidr_list(ld, v, "access.deny");
}
static void h_acc_trusted(loader *ld, yaml_node_t *v, void *t) {
    ((gw_config *)t)->trusted_proxies = cidr_list(ld, v, "access.trusted_proxies");
}
static void h_access_lists(loader *ld, yaml_node_t *v, void *t) {
    static const key_spec specs[] = {{"allow", h_acc_allow},
                                     {"deny", h_acc_deny},
                                     {"trusted_proxies", h_acc_trusted},
                                     {NULL, NULL}};
    ld_walk_mapping(ld, v, "access", specs, t);
}

/* --- auth: API keys in the file, and JWT --- */
typedef struct auth_draft {
    gw_auth_conf *conf;
    gw_keyset_builder *keys;
    const char *jwks_file;
    yaml_node_t *jwks_node, *mode_node;
    int key_count;
} auth_draft;
static void h_auth_mode(loader *ld, yaml_node_t *v, void *t) {
    auth_draft *d = t;
    static const char *const names[] = {"off", "api_key", "jwt", "api_key_or_jwt"};
    const char *m = ld_string(ld, v, "auth.mode");
    d->mode_node = v;
    for (int i = 0; m && i < 4; i++)
        if (!strcmp(m, names[i])) {
            d->conf->mode = (gw_auth_mode)i;
            return;
        }
    if (m)
        ld_error(ld, v, "expected off, api_key, jwt or api_key_or_jwt for auth.mode, found '%s'",
                 m);
}
static void h_jwt_jwks(loader *ld, yaml_node_t *v, void *t) {
    ((auth_draft *)t)->jwks_file = ld_string(ld, v, "auth.jwt.jwks_file");
    ((auth_draft *)t)->jwks_node = v;
}
static void h_jwt_issuer(loader *ld, yaml_node_t *v, void *t) {
    ((auth_draft *)t)->conf->jwt.issuer = ld_string(ld, v, "auth.jwt.issuer");
}
static void h_jwt_audience(loader *ld, yaml_node_t *v, void *t) {
    ((auth_draft *)t)->conf->jwt.audience = ld_string(ld, v, "auth.jwt.audience");
}
static void h_jwt_leeway(loader *ld, yaml_node_t *v, void *t) {
    long s;
    if (ld_int(ld, v, "auth.jwt.leeway_s", 0, 3600, &s) == 0)
        ((auth_draft *)t)->conf->jwt.leeway_s = s;
}
static void h_jwt_cache_size(loader *ld, yaml_node_t *v, void *t) {
    long n;
    if (ld_int(ld, v, "auth.jwt.cache_size", 0, GW_JWT_CACHE_MAX, &n) == 0)
        ((auth_draft *)t)->conf->jwt_cache_size = (size_t)n;
}
static void h_jwt_tenant(loader *ld, yaml_node_t *v, void *t) {
    ((auth_draft *)t)->conf->jwt.tenant_claim = ld_string(ld, v, "auth.jwt.tenant_claim");
}
static void h_jwt_project(loader *ld, yaml_node_t *v, void *t) {
    ((auth_draft *)t)->conf->jwt.project_claim = ld_string(ld, v, "auth.jwt.project_claim");
}
static void h_auth_jwt(loader *ld, yaml_node_t *v, void *t) {
    static const key_spec specs[] = {
        {"jwks_file", h_jwt_jwks},        {"issuer", h_jwt_issuer},
        {"audience", h_jwt_audience},     {"leeway_s", h_jwt_leeway},
        {"cache_size", h_jwt_cache_size}, {"tenant_claim", h_jwt_tenant},
        {"project_claim", h_jwt_project}, {NULL, NULL}};
    ld_walk_mapping(ld, v, "auth.jwt", specs, t);
}
/* A key in the file: {name, tenant, project, key (the secret, best as ${VAR}) or key_sha256,
 * models: [globs]}. */
static void h_auth_keys(loader *ld, yaml_node_t *v, void *t) {
    auth_draft *d = t;
    if (ld_expect_kind(ld, v, YAML_SEQUENCE_NODE, "auth.keys") < 0) return;
    for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top;
         it++) {
        yaml_node_t *item = ld_node(ld, *it);
        if (ld_expect_kind(ld, item, YAML_MAPPING_NODE, "an auth.keys entry") < 0) continue;
        const char *name = NULL, *tenant = NULL, *project = NULL, *secret = NULL, *hash = NULL;
        const char *models[GW_KEY_MODELS_MAX];
        size_t model_count = 0;
        for (yaml_node_pair_t *p = item->data.mapping.pairs.start; p < item->data.mapping.pairs.top;
             p++) {
            yaml_node_t *k = ld_node(ld, p->key), *val = ld_node(ld, p->value);
            if (k->type != YAML_SCALAR_NODE || ld_duplicate_key(ld, item, p, "an auth.keys entry"))
                continue;
            const char *key = (const char *)k->data.scalar.value;
            if (!strcmp(key, "name"))
                name = ld_string(ld, val, "auth.keys name");
            else if (!strcmp(key, "tenant"))
                tenant = ld_string(ld, val, "auth.keys tenant");
            else if (!strcmp(key, "project"))
                project = ld_string(ld, val, "auth.keys project");
            else if (!strcmp(key, "key"))
                secret = ld_string(ld, val, "auth.keys key");
            else if (!strcmp(key, "key_sha256"))
                hash = ld_string(ld, val, "auth.keys key_sha256");
            else if (!strcmp(key, "models") &&
                     ld_expect_kind(ld, val, YAML_SEQUENCE_NODE, "auth.keys models") == 0) {
                for (yaml_node_item_t *m = val->data.sequence.items.start;
                     m < val->data.sequence.items.top && model_count < GW_KEY_MODELS_MAX; m++) {
                    const char *g = ld_string(ld, ld_node(ld, *m), "an auth.keys models entry");
                    if (g) models[model_count++] = g;
                }
            } else if (strcmp(key, "models"))
                ld_error(ld, k,
                         "unknown key '%s' in an auth.keys entry (expected one of: name, tenant, "
                         "project, key, key_sha256, models)",
                         key);
        }
        uint8_t digest[GW_KEY_HASH_LEN];
        if (!name || (!secret == !hash)) {
            ld_error(ld, item, "an auth.keys entry needs a name and one of key and key_sha256");
            continue;
        }
        if (secret && (strlen(secret) < 16 || strlen(secret) > GW_KEY_SECRET_MAX)) {
            ld_error(ld, item,
                     "auth.keys '%s': a key needs 16 to %d characters (a shorter one is "
                     "guessable)",
                     name, GW_KEY_SECRET_MAX);
            continue;
        }
        if (secret)
            gw_key_secret_hash(secret, strlen(secret), digest);
        else if (gw_key_hash_parse_hex(hash, strlen(hash), digest) < 0) {
            ld_error(ld, item, "auth.keys '%s': key_sha256 must be 64 hex digits", name);
            continue;
        }
        gw_key_spec spec = {.name = name,
                            .tenant = tenant,
                            .project = project,
                            .models = models,
                            .model_count = model_count};
        char err[300];
        if (gw_keyset_builder_add_static(d->keys, name, &spec, digest, err, sizeof err) < 0)
            ld_error(ld, item, "auth.keys '%s': %s", name, err);
        d->key_count++;
    }
}
static void h_auth(loader *ld, yaml_node_t *v, void *t) {
    static const key_spec specs[] = {
        {"mode", h_auth_mode}, {"jwt", h_auth_jwt}, {"keys", h_auth_keys}, {NULL, NULL}};
    gw_config *cfg = t;
    auth_draft d = {.conf = gw_arena_alloc(&cfg->arena, sizeof(gw_auth_conf)),
                    .keys = gw_keyset_builder_new()};
    if (!d.keys) {
        ld_error(ld, v, "out of memory for auth");
        return;
    }
    d.conf->jwt = gw_jwt_conf_default;
    d.conf->jwt_cache_size = GW_JWT_CACHE_DEFAULT;
    ld_walk_mapping(ld, v, "auth", specs, &d);
    char err[300];
    d.conf->keys = gw_keyset_builder_finish(d.keys, err, sizeof err);
    if (!d.conf->keys) ld_error(ld, v, "auth.keys: %s", err);
    int wants_jwt = d.conf->mode == GW_AUTH_JWT || d.conf->mode == GW_AUTH_API_KEY_OR_JWT;
    if (wants_jwt && !d.jwks_file)
        ld_error(ld, d.mode_node ? d.mode_node : v, "auth.mode %s needs auth.jwt.jwks_file",
                 d.conf->mode == GW_AUTH_JWT ? "jwt" : "api_key_or_jwt");
    /* read only when the mode takes tokens: a file written for later does not stop a start */
    if (wants_jwt && d.jwks_file && !(d.conf->jwks = gw_jwks_load(d.jwks_file, err, sizeof err)))
        ld_error(ld, d.jwks_node, "auth.jwt.jwks_file: %s", err);
    cfg->auth = d.conf; /* freed with the snapshot, also when an error rejects it */
}

static void h_store_path(loader *ld, yaml_node_t *v, void *t) {
    const char *path = ld_string(ld, v, "store.path");
    if (path && !*path)
        ld_error(ld, v, "store.path is empty");
    else if (path) {
        ((gw_config *)t)->store_path = path;
        ((gw_config *)t)->store_path_set = 1;
    }
}
static void h_store(loader *ld, yaml_node_t *v, void *t) {
    static const key_spec specs[] = {{"path", h_store_path}, {NULL, NULL}};
    ld_walk_mapping(ld, v, "store", specs, t);
}

/* --- limits --- */
/* rps, rpm, ..., tpd: the unit and window a key names; -1 when it names none. */
static int limit_key(const char *key, gw_limit_unit *unit, gw_limit_window *window) {
    static const char windows[] = "smhd";
    if (strlen(key) != 3 || key[1] != 'p' || (key[0] != 'r' && key[0] != 't')) return -1;
    const char *w = strchr(windows, key[2]);
    if (!w || !key[2]) return -1;
    *unit = key[0] == 'r' ? GW_LIMIT_REQUESTS : GW_LIMIT_TOKENS;
    *window = (gw_limit_window)(w - windows);
    return 0;
}

typedef struct limit_draft {
    gw_limits_conf *conf;
    long amounts[2][GW_LIMIT_WINDOWS];   /* inside the schedule (or always) */
    long otherwise[2][GW_LIMIT_WINDOWS]; /* outside it */
    int dim, deny, has_schedule;
    gw_schedule schedule;
} limit_draft;

static void limit_amounts(loader *ld, yaml_node_t *v, long amounts[2][GW_LIMIT_WINDOWS],
                          const char *what) {
    for (yaml_node_pair_t *p = v->data.mapping.pairs.start; p < v->data.mapping.pairs.top; p++) {
        yaml_node_t *k = ld_node(ld, p->key), *val = ld_node(ld, p->value);
        const char *key = k->type == YAML_SCALAR_NODE ? (const char *)k->data.scalar.value : "";
        gw_limit_unit unit;
        gw_limit_window window;
        if (limit_key(key, &unit, &window) < 0) continue; /* the caller checks the other keys */
        long amount;
        if (ld_int(ld, val, what, 1, 1L << 52, &amount) == 0) amounts[unit][window] = amount;
    }
}

static gw_tz *limits_zone(loader *ld, yaml_node_t *at, gw_limits_conf *c, const char *name) {
    for (size_t i = 0; i < c->zone_count; i++)
        if (!strcmp(gw_tz_name(c->zones[i]), name)) return c->zones[i];
    if (c->zone_count == GW_LIMITS_MAX_ZONES) {
        ld_error(ld, at, "at most %d time zones in limits", GW_LIMITS_MAX_ZONES);
        return NULL;
    }
    char err[200];
    gw_tz *tz = gw_tz_load(name, err, sizeof err);
    if (!tz)
        ld_error(ld, at, "limits schedule tz: %s", err);
    else
        c->zones[c->zone_count++] = tz;
    return tz;
}

static void h_limit_entry(loader *ld, yaml_node_t *item, gw_limits_conf *c, size_t index) {
    static const char *const dims[] = {"key", "tenant", "project", "model", "ip"};
    limit_draft d = {.conf = c, .dim = -1};
    if (ld_expect_kind(ld, item, YAML_MAPPING_NODE, "a limits entry") < 0) return;
    limit_amounts(ld, item, d.amounts, "a limits amount");
    for (yaml_node_pair_t *p = item->data.mapping.pairs.start; p < item->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = ld_node(ld, p->key), *val = ld_node(ld, p->value);
        if (k->type != YAML_SCALAR_NODE || ld_duplicate_key(ld, item, p, "a limits entry"))
            continue;
        const char *key = (const char *)k->data.scalar.value;
        gw_limit_unit u;
        gw_limit_window w;
        if (limit_key(key, &u, &w) == 0) continue;
        if (!strcmp(key, "by")) {
            const char *by = ld_string(ld, val, "limits by");
            for (int i = 0; by && i < 5; i++)
                if (!strcmp(by, dims[i])) d.dim = i;
            if (by && d.dim < 0)
                ld_error(ld, val,
                         "expected key, tenant, project, model or ip for limits by, "
                         "found '%s'",
                         by);
        } else if (!strcmp(key, "deny")) {
            ld_bool(ld, val, "limits deny", &d.deny);
        } else if (!strcmp(key, "otherwise")) {
            if (ld_expect_kind(ld, val, YAML_MAPPING_NODE, "limits otherwise") == 0)
                limit_amounts(ld, val, d.otherwise, "a limits otherwise amount");
        } else if (!strcmp(key, "schedule")) {
            const char *days = "mon-sun", *hours = "00:00-24:00", *tz = "UTC";
            if (ld_expect_kind(ld, val, YAML_MAPPING_NODE, "limits schedule") < 0) continue;
            for (yaml_node_pair_t *q = val->data.mapping.pairs.start;
                 q < val->data.mapping.pairs.top; q++) {
                yaml_node_t *sk = ld_node(ld, q->key), *sv = ld_node(ld, q->value);
                const char *skey =
                    sk->type == YAML_SCALAR_NODE ? (const char *)sk->data.scalar.value : "";
                const char *text = ld_string(ld, sv, "a limits schedule value");
                if (!text) continue;
                if (!strcmp(skey, "days"))
                    days = text;
                else if (!strcmp(skey, "hours"))
                    hours = text;
                else if (!strcmp(skey, "tz"))
                    tz = text;
                else
                    ld_error(ld, sk,
                             "unknown key '%s' in limits schedule (expected one of: "
                             "days, hours, tz)",
                             skey);
            }
            gw_tz *zone = limits_zone(ld, val, c, tz);
            char err[200];
            if (zone && gw_schedule_parse(&d.schedule, days, hours, zone, err, sizeof err) < 0)
                ld_error(ld, val, "limits schedule: %s", err);
            d.has_schedule = 1;
        } else {
            ld_error(ld, k,
                     "unknown key '%s' in a limits entry (expected one of: by, rps, rpm, rph, "
                     "rpd, tps, tpm, tph, tpd, schedule, otherwise, deny)",
                     key);
        }
    }
    if (d.dim < 0) {
        ld_error(ld, item, "a limits entry needs by: key, tenant, project, model or ip");
        return;
    }
    if (d.deny && !d.has_schedule) {
        ld_error(ld, item, "limits deny needs a schedule (the hours when requests are refused)");
        return;
    }
    int any = d.deny;
    for (int u = 0; u < 2; u++)
        for (int w = 0; w < GW_LIMIT_WINDOWS; w++) {
            if (!d.amounts[u][w] && !d.otherwise[u][w] && !(d.deny && u == 0 && w == 1)) continue;
            any = 1;
            if (c->rule_count == GW_LIMITS_MAX_RULES) {
                ld_error(ld, item, "more than %d limits", GW_LIMITS_MAX_RULES);
                return;
            }
            gw_limit_rule *r = &c->rules[c->rule_count];
            char name[96];
            snprintf(name, sizeof name, "%s %s per %s (limits[%zu])", dims[d.dim],
                     u ? "tokens" : "requests", gw_limit_window_name((gw_limit_window)w), index);
            /* stable across reloads, so counters carry on: the entry and what it limits */
            r->id = (uint32_t)(index * 16 + (size_t)u * 8 + (size_t)w + 1);
            r->name = gw_arena_strdup(&ld->cfg->arena, name);
            r->dim = (gw_limit_dim)d.dim;
            r->unit = (gw_limit_unit)u;
            r->window = (gw_limit_window)w;
            if (d.has_schedule) { /* inside the schedule its amount (or none: deny) */
                gw_limit_when *when = &c->whens[c->rule_count];
                *when = (gw_limit_when){
                    .schedule = d.schedule, .limit = (uint64_t)d.amounts[u][w], .deny = d.deny};
                r->when = when;
                r->when_count = 1;
                r->limit = (uint64_t)d.otherwise[u][w];
            } else {
                r->limit = (uint64_t)d.amounts[u][w];
            }
            c->rule_count++;
        }
    if (!any) ld_error(ld, item, "a limits entry needs at least one of rps, rpm, ..., tpd");
}

static gw_limits_conf *limits_of(gw_config *cfg) {
    if (!cfg->limits) cfg->limits = gw_arena_alloc(&cfg->arena, sizeof *cfg->limits);
    return cfg->limits; /* freed with the snapshot, also when an error rejects it */
}

/* quotas: [{by: key|tenant|project, tokens: N, period: day|week|month, tz: Zone}] */
static void h_quotas(loader *ld, yaml_node_t *v, void *t) {
    gw_config *cfg = t;
    if (ld_expect_kind(ld, v, YAML_SEQUENCE_NODE, "quotas") < 0) return;
    gw_limits_conf *c = limits_of(cfg);
    size_t index = 0;
    for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top;
         it++, index++) {
        yaml_node_t *item = ld_node(ld, *it);
        if (ld_expect_kind(ld, item, YAML_MAPPING_NODE, "a quotas entry") < 0) continue;
        if (c->quota_count == GW_QUOTAS_MAX) {
            ld_error(ld, item, "at most %d quotas", GW_QUOTAS_MAX);
            return;
        }
        gw_quota_rule *q = &c->quotas[c->quota_count];
        *q = (gw_quota_rule){.id = (uint32_t)index + 1, .dim = GW_LIMIT_DIMS};
        const char *by = NULL, *period = "month", *tz = "UTC";
        long tokens = 0;
        for (yaml_node_pair_t *p = item->data.mapping.pairs.start; p < item->data.mapping.pairs.top;
             p++) {
            yaml_node_t *k = ld_node(ld, p->key), *val = ld_node(ld, p->value);
            if (k->type != YAML_SCALAR_NODE || ld_duplicate_key(ld, item, p, "a quotas entry"))
                continue;
            const char *key = (const char *)k->data.scalar.value;
            if (!strcmp(key, "by"))
                by = ld_string(ld, val, "quotas by");
            else if (!strcmp(key, "tokens"))
                ld_int(ld, val, "quotas tokens", 1, 1L << 47, &tokens);
            else if (!strcmp(key, "period"))
                period = ld_string(ld, val, "quotas period");
            else if (!strcmp(key, "tz"))
                tz = ld_string(ld, val, "quotas tz");
            else
                ld_error(ld, k,
                         "unknown key '%s' in a quotas entry (expected one of: by, tokens, "
                         "period, tz)",
                         key);
        }
        static const char *const dims[] = {"key", "tenant", "project"};
        for (int i = 0; by && i < 3; i++)
            if (!strcmp(by, dims[i])) q->dim = (gw_limit_dim)i;
        if (q->dim == GW_LIMIT_DIMS) {
            ld_error(ld, item, "a quotas entry needs by: key, tenant or project");
            continue;
        }
        if (!tokens) {
            ld_error(ld, item, "a quotas entry needs tokens: the budget per period");
            continue;
        }
        if (period && !strcmp(period, "day"))
            q->period = GW_QUOTA_DAY;
        else if (period && !strcmp(period, "week"))
            q->period = GW_QUOTA_WEEK;
        else if (period && !strcmp(period, "month"))
            q->period = GW_QUOTA_MONTH;
        else {
            ld_error(ld, item, "expected day, week or month for quotas period");
            continue;
        }
        q->budget = (uint64_t)tokens;
        q->tz = tz ? limits_zone(ld, item, c, tz) : NULL;
        /* the id names what is counted (by, period, zone), not the entry's place: counts kept
         * in the store and live ones follow a quota when the list is reordered on reload */
        uint32_t id = 2166136261u; /* FNV-1a */
        char what[160];
        snprintf(what, sizeof what, "%d/%d/%s", (int)q->dim, (int)q->period, tz ? tz : "UTC");
        for (const char *p = what; *p; p++)
            id = (id ^ (uint8_t)*p) * 16777619u;
        q->id = (id & 0x7fffffffu) | 1u; /* never 0, nor GW_QUOTA_ID_PER_KEY's high bit */
        int duplicate = 0;
        for (size_t i = 0; i < c->quota_count && !duplicate; i++)
            duplicate = c->quotas[i].id == q->id;
        if (duplicate) {
            ld_error(ld, item, "two quotas count %s tokens per %s in %s: keep one", by, period,
                     tz ? tz : "UTC");
            continue;
        }
        char name[80];
        snprintf(name, sizeof name, "%s tokens per %s (quotas[%zu])", by, period, index);
        q->name = gw_arena_strdup(&cfg->arena, name);
        c->quota_count++;
    }
}

static void h_limits(loader *ld, yaml_node_t *v, void *t) {
    gw_config *cfg = t;
    if (ld_expect_kind(ld, v, YAML_SEQUENCE_NODE, "limits") < 0) return;
    gw_limits_conf *c = limits_of(cfg);
    size_t index = 0;
    for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++)
        h_limit_entry(ld, ld_node(ld, *it), c, index++);
}

/* --- guards: sensitive words --- */
typedef struct words_draft {
    gw_words_builder *builder;
    gw_words_guard_conf *conf;
    int on_set;
} words_draft;
static void h_w_list(loader *ld, yaml_node_t *v, void *t) {
    words_draft *d = t;
    if (ld_expect_kind(ld, v, YAML_SEQUENCE_NODE, "guards.words.list") < 0) return;
    for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top;
         it++) {
        yaml_node_t *item = ld_node(ld, *it);
        const char *word = ld_string(ld, item, "a guards.words.list entry");
        char err[300];
        if (word && gw_words_builder_add(d->builder, word, strlen(word), err, sizeof err) < 0)
            ld_error(ld, item, "guards.words.list: %s", err);
    }
}
static void h_w_files(loader *ld, yaml_node_t *v, void *t) {
    words_draft *d = t;
    if (ld_expect_kind(ld, v, YAML_SEQUENCE_NODE, "guards.words.files") < 0) return;
    for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top;
         it++) {
        yaml_node_t *item = ld_node(ld, *it);
        const char *path = ld_string(ld, item, "a guards.words.files entry");
        char err[300];
        if (path && gw_words_builder_add_file(d->builder, path, err, sizeof err) < 0)
            ld_error(ld, item, "guards.words.files: %s", err);
    }
}
static void h_w_action(loader *ld, yaml_node_t *v, void *t) {
    words_draft *d = t;
    const char *a = ld_string(ld, v, "guards.words.action");
    if (a && !strcmp(a, "block"))
        d->conf->action = GW_WORDS_BLOCK;
    else if (a && !strcmp(a, "mask"))
        d->conf->action = GW_WORDS_MASK;
    else if (a)
        ld_error(ld, v, "expected block or mask for guards.words.action, found '%s'", a);
}
static void h_w_on(loader *ld, yaml_node_t *v, void *t) {
    words_draft *d = t;
    if (ld_expect_kind(ld, v, YAML_SEQUENCE_NODE, "guards.words.on") < 0) return;
    d->on_set = 1;
    for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top;
         it++) {
        yaml_node_t *item = ld_node(ld, *it);
        const char *where = ld_string(ld, item, "a guards.words.on entry");
        if (where && !strcmp(where, "request"))
            d->conf->on_request = 1;
        else if (where && !strcmp(where, "response"))
            d->conf->on_response = 1;
        else if (where)
            ld_error(ld, item, "expected request or response in guards.words.on, found '%s'",
                     where);
    }
}
static void h_g_words(loader *ld, yaml_node_t *v, void *t) {
    static const key_spec specs[] = {{"list", h_w_list},
                                     {"files", h_w_files},
                                     {"action", h_w_action},
                                     {"on", h_w_on},
                                     {NULL, NULL}};
    gw_config *cfg = t;
    words_draft d = {.builder = gw_words_builder_new(),
                     .conf = gw_arena_alloc(&cfg->arena, sizeof(gw_words_guard_conf))};
    if (!d.builder) {
        ld_error(ld, v, "out of memory for guards.words");
        return;
    }
    d.conf->action = GW_WORDS_BLOCK;
    ld_walk_mapping(ld, v, "guards.words", specs, &d);
    if (!d.on_set) d.conf->on_request = d.conf->on_response = 1;
    char err[300];
    d.conf->matcher = gw_words_build(d.builder, err, sizeof err);
    gw_words_builder_free(d.builder);
    if (!d.conf->matcher) {
        ld_error(ld, v, "guards.words: %s", err);
        return;
    }
    cfg->words_guard = d.conf;
}
/* --- guards: PII --- */
typedef struct pii_draft {
    gw_pii_config config;
    gw_pii_custom_desc custom[GW_PII_MAX_CUSTOM];
} pii_draft;
static int pii_action(loader *ld, yaml_node_t *v, const char *what, gw_pii_action *out) {
    const char *a = ld_string(ld, v, what);
    if (!a) return -1;
    if (gw_pii_action_parse(a, out) == 0 && *out != GW_PII_OFF) return 0;
    ld_error(ld, v, "expected block, mask or restore for %s, found '%s'", what, a);
    return -1;
}
static void pii_max_length(loader *ld, yaml_node_t *v, gw_pii_custom_desc *c) {
    long n;
    if (ld_int(ld, v, "guards.pii.custom max_length", 1, GW_PII_CUSTOM_MAX_LENGTH, &n) == 0)
        c->max_length = (size_t)n;
}
/* guards.pii.on: where the detectors run; [request] unless given. */
static void pii_on(loader *ld, yaml_node_t *v, gw_pii_guard_conf *conf) {
    if (ld_expect_kind(ld, v, YAML_SEQUENCE_NODE, "guards.pii.on") < 0) return;
    conf->on_request = 0;
    for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top;
         it++) {
        yaml_node_t *item = ld_node(ld, *it);
        const char *where = ld_string(ld, item, "a guards.pii.on entry");
        if (where && !strcmp(where, "request"))
            conf->on_request = 1;
        else if (where && !strcmp(where, "response"))
            conf->on_response = 1;
        else if (where)
            ld_error(ld, item, "expected request or response in guards.pii.on, found '%s'", where);
    }
}
static void h_pii_custom(loader *ld, yaml_node_t *v, pii_draft *d) {
    if (ld_expect_kind(ld, v, YAML_SEQUENCE_NODE, "guards.pii.custom") < 0) return;
    for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top;
         it++) {
        yaml_node_t *item = ld_node(ld, *it);
        if (ld_expect_kind(ld, item, YAML_MAPPING_NODE, "a guards.pii.custom entry") < 0) continue;
        if (d->config.custom_count == GW_PII_MAX_CUSTOM) {
            ld_error(ld, item, "at most %d custom PII patterns", GW_PII_MAX_CUSTOM);
            return;
        }
        gw_pii_custom_desc *c = &d->custom[d->config.custom_count];
        *c = (gw_pii_custom_desc){.action = GW_PII_MASK};
        for (yaml_node_pair_t *p = item->data.mapping.pairs.start; p < item->data.mapping.pairs.top;
             p++) {
            yaml_node_t *k = ld_node(ld, p->key), *val = ld_node(ld, p->value);
            const char *key = k->type == YAML_SCALAR_NODE ? (const char *)k->data.scalar.value : "";
            if (!strcmp(key, "name"))
                c->name = ld_string(ld, val, "guards.pii.custom name");
            else if (!strcmp(key, "pattern"))
                c->pattern = ld_string(ld, val, "guards.pii.custom pattern");
            else if (!strcmp(key, "action"))
                pii_action(ld, val, "guards.pii.custom action", &c->action);
            else if (!strcmp(key, "max_length"))
                pii_max_length(ld, val, c);
            else
                ld_error(ld, k,
                         "unknown key '%s' in a guards.pii.custom entry (expected one "
                         "of: name, pattern, action, max_length)",
                         key);
        }
        if (!c->name || !c->pattern)
            ld_error(ld, item, "a guards.pii.custom entry needs a name and a pattern");
        else
            d->config.custom_count++;
    }
}
static void h_g_pii(loader *ld, yaml_node_t *v, void *t) {
    gw_config *cfg = t;
    if (ld_expect_kind(ld, v, YAML_MAPPING_NODE, "guards.pii") < 0) return;
    pii_draft d = {0};
    d.config.custom = d.custom;
    gw_pii_guard_conf where = {.on_request = 1};
    int bad = 0;
    for (yaml_node_pair_t *p = v->data.mapping.pairs.start; p < v->data.mapping.pairs.top; p++) {
        yaml_node_t *k = ld_node(ld, p->key), *val = ld_node(ld, p->value);
        if (k->type != YAML_SCALAR_NODE || ld_duplicate_key(ld, v, p, "guards.pii")) continue;
        const char *key = (const char *)k->data.scalar.value;
        gw_pii_kind kind;
        if (!strcmp(key, "custom")) {
            h_pii_custom(ld, val, &d);
        } else if (!strcmp(key, "on")) {
            pii_on(ld, val, &where);
        } else if (gw_pii_kind_parse(key, &kind) == 0 && kind < GW_PII_BUILTIN_COUNT) {
            char what[64];
            snprintf(what, sizeof what, "guards.pii.%s", key);
            bad |= pii_action(ld, val, what, &d.config.builtin[kind]) < 0;
        } else {
            ld_error(ld, k,
                     "unknown key '%s' in guards.pii (expected one of: email, phone, china_id, "
                     "bank_card, ip, secret, custom, on)",
                     key);
        }
    }
    if (bad || ld->errs->count) return;
    char err[300];
    gw_pii_guard_conf *conf = gw_arena_alloc(&cfg->arena, sizeof *conf);
    conf->set = gw_pii_set_new(&d.config, err, sizeof err);
    if (!conf->set) {
        ld_error(ld, v, "guards.pii: %s", err);
        return;
    }
    conf->restores = gw_pii_set_has_restore(conf->set);
    gw_pii_custom_desc *custom = gw_arena_alloc(&cfg->arena, sizeof d.custom);
    memcpy(custom, d.custom, d.config.custom_count * sizeof *custom);
    conf->custom = custom;
    conf->custom_count = d.config.custom_count;
    conf->on_request = where.on_request;
    conf->on_response = where.on_response;
    cfg->pii_guard = conf;
}
static void h_guards(loader *ld, yaml_node_t *v, void *t) {
    static const key_spec specs[] = {{"words", h_g_words}, {"pii", h_g_pii}, {NULL, NULL}};
    ld_walk_mapping(ld, v, "guards", specs, t);
}

/* --- channels --- */
static void h_ch_name(loader *ld, yaml_node_t *v, void *t) {
    ((gw_channel *)t)->name = ld_string(ld, v, "channel name");
}
static void h_ch_type(loader *ld, yaml_node_t *v, void *t) {
    gw_channel *ch = t;
    ch->type = ld_string(ld, v, "channel type");
    if (!ch->type) return;
    ch->engine = gw_engine_find(ch->type);
    if (!ch->engine)
        ld_error(ld, v, "unknown channel type '%s' (expected one of: %s)", ch->type,
                 gw_engine_names());
}
static int check_url(loader *ld, yaml_node_t *v, const char *url) {
    if (!strcmp(url, "builtin:sim") || !strncmp(url, "http://", 7) || !strncmp(url, "https://", 8))
        return 0;
    ld_error(ld, v, "expected an http:// or https:// URL, or builtin:sim, found '%s'", url);
    return -1;
}
static void h_ch_base_url(loader *ld, yaml_node_t *v, void *t) {
    gw_channel *ch = t;
    ch->base_url = ld_string(ld, v, "channel base_url");
    if (ch->base_url) check_url(ld, v, ch->base_url);
}
/* A static list of the engine instances behind one channel: each has its own health, and a
 * request goes to the least loaded one. */
static void h_ch_endpoints(loader *ld, yaml_node_t *v, void *t) {
    gw_channel *ch = t;
    if (ld_expect_kind(ld, v, YAML_SEQUENCE_NODE, "channel endpoints") < 0) return;
    size_t n = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
    if (n == 0 || n > 256) {
        ld_error(ld, v, "expected 1 to 256 endpoints, found %zu", n);
        return;
    }
    ch->endpoint_urls = gw_arena_alloc(&ld->cfg->arena, n * sizeof(char *));
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *item = ld_node(ld, v->data.sequence.items.start[i]);
        const char *url = ld_string(ld, item, "an endpoints entry");
        if (!url || check_url(ld, item, url) < 0) continue;
        ch->endpoint_urls[ch->endpoint_url_count++] = url;
    }
}
INT_FIELD(h_hl_failures, ((gw_health_policy *)t)->failures, "health.failures", 1, 1000000)
INT_FIELD(h_hl_backoff, ((gw_health_policy *)t)->backoff_ms, "health.backoff_ms", 1, 3600000)
INT_FIELD(h_hl_max_backoff, ((gw_health_policy *)t)->max_backoff_ms, "health.max_backoff_ms", 1,
          3600000)
/* --- discovery: the channel's endpoints from DNS --- */
static gw_discovery_config *discovery_of(loader *ld, gw_channel *ch) {
    if (!ch->discovery) {
        gw_discovery_config *dc = gw_arena_alloc(&ld->cfg->arena, sizeof *dc);
        dc->scheme = "http"; /* the path's default depends on the engine: see finish_discovery */
        ch->discovery = dc;
    }
    return (gw_discovery_config *)ch->discovery;
}
static void h_d_dns(loader *ld, yaml_node_t *v, void *t) {
    discovery_of(ld, t)->dns = ld_string(ld, v, "discovery.dns");
}
static void h_d_port(loader *ld, yaml_node_t *v, void *t) {
    long port;
    if (ld_int(ld, v, "discovery.port", 1, 65535, &port) == 0)
        discovery_of(ld, t)->port = (int)port;
}
static void h_d_srv(loader *ld, yaml_node_t *v, void *t) {
    ld_bool(ld, v, "discovery.srv", &discovery_of(ld, t)->srv);
}
static void h_d_interval(loader *ld, yaml_node_t *v, void *t) {
    long ms;
    if (ld_int(ld, v, "discovery.interval_ms", 100, 3600000, &ms) == 0)
        discovery_of(ld, t)->interval_ms = (int)ms;
}
static void h_d_scheme(loader *ld, yaml_node_t *v, void *t) {
    const char *scheme = ld_string(ld, v, "discovery.scheme");
    if (scheme && strcmp(scheme, "http") && strcmp(scheme, "https"))
        ld_error(ld, v, "expected http or https for discovery.scheme, found '%s'", scheme);
    else if (scheme)
        discovery_of(ld, t)->scheme = scheme;
}
static void h_d_path(loader *ld, yaml_node_t *v, void *t) {
    const char *path = ld_string(ld, v, "discovery.path");
    if (path && *path && *path != '/')
        ld_error(ld, v, "expected a path beginning with / for discovery.path, found '%s'", path);
    else if (path)
        discovery_of(ld, t)->path = path;
}
static void h_d_resolvers(loader *ld, yaml_node_t *v, void *t) {
    gw_discovery_config *dc = discovery_of(ld, t);
    if (ld_expect_kind(ld, v, YAML_SEQUENCE_NODE, "discovery.resolvers") < 0) return;
    size_t n = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
    if (n > 16) {
        ld_error(ld, v, "expected at most 16 resolvers, found %zu", n);
        return;
    }
    dc->resolvers = gw_arena_alloc(&ld->cfg->arena, (n ? n : 1) * sizeof(char *));
    for (size_t i = 0; i < n; i++) {
        const char *r = ld_string(ld, ld_node(ld, v->data.sequence.items.start[i]),
                                  "a discovery.resolvers entry");
        if (r) dc->resolvers[dc->resolver_count++] = r;
    }
}
static void h_ch_discovery(loader *ld, yaml_node_t *v, void *t) {
    static const key_spec specs[] = {{"dns", h_d_dns},
                                     {"port", h_d_port},
                                     {"srv", h_d_srv},
                                     {"resolvers", h_d_resolvers},
                                     {"interval_ms", h_d_interval},
                                     {"scheme", h_d_scheme},
                                     {"path", h_d_path},
                                     {NULL, NULL}};
    gw_channel *ch = t;
    discovery_of(ld, ch);
    ld_walk_mapping(ld, v, "channel discovery", specs, ch);
    gw_discovery_config *dc = (gw_discovery_config *)ch->discovery;
    if (!dc->dns) {
        ld_error(ld, v, "discovery needs dns (a name to resolve)");
        return;
    }
    if (!dc->srv && !dc->port) ld_error(ld, v, "discovery needs a port (or srv: true)");
}

/* Once the channel's type is known: the default path (OpenAI-style base URLs end in /v1, the
 * self-hosted engines' are the server root), and the whole setting as text, so a reload with the
 * same one keeps the running discovery. */
static void finish_discovery(loader *ld, gw_channel *ch) {
    gw_discovery_config *dc = (gw_discovery_config *)ch->discovery;
    if (!dc || !dc->dns) return;
    if (!dc->path) dc->path = !strcmp(ch->type, "openai") ? "/v1" : "";
    char key[2048];
    int n = snprintf(key, sizeof key, "%s|%d|%d|%d|%s|%s", dc->dns, dc->port, dc->srv,
                     dc->interval_ms, dc->scheme, dc->path);
    for (size_t i = 0; i < dc->resolver_count && n > 0 && (size_t)n < sizeof key; i++)
        n += snprintf(key + n, sizeof key - (size_t)n, "|%s", dc->resolvers[i]);
    dc->key = gw_arena_strdup(&ld->cfg->arena, key);
}

INT_FIELD(h_hl_interval, ((gw_health_policy *)t)->interval_ms, "health.interval_ms", 100, 3600000)
INT_FIELD(h_hl_timeout, ((gw_health_policy *)t)->timeout_ms, "health.timeout_ms", 10, 600000)
INT_FIELD(h_hl_port, ((gw_health_policy *)t)->port, "health.port", 1, 65535)
static void h_hl_path(loader *ld, yaml_node_t *v, void *t) {
    const char *path = ld_string(ld, v, "health.path");
    if (path && *path != '/')
        ld_error(ld, v, "expected a path beginning with / for health.path, found '%s'", path);
    else
        ((gw_health_policy *)t)->path = path;
}
static void h_hl_active(loader *ld, yaml_node_t *v, void *t) {
    ld_bool(ld, v, "health.active", &((gw_health_policy *)t)->active);
}
static void h_ch_health(loader *ld, yaml_node_t *v, void *t) {
    static const key_spec specs[] = {{"active", h_hl_active},
                                     {"failures", h_hl_failures},
                                     {"backoff_ms", h_hl_backoff},
                                     {"max_backoff_ms", h_hl_max_backoff},
                                     {"path", h_hl_path},
                                     {"interval_ms", h_hl_interval},
                                     {"timeout_ms", h_hl_timeout},
                                     {"port", h_hl_port},
                                     {NULL, NULL}};
    ld_walk_mapping(ld, v, "channel health", specs, &((gw_channel *)t)->health);
}
static void h_ch_api_key(loader *ld, yaml_node_t *v, void *t) {
    ((gw_channel *)t)->api_key = ld_string(ld, v, "channel api_key");
}
INT_FIELD(h_ch_max_conn, ((gw_channel *)t)->max_connections, "channel max_connections", 1, 100000)
INT_FIELD(h_ch_keepalive, ((gw_channel *)t)->keepalive, "channel keepalive", 0, 100000)
INT_FIELD(h_ch_keepalive_timeout, ((gw_channel *)t)->keepalive_timeout_ms,
          "channel keepalive_timeout_ms", 1, 3600000)
static void h_ch_http_client(loader *ld, yaml_node_t *v, void *t) {
    const char *s = ld_string(ld, v, "channel http_client");
    if (!s) return;
    if (!strcmp(s, "curl"))
        ((gw_channel *)t)->curl_only = 1;
    else if (strcmp(s, "auto"))
        ld_error(ld, v, "expected auto or curl for a channel's http_client, found '%s'", s);
}
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
    ld_walk_mapping(ld, v, "channel timeouts", specs, &((gw_channel *)t)->timeouts);
}
static void h_ch_forward(loader *ld, yaml_node_t *v, void *t) {
    gw_channel *ch = t;
    if (ld_expect_kind(ld, v, YAML_SEQUENCE_NODE, "channel forward_headers") < 0) return;
    size_t n = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
    ch->forward_headers = gw_arena_alloc(&ld->cfg->arena, (n + 1) * sizeof(char *));
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *item = ld_node(ld, v->data.sequence.items.start[i]);
        const char *h = ld_string(ld, item, "a forward_headers entry");
        if (!h) continue;
        if (gw_header_never_forwarded(h, strlen(h))) {
            ld_error(ld, item,
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

/* A key no channel has: the engine adapter's own (management_url, deployment, ...), handed to it
 * once the channel's type is known. */
static void h_ch_engine_option(loader *ld, yaml_node_t *v, void *t) {
    (void)t;
    const char *key = (const char *)ld->current_key->data.scalar.value;
    if (ld->engine_option_count == sizeof ld->engine_options / sizeof ld->engine_options[0]) {
        ld_error(ld, ld->current_key, "too many keys in one channel");
        return;
    }
    char what[96];
    snprintf(what, sizeof what, "channel %s", key);
    const char *value = ld_string(ld, v, what);
    if (!value) return;
    ld->engine_options[ld->engine_option_count++] =
        (gw_engine_option){.key = key,
                           .value = value,
                           .line = (int)ld->current_key->start_mark.line + 1,
                           .column = (int)ld->current_key->start_mark.column + 1};
}

/* The adapter reads its own keys, sets the channel's headers and declares its health probe. */
static void configure_engine(loader *ld, yaml_node_t *item, gw_channel *ch) {
    gw_engine_config_error err = {.option = -1};
    const char *name = ch->name ? ch->name : "?";
    if (ch->engine && ch->engine->configure(ch, &ld->cfg->arena, ld->engine_options,
                                            ld->engine_option_count, &err) < 0) {
        if (err.option >= 0 && (size_t)err.option < ld->engine_option_count) {
            const gw_engine_option *o = &ld->engine_options[err.option];
            yaml_node_t at = {
                .start_mark = {.line = (size_t)o->line - 1, .column = (size_t)o->column - 1}};
            ld_error(ld, &at, "channel '%s': %s", name, err.message);
        } else {
            ld_error(ld, item, "channel '%s': %s", name, err.message);
        }
        return;
    }
    if (ch->engine && !ch->headers)
        ld_error(ld, item, "channel '%s': out of memory for its headers", name);
    if (ch->health.active && !ch->health.path) {
        if (ch->health.probe_path)
            ch->health.path = ch->health.probe_path;
        else
            ld_error(ld, item,
                     "channel '%s': type %s has no health probe of its own; set health.path", name,
                     ch->type);
    }
    finish_discovery(ld, ch);
}

static void h_channels(loader *ld, yaml_node_t *v, void *t) {
    gw_config *cfg = t;
    if (ld_expect_kind(ld, v, YAML_SEQUENCE_NODE, "channels") < 0) return;
    size_t n = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
    cfg->channels = gw_arena_alloc(&cfg->arena, (n ? n : 1) * sizeof(gw_channel));
    static const key_spec specs[] = {{"name", h_ch_name},
                                     {"type", h_ch_type},
                                     {"base_url", h_ch_base_url},
                                     {"api_key", h_ch_api_key},
                                     {"timeouts", h_ch_timeouts},
                                     {"forward_headers", h_ch_forward},
                                     {"max_connections", h_ch_max_conn},
                                     {"keepalive", h_ch_keepalive},
                                     {"keepalive_timeout_ms", h_ch_keepalive_timeout},
                                     {"http_client", h_ch_http_client},
                                     {"endpoints", h_ch_endpoints},
                                     {"health", h_ch_health},
                                     {"discovery", h_ch_discovery},
                                     {"*", h_ch_engine_option},
                                     {NULL, NULL}};
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *item = ld_node(ld, v->data.sequence.items.start[i]);
        gw_channel *ch = &cfg->channels[cfg->channel_count++];
        ch->line = (int)item->start_mark.line + 1;
        ch->type = "openai";
        ch->engine = gw_engine_find("openai");
        ch->timeouts = (gw_timeouts){
            .connect_ms = 5000, .first_byte_ms = 120000, .idle_ms = 60000, .total_ms = 1800000};
        ch->max_connections = 256;
        ch->keepalive = 32; /* nginx's spirit: a worker keeps a few idle, not its high-water mark */
        ch->keepalive_timeout_ms = 60000;
        ch->health = (gw_health_policy){.failures = 3,
                                        .backoff_ms = 1000,
                                        .max_backoff_ms = 30000,
                                        .interval_ms = 5000,
                                        .timeout_ms = 2000};
        ld->engine_option_count = 0;
        ld_walk_mapping(ld, item, "a channel", specs, ch);
        if (item->type != YAML_MAPPING_NODE) continue;
        if (!ch->name) ld_error(ld, item, "channel needs a name");
        int sources = !!ch->base_url + !!ch->endpoint_url_count + !!ch->discovery;
        if (sources == 0)
            ld_error(ld, item, "channel '%s' needs a base_url, endpoints or discovery",
                     ch->name ? ch->name : "?");
        else if (sources > 1)
            ld_error(ld, item, "channel '%s': use one of base_url, endpoints and discovery",
                     ch->name ? ch->name : "?");
        if (ch->base_url) {
            ch->endpoint_urls = gw_arena_alloc(&cfg->arena, sizeof(char *));
            ch->endpoint_urls[0] = ch->base_url;
            ch->endpoint_url_count = 1;
        }
        configure_engine(ld, item, ch); /* the adapter may check the URLs */
        if (ch->health.backoff_ms > ch->health.max_backoff_ms)
            ld_error(ld, item, "channel '%s': health.backoff_ms is over health.max_backoff_ms",
                     ch->name ? ch->name : "?");
        for (size_t j = 0; ch->name && j + 1 < cfg->channel_count; j++)
            if (cfg->channels[j].name && !strcmp(cfg->channels[j].name, ch->name))
                ld_error(ld, item, "channel '%s' is defined twice (first at line %d)", ch->name,
                         cfg->channels[j].line);
    }
}

/* --- models --- */
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

enum { MAX_TARGETS = 64, MAX_WEIGHT = 1000, MAX_TIER = 9 };

typedef struct target_draft {
    const char *channel_name;
    yaml_node_t *channel_node;
    long weight, tier;
    const char *upstream_model;
} target_draft;

static void h_t_channel(loader *ld, yaml_node_t *v, void *t) {
    ((target_draft *)t)->channel_name = ld_string(ld, v, "target channel");
    ((target_draft *)t)->channel_node = v;
}
static void h_t_weight(loader *ld, yaml_node_t *v, void *t) {
    ld_int(ld, v, "target weight", 0, MAX_WEIGHT, &((target_draft *)t)->weight);
}
static void h_t_tier(loader *ld, yaml_node_t *v, void *t) {
    ld_int(ld, v, "target tier", 0, MAX_TIER, &((target_draft *)t)->tier);
}
static void h_t_upstream(loader *ld, yaml_node_t *v, void *t) {
    ((target_draft *)t)->upstream_model = ld_string(ld, v, "target upstream_model");
}

typedef struct model_draft {
    gw_model *model;
    const char *channel_name; /* the single-channel form: `channel: x` */
    yaml_node_t *channel_node;
    const char *upstream_model; /* the default of every target */
    yaml_node_t *targets_node;
    yaml_node_t *rules_node;
    yaml_node_t *failover_node;
} model_draft;

static void h_m_name(loader *ld, yaml_node_t *v, void *t) {
    ((model_draft *)t)->model->name = ld_string(ld, v, "model name");
}
static void h_m_channel(loader *ld, yaml_node_t *v, void *t) {
    model_draft *d = t;
    d->channel_name = ld_string(ld, v, "model channel");
    d->channel_node = v;
}
static void h_m_upstream(loader *ld, yaml_node_t *v, void *t) {
    ((model_draft *)t)->upstream_model = ld_string(ld, v, "model upstream_model");
}
static void h_m_targets(loader *ld, yaml_node_t *v, void *t) {
    (void)ld;
    ((model_draft *)t)->targets_node = v;
}
static void h_m_rules(loader *ld, yaml_node_t *v, void *t) {
    (void)ld;
    ((model_draft *)t)->rules_node = v;
}
/* access: {allow, deny} of one model, on top of the global lists */
static void h_ma_allow(loader *ld, yaml_node_t *v, void *t) {
    ((gw_model *)t)->access_allow = cidr_list(ld, v, "model access.allow");
}
static void h_ma_deny(loader *ld, yaml_node_t *v, void *t) {
    ((gw_model *)t)->access_deny = cidr_list(ld, v, "model access.deny");
}
static void h_m_access(loader *ld, yaml_node_t *v, void *t) {
    static const key_spec specs[] = {{"allow", h_ma_allow}, {"deny", h_ma_deny}, {NULL, NULL}};
    ld_walk_mapping(ld, v, "model access", specs, ((model_draft *)t)->model);
}

static void h_m_failover(loader *ld, yaml_node_t *v, void *t) {
    (void)ld;
    ((model_draft *)t)->failover_node = v;
}

static const gw_channel *find_channel(const gw_config *cfg, const char *name) {
    for (size_t j = 0; j < cfg->channel_count; j++)
        if (cfg->channels[j].name && !strcmp(cfg->channels[j].name, name)) return &cfg->channels[j];
    return NULL;
}

static void fill_target(loader *ld, const gw_model *m, const target_draft *td, gw_target *t) {
    gw_arena *arena = &ld->cfg->arena;
    t->weight = (int)td->weight;
    t->tier = (int)td->tier;
    t->upstream_model = td->upstream_model && *td->upstream_model ? td->upstream_model : m->name;
    t->upstream_model_len = strlen(t->upstream_model);
    t->upstream_model_json =
        json_string_literal(arena, t->upstream_model, &t->upstream_model_json_len);
    t->rewrite = strcmp(m->name, t->upstream_model) != 0;
}

/* The tiers of a target group, ascending, each with its weighted round-robin schedule. */
static void build_tiers(loader *ld, gw_target_group *g) {
    gw_arena *arena = &ld->cfg->arena;
    int seen[MAX_TIER + 1] = {0};
    for (size_t i = 0; i < g->count; i++)
        seen[g->targets[i].tier] = 1;
    for (int tier = 0; tier <= MAX_TIER; tier++)
        g->tier_count += (size_t)seen[tier];
    g->tiers = gw_arena_alloc(arena, (g->tier_count ? g->tier_count : 1) * sizeof(gw_tier));
    size_t k = 0;
    for (int tier = 0; tier <= MAX_TIER; tier++) {
        if (!seen[tier]) continue;
        int weights[MAX_TARGETS];
        size_t total = 0;
        for (size_t i = 0; i < g->count; i++) {
            weights[i] = g->targets[i].tier == tier ? g->targets[i].weight : 0;
            total += (size_t)weights[i];
        }
        gw_tier *t = &g->tiers[k++];
        t->tier = tier;
        t->cursor = gw_arena_alloc(arena, sizeof(atomic_uint));
        t->schedule = gw_arena_alloc(arena, (total ? total : 1) * sizeof(uint32_t));
        t->period = gw_route_swrr_schedule(weights, g->count, t->schedule);
    }
}

/* `targets:` a list of {channel, weight, tier, upstream_model}, or `channel:` alone. */
static void build_targets(loader *ld, yaml_node_t *item, gw_model *m, const model_draft *d,
                          gw_target_group *g, yaml_node_t *list) {
    gw_config *cfg = ld->cfg;
    size_t n = list ? (size_t)(list->data.sequence.items.top - list->data.sequence.items.start) : 1;
    if (list && ld_expect_kind(ld, list, YAML_SEQUENCE_NODE, "targets") < 0) return;
    if (n == 0 || n > MAX_TARGETS) {
        ld_error(ld, list ? list : item, "model '%s': expected 1 to %d targets, found %zu", m->name,
                 MAX_TARGETS, n);
        return;
    }
    g->targets = gw_arena_alloc(&cfg->arena, n * sizeof(gw_target));
    static const key_spec specs[] = {{"channel", h_t_channel},
                                     {"weight", h_t_weight},
                                     {"tier", h_t_tier},
                                     {"upstream_model", h_t_upstream},
                                     {NULL, NULL}};
    for (size_t i = 0; i < n; i++) {
        target_draft td = {.weight = 1, .upstream_model = d->upstream_model};
        yaml_node_t *node = item;
        if (list) {
            node = ld_node(ld, list->data.sequence.items.start[i]);
            ld_walk_mapping(ld, node, "a target", specs, &td);
        } else {
            td.channel_name = d->channel_name;
            td.channel_node = d->channel_node;
        }
        if (!td.channel_name) {
            ld_error(ld, node, "model '%s': a target needs a channel", m->name);
            continue;
        }
        gw_target *t = &g->targets[g->count++];
        t->channel = find_channel(cfg, td.channel_name);
        if (!t->channel) {
            ld_error(ld, td.channel_node, "model '%s' names channel '%s', which is not defined",
                     m->name, td.channel_name);
            g->count--;
            continue;
        }
        fill_target(ld, m, &td, t);
    }
    build_tiers(ld, g);
}

/* --- routing rules: `when` (every condition must hold) and the targets it picks --- */
typedef struct rule_draft {
    loader *ld;
    gw_rule_set *rules;
    const char *model;
} rule_draft;

typedef struct condition_draft {
    gw_rule_condition_desc desc;
    int tests; /* how many of equals/prefix/contains/matches were given */
    long over, under;
} condition_draft;

static void set_test(loader *ld, yaml_node_t *v, condition_draft *c, gw_rule_test test,
                     const char *what) {
    c->desc.test = test;
    c->desc.value = ld_string(ld, v, what);
    c->tests++;
}
static void h_c_equals(loader *ld, yaml_node_t *v, void *t) {
    set_test(ld, v, t, GW_RULE_EQUALS, "equals");
}
static void h_c_prefix(loader *ld, yaml_node_t *v, void *t) {
    set_test(ld, v, t, GW_RULE_PREFIX, "prefix");
}
static void h_c_contains(loader *ld, yaml_node_t *v, void *t) {
    set_test(ld, v, t, GW_RULE_CONTAINS, "contains");
}
static void h_c_matches(loader *ld, yaml_node_t *v, void *t) {
    set_test(ld, v, t, GW_RULE_MATCHES, "matches");
}
static void h_c_name(loader *ld, yaml_node_t *v, void *t) {
    ((condition_draft *)t)->desc.name = ld_string(ld, v, "header name");
}
static void h_c_path(loader *ld, yaml_node_t *v, void *t) {
    ((condition_draft *)t)->desc.name = ld_string(ld, v, "field path");
}
static void h_c_over(loader *ld, yaml_node_t *v, void *t) {
    condition_draft *c = t;
    if (ld_int(ld, v, "prompt_tokens.over", 0, 100000000, &c->over) == 0) c->desc.has_over = 1;
}
static void h_c_under(loader *ld, yaml_node_t *v, void *t) {
    condition_draft *c = t;
    if (ld_int(ld, v, "prompt_tokens.under", 1, 100000000, &c->under) == 0) c->desc.has_under = 1;
}

/* Adds one condition of a `when`; a bad regex is reported at its own node. */
static void add_condition(rule_draft *rd, yaml_node_t *key, yaml_node_t *v, gw_rule_subject subject,
                          const key_spec *specs, const char *what) {
    loader *ld = rd->ld;
    condition_draft c = {.desc = {.subject = subject}};
    ld_walk_mapping(ld, v, what, specs, &c);
    if (v->type != YAML_MAPPING_NODE) return;
    c.desc.over = (size_t)c.over;
    c.desc.under = (size_t)c.under;
    if (subject == GW_RULE_PROMPT_TOKENS) {
        if (!c.desc.has_over && !c.desc.has_under) {
            ld_error(ld, v, "%s needs over or under", what);
            return;
        }
    } else if (c.tests != 1) {
        ld_error(ld, v, "%s needs exactly one test (equals, prefix, contains or matches)", what);
        return;
    } else if (!c.desc.value) {
        return;
    } else if (subject != GW_RULE_LAST_USER_MESSAGE && (!c.desc.name || !*c.desc.name)) {
        ld_error(ld, v, "%s needs %s", what, subject == GW_RULE_HEADER ? "a name" : "a path");
        return;
    }
    char err[256];
    if (gw_rules_add_condition(rd->rules, &c.desc, err, sizeof err) < 0)
        ld_error(ld, key, "model '%s': %s: %s", rd->model, what, err);
}

static void h_w_prompt_tokens(loader *ld, yaml_node_t *v, void *t) {
    static const key_spec specs[] = {{"over", h_c_over}, {"under", h_c_under}, {NULL, NULL}};
    (void)ld;
    add_condition(t, v, v, GW_RULE_PROMPT_TOKENS, specs, "prompt_tokens");
}
static void h_w_header(loader *ld, yaml_node_t *v, void *t) {
    static const key_spec specs[] = {{"name", h_c_name},       {"equals", h_c_equals},
                                     {"prefix", h_c_prefix},   {"contains", h_c_contains},
                                     {"matches", h_c_matches}, {NULL, NULL}};
    (void)ld;
    add_condition(t, v, v, GW_RULE_HEADER, specs, "header");
}
static void h_w_field(loader *ld, yaml_node_t *v, void *t) {
    static const key_spec specs[] = {{"path", h_c_path},       {"equals", h_c_equals},
                                     {"prefix", h_c_prefix},   {"contains", h_c_contains},
                                     {"matches", h_c_matches}, {NULL, NULL}};
    (void)ld;
    add_condition(t, v, v, GW_RULE_FIELD, specs, "field");
}
static void h_w_last_user(loader *ld, yaml_node_t *v, void *t) {
    static const key_spec specs[] = {{"equals", h_c_equals},
                                     {"prefix", h_c_prefix},
                                     {"contains", h_c_contains},
                                     {"matches", h_c_matches},
                                     {NULL, NULL}};
    (void)ld;
    add_condition(t, v, v, GW_RULE_LAST_USER_MESSAGE, specs, "last_user_message");
}

typedef struct rule_item_draft {
    yaml_node_t *when, *targets;
} rule_item_draft;
static void h_r_when(loader *ld, yaml_node_t *v, void *t) {
    (void)ld;
    ((rule_item_draft *)t)->when = v;
}
static void h_r_targets(loader *ld, yaml_node_t *v, void *t) {
    (void)ld;
    ((rule_item_draft *)t)->targets = v;
}

static void build_rules(loader *ld, gw_model *m, const model_draft *d) {
    yaml_node_t *list = d->rules_node;
    if (ld_expect_kind(ld, list, YAML_SEQUENCE_NODE, "rules") < 0) return;
    size_t n = (size_t)(list->data.sequence.items.top - list->data.sequence.items.start);
    if (n == 0 || n > 256) {
        ld_error(ld, list, "model '%s': expected 1 to 256 rules, found %zu", m->name, n);
        return;
    }
    m->rules = gw_rules_new();
    m->rule_groups = gw_arena_alloc(&ld->cfg->arena, n * sizeof(gw_target_group));
    if (!m->rules) {
        ld_error(ld, list, "out of memory");
        return;
    }
    static const key_spec item_specs[] = {
        {"when", h_r_when}, {"targets", h_r_targets}, {NULL, NULL}};
    static const key_spec when_specs[] = {{"prompt_tokens", h_w_prompt_tokens},
                                          {"header", h_w_header},
                                          {"field", h_w_field},
                                          {"last_user_message", h_w_last_user},
                                          {NULL, NULL}};
    rule_draft rd = {.ld = ld, .rules = m->rules, .model = m->name};
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *item = ld_node(ld, list->data.sequence.items.start[i]);
        rule_item_draft rid = {0};
        ld_walk_mapping(ld, item, "a rule", item_specs, &rid);
        if (item->type != YAML_MAPPING_NODE) continue;
        if (!rid.when || !rid.targets) {
            ld_error(ld, item, "model '%s': a rule needs when and targets", m->name);
            continue;
        }
        if (rid.when->type == YAML_MAPPING_NODE &&
            rid.when->data.mapping.pairs.top == rid.when->data.mapping.pairs.start) {
            ld_error(ld, rid.when, "model '%s': a rule's when needs a condition", m->name);
            continue;
        }
        if (gw_rules_add_rule(m->rules, m->rule_count) < 0) {
            ld_error(ld, item, "out of memory");
            continue;
        }
        ld_walk_mapping(ld, rid.when, "when", when_specs, &rd);
        model_draft td = {.model = m, .upstream_model = d->upstream_model};
        build_targets(ld, item, m, &td, &m->rule_groups[m->rule_count++], rid.targets);
    }
}

static const char *const failover_names[] = {"connect", "timeout", "5xx", "429", NULL};

static void h_fo_on(loader *ld, yaml_node_t *v, void *t) {
    gw_failover *f = t;
    if (ld_expect_kind(ld, v, YAML_SEQUENCE_NODE, "failover.on") < 0) return;
    f->on = 0;
    for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top;
         it++) {
        yaml_node_t *item = ld_node(ld, *it);
        const char *name = ld_string(ld, item, "a failover.on entry");
        if (!name) continue;
        size_t k = 0;
        while (failover_names[k] && strcmp(failover_names[k], name))
            k++;
        if (!failover_names[k])
            ld_error(ld, item, "expected connect, timeout, 5xx or 429 in failover.on, found '%s'",
                     name);
        else
            f->on |= 1u << k;
    }
}
INT_FIELD(h_fo_attempts, ((gw_failover *)t)->attempts, "failover.attempts", 1, 10)
INT_FIELD(h_fo_deadline, ((gw_failover *)t)->deadline_ms, "failover.deadline_ms", 1, 86400000)

static void h_models(loader *ld, yaml_node_t *v, void *t) {
    gw_config *cfg = t;
    if (ld_expect_kind(ld, v, YAML_SEQUENCE_NODE, "models") < 0) return;
    size_t n = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
    cfg->models = gw_arena_alloc(&cfg->arena, (n ? n : 1) * sizeof(gw_model));
    static const key_spec specs[] = {{"name", h_m_name},
                                     {"channel", h_m_channel},
                                     {"upstream_model", h_m_upstream},
                                     {"targets", h_m_targets},
                                     {"rules", h_m_rules},
                                     {"failover", h_m_failover},
                                     {"access", h_m_access},
                                     {NULL, NULL}};
    static const key_spec failover_specs[] = {
        {"on", h_fo_on}, {"attempts", h_fo_attempts}, {"deadline_ms", h_fo_deadline}, {NULL, NULL}};
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *item = ld_node(ld, v->data.sequence.items.start[i]);
        gw_model *m = &cfg->models[cfg->model_count++];
        model_draft d = {.model = m};
        ld_walk_mapping(ld, item, "a model", specs, &d);
        if (item->type != YAML_MAPPING_NODE) continue;
        if (!m->name || !*m->name) {
            ld_error(ld, item, "model needs a name");
            continue;
        }
        m->name_len = strlen(m->name);
        m->name_json = json_string_literal(&cfg->arena, m->name, &m->name_json_len);
        m->failover = (gw_failover){.on = GW_FAILOVER_ON_CONNECT | GW_FAILOVER_ON_TIMEOUT |
                                          GW_FAILOVER_ON_5XX | GW_FAILOVER_ON_429,
                                    .attempts = 3};
        if (d.failover_node)
            ld_walk_mapping(ld, d.failover_node, "failover", failover_specs, &m->failover);
        if (d.channel_name && d.targets_node)
            ld_error(ld, item, "model '%s' has both channel and targets: use one", m->name);
        else if (!d.channel_name && !d.targets_node)
            ld_error(ld, item, "model '%s' needs a channel or targets", m->name);
        else
            build_targets(ld, item, m, &d, &m->targets, d.targets_node);
        if (m->targets.count) {
            int tier0 = 0;
            for (size_t k = 0; k < m->targets.count; k++)
                tier0 |= m->targets.targets[k].tier == 0 && m->targets.targets[k].weight > 0;
            if (!tier0)
                ld_error(ld, d.targets_node ? d.targets_node : item,
                         "model '%s' has no tier-0 target with a weight over 0", m->name);
        }
        if (d.rules_node) build_rules(ld, m, &d);
        for (size_t j = 0; j + 1 < cfg->model_count; j++)
            if (cfg->models[j].name && !strcmp(cfg->models[j].name, m->name))
                ld_error(ld, item, "model '%s' is defined twice", m->name);
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

/* Per-channel data built once per snapshot so requests format nothing, and the channel's
 * endpoints from the registry (the same objects as in the running snapshot, health and all). */
static void finish_channel(loader *ld, gw_channel *ch) {
    gw_arena *arena = &ld->cfg->arena;
    ch->endpoint_cursor = gw_arena_alloc(arena, sizeof(atomic_uint));
    ch->endpoints = gw_arena_alloc(arena, (ch->endpoint_url_count ? ch->endpoint_url_count : 1) *
                                              sizeof(gw_endpoint *));
    size_t usable = 0;
    for (size_t i = 0; ch->name && i < ch->endpoint_url_count; i++) {
        const char *base = ch->endpoint_urls[i];
        if (!strcmp(base, "builtin:sim")) {
            if (!ld->sim_base_url) continue; /* `check` validates without a running simulator */
            base = ld->sim_base_url;
        }
        gw_endpoint *ep = gw_endpoints_acquire(ch->name, base);
        if (!ep) {
            ld_error(ld, NULL, "channel '%s': out of memory for endpoint %s", ch->name, base);
            continue;
        }
        ch->endpoints[usable++] = ep;
    }
    ch->endpoint_count = usable;
    if (ch->discovery && ch->name && ch->discovery->key) {
        ch->source = gw_pools_acquire(ch->name, ch->discovery);
        if (!ch->source) ld_error(ld, NULL, "channel '%s': out of memory for discovery", ch->name);
    } else if (ch->name && ch->endpoint_count) {
        ch->source = gw_pools_acquire_static(ch->name, ch->endpoints, ch->endpoint_count);
        if (!ch->source) ld_error(ld, NULL, "channel '%s': out of memory", ch->name);
    }
}

/* The last reference to a snapshot is gone: its endpoints lose a holder (an atomic decrement,
 * on whichever thread drops it; the registry frees them on the control thread). */
static void release_snapshot(gw_config *cfg) {
    gw_cidr_list_free(cfg->access_allow);
    gw_cidr_list_free(cfg->access_deny);
    gw_cidr_list_free(cfg->trusted_proxies);
    for (size_t i = 0; i < cfg->model_count; i++) {
        gw_cidr_list_free(cfg->models[i].access_allow);
        gw_cidr_list_free(cfg->models[i].access_deny);
    }
    if (cfg->words_guard) gw_words_free(cfg->words_guard->matcher);
    if (cfg->pii_guard) gw_pii_set_free(cfg->pii_guard->set);
    ld_metering_release(cfg);
    for (size_t i = 0; cfg->limits && i < cfg->limits->zone_count; i++)
        gw_tz_free(cfg->limits->zones[i]);
    if (cfg->auth) {
        gw_keyset_unref(cfg->auth->keys);
        gw_jwks_free(cfg->auth->jwks);
    }
    for (size_t i = 0; i < cfg->model_count; i++)
        gw_rules_free(cfg->models[i].rules);
    gw_mcp_conf_release(cfg->mcp);
    for (size_t i = 0; i < cfg->channel_count; i++) {
        for (size_t k = 0; k < cfg->channels[i].endpoint_count; k++)
            gw_endpoint_release(cfg->channels[i].endpoints[k]);
        gw_pools_release(cfg->channels[i].source);
    }
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
    cfg->store_path = "aigw.db";
    cfg->log_level = 1;
}

static void finish_config(loader *ld) {
    gw_config *cfg = ld->cfg;
    cfg->access_log_on = cfg->access_log && strcmp(cfg->access_log, "off") != 0;
    if (cfg->https.host && (!cfg->tls_cert || !cfg->tls_key))
        ld_error(ld, NULL, "server.https needs cert and key (or listen: off)");
    if (cfg->model_count == 0) ld_error(ld, NULL, "at least one model is needed under models:");
    if (!cfg->admin_token || !*cfg->admin_token) {
        char token[33];
        gw_random_hex(token, 16);
        cfg->admin_token = gw_arena_strdup(&cfg->arena, token);
        cfg->admin_token_generated = 1;
    }
    for (size_t i = 0; i < cfg->channel_count; i++)
        finish_channel(ld, &cfg->channels[i]);
    ld_metering_finish(ld);
    build_model_index(cfg);
    /* the limits' counters, made here on the control thread before any worker can ask */
    if ((cfg->auth || cfg->limits) && (!gw_limits_table() || !gw_quotas_table()))
        ld_error(ld, NULL, "out of memory for the limits' counters");
    if (gw_chain_build(cfg) < 0) ld_error(ld, NULL, "more filters than the chain holds");
}

gw_config *gw_config_load_string(const char *name, const char *yaml, size_t len,
                                 const char *sim_base_url, gw_config_errors *errs) {
    errs->count = 0;
    gw_config *cfg = calloc(1, sizeof *cfg);
    if (!cfg) return NULL;
    atomic_init(&cfg->refs, 1);
    cfg->release = release_snapshot;
    apply_defaults(cfg);
    loader ld = {.file = name, .cfg = cfg, .errs = errs, .sim_base_url = sim_base_url};

    yaml_parser_t parser;
    yaml_parser_initialize(&parser);
    size_t quoted_len; /* ${VAR} inside { } written bare, as mcp:'s examples do */
    char *quoted = gw_config_quote_env_refs(yaml, len, &quoted_len);
    if (quoted) {
        yaml = quoted;
        len = quoted_len;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)yaml, len);
    if (!yaml_parser_load(&parser, &ld.doc)) {
        yaml_node_t where = {.start_mark = parser.problem_mark};
        ld_error(&ld, &where, "invalid YAML: %s%s%s", parser.problem ? parser.problem : "error",
                 parser.context ? " " : "", parser.context ? parser.context : "");
        yaml_parser_delete(&parser);
        free(quoted);
        gw_config_unref(cfg);
        return NULL;
    }
    yaml_parser_delete(&parser);
    free(quoted);

    yaml_node_t *root = yaml_document_get_root_node(&ld.doc);
    if (!root) {
        ld_error(&ld, NULL, "the config is empty: expected a mapping with models: and channels:");
    } else {
        /* channels before models, whatever the file's order, so models can name them */
        static const key_spec first_pass[] = {{"server", h_server},       {"log", h_log},
                                              {"access", h_access_lists}, {"guards", h_guards},
                                              {"auth", h_auth},           {"store", h_store},
                                              {"limits", h_limits},       {"quotas", h_quotas},
                                              {"channels", h_channels},   {"metering", ld_metering},
                                              {"metrics", ld_metrics},    {"mcp", ld_mcp},
                                              {"models", NULL},           {NULL, NULL}};
        yaml_node_t *models = NULL;
        if (ld_expect_kind(&ld, root, YAML_MAPPING_NODE, "the config") == 0) {
            for (yaml_node_pair_t *p = root->data.mapping.pairs.start;
                 p < root->data.mapping.pairs.top; p++) {
                yaml_node_t *k = ld_node(&ld, p->key);
                const char *kn =
                    k->type == YAML_SCALAR_NODE ? (const char *)k->data.scalar.value : "";
                if (k->type == YAML_SCALAR_NODE && ld_duplicate_key(&ld, root, p, "the config"))
                    continue;
                const key_spec *s = first_pass;
                while (s->key && strcmp(s->key, kn))
                    s++;
                if (!s->key)
                    ld_error(
                        &ld, k,
                        "unknown key '%s' at the top level (expected one of: server, log, "
                        "auth, access, guards, limits, quotas, store, metering, metrics, channels, "
                        "models, mcp)",
                        kn);
                else if (s->handle)
                    s->handle(&ld, ld_node(&ld, p->value), cfg);
                else
                    models = ld_node(&ld, p->value);
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

/* The file's bytes, in a buffer as large as the file (one byte over the limit is enough to
 * tell it is too large). Never the limit's 4 MB at once: glibc raises its mmap threshold to the
 * size of an mmapped block when it is freed, so one such buffer moved every later allocation
 * up to 4 MB onto the heap, where calloc clears recycled memory and makes it resident (0.5 MB
 * at idle). A file whose size stat cannot tell (a pipe) is read in growing pieces. */
static char *read_config_file(FILE *f, size_t *len) {
    struct stat st;
    size_t cap = 64 * 1024;
    if (fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode) && st.st_size >= 0)
        cap = (size_t)st.st_size < MAX_CONFIG_BYTES ? (size_t)st.st_size + 1 : MAX_CONFIG_BYTES + 1;
    char *buf = malloc(cap);
    *len = 0;
    while (buf) {
        *len += fread(buf + *len, 1, cap - *len, f);
        if (*len < cap || cap > MAX_CONFIG_BYTES) return buf; /* the end, or past the limit */
        size_t grown = cap * 2 < MAX_CONFIG_BYTES + 1 ? cap * 2 : MAX_CONFIG_BYTES + 1;
        char *bigger = realloc(buf, grown);
        if (!bigger) free(buf);
        buf = bigger;
        cap = grown;
    }
    return NULL;
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
    size_t len = 0;
    char *buf = read_config_file(f, &len);
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
        for (size_t k = 0; k < cfg->channels[i].endpoint_url_count; k++)
            if (!strcmp(cfg->channels[i].endpoint_urls[k], "builtin:sim")) return 1;
    return 0;
}
