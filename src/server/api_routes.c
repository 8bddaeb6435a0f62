#include "server/api_routes.h"

#include <event2/buffer.h>
#include <http_parser.h>
#include <stdio.h>
#include <string.h>

#include "core/config.h"
#include "core/http_routes.h"
#include "core/http_server.h"
#include "core/log.h"
#include "core/error_response.h"
#include "core/openai_error.h"
#include "filters/request.h"
#include "inbound/protocol.h"
#include "mcp/mcp-t.h"

static void respond_oom(gw_http_req *req) {
    static const char oom[] = GW_OPENAI_OOM_BODY;
    gw_http_respond(req, 503, "application/json", oom, sizeof oom - 1, NULL, 0);
}

static void add_model_object(struct evbuffer *out, const gw_model *m) {
    evbuffer_add_printf(out,
                        "{\"id\":%.*s,\"object\":\"model\",\"created\":0,\"owned_by\":\"aigw\"}",
                        (int)m->name_json_len, m->name_json);
}

static void respond_models(gw_worker *w, gw_http_req *req) {
    const gw_config *cfg = w->cfg;
    struct evbuffer *out = evbuffer_new();
    if (!out) {
        respond_oom(req);
        return;
    }
    evbuffer_add(out, "{\"object\":\"list\",\"data\":[", 25);
    for (size_t i = 0; i < cfg->model_count; i++) {
        if (i) evbuffer_add(out, ",", 1);
        add_model_object(out, &cfg->models[i]);
    }
    evbuffer_add(out, "]}", 2);
    gw_http_respond_buffer(req, 200, "application/json", out, NULL, 0);
    evbuffer_free(out);
}

/* GET /v1/models/{id}, which the SDKs' models.retrieve() calls; ids may contain '/'. */
static void respond_one_model(gw_worker *w, gw_http_req *req, const char *id, size_t len) {
    const gw_model *m = gw_config_find_model(w->cfg, id, len);
    if (!m) {
        char message[300];
        snprintf(message, sizeof message, "The model `%.*s` does not exist.",
                 (int)(len > 200 ? 200 : len), id);
        gw_http_respond_openai_error(req, 404, "invalid_request_error", "model_not_found", message);
        return;
    }
    struct evbuffer *out = evbuffer_new();
    if (!out) {
        respond_oom(req);
        return;
    }
    add_model_object(out, m);
    gw_http_respond_buffer(req, 200, "application/json", out, NULL, 0);
    evbuffer_free(out);
}

static void respond_status(gw_http_req *req, int status, const char *text) {
    char body[64];
    int n = snprintf(body, sizeof body, "{\"status\":\"%s\"}", text);
    gw_http_respond(req, status, "application/json", body, (size_t)n, NULL, 0);
}

/* The inference APIs: a gw_req through the filter chain, in the caller's protocol. */
static void start_proxied(void *ctx, gw_http_req *req, const gw_http_route *rt, const char *rest,
                          size_t rest_len) {
    (void)rest;
    (void)rest_len;
    gw_req_start(ctx, req, rt->path, (gw_api_kind)rt->kind, rt->data);
}

static void route_models(void *ctx, gw_http_req *req, const gw_http_route *rt, const char *rest,
                         size_t rest_len) {
    (void)rt;
    if (rest_len)
        respond_one_model(ctx, req, rest, rest_len);
    else
        respond_models(ctx, req);
}

static void route_health(void *ctx, gw_http_req *req, const gw_http_route *rt, const char *rest,
                         size_t rest_len) {
    (void)ctx;
    (void)rt;
    (void)rest;
    (void)rest_len;
    respond_status(req, 200, "ok");
}

static void route_ready(void *ctx, gw_http_req *req, const gw_http_route *rt, const char *rest,
                        size_t rest_len) {
    gw_worker *w = ctx;
    (void)rt;
    (void)rest;
    (void)rest_len;
    int ready = !w->draining;
    respond_status(req, ready ? 200 : 503, ready ? "ready" : "draining");
}

#define PROXIED(p, kind, proto)                                                                    \
    { HTTP_POST, p, 0, 0, start_proxied, proto, kind }
static const gw_http_route routes[] = {
    PROXIED("/v1/chat/completions", GW_API_CHAT, &gw_protocol_openai),
    PROXIED("/v1/completions", GW_API_COMPLETIONS, &gw_protocol_openai),
    PROXIED("/v1/embeddings", GW_API_EMBEDDINGS, &gw_protocol_openai),
    /* Anthropic's Messages API, served by any channel through the canonical chat form */
    PROXIED("/v1/messages", GW_API_CHAT, &gw_protocol_anthropic),
    {GW_ROUTE_GET_HEAD, "/v1/models", 0, 0, route_models, NULL, 0},
    /* GET /v1/models/{id}, which the SDKs' models.retrieve() calls; ids may contain '/' */
    {GW_ROUTE_GET_HEAD, "/v1/models/", 0, 1, route_models, NULL, 0},
    {GW_ROUTE_GET_HEAD, "/healthz", 0, 0, route_health, NULL, 0},
    {GW_ROUTE_GET_HEAD, "/readyz", 0, 0, route_ready, NULL, 0},
    {0, NULL, 0, 0, NULL, NULL, 0},
};

void gw_api_dispatch(gw_worker *w, gw_http_req *req) {
    /* the fixed routes, then those of the running config (each MCP server's path) */
    const gw_http_route *tables[2] = {routes, NULL};
    size_t sizes[2] = {0, 0};
    const gw_mcp_conf *mcp = w->cfg->mcp;
    if (mcp && mcp->route_count) {
        tables[1] = mcp->routes;
        sizes[1] = mcp->route_count;
    }
    int path_taken = 0;
    for (size_t t = 0; t < 2 && tables[t]; t++) {
        const gw_http_route *rt = gw_http_route_find(tables[t], sizes[t], req, &path_taken);
        if (!rt) continue;
        size_t len = rt->path_len ? rt->path_len : strlen(rt->path);
        rt->handler(w, req, rt, req->path + len, req->path_len - len);
        return;
    }
    char message[300];
    if (path_taken) {
        char allowed[100] = "";
        size_t alen = 0;
        for (size_t t = 0; t < 2 && tables[t]; t++) {
            char part[48];
            if (!gw_http_route_allow(tables[t], sizes[t], req, part, sizeof part)) continue;
            int n = snprintf(allowed + alen, sizeof allowed - alen, "%s%s", alen ? ", " : "", part);
            if (n > 0 && (size_t)n < sizeof allowed - alen) alen += (size_t)n;
        }
        snprintf(message, sizeof message, "method %s is not allowed on %.*s; use %s",
                 req->method_name, (int)(req->path_len > 200 ? 200 : req->path_len), req->path,
                 allowed);
        gw_http_header allow[] = {{"Allow", allowed, 5, alen}};
        struct evbuffer *body = evbuffer_new();
        if (!body) {
            respond_oom(req);
            return;
        }
        gw_openai_error(body, message, "invalid_request_error", "method_not_allowed", NULL);
        gw_http_respond_buffer(req, 405, "application/json", body, allow, 1);
        evbuffer_free(body);
        return;
    }
    snprintf(message, sizeof message, "unknown request URL: %s %.*s", req->method_name,
             (int)(req->path_len > 200 ? 200 : req->path_len), req->path);
    gw_http_respond_openai_error(req, 404, "invalid_request_error", "unknown_url", message);
}
