#include "config/loader.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"

void ld_error(loader *ld, const yaml_node_t *node, const char *fmt, ...) {
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

const char *ld_node_kind(const yaml_node_t *node) {
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

yaml_node_t *ld_node(loader *ld, int index) {
    return yaml_document_get_node(&ld->doc, index);
}

int ld_expect_kind(loader *ld, yaml_node_t *node, yaml_node_type_t type, const char *what) {
    if (node->type == type) return 0;
    ld_error(ld, node, "expected %s for %s, found %s",
             type == YAML_MAPPING_NODE    ? "a mapping"
             : type == YAML_SEQUENCE_NODE ? "a list"
                                          : "a scalar",
             what, ld_node_kind(node));
    return -1;
}

/* Expands a scalar that is exactly ${VAR} or ${VAR:-default} from the environment, so secrets
 * (API keys, the admin token) stay out of the file. */
const char *ld_expand(loader *ld, yaml_node_t *node) {
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
        ld_error(ld, node, "expected an environment variable name inside ${...}");
        return NULL;
    }
    memcpy(name, inner, name_len);
    name[name_len] = '\0';
    const char *value = getenv(name);
    if (value) return gw_arena_strdup(&ld->cfg->arena, value);
    if (dflt) return gw_arena_strndup(&ld->cfg->arena, dflt, dflt_len);
    ld_error(ld, node, "environment variable %s is not set (write ${%s:-default} for a default)",
             name, name);
    return NULL;
}

const char *ld_string(loader *ld, yaml_node_t *node, const char *what) {
    if (ld_expect_kind(ld, node, YAML_SCALAR_NODE, what) < 0) return NULL;
    return ld_expand(ld, node);
}

int ld_int(loader *ld, yaml_node_t *node, const char *what, long min, long max, long *out) {
    if (ld_expect_kind(ld, node, YAML_SCALAR_NODE, what) < 0) return -1;
    const char *s = (const char *)node->data.scalar.value;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max) {
        ld_error(ld, node, "expected an integer from %ld to %ld for %s, found '%s'", min, max, what,
                 s);
        return -1;
    }
    *out = v;
    return 0;
}

int ld_bool(loader *ld, yaml_node_t *node, const char *what, int *out) {
    if (ld_expect_kind(ld, node, YAML_SCALAR_NODE, what) < 0) return -1;
    const char *s = (const char *)node->data.scalar.value;
    if (!strcmp(s, "true") || !strcmp(s, "yes") || !strcmp(s, "on")) {
        *out = 1;
        return 0;
    }
    if (!strcmp(s, "false") || !strcmp(s, "no") || !strcmp(s, "off")) {
        *out = 0;
        return 0;
    }
    ld_error(ld, node, "expected true or false for %s, found '%s'", what, s);
    return -1;
}

/* "host:port", ":port", "[v6]:port", or "off". */
void ld_listen(loader *ld, yaml_node_t *node, const char *what, gw_listen *out) {
    const char *s = ld_string(ld, node, what);
    if (!s) return;
    if (!*s || !strcmp(s, "off") || !strcmp(s, "false")) {
        out->host = NULL;
        return;
    }
    const char *colon = strrchr(s, ':');
    char *end;
    long port = colon ? strtol(colon + 1, &end, 10) : 0;
    if (!colon || colon[1] == '\0' || *end || port < 1 || port > 65535) {
        ld_error(ld, node, "expected host:port (or off) for %s, found '%s'", what, s);
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

/* A key written twice in one mapping is an error naming both places: YAML parsers disagree on
 * which one wins, and a handler run twice would see a second list where it sized the first. */
int ld_duplicate_key(loader *ld, yaml_node_t *node, yaml_node_pair_t *pair, const char *what) {
    yaml_node_t *key = ld_node(ld, pair->key);
    for (yaml_node_pair_t *p = node->data.mapping.pairs.start; p < pair; p++) {
        yaml_node_t *earlier = ld_node(ld, p->key);
        if (earlier->type == YAML_SCALAR_NODE &&
            earlier->data.scalar.length == key->data.scalar.length &&
            !memcmp(earlier->data.scalar.value, key->data.scalar.value, key->data.scalar.length)) {
            ld_error(ld, key, "duplicate key '%s' in %s (first at line %zu, column %zu)",
                     (const char *)key->data.scalar.value, what, earlier->start_mark.line + 1,
                     earlier->start_mark.column + 1);
            return 1;
        }
    }
    return 0;
}

/* Walks a mapping, dispatching known keys and reporting unknown ones with the list of valid. */
void ld_walk_mapping(loader *ld, yaml_node_t *node, const char *what, const key_spec *specs,
                     void *target) {
    if (ld_expect_kind(ld, node, YAML_MAPPING_NODE, what) < 0) return;
    for (yaml_node_pair_t *pair = node->data.mapping.pairs.start;
         pair < node->data.mapping.pairs.top; pair++) {
        yaml_node_t *key = ld_node(ld, pair->key), *value = ld_node(ld, pair->value);
        if (key->type != YAML_SCALAR_NODE) {
            ld_error(ld, key, "expected a key name in %s", what);
            continue;
        }
        if (ld_duplicate_key(ld, node, pair, what)) continue;
        const char *name = (const char *)key->data.scalar.value;
        const key_spec *spec = specs;
        while (spec->key && strcmp(spec->key, name) && strcmp(spec->key, "*"))
            spec++;
        if (spec->key) { /* "*", last in a table, takes the keys the table does not name */
            ld->current_key = key;
            spec->handle(ld, value, target);
            continue;
        }
        char expected[256] = "";
        size_t n = 0;
        for (spec = specs; spec->key && n < sizeof expected - 40; spec++)
            n += (size_t)snprintf(expected + n, sizeof expected - n, "%s%s",
                                  spec == specs ? "" : ", ", spec->key);
        ld_error(ld, key, "unknown key '%s' in %s (expected one of: %s)", name, what, expected);
    }
}
