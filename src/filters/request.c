#include "filters/request.h"

#include <event2/buffer.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/config.h"
#include "core/http_server.h"
#include "core/log.h"
#include "core/openai_error.h"
#include "core/request_json.h"
#include "core/worker-t.h"
#include "filters/filter.h"
#include "meter/record.h"

/* A caller's X-Request-Id is kept when it is short and plain, so its traces line up with ours. */
static int usable_request_id(const gw_http_header *h) {
    if (!h || h->value_len == 0 || h->value_len > 36) return 0;
    for (size_t i = 0; i < h->value_len; i++) {
        char c = h->value[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              c == '-' || c == '_' || c == '.'))
            return 0;
    }
    return 1;
}

static void on_client_abort(gw_http_req *http, void *ud) {
    gw_req *r = ud;
    (void)http;
    r->http = NULL;
    r->status = 499; /* nginx's "client closed request" */
    if (!r->error_code) r->error_code = "client_closed";
    atomic_fetch_add_explicit(&r->worker->stats.client_aborts, 1, memory_order_relaxed);
    gw_req_finish(r);
}

/* "req_", the worker's random prefix in 8 hex digits (so ids never repeat across restarts: the
 * request log's), its index in 2, then its request count in at least 12 (as printf's
 * "req_%08x%02x%012llx" would write it, at a tenth of the cost). */
static size_t request_id(char *out, uint32_t prefix, unsigned worker, uint64_t seq) {
    static const char hex[] = "0123456789abcdef";
    char *p = out;
    memcpy(p, "req_", 4);
    p += 4;
    for (int i = 7; i >= 0; i--)
        *p++ = hex[(prefix >> (4 * i)) & 15];
    *p++ = hex[worker >> 4];
    *p++ = hex[worker & 15];
    int digits = 12;
    while (digits < 16 && seq >> (4 * digits))
        digits++;
    for (int i = digits - 1; i >= 0; i--)
        *p++ = hex[(seq >> (4 * i)) & 15];
    *p = '\0';
    return (size_t)(p - out);
}

/* The request's part of its block; its filters' state follows, aligned. */
static size_t request_head_size(void) {
    return (sizeof(gw_req) + 15) & ~(size_t)15;
}

void gw_req_start(gw_worker *w, gw_http_req *http, const char *path, gw_api_kind api,
                  const gw_protocol_ops *protocol) {
    gw_config_hold *hold = w->cfg_hold;
    gw_config *cfg = hold ? gw_config_hold_take(hold) : gw_config_ref(w->cfg);
    /* the request and its filters' state in one block, the worker's cached one if it has one */
    size_t head = request_head_size(), state = gw_chain_state_size(cfg);
    gw_req *r = gw_block_cache_take(&w->free_requests, head + state);
    if (!r) {
        if (hold)
            gw_config_hold_drop(hold);
        else
            gw_config_unref(cfg);
        static const char oom[] = GW_OPENAI_OOM_BODY;
        gw_http_respond(http, 503, "application/json", oom, sizeof oom - 1, NULL, 0);
        return;
    }
    memset(r, 0, offsetof(gw_req, tried)); /* what follows is written before it is read */
    r->worker = w;
    r->cfg_hold = hold;
    r->cfg = cfg;
    gw_chain_begin(r, (char *)r + head);
    r->http = http;
    r->api = api;
    r->protocol = protocol;
    r->path = path;
    r->t_start = http->start_ns;
    r->body_buf = gw_http_take_body(http); /* moved out whole, no copy */
    size_t peer_len = strnlen(http->peer, sizeof r->client - 1);
    memcpy(r->client, http->peer, peer_len);
    r->client[peer_len] = '\0';
    r->tls = http->is_tls;
    r->bytes_in = evbuffer_get_length(r->body_buf);
    const gw_http_header *rid = gw_http_find_header(http, "x-request-id");
    if (usable_request_id(rid)) {
        memcpy(r->id, rid->value, rid->value_len);
        r->id[rid->value_len] = '\0';
        r->id_len = rid->value_len;
    } else {
        r->id_len = request_id(r->id, w->id_prefix, (unsigned)w->index & 0xff, ++w->request_seq);
    }
    const gw_http_header *tp = gw_http_find_header(http, "traceparent");
    gw_trace_begin(&r->trace, tp ? tp->value : NULL, tp ? tp->value_len : 0,
                   gw_fast_random_next(&w->rng), gw_fast_random_next(&w->rng),
                   gw_fast_random_next(&w->rng));
    w->active_requests++;
    r->next = w->requests;
    if (w->requests) w->requests->prev = r;
    w->requests = r;
    atomic_fetch_add_explicit(&w->stats.requests, 1, memory_order_relaxed);
    http->on_abort = on_client_abort;
    http->handler_ud = r;
    http->access_logged = 1; /* the chain's access_log filter writes this request's line */
    gw_chain_run(r);
}

size_t gw_req_headers(const gw_req *r, gw_http_header out[GW_REQ_HEADERS_MAX]) {
    size_t n = 0;
    out[n++] = gw_req_id_header(r);
    if (r->attempt_count && r->channel) {
        out[n++] = (gw_http_header){.name = "x-aigw-channel",
                                    .name_len = 14,
                                    .value = r->channel->name,
                                    .value_len = strlen(r->channel->name)};
        out[n++] = (gw_http_header){.name = "x-aigw-attempts",
                                    .name_len = 15,
                                    .value = r->attempts_text,
                                    .value_len = strlen(r->attempts_text)};
    }
    for (size_t i = 0; i < r->extra_header_count; i++)
        out[n++] = (gw_http_header){.name = r->extra_headers[i].name,
                                    .name_len = strlen(r->extra_headers[i].name),
                                    .value = r->extra_headers[i].value,
                                    .value_len = strlen(r->extra_headers[i].value)};
    return n;
}

void gw_req_add_header(gw_req *r, const char *name, const char *value) {
    if (r->extra_header_count == GW_REQ_EXTRA_HEADERS) return;
    gw_req_header *h = &r->extra_headers[r->extra_header_count++];
    h->name = name;
    size_t len = strnlen(value, sizeof h->value - 1); /* cut to fit, as snprintf would */
    memcpy(h->value, value, len);
    h->value[len] = '\0';
}

int gw_req_replace_body(gw_req *r) {
    size_t len = 0;
    json_object *tree = gw_req_json(r);
    const char *text =
        !tree ? NULL
              : json_object_to_json_string_length(
                    tree, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
    char *copy = text ? malloc(len + 1) : NULL;
    if (!copy) return -1;
    memcpy(copy, text, len + 1);
    free(r->canonical_body);
    for (size_t i = 0; i < GW_GUARD_BUFS; i++)
        gw_strbuf_free(&r->guard_buf[i]);
    r->canonical_body = copy;
    r->prompt_scanned = 0; /* the spans were the old body's: the tree counts now */
    r->body = copy;
    r->body_len = len;
    return 0;
}

void gw_req_fail_with(gw_req *r, const gw_error_info *e) {
    r->status = e->status;
    r->error_code = e->code ? e->code : e->type;
    if (r->http) {
        struct evbuffer *body = evbuffer_new();
        gw_http_header extra[GW_REQ_HEADERS_MAX];
        size_t extra_count = gw_req_headers(r, extra);
        gw_http_req *http = r->http;
        r->http = NULL;
        http->on_abort = NULL;
        if (body) {
            r->protocol->error_body(r, e, body);
            r->bytes_out = evbuffer_get_length(body);
            gw_http_respond_buffer(http, e->status, "application/json", body, extra, extra_count);
            evbuffer_free(body);
        } else {
            static const char oom[] = GW_OPENAI_OOM_BODY;
            r->status = 503;
            gw_http_respond(http, 503, "application/json", oom, sizeof oom - 1, extra, extra_count);
        }
    }
    gw_req_finish(r);
}

void gw_req_fail(gw_req *r, int status, const char *type, const char *code, const char *param,
                 const char *fmt, ...) {
    char message[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    size_t len = n < 0 ? 0 : (size_t)n < sizeof message ? (size_t)n : sizeof message - 1;
    gw_error_info e = {.status = status,
                       .type = type,
                       .code = code,
                       .param = param,
                       .message = message,
                       .message_len = len};
    gw_req_fail_with(r, &e);
}

void gw_req_cut_for_shutdown(gw_req *r) {
    if (r->finished) return;
    if (gw_chain_shutdown(r)) return; /* a filter (the proxy) ended it in its protocol */
    gw_req_fail(r, 503, "server_error", "server_shutdown", NULL,
                "the gateway is shutting down; retry the request (request id %s)", r->id);
}

void gw_req_finish(gw_req *r) {
    if (r->finished) return;
    r->finished = 1;
    if (r->http) {
        r->http->on_abort = NULL;
        r->http->on_drain = NULL;
    }
    r->t_end = gw_now_ns();
    gw_chain_done(r);
    gw_worker *w = r->worker;
    w->active_requests--;
    if (r->prev)
        r->prev->next = r->next;
    else
        w->requests = r->next;
    if (r->next) r->next->prev = r->prev;
    if (r->json) json_object_put(r->json);
    free(r->canonical_body);
    for (size_t i = 0; i < GW_GUARD_BUFS; i++)
        gw_strbuf_free(&r->guard_buf[i]);
    if (r->capture) { /* metering's on_done hands it to the record; this is the fallback */
        gw_record_free_capture(r->capture);
        free(r->capture);
    }
    if (r->protocol->free_state) r->protocol->free_state(r);
    gw_http_body_done(&w->http_state, r->body_buf); /* kept for a next request */
    size_t block = request_head_size() + gw_chain_state_size(r->cfg);
    if (r->cfg_hold)
        gw_config_hold_drop(r->cfg_hold);
    else
        gw_config_unref(r->cfg);
    gw_block_cache_put(&w->free_requests, r, block);
}
