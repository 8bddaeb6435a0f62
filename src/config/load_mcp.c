/* mcp: in the config. See README ("MCP bridge") for every key. */
#include "config/load_mcp.h"

#include <errno.h>
#include <http_parser.h>
#include <json-c/json.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/config.h"
#include "core/http_routes.h"
#include "filters/limits.h"
#include "mcp/mcp.h"
#include "mcp/openapi.h"
#include "mcp/schema.h"
#include "mcp/template.h"
#include "mcp/yaml_json.h"
#include "security/ratelimit.h"

enum { MAX_OPENAPI_BYTES = 16 << 20 };

/* The values of a mapping's keys by name (NULL where absent); unknown and duplicate keys are
 * errors naming the valid ones. */
static void fields(loader *ld, yaml_node_t *node, const char *what, const char *const *names,
                   yaml_node_t **out) {
    size_t n = 0;
    while (names[n])
        out[n++] = NULL;
    if (ld_expect_kind(ld, node, YAML_MAPPING_NODE, what) < 0) return;
    for (yaml_node_pair_t *p = node->data.mapping.pairs.start; p < node->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = ld_node(ld, p->key);
        if (k->type != YAML_SCALAR_NODE) {
            ld_error(ld, k, "expected a key name in %s", what);
            continue;
        }
        if (ld_duplicate_key(ld, node, p, what)) continue;
        size_t i = 0;
        while (names[i] && strcmp(names[i], (const char *)k->data.scalar.value))
            i++;
        if (names[i]) {
            out[i] = ld_node(ld, p->value);
            continue;
        }
        char expected[300] = "";
        size_t used = 0;
        for (size_t j = 0; names[j] && used < sizeof expected - 40; j++)
            used += (size_t)snprintf(expected + used, sizeof expected - used, "%s%s", j ? ", " : "",
                                     names[j]);
        ld_error(ld, k, "unknown key '%s' in %s (expected one of: %s)",
                 (const char *)k->data.scalar.value, what, expected);
    }
}

static size_t seq_len(yaml_node_t *v) {
    return (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
}

static const char **string_list(loader *ld, yaml_node_t *v, const char *what, size_t *count) {
    *count = 0;
    if (ld_expect_kind(ld, v, YAML_SEQUENCE_NODE, what) < 0) return NULL;
    size_t n = seq_len(v);
    const char **out = gw_arena_alloc(&ld->cfg->arena, (n ? n : 1) * sizeof *out);
    for (size_t i = 0; i < n; i++) {
        const char *s = ld_string(ld, ld_node(ld, v->data.sequence.items.start[i]), what);
        if (s) out[(*count)++] = s;
    }
    return out;
}

static int valid_name(const char *s) {
    size_t n = strlen(s);
    if (n == 0 || n > GW_MCP_NAME_MAX) return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
              (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '-'))
            return 0;
    return 1;
}

static int http_url(const char *s) {
    return !strncmp(s, "http://", 7) || !strncmp(s, "https://", 8);
}

/* auth: {bearer: T} | {basic: "user:password"} | {basic: {username, password}} |
 * {api_key: {header: X-Api-Key, value: K}} */
static const gw_mcp_credentials *credentials(loader *ld, yaml_node_t *v) {
    static const char *const names[] = {"bearer", "basic", "api_key", NULL};
    yaml_node_t *f[3];
    fields(ld, v, "auth", names, f);
    if (v->type != YAML_MAPPING_NODE) return NULL;
    int given = !!f[0] + !!f[1] + !!f[2];
    if (given != 1) {
        ld_error(ld, v, "auth needs exactly one of bearer, basic or api_key");
        return NULL;
    }
    gw_arena *a = &ld->cfg->arena;
    gw_mcp_credentials *c = gw_arena_alloc(a, sizeof *c);
    char line[2048];
    if (f[0]) {
        const char *t = ld_string(ld, f[0], "auth.bearer");
        if (!t) return NULL;
        snprintf(line, sizeof line, "Authorization: Bearer %s", t);
    } else if (f[1]) {
        char pair[1024];
        if (f[1]->type == YAML_MAPPING_NODE) {
            static const char *const bn[] = {"username", "password", NULL};
            yaml_node_t *b[2];
            fields(ld, f[1], "auth.basic", bn, b);
            const char *u = b[0] ? ld_string(ld, b[0], "auth.basic.username") : NULL;
            const char *p = b[1] ? ld_string(ld, b[1], "auth.basic.password") : NULL;
            if (!u || !p) {
                ld_error(ld, f[1], "auth.basic needs username and password");
                return NULL;
            }
            snprintf(pair, sizeof pair, "%s:%s", u, p);
        } else {
            const char *s = ld_string(ld, f[1], "auth.basic");
            if (!s) return NULL;
            if (!strchr(s, ':')) {
                ld_error(ld, f[1], "expected user:password for auth.basic");
                return NULL;
            }
            snprintf(pair, sizeof pair, "%s", s);
        }
        static const char b64[] =
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        size_t n = strlen(pair), o = 0;
        o += (size_t)snprintf(line, sizeof line, "Authorization: Basic ");
        for (size_t i = 0; i < n && o + 5 < sizeof line; i += 3) {
            unsigned v3 = (unsigned char)pair[i] << 16 |
                          (i + 1 < n ? (unsigned char)pair[i + 1] << 8 : 0) |
                          (i + 2 < n ? (unsigned char)pair[i + 2] : 0);
            line[o++] = b64[v3 >> 18 & 63];
            line[o++] = b64[v3 >> 12 & 63];
            line[o++] = i + 1 < n ? b64[v3 >> 6 & 63] : '=';
            line[o++] = i + 2 < n ? b64[v3 & 63] : '=';
        }
        line[o] = '\0';
    } else {
        static const char *const kn[] = {"header", "value", NULL};
        yaml_node_t *k[2];
        fields(ld, f[2], "auth.api_key", kn, k);
        const char *h = k[0] ? ld_string(ld, k[0], "auth.api_key.header") : NULL;
        const char *val = k[1] ? ld_string(ld, k[1], "auth.api_key.value") : NULL;
        if (!h || !val) {
            ld_error(ld, f[2], "auth.api_key needs header and value");
            return NULL;
        }
        snprintf(line, sizeof line, "%s: %s", h, val);
    }
    if (strpbrk(line, "\r\n")) {
        ld_error(ld, v, "auth: a credential cannot hold a line break");
        return NULL;
    }
    c->header_line = gw_arena_strdup(a, line);
    return c;
}

static void compile_template(loader *ld, yaml_node_t *node, const char *text, gw_mcp_template *t,
                             const char *what) {
    char err[200];
    if (gw_mcp_template_compile(&ld->cfg->arena, text, t, err, sizeof err) < 0)
        ld_error(ld, node, "%s: %s", what, err);
}

/* A tool's schema: compiled (checked) and kept as the JSON tools/list shows. */
static void set_schema(loader *ld, yaml_node_t *node, gw_mcp_tool *t, json_object *schema) {
    char err[400];
    json_object *type = NULL;
    if (!json_object_is_type(schema, json_type_object) ||
        !json_object_object_get_ex(schema, "type", &type) ||
        strcmp(json_object_get_string(type), "object")) {
        ld_error(ld, node, "tool '%s': input_schema must be an object schema (type: object)",
                 t->name);
        return;
    }
    gw_schema *s = gw_schema_compile(schema, err, sizeof err);
    if (!s) {
        ld_error(ld, node, "tool '%s': input_schema %s", t->name, err);
        return;
    }
    t->schema = s;
    t->schema_json = gw_arena_strdup(
        &ld->cfg->arena, json_object_to_json_string_ext(
                             schema, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
}

static const char *method_name(loader *ld, yaml_node_t *node) {
    static const char *const ok[] = {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", NULL};
    const char *m = ld_string(ld, node, "request.method");
    if (!m) return NULL;
    for (size_t i = 0; ok[i]; i++)
        if (!strcasecmp(ok[i], m)) return ok[i];
    ld_error(ld, node,
             "expected GET, POST, PUT, PATCH, DELETE or HEAD for request.method, found '%s'", m);
    return NULL;
}

static void parse_request(loader *ld, yaml_node_t *v, gw_mcp_tool *t) {
    static const char *const names[] = {"method", "url",        "query", "headers",
                                        "body",   "timeout_ms", NULL};
    yaml_node_t *f[6];
    fields(ld, v, "request", names, f);
    if (v->type != YAML_MAPPING_NODE) return;
    gw_mcp_rest *r = &t->rest;
    r->method = f[0] ? method_name(ld, f[0]) : "GET";
    const char *url = f[1] ? ld_string(ld, f[1], "request.url") : NULL;
    if (!url || !http_url(url)) {
        ld_error(ld, f[1] ? f[1] : v, "tool '%s': request.url must be an http:// or https:// URL",
                 t->name);
    } else {
        compile_template(ld, f[1], url, &r->url, "request.url");
    }
    if (f[2]) r->query = string_list(ld, f[2], "request.query", &r->query_count);
    if (f[3] && ld_expect_kind(ld, f[3], YAML_MAPPING_NODE, "request.headers") == 0) {
        size_t n = (size_t)(f[3]->data.mapping.pairs.top - f[3]->data.mapping.pairs.start);
        r->headers = gw_arena_alloc(&ld->cfg->arena, (n ? n : 1) * sizeof *r->headers);
        for (yaml_node_pair_t *p = f[3]->data.mapping.pairs.start; p < f[3]->data.mapping.pairs.top;
             p++) {
            yaml_node_t *k = ld_node(ld, p->key), *val = ld_node(ld, p->value);
            const char *name = ld_string(ld, k, "a header name");
            const char *text = ld_string(ld, val, "a header value");
            if (!name || !text) continue;
            if (strpbrk(name, ": \r\n") || strpbrk(text, "\r\n")) {
                ld_error(ld, k, "a header name or value cannot hold ':', spaces or line breaks");
                continue;
            }
            gw_mcp_header_template *h = &r->headers[r->header_count++];
            h->name = name;
            compile_template(ld, val, text, &h->value, "request.headers");
        }
    }
    if (f[4]) {
        const char *b = ld_string(ld, f[4], "request.body");
        if (b && !strcmp(b, "json"))
            r->body = GW_MCP_BODY_JSON;
        else if (b && !strcmp(b, "form"))
            r->body = GW_MCP_BODY_FORM;
        else if (b && strcmp(b, "none"))
            ld_error(ld, f[4], "expected json, form or none for request.body, found '%s'", b);
    }
    if (f[5]) {
        long ms;
        if (ld_int(ld, f[5], "request.timeout_ms", 1, 3600000, &ms) == 0) r->timeout_ms = (int)ms;
    }
}

static void parse_result(loader *ld, yaml_node_t *v, gw_mcp_tool *t) {
    static const char *const names[] = {"field", "template", NULL};
    yaml_node_t *f[2];
    fields(ld, v, "result", names, f);
    if (f[0] && f[1]) ld_error(ld, v, "result takes field or template, not both");
    if (f[0]) t->rest.result_pointer = ld_string(ld, f[0], "result.field");
    if (f[1]) {
        const char *text = ld_string(ld, f[1], "result.template");
        if (text) {
            compile_template(ld, f[1], text, &t->rest.result_template, "result.template");
            t->rest.has_result_template = 1;
        }
    }
}

/* Each tool's tools/list object, then the server's whole array. */
static void build_tools_json(loader *ld, gw_mcp_server *s) {
    gw_strbuf all = {0}, one = {0};
    gw_strbuf_adds(&all, "[");
    for (size_t i = 0; i < s->tool_count; i++) {
        gw_mcp_tool *t = &s->tools[i];
        gw_strbuf_reset(&one);
        gw_strbuf_adds(&one, "{\"name\":\"");
        gw_strbuf_add_json_escaped(&one, t->name, t->name_len);
        gw_strbuf_adds(&one, "\",\"description\":\"");
        const char *d = t->description ? t->description : "";
        gw_strbuf_add_json_escaped(&one, d, strlen(d));
        gw_strbuf_adds(&one, "\",\"inputSchema\":");
        gw_strbuf_adds(&one, t->schema_json ? t->schema_json : "{\"type\":\"object\"}");
        gw_strbuf_adds(&one, "}");
        t->list_json = gw_arena_strndup(&ld->cfg->arena, one.data, one.len);
        t->list_json_len = one.len;
        if (i) gw_strbuf_adds(&all, ",");
        gw_strbuf_add(&all, one.data, one.len);
    }
    gw_strbuf_adds(&all, "]");
    if (all.failed || one.failed)
        ld_error(ld, NULL, "out of memory for server '%s''s tools", s->name);
    s->tools_json = gw_arena_strndup(&ld->cfg->arena, all.data, all.len);
    s->tools_json_len = all.len;
    gw_strbuf_free(&all);
    gw_strbuf_free(&one);
}

static void parse_tool(loader *ld, yaml_node_t *v, gw_mcp_server *s, gw_mcp_tool *t,
                       const gw_mcp_credentials *server_auth) {
    static const char *const names[] = {"name", "description", "input_schema", "request", "result",
                                        "auth", NULL};
    yaml_node_t *f[6];
    fields(ld, v, "a tool", names, f);
    if (v->type != YAML_MAPPING_NODE) return;
    t->name = f[0] ? ld_string(ld, f[0], "tool name") : NULL;
    if (!t->name || !valid_name(t->name)) {
        ld_error(ld, f[0] ? f[0] : v,
                 "server '%s': a tool needs a name of 1 to 64 letters, digits, "
                 "'_' or '-'",
                 s->name);
        t->name = NULL;
        return;
    }
    t->name_len = strlen(t->name);
    t->description = f[1] ? ld_string(ld, f[1], "tool description") : NULL;
    t->rest.auth = f[5] ? credentials(ld, f[5]) : server_auth;
    if (f[2]) {
        char err[300];
        json_object *schema = gw_yaml_to_json(&ld->doc, f[2], err, sizeof err);
        if (!schema && err[0])
            ld_error(ld, f[2], "input_schema: %s", err);
        else
            set_schema(ld, f[2], t, schema);
        json_object_put(schema);
    } else {
        json_object *schema = json_tokener_parse("{\"type\":\"object\"}");
        set_schema(ld, v, t, schema);
        json_object_put(schema);
    }
    if (!f[3])
        ld_error(ld, v, "tool '%s' needs a request (method and url)", t->name);
    else
        parse_request(ld, f[3], t);
    if (f[4]) parse_result(ld, f[4], t);
}

static char *read_file_rel(loader *ld, yaml_node_t *node, const char *path, size_t *len) {
    char full[4096];
    if (path[0] != '/' && ld->file && strchr(ld->file, '/')) {
        char dir[4096];
        snprintf(dir, sizeof dir, "%s", ld->file);
        snprintf(full, sizeof full, "%s/%s", dirname(dir), path);
    } else {
        snprintf(full, sizeof full, "%s", path);
    }
    FILE *fp = fopen(full, "rb");
    if (!fp) {
        ld_error(ld, node, "cannot open the OpenAPI document %s: %s", full, strerror(errno));
        return NULL;
    }
    char *buf = malloc(MAX_OPENAPI_BYTES + 1);
    *len = buf ? fread(buf, 1, MAX_OPENAPI_BYTES + 1, fp) : 0;
    fclose(fp);
    if (!buf || *len > MAX_OPENAPI_BYTES) {
        ld_error(ld, node, "the OpenAPI document %s is larger than %d bytes", full,
                 MAX_OPENAPI_BYTES);
        free(buf);
        return NULL;
    }
    buf[*len] = '\0';
    return buf;
}

/* openapi: {file, base_url, operations} into tools, after the server's own. */
static void parse_openapi(loader *ld, yaml_node_t *v, gw_mcp_server *s, gw_mcp_tool **tools,
                          size_t *count, const gw_mcp_credentials *auth) {
    static const char *const names[] = {"file", "base_url", "operations", "timeout_ms", NULL};
    yaml_node_t *f[4];
    fields(ld, v, "openapi", names, f);
    if (v->type != YAML_MAPPING_NODE) return;
    const char *file = f[0] ? ld_string(ld, f[0], "openapi.file") : NULL;
    const char *base = f[1] ? ld_string(ld, f[1], "openapi.base_url") : NULL;
    if (!file || !base || !http_url(base)) {
        ld_error(ld, v, "openapi needs file and base_url (an http:// or https:// URL)");
        return;
    }
    size_t allow_count = 0;
    const char **allow = f[2] ? string_list(ld, f[2], "openapi.operations", &allow_count) : NULL;
    long timeout = 0;
    if (f[3]) ld_int(ld, f[3], "openapi.timeout_ms", 1, 3600000, &timeout);
    size_t len;
    char *text = read_file_rel(ld, f[0], file, &len);
    if (!text) return;
    char err[400];
    json_object *doc = gw_yaml_text_to_json(text, len, err, sizeof err);
    free(text);
    if (!doc) {
        ld_error(ld, f[0], "%s:%s", file, err);
        return;
    }
    gw_openapi_op *ops;
    size_t n;
    if (gw_openapi_operations(doc, allow, allow_count, &ops, &n, err, sizeof err) < 0) {
        ld_error(ld, f[2] && strstr(err, "operations:") ? f[2] : f[0], "%s: %s", file, err);
        json_object_put(doc);
        return;
    }
    gw_arena *a = &ld->cfg->arena;
    gw_mcp_tool *grown = gw_arena_alloc(a, (*count + n + 1) * sizeof *grown);
    if (*count) memcpy(grown, *tools, *count * sizeof *grown);
    *tools = grown;
    size_t trim = strlen(base);
    while (trim && base[trim - 1] == '/')
        trim--;
    for (size_t i = 0; i < n; i++) {
        gw_openapi_op *op = &ops[i];
        gw_mcp_tool *t = &grown[(*count)++];
        t->name = gw_arena_strdup(a, op->name);
        t->name_len = strlen(t->name);
        t->description = gw_arena_strdup(a, op->description);
        set_schema(ld, f[0], t, op->schema);
        gw_mcp_rest *r = &t->rest;
        r->method = op->method;
        r->auth = auth;
        r->timeout_ms = (int)timeout;
        char url[4096];
        snprintf(url, sizeof url, "%.*s%s", (int)trim, base, op->path);
        compile_template(ld, f[0], url, &r->url, "an OpenAPI path");
        r->query = gw_arena_alloc(a, (op->query_count + 1) * sizeof *r->query);
        for (size_t k = 0; k < op->query_count; k++)
            r->query[r->query_count++] = gw_arena_strdup(a, op->query[k]);
        r->headers = gw_arena_alloc(a, (op->header_count + 1) * sizeof *r->headers);
        for (size_t k = 0; k < op->header_count; k++) {
            gw_mcp_header_template *h = &r->headers[r->header_count++];
            h->name = gw_arena_strdup(a, op->headers[k]);
            char hole[300];
            snprintf(hole, sizeof hole, "{%s}", op->headers[k]);
            compile_template(ld, f[0], hole, &h->value, "an OpenAPI header");
        }
        if (op->body_arg)
            r->body_arg = gw_arena_strdup(a, op->body_arg);
        else if (op->has_body)
            r->body = GW_MCP_BODY_JSON;
    }
    gw_openapi_ops_free(ops, n);
    json_object_put(doc);
    (void)s;
}

static void parse_proxy(loader *ld, yaml_node_t *v, gw_mcp_server *s) {
    if (ld_expect_kind(ld, v, YAML_SEQUENCE_NODE, "proxy") < 0) return;
    size_t n = seq_len(v);
    if (n > GW_MCP_UPSTREAMS_MAX) {
        ld_error(ld, v, "server '%s': at most %d proxied servers", s->name, GW_MCP_UPSTREAMS_MAX);
        return;
    }
    s->upstreams = gw_arena_alloc(&ld->cfg->arena, (n ? n : 1) * sizeof *s->upstreams);
    static const char *const names[] = {"name", "url",        "transport", "allow",
                                        "auth", "timeout_ms", NULL};
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *item = ld_node(ld, v->data.sequence.items.start[i]), *f[6];
        fields(ld, item, "a proxied server", names, f);
        if (item->type != YAML_MAPPING_NODE) continue;
        gw_mcp_upstream *u = &s->upstreams[s->upstream_count];
        u->name = f[0] ? ld_string(ld, f[0], "proxy name") : NULL;
        u->url = f[1] ? ld_string(ld, f[1], "proxy url") : NULL;
        if (!u->name || !valid_name(u->name) || strlen(u->name) > 30) {
            ld_error(ld, f[0] ? f[0] : item,
                     "a proxied server needs a name of 1 to 30 letters, digits, '_' or '-' (it "
                     "prefixes its tools' names)");
            continue;
        }
        if (!u->url || !http_url(u->url)) {
            ld_error(ld, f[1] ? f[1] : item, "proxied server '%s' needs an http:// or https:// url",
                     u->name);
            continue;
        }
        u->name_len = strlen(u->name);
        if (f[2]) {
            const char *tr = ld_string(ld, f[2], "proxy transport");
            if (tr && !strcmp(tr, "sse"))
                u->transport = GW_MCP_UPSTREAM_SSE; /* url is then its SSE stream's */
            else if (tr && strcmp(tr, "streamable_http"))
                ld_error(ld, f[2], "expected streamable_http or sse for transport, found '%s'", tr);
        }
        if (f[3]) u->allow = string_list(ld, f[3], "proxy allow", &u->allow_count);
        if (f[4]) u->auth = credentials(ld, f[4]);
        if (f[5]) {
            long ms;
            if (ld_int(ld, f[5], "proxy timeout_ms", 1, 3600000, &ms) == 0) u->timeout_ms = (int)ms;
        }
        for (size_t k = 0; k < s->upstream_count; k++)
            if (!strcmp(s->upstreams[k].name, u->name))
                ld_error(ld, f[0], "server '%s': two proxied servers are named '%s'", s->name,
                         u->name);
        s->upstream_count++;
    }
}

static uint32_t fnv1a(const char *s) {
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

/* rate_limit: {calls: 60, per: minute, by: key|ip} */
static void parse_rate(loader *ld, yaml_node_t *v, gw_mcp_server *s) {
    static const char *const names[] = {"calls", "per", "by", NULL};
    yaml_node_t *f[3];
    fields(ld, v, "rate_limit", names, f);
    if (v->type != YAML_MAPPING_NODE) return;
    long calls = 0;
    if (!f[0] || ld_int(ld, f[0], "rate_limit.calls", 1, 1000000000, &calls) < 0) {
        if (!f[0]) ld_error(ld, v, "rate_limit needs calls");
        return;
    }
    gw_limit_window w = GW_LIMIT_MINUTE;
    if (f[1]) {
        const char *per = ld_string(ld, f[1], "rate_limit.per");
        int found = 0;
        for (int i = 0; per && i < GW_LIMIT_WINDOWS; i++)
            if (!strcmp(per, gw_limit_window_name((gw_limit_window)i))) {
                w = (gw_limit_window)i;
                found = 1;
            }
        if (per && !found)
            ld_error(ld, f[1], "expected second, minute, hour or day for rate_limit.per");
    }
    gw_limit_dim dim = GW_LIMIT_DIM_KEY;
    if (f[2]) {
        const char *by = ld_string(ld, f[2], "rate_limit.by");
        if (by && !strcmp(by, "ip"))
            dim = GW_LIMIT_DIM_IP;
        else if (by && strcmp(by, "key"))
            ld_error(ld, f[2], "expected key or ip for rate_limit.by");
    }
    gw_limit_rule *r = gw_arena_alloc(&ld->cfg->arena, sizeof *r);
    /* ids apart from limits:'s (small) and per-key ones (the top); stable across reloads */
    r->id = 0xF0000000u | (fnv1a(s->name) & 0xFFFFF) << 4 | (uint32_t)w;
    r->name = s->name;
    r->dim = dim;
    r->unit = GW_LIMIT_REQUESTS;
    r->window = w;
    r->limit = (uint64_t)calls;
    s->rate = r;
    if (!gw_limits_table()) ld_error(ld, v, "out of memory for the rate limit's counters");
}

static void add_route(gw_mcp_conf *mc, int method, const char *path, int kind,
                      const gw_mcp_server *s) {
    gw_http_route *r = &mc->routes[mc->route_count++];
    *r = (gw_http_route){.method = method,
                         .path = path,
                         .handler = gw_mcp_route_handlers[kind],
                         .data = s,
                         .kind = kind};
}

static void parse_server(loader *ld, yaml_node_t *v, gw_mcp_server *s) {
    static const char *const names[] = {"name",    "path",  "instructions", "tools", "auth",
                                        "openapi", "proxy", "rate_limit",   NULL};
    yaml_node_t *f[8];
    fields(ld, v, "an MCP server", names, f);
    if (v->type != YAML_MAPPING_NODE) return;
    s->line = (int)v->start_mark.line + 1;
    s->name = f[0] ? ld_string(ld, f[0], "server name") : NULL;
    if (!s->name || !valid_name(s->name)) {
        ld_error(ld, f[0] ? f[0] : v, "an MCP server needs a name of letters, digits, '_' or '-'");
        s->name = NULL;
        return;
    }
    gw_arena *a = &ld->cfg->arena;
    size_t nlen;
    char lit[200];
    snprintf(lit, sizeof lit, "\"%s\"", s->name); /* the name's characters need no escape */
    s->name_json = gw_arena_strdup(a, lit);
    (void)nlen;
    s->path = f[1] ? ld_string(ld, f[1], "server path") : NULL;
    if (!s->path || s->path[0] != '/' || strpbrk(s->path, "?# ") || strlen(s->path) > 200) {
        ld_error(ld, f[1] ? f[1] : v, "server '%s' needs a path beginning with / (no query)",
                 s->name);
        s->path = NULL;
        return;
    }
    size_t plen = strlen(s->path);
    while (plen > 1 && s->path[plen - 1] == '/')
        plen--;
    s->path = gw_arena_strndup(a, s->path, plen);
    s->path_len = plen;
    if (!strncmp(s->path, "/v1/", 4) || !strcmp(s->path, "/healthz") || !strcmp(s->path, "/readyz"))
        ld_error(ld, f[1], "server '%s': the path %s belongs to the gateway's own API", s->name,
                 s->path);
    char sub[256];
    snprintf(sub, sizeof sub, "%s/messages", s->path);
    s->sse_post_path = gw_arena_strdup(a, sub);
    s->id = fnv1a(s->path);
    s->instructions = f[2] ? ld_string(ld, f[2], "instructions") : NULL;
    const gw_mcp_credentials *auth = f[4] ? credentials(ld, f[4]) : NULL;
    size_t n = 0;
    if (f[3] && ld_expect_kind(ld, f[3], YAML_SEQUENCE_NODE, "tools") == 0) {
        n = seq_len(f[3]);
        s->tools = gw_arena_alloc(a, (n ? n : 1) * sizeof *s->tools);
        for (size_t i = 0; i < n; i++) {
            gw_mcp_tool *t = &s->tools[s->tool_count];
            parse_tool(ld, ld_node(ld, f[3]->data.sequence.items.start[i]), s, t, auth);
            if (t->name) s->tool_count++;
        }
    }
    if (f[5]) parse_openapi(ld, f[5], s, &s->tools, &s->tool_count, auth);
    if (f[6]) parse_proxy(ld, f[6], s);
    if (f[7]) parse_rate(ld, f[7], s);
    if (!s->tool_count && !s->upstream_count)
        ld_error(ld, v, "server '%s' has no tools: give it tools, openapi or proxy", s->name);
    if (s->tool_count > GW_MCP_TOOLS_MAX)
        ld_error(ld, v, "server '%s' has more than %d tools", s->name, GW_MCP_TOOLS_MAX);
    for (size_t i = 0; i < s->tool_count; i++)
        for (size_t k = 0; k < i; k++)
            if (!strcmp(s->tools[i].name, s->tools[k].name))
                ld_error(ld, v, "server '%s' has two tools named '%s'", s->name, s->tools[i].name);
    build_tools_json(ld, s);
    gw_mcp_tools_index(s, a);
}

void ld_mcp(loader *ld, yaml_node_t *v, void *target) {
    gw_config *cfg = target;
    static const char *const names[] = {"servers",
                                        "max_sessions",
                                        "session_idle_ms",
                                        "max_result_bytes",
                                        "timeout_ms",
                                        "allowed_origins",
                                        NULL};
    yaml_node_t *f[6];
    fields(ld, v, "mcp", names, f);
    if (v->type != YAML_MAPPING_NODE) return;
    gw_arena *a = &cfg->arena;
    gw_mcp_conf *mc = gw_arena_alloc(a, sizeof *mc);
    mc->max_sessions = 1000;
    mc->session_idle_ms = 600000;
    mc->max_result_bytes = 4 << 20;
    mc->timeout_ms = 30000;
    long x;
    if (f[1] && ld_int(ld, f[1], "mcp.max_sessions", 0, GW_MCP_SESSIONS_MAX, &x) == 0)
        mc->max_sessions = (int)x;
    if (f[2] && ld_int(ld, f[2], "mcp.session_idle_ms", 1000, 86400000L * 7, &x) == 0)
        mc->session_idle_ms = (int)x;
    if (f[3] && ld_int(ld, f[3], "mcp.max_result_bytes", 1024, 1L << 30, &x) == 0)
        mc->max_result_bytes = (size_t)x;
    if (f[4] && ld_int(ld, f[4], "mcp.timeout_ms", 1, 3600000, &x) == 0) mc->timeout_ms = (int)x;
    if (f[5])
        mc->allowed_origins =
            string_list(ld, f[5], "mcp.allowed_origins", &mc->allowed_origin_count);
    cfg->mcp = mc;
    cfg->knows_name = gw_mcp_knows_name; /* tools' metrics labels */
    if (!f[0]) {
        ld_error(ld, v, "mcp needs servers");
        return;
    }
    if (ld_expect_kind(ld, f[0], YAML_SEQUENCE_NODE, "mcp.servers") < 0) return;
    size_t n = seq_len(f[0]);
    mc->servers = gw_arena_alloc(a, (n ? n : 1) * sizeof *mc->servers);
    mc->routes = gw_arena_alloc(a, (n ? n : 1) * 5 * sizeof *mc->routes);
    for (size_t i = 0; i < n; i++) {
        gw_mcp_server *s = &mc->servers[mc->server_count];
        yaml_node_t *item = ld_node(ld, f[0]->data.sequence.items.start[i]);
        parse_server(ld, item, s);
        if (!s->name || !s->path) continue;
        for (size_t k = 0; k < mc->server_count; k++) {
            if (!strcmp(mc->servers[k].name, s->name))
                ld_error(ld, item, "two MCP servers are named '%s'", s->name);
            if (!strcmp(mc->servers[k].path, s->path))
                ld_error(ld, item, "two MCP servers have the path %s", s->path);
        }
        s->index = (int)mc->server_count++;
        char sse[256];
        snprintf(sse, sizeof sse, "%s/sse", s->path);
        add_route(mc, HTTP_POST, s->path, GW_MCP_ROUTE_POST, s);
        add_route(mc, GW_ROUTE_GET_HEAD, s->path, GW_MCP_ROUTE_GET, s);
        add_route(mc, HTTP_DELETE, s->path, GW_MCP_ROUTE_DELETE, s);
        add_route(mc, GW_ROUTE_GET_HEAD, gw_arena_strdup(a, sse), GW_MCP_ROUTE_SSE, s);
        add_route(mc, HTTP_POST, s->sse_post_path, GW_MCP_ROUTE_SSE_POST, s);
    }
}

void gw_mcp_conf_release(gw_mcp_conf *mc) {
    for (size_t i = 0; mc && i < mc->server_count; i++)
        for (size_t k = 0; k < mc->servers[i].tool_count; k++)
            gw_schema_free((gw_schema *)mc->servers[i].tools[k].schema);
}
