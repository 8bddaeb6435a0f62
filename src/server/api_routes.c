#include "server/api_routes.h"

#include <event2/buffer.h>
#include <http_parser.h>
#include <stdio.h>
#include <string.h>

#include "core/config.h"
#include "core/http_server.h"
#include "core/log.h"
#include "core/error_response.h"
#include "core/openai_error.h"
#include "filters/request.h"
#include "inbound/protocol.h"

typedef struct api_route {
    const char *path;
    int method;
    int kind; /* gw_api_kind for proxied routes, else -1 - gw_route_kind */
    const gw_protocol_ops *protocol;
} api_route;

static const api_route routes[] = {
    {"/v1/chat/completions", HTTP_POST, GW_API_CHAT, &gw_protocol_openai},
    {"/v1/completions", HTTP_POST, GW_API_COMPLETIONS, &gw_protocol_openai},
    {"/v1/embeddings", HTTP_POST, GW_API_EMBEDDINGS, &gw_protocol_openai},
    /* Anthropic's Messages API, served by any channel through the canonical chat form */
    {"/v1/messages", HTTP_POST, GW_API_CHAT, &gw_protocol_anthropic},
    {"/v1/models", HTTP_GET, -1 - GW_ROUTE_MODELS, NULL},
    {"/healthz", HTTP_GET, -1 - GW_ROUTE_HEALTH, NULL},
    {"/readyz", HTTP_GET, -1 - GW_ROUTE_READY, NULL},
    {NULL, 0, 0, NULL},
};

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

void gw_api_dispatch(gw_worker *w, gw_http_req *req) {
    const api_route *path_match = NULL;
    for (const api_route *rt = routes; rt->path; rt++) {
        if (strlen(rt->path) != req->path_len || memcmp(rt->path, req->path, req->path_len))
            continue;
        path_match = rt;
        if (rt->method != req->method && !(rt->method == HTTP_GET && req->method == HTTP_HEAD))
            continue;
        if (rt->kind >= 0) {
            gw_req_start(w, req, rt->path, (gw_api_kind)rt->kind, rt->protocol);
        } else if (rt->kind == -1 - GW_ROUTE_MODELS) {
            respond_models(w, req);
        } else if (rt->kind == -1 - GW_ROUTE_HEALTH) {
            respond_status(req, 200, "ok");
        } else {
            int ready = !w->draining;
            respond_status(req, ready ? 200 : 503, ready ? "ready" : "draining");
        }
        return;
    }
    static const char model_prefix[] = "/v1/models/";
    size_t plen = sizeof model_prefix - 1;
    if (req->path_len > plen && !memcmp(req->path, model_prefix, plen) &&
        (req->method == HTTP_GET || req->method == HTTP_HEAD)) {
        respond_one_model(w, req, req->path + plen, req->path_len - plen);
        return;
    }
    char message[300];
    if (path_match) {
        const char *allowed = http_method_str((enum http_method)path_match->method);
        snprintf(message, sizeof message, "method %s is not allowed on %s; use %s",
                 req->method_name, path_match->path, allowed);
        gw_http_header allow[] = {{"Allow", allowed, 5, strlen(allowed)}};
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
