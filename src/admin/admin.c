#include "admin/admin.h"

#include <event2/buffer.h>
#include <http_parser.h>
#include <json-c/json.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin/alerts_api.h"
#include "admin/audit.h"
#include "admin/audit_api.h"
#include "admin/keys_api.h"
#include "admin/metrics_api.h"
#include "admin/switches_api.h"
#include "admin/quotas_api.h"
#include "admin/requests_api.h"
#include "admin/usage_api.h"
#include "core/clock.h"
#include "core/json_parse.h"
#include "core/config.h"
#include "core/error_response.h"
#include "upstream/endpoints.h"
#include "upstream/pools.h"
#include "core/http_server.h"
#include "core/log.h"

typedef struct admin_ctx {
    const gw_admin_ops *ops;
    void *ud;
    struct event_base *base; /* the control loop: paces request replays */
} admin_ctx;

/* One admin listener per process: its context lives as long as the process. */
static admin_ctx the_admin;

static int path_is(const gw_http_req *req, const char *path) {
    return strlen(path) == req->path_len && !memcmp(req->path, path, req->path_len);
}

/* Constant-time comparison: the token must not leak through response timing. */
static int authorized(const admin_ctx *s, const gw_http_req *req) {
    const gw_http_header *h = gw_http_find_header(req, "authorization");
    const char *token = s->ops->config(s->ud)->admin_token;
    size_t tlen = strlen(token);
    if (!h || h->value_len != 7 + tlen || strncasecmp(h->value, "Bearer ", 7)) return 0;
    return CRYPTO_memcmp(h->value + 7, token, tlen) == 0;
}

static void respond_json(gw_http_req *req, int status, const char *json) {
    gw_http_respond(req, status, "application/json", json, strlen(json), NULL, 0);
}

static void handle_reload(const admin_ctx *s, gw_http_req *req) {
    gw_config_errors errs;
    gw_restart_pending pending;
    int rc = s->ops->reload(s->ud, &errs, &pending);
    gw_admin_audit(req, "config.reload", NULL, rc == 0 ? 200 : 400);
    if (rc == 0) {
        char body[512];
        int n = snprintf(body, sizeof body,
                         "{\"status\":\"reloaded\",\"generation\":%llu,\"restart_required\":[",
                         (unsigned long long)s->ops->generation(s->ud));
        for (size_t i = 0; i < pending.count; i++) /* at most 12 short fixed names: fits */
            n += snprintf(body + n, sizeof body - (size_t)n, "%s\"%s\"", i ? "," : "",
                          pending.names[i]);
        snprintf(body + n, sizeof body - (size_t)n, "]}");
        respond_json(req, 200, body);
        return;
    }
    struct evbuffer *out = evbuffer_new();
    if (!out) {
        gw_http_respond_openai_error(req, 503, "server_error", "out_of_memory", "out of memory");
        return;
    }
    evbuffer_add_printf(out, "{\"error\":{\"message\":\"the new config was rejected; the "
                             "running one stays\",\"type\":\"invalid_request_error\","
                             "\"param\":null,\"code\":\"invalid_config\",\"details\":[");
    for (size_t i = 0; i < errs.count; i++) {
        char esc[700];
        gw_json_escape(esc, sizeof esc, errs.messages[i], strlen(errs.messages[i]));
        evbuffer_add_printf(out, "%s\"%s\"", i ? "," : "", esc);
    }
    evbuffer_add(out, "]}}", 3);
    gw_http_respond_buffer(req, 400, "application/json", out, NULL, 0);
    evbuffer_free(out);
}

/* Each channel of the running config with its endpoints' health, load and last error. */
static void handle_channels(const admin_ctx *s, gw_http_req *req) {
    const gw_config *cfg = s->ops->config(s->ud);
    struct evbuffer *out = evbuffer_new();
    if (!out) {
        gw_http_respond_openai_error(req, 503, "server_error", "out_of_memory", "out of memory");
        return;
    }
    int64_t now = gw_now_ns();
    evbuffer_add_printf(out, "{\"generation\":%llu,\"channels\":[",
                        (unsigned long long)cfg->generation);
    for (size_t i = 0; i < cfg->channel_count; i++) {
        const gw_channel *ch = &cfg->channels[i];
        char name[256];
        gw_json_escape(name, sizeof name, ch->name, strlen(ch->name));
        evbuffer_add_printf(out,
                            "%s{\"name\":\"%s\",\"type\":\"%s\",\"source\":\"%s\",\"endpoints\":[",
                            i ? "," : "", name, ch->type, ch->discovery ? "dns" : "static");
        size_t n;
        gw_endpoint *const *eps = gw_channel_endpoints(ch, &n);
        for (size_t k = 0; k < n; k++) {
            if (k) evbuffer_add(out, ",", 1);
            gw_endpoint_describe(eps[k], out, now);
        }
        evbuffer_add(out, "]}", 2);
    }
    evbuffer_add(out, "]}", 2);
    gw_http_respond_buffer(req, 200, "application/json", out, NULL, 0);
    evbuffer_free(out);
}

/* POST (add) or DELETE (remove) /admin/channels/{name}/endpoints with {"url":"http://..."}:
 * an endpoint joins or leaves a channel at once, until a reload changes that channel's list. */
static void handle_endpoint_change(const admin_ctx *s, gw_http_req *req, const char *name,
                                   size_t name_len) {
    const gw_config *cfg = s->ops->config(s->ud);
    const gw_channel *ch = NULL;
    for (size_t i = 0; i < cfg->channel_count && !ch; i++)
        if (strlen(cfg->channels[i].name) == name_len &&
            !memcmp(cfg->channels[i].name, name, name_len))
            ch = &cfg->channels[i];
    if (!ch || !ch->source) {
        gw_http_respond_openai_error(req, 404, "invalid_request_error", "channel_not_found",
                                     "no channel of that name in the running config");
        return;
    }
    size_t len = evbuffer_get_length(req->body);
    const char *body = len ? (const char *)evbuffer_pullup(req->body, -1) : "";
    json_object *root = NULL, *url_obj = NULL;
    json_tokener *tok = len ? json_tokener_new() : NULL; /* the body is not NUL-terminated */
    if (tok) {
        root = json_tokener_parse_ex(tok, body, (int)len);
        json_tokener_free(tok);
    }
    const char *url = root && json_object_object_get_ex(root, "url", &url_obj) &&
                              json_object_is_type(url_obj, json_type_string)
                          ? json_object_get_string(url_obj)
                          : NULL;
    if (!url || (strncmp(url, "http://", 7) && strncmp(url, "https://", 8)) || strlen(url) > 900) {
        json_object_put(root);
        gw_http_respond_openai_error(req, 400, "invalid_request_error", "invalid_value",
                                     "expected a JSON body {\"url\":\"http://host:port/v1\"}");
        return;
    }
    char err[200];
    int rc = gw_pools_change(ch->source, url, req->method == HTTP_POST, err, sizeof err);
    gw_admin_audit(req, req->method == HTTP_POST ? "endpoint.add" : "endpoint.remove", url,
                   rc ? rc : 200);
    json_object_put(root);
    if (rc) {
        gw_http_respond_openai_error(req, rc, rc >= 500 ? "server_error" : "invalid_request_error",
                                     rc == 404 ? "endpoint_not_found" : "conflict", err);
        return;
    }
    handle_channels(s, req);
}

/* Tests move the wall clock that limits and schedules read (never the monotonic one), to cross a
 * schedule's boundary without waiting: only when the process was started with
 * AIGW_TEST_CLOCK=1, so a production gateway has no such door. */
static void handle_clock(gw_http_req *req) {
    size_t len = evbuffer_get_length(req->body);
    const char *body = len ? (const char *)evbuffer_pullup(req->body, -1) : "";
    json_object *root = len ? gw_json_parse(body, len, 8, JSON_TOKENER_STRICT) : NULL, *v;
    if (!root || !json_object_object_get_ex(root, "offset_s", &v) ||
        !json_object_is_type(v, json_type_int)) {
        json_object_put(root);
        gw_http_respond_openai_error(req, 400, "invalid_request_error", "invalid_value",
                                     "expected {\"offset_s\": seconds}");
        return;
    }
    atomic_store(&gw_clock_offset_ns, json_object_get_int64(v) * 1000000000);
    gw_admin_audit(req, "clock.set", NULL, 200);
    json_object_put(root);
    respond_json(req, 200, "{\"status\":\"set\"}");
}

/* The admin token, then the method: answers 401 or 405 itself and returns 0 when either fails. */
static int allowed(const admin_ctx *s, gw_http_req *req, int method, int other_method,
                   const char *usage) {
    if (!authorized(s, req)) {
        gw_http_respond_openai_error(
            req, 401, "authentication_error", "invalid_admin_token",
            "a valid admin token is required: Authorization: Bearer <token>");
        return 0;
    }
    if (req->method != method && req->method != other_method) {
        gw_http_respond_openai_error(req, 405, "invalid_request_error", "method_not_allowed",
                                     usage);
        return 0;
    }
    return 1;
}

static void handle_admin(gw_http_req *req, void *ud) {
    const admin_ctx *s = ud;
    if (path_is(req, "/healthz")) {
        respond_json(req, 200, "{\"status\":\"ok\"}");
    } else if (path_is(req, "/readyz")) {
        if (s->ops->draining(s->ud))
            respond_json(req, 503, "{\"status\":\"draining\"}");
        else
            respond_json(req, 200, "{\"status\":\"ready\"}");
    } else if (path_is(req, "/metrics")) {
        gw_admin_metrics(req, s->ops, s->ud, authorized(s, req));
    } else if (path_is(req, "/admin/reload")) {
        if (allowed(s, req, HTTP_POST, -1, "use POST /admin/reload")) handle_reload(s, req);
    } else if (req->path_len > 16 + 10 && !memcmp(req->path, "/admin/channels/", 16) &&
               !memcmp(req->path + req->path_len - 10, "/endpoints", 10)) {
        if (allowed(s, req, HTTP_POST, HTTP_DELETE,
                    "use POST (add) or DELETE (remove) with {\"url\":...}"))
            handle_endpoint_change(s, req, req->path + 16, req->path_len - 16 - 10);
    } else if (req->path_len >= 11 && !memcmp(req->path, "/admin/keys", 11) &&
               (req->path_len == 11 || req->path[11] == '/')) {
        if (allowed(s, req, req->method, -1, ""))
            gw_admin_keys(req, s->ops->key_store(s->ud), req->path + 11, req->path_len - 11,
                          s->ops->keys_changed, s->ud);
    } else if (req->path_len >= 12 && !memcmp(req->path, "/admin/usage", 12) &&
               (req->path_len == 12 || req->path[12] == '/')) {
        if (allowed(s, req, req->method, -1, ""))
            gw_admin_usage(req, s->ops->meter_reader(s->ud), s->ops->config(s->ud), req->path + 12,
                           req->path_len - 12);
    } else if (req->path_len >= 15 && !memcmp(req->path, "/admin/requests", 15) &&
               (req->path_len == 15 || req->path[15] == '/')) {
        if (allowed(s, req, req->method, -1, ""))
            gw_admin_requests(req, s->ops->meter_reader(s->ud), s->base, req->path + 15,
                              req->path_len - 15);
    } else if (req->path_len >= 13 && !memcmp(req->path, "/admin/alerts", 13) &&
               (req->path_len == 13 || req->path[13] == '/')) {
        if (allowed(s, req, req->method, -1, ""))
            gw_admin_alerts(req, s->ops->alerts ? s->ops->alerts(s->ud) : NULL, req->path + 13,
                            req->path_len - 13);
    } else if (path_is(req, "/admin/switches")) {
        if (allowed(s, req, req->method, -1, "")) gw_admin_switches(req, s->ops, s->ud);
    } else if (req->path_len > 13 && !memcmp(req->path, "/admin/quotas", 13)) {
        if (allowed(s, req, req->method, -1, ""))
            gw_admin_quotas(req, s->ops->config(s->ud), req->path + 13, req->path_len - 13,
                            s->ops->quotas_changed, s->ud);
    } else if (path_is(req, "/admin/audit")) {
        if (allowed(s, req, HTTP_GET, HTTP_HEAD, "use GET /admin/audit")) gw_admin_audit_list(req);
    } else if (path_is(req, "/admin/clock") && getenv("AIGW_TEST_CLOCK") &&
               !strcmp(getenv("AIGW_TEST_CLOCK"), "1")) {
        if (allowed(s, req, HTTP_POST, -1, "use POST /admin/clock")) handle_clock(req);
    } else if (path_is(req, "/admin/channels")) {
        if (allowed(s, req, HTTP_GET, HTTP_HEAD, "use GET /admin/channels"))
            handle_channels(s, req);
    } else {
        gw_http_respond_openai_error(req, 404, "invalid_request_error", "unknown_url",
                                     "unknown admin URL");
    }
}

gw_http_server *gw_admin_start(const gw_admin_ops *ops, void *ud, struct event_base *base,
                               const gw_config *cfg, char *err, size_t errlen) {
    the_admin = (admin_ctx){.ops = ops, .ud = ud, .base = base};
    admin_ctx *s = &the_admin;
    gw_http_settings st = {.max_body_bytes = 1 << 20,
                           .max_header_bytes = 16 * 1024,
                           .keepalive_timeout_ms = 30000,
                           .client_timeout_ms = 30000};
    return gw_http_server_new(base, cfg->admin.host, cfg->admin.port, NULL, &st, handle_admin, s,
                              err, errlen);
}

void gw_admin_stop(gw_http_server *admin) {
    gw_http_server_free(admin);
}
