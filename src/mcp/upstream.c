/* Proxying: a gateway server fronts upstream MCP servers and shows their tools as its own, each
 * prefixed with the upstream's name ("docs_search"), as far as the upstream's allow-list and the
 * caller's key permit. Each worker keeps one connection (one upstream session) per upstream,
 * made on first use with initialize and made again when the upstream forgets it (404); calls
 * wait in its queue (bounded) while it initializes. Streamable HTTP upstreams are here; legacy
 * HTTP+SSE ones in upstream_sse.c. */
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/clock.h"
#include "core/config.h"
#include "core/json_parse.h"
#include "core/log.h"
#include "mcp/upstream_conn.h"
#include "upstream/fetch.h"

enum { MAX_LIST_PAGES = 10 };
/* a connection unused this long (or whose upstream left the config) is closed by the sweep */
static const int64_t UPCONN_IDLE_NS = 300LL * 1000000000;

static void up_send(mcp_upop *op);
static void transmit(mcp_upop *op);

/* ---------- connections ---------- */

static int same_auth(const char *a, const char *b) {
    return (!a && !b) || (a && b && !strcmp(a, b));
}

static mcp_upconn *conn_for(gw_mcp_worker *mw, const gw_mcp_upstream *up) {
    const char *auth = up->auth ? up->auth->header_line : NULL;
    for (mcp_upconn *c = mw->upconns; c; c = c->next)
        if (c->transport == up->transport && !strcmp(c->url, up->url) &&
            same_auth(auth, c->auth_line))
            return c;
    mcp_upconn *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->mw = mw;
    c->transport = up->transport;
    c->url = strdup(up->url);
    c->auth_line = auth ? strdup(auth) : NULL;
    if (!c->url || (auth && !c->auth_line) ||
        (c->transport == GW_MCP_UPSTREAM_SSE && up_sse_start(c) < 0)) {
        up_sse_free(c);
        free(c->url);
        free(c->auth_line);
        free(c);
        return NULL;
    }
    c->next_id = 1;
    c->next = mw->upconns;
    mw->upconns = c;
    return c;
}

static void conn_free(mcp_upconn *c) {
    gw_fetch_cancel(c->init);
    up_sse_free(c);
    /* queued operations belong to exchanges, freed before this */
    free(c->url);
    free(c->auth_line);
    free(c);
}

void mcp_upconns_free(gw_mcp_worker *mw) {
    while (mw->upconns) {
        mcp_upconn *c = mw->upconns;
        mw->upconns = c->next;
        conn_free(c);
    }
    while (mw->upop_spare) {
        mcp_upop *op = mw->upop_spare;
        mw->upop_spare = op->next;
        gw_strbuf_free(&op->params);
        free(op);
    }
}

static int in_config(const gw_config *cfg, const mcp_upconn *c) {
    const gw_mcp_conf *mc = cfg ? cfg->mcp : NULL;
    for (size_t i = 0; mc && i < mc->server_count; i++)
        for (size_t k = 0; k < mc->servers[i].upstream_count; k++) {
            const gw_mcp_upstream *up = &mc->servers[i].upstreams[k];
            if (up->transport == c->transport && !strcmp(up->url, c->url) &&
                same_auth(up->auth ? up->auth->header_line : NULL, c->auth_line))
                return 1;
        }
    return 0;
}

void mcp_upconns_sweep(gw_mcp_worker *mw, int64_t now) {
    for (mcp_upconn **p = &mw->upconns; *p;) {
        mcp_upconn *c = *p;
        int idle = !c->ops && !c->init && !up_sse_busy(c);
        if (idle && (now - c->last_used_ns > UPCONN_IDLE_NS || !in_config(mw->w->cfg, c))) {
            *p = c->next;
            conn_free(c);
            continue;
        }
        p = &c->next;
    }
}

/* The headers of a request to the upstream: "" values are left out. */
void up_headers(const mcp_upconn *c, const mcp_upop *op, const char **h, char *sid_line,
                size_t sid_cap, char *ver_line, size_t ver_cap) {
    size_t n = 0;
    h[n++] = "Content-Type: application/json";
    h[n++] = c->transport == GW_MCP_UPSTREAM_SSE ? "Accept: application/json, */*"
                                                 : "Accept: application/json, text/event-stream";
    if (c->auth_line) h[n++] = c->auth_line;
    if (c->session_id[0]) {
        snprintf(sid_line, sid_cap, "Mcp-Session-Id: %s", c->session_id);
        h[n++] = sid_line;
    }
    if (c->version[0] && c->transport == GW_MCP_UPSTREAM_STREAMABLE) {
        snprintf(ver_line, ver_cap, "MCP-Protocol-Version: %s", c->version);
        h[n++] = ver_line;
    }
    if (op) h[n++] = op->traceparent;
    h[n] = NULL;
}

int up_response_has_id(json_object *v, long long id) {
    json_object *idv;
    return v && json_object_object_get_ex(v, "id", &idv) &&
           json_object_is_type(idv, json_type_int) && json_object_get_int64(idv) == id &&
           (json_object_object_get_ex(v, "result", NULL) ||
            json_object_object_get_ex(v, "error", NULL));
}

typedef struct find_ctx {
    json_tokener *tok;
    long long id;
    json_object *found;
} find_ctx;

static int on_answer_event(void *ud, const char *event, size_t event_len, const char *data,
                           size_t len) {
    find_ctx *f = ud;
    if (event_len && !(event_len == 7 && !memcmp(event, "message", 7))) return 0;
    json_object *v = gw_json_object_only(gw_json_parse_with(f->tok, data, len));
    if (up_response_has_id(v, f->id)) {
        f->found = v;
        return 1;
    }
    json_object_put(v);
    return 0;
}

/* The JSON-RPC message answering id in a Streamable HTTP upstream's answer: JSON, or SSE events
 * of which one is the answer. NULL when there is none. */
static json_object *find_response(mcp_upconn *c, const gw_fetch_result *res, long long id) {
    json_tokener *tok = c->mw->w->tokener;
    if (strncasecmp(res->content_type, "text/event-stream", 17)) {
        json_object *v = gw_json_object_only(gw_json_parse_with(tok, res->body, res->body_len));
        if (up_response_has_id(v, id)) return v;
        json_object_put(v);
        return NULL;
    }
    find_ctx f = {tok, id, NULL};
    gw_sse_parser p;
    gw_sse_init(&p, res->body_len + 1, on_answer_event, &f);
    if (gw_sse_feed(&p, res->body, res->body_len) == 0) gw_sse_finish(&p);
    gw_sse_free(&p);
    return f.found;
}

static void on_notified(gw_fetch *f, const gw_fetch_result *res, void *ud) {
    (void)f;
    (void)res;
    mcp_upconn *c = ud;
    c->init = NULL; /* notifications/initialized: nothing comes back */
}

void up_flush_queue(mcp_upconn *c) {
    /* in order; an SSE connection keeps what finds no free place */
    while (c->queue && c->state == UP_READY) {
        if (c->transport == GW_MCP_UPSTREAM_SSE && c->inflight >= UP_SSE_INFLIGHT) break;
        mcp_upop *op = c->queue;
        c->queue = op->next;
        if (!c->queue) c->queue_tail = NULL;
        c->queued--;
        op->queued = 0;
        op->next = NULL;
        transmit(op);
    }
}

static void on_initialized(gw_fetch *f, const gw_fetch_result *res, void *ud) {
    mcp_upconn *c = ud;
    c->init = NULL;
    json_object *resp =
        res->code == CURLE_OK && res->status == 200 ? find_response(c, res, 0) : NULL;
    json_object *result = NULL, *pv = NULL;
    if (!resp || !json_object_object_get_ex(resp, "result", &result) ||
        !json_object_object_get_ex(result, "protocolVersion", &pv)) {
        gw_log_warn("mcp_upstream_failed", "\"url\":\"%s\",\"step\":\"initialize\",\"status\":%d",
                    c->url, res->status);
        json_object_put(resp);
        c->state = UP_IDLE;
        up_fail_queue(c, "the upstream MCP server could not be initialized",
                      res->code == CURLE_OPERATION_TIMEDOUT ? MCP_CALL_TIMEOUT
                      : res->status == 0                    ? MCP_CALL_UNREACHABLE
                                                            : MCP_CALL_UPSTREAM_ERROR);
        return;
    }
    snprintf(c->version, sizeof c->version, "%s", json_object_get_string(pv));
    size_t slen = 0;
    const char *sid = gw_fetch_header(f, "mcp-session-id", &slen);
    c->session_id[0] = '\0';
    if (sid && slen < sizeof c->session_id) {
        memcpy(c->session_id, sid, slen);
        c->session_id[slen] = '\0';
    }
    json_object_put(resp);
    const char *h[8];
    char sid_line[300], ver_line[64];
    up_headers(c, NULL, h, sid_line, sizeof sid_line, ver_line, sizeof ver_line);
    static const char note[] = "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}";
    gw_fetch_request req = {.method = "POST",
                            .url = c->url,
                            .headers = h,
                            .body = note,
                            .body_len = sizeof note - 1,
                            .timeout_ms = 10000};
    /* held in init, so a connection freed meanwhile ends it */
    c->init = gw_fetch_start(c->mw->curl, &req, on_notified, c);
    c->state = UP_READY;
    up_flush_queue(c);
}

static void up_initialize(mcp_upconn *c) {
    if (c->transport == GW_MCP_UPSTREAM_SSE) {
        up_sse_connect(c);
        return;
    }
    c->state = UP_INITIALIZING;
    c->session_id[0] = c->version[0] = '\0';
    gw_fetch_cancel(c->init); /* a notifications/initialized of the session before */
    const char *h[8];
    char sid_line[300], ver_line[64];
    up_headers(c, NULL, h, sid_line, sizeof sid_line, ver_line, sizeof ver_line);
    static const char body[] =
        "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"initialize\",\"params\":{\"protocolVersion\":"
        "\"2025-11-25\",\"capabilities\":{},\"clientInfo\":{\"name\":\"aigw\",\"version\":"
        "\"" AIGW_VERSION "\"}}}";
    gw_fetch_request req = {.method = "POST",
                            .url = c->url,
                            .headers = h,
                            .body = body,
                            .body_len = sizeof body - 1,
                            .timeout_ms = c->timeout_ms,
                            .max_response_bytes = 1 << 20};
    c->init = gw_fetch_start(c->mw->curl, &req, on_initialized, c);
    if (!c->init) {
        c->state = UP_IDLE;
        up_fail_queue(c, "out of memory", MCP_CALL_INTERNAL);
    }
}

void up_op_finish(mcp_upop *op, json_object *resp, const char *failure, mcp_call_outcome why) {
    op->done(op, resp, failure, why);
}

void up_fail_queue(mcp_upconn *c, const char *why, mcp_call_outcome outcome) {
    while (c->queue) {
        mcp_upop *op = c->queue;
        c->queue = op->next;
        if (!c->queue) c->queue_tail = NULL;
        c->queued--;
        op->queued = 0;
        op->next = NULL;
        up_op_finish(op, NULL, why, outcome);
    }
}

static void on_op_done(gw_fetch *f, const gw_fetch_result *res, void *ud) {
    mcp_upop *op = ud;
    mcp_upconn *c = op->conn;
    (void)f;
    op->fetch = NULL;
    if (res->status == 404 && c->session_id[0] && !op->retried) {
        /* the upstream forgot the session (a restart, an expiry): a new one, and this call again */
        op->retried = 1;
        if (c->state == UP_READY) c->state = UP_IDLE;
        up_send(op);
        return;
    }
    json_object *resp =
        res->code == CURLE_OK && res->status == 200 ? find_response(c, res, op->id) : NULL;
    if (!resp) {
        gw_log_warn("mcp_upstream_failed", "\"url\":\"%s\",\"step\":\"%s\",\"status\":%d", c->url,
                    op->method, res->status);
        int timeout = res->code == CURLE_OPERATION_TIMEDOUT;
        up_op_finish(op, NULL,
                     timeout ? "the upstream MCP server did not answer in time"
                             : "the upstream MCP server failed",
                     timeout            ? MCP_CALL_TIMEOUT
                     : res->too_large   ? MCP_CALL_TOO_LARGE
                     : res->status == 0 ? MCP_CALL_UNREACHABLE
                                        : MCP_CALL_UPSTREAM_ERROR);
        return;
    }
    up_op_finish(op, resp, NULL, MCP_CALL_OK);
    json_object_put(resp);
}

static void enqueue(mcp_upconn *c, mcp_upop *op, int first) {
    op->next = NULL;
    if (first) {
        op->next = c->queue;
        c->queue = op;
        if (!c->queue_tail) c->queue_tail = op;
    } else {
        if (c->queue_tail)
            c->queue_tail->next = op;
        else
            c->queue = op;
        c->queue_tail = op;
    }
    op->queued = 1;
    c->queued++;
}

/* Sends op on a ready connection. */
static void transmit(mcp_upop *op) {
    mcp_upconn *c = op->conn;
    if (c->transport == GW_MCP_UPSTREAM_SSE) {
        if (up_sse_send(op) == 1) enqueue(c, op, 1); /* every place taken: first in line */
        return;
    }
    op->id = c->next_id++;
    gw_strbuf body = {0};
    gw_strbuf_adds(&body, "{\"jsonrpc\":\"2.0\",\"id\":");
    gw_strbuf_add_int(&body, op->id);
    gw_strbuf_adds(&body, ",\"method\":\"");
    gw_strbuf_adds(&body, op->method);
    gw_strbuf_adds(&body, "\",\"params\":");
    gw_strbuf_add(&body, op->params.data, op->params.len);
    gw_strbuf_adds(&body, "}");
    const char *h[8];
    char sid_line[300], ver_line[64];
    up_headers(c, op, h, sid_line, sizeof sid_line, ver_line, sizeof ver_line);
    gw_fetch_request req = {.method = "POST",
                            .url = c->url,
                            .headers = h,
                            .body = body.data,
                            .body_len = body.len,
                            .timeout_ms = op->timeout_ms,
                            .max_response_bytes = op->x->cfg->mcp->max_result_bytes};
    op->fetch = body.failed ? NULL : gw_fetch_start(c->mw->curl, &req, on_op_done, op);
    gw_strbuf_free(&body);
    if (!op->fetch) up_op_finish(op, NULL, "out of memory", MCP_CALL_INTERNAL);
}

void up_requeue(mcp_upop *op) {
    up_send(op);
}

/* Sends op, or queues it behind those waiting (for the connection, or a free place). */
static void up_send(mcp_upop *op) {
    mcp_upconn *c = op->conn;
    c->last_used_ns = gw_now_ns();
    if (c->state == UP_READY && !c->queue) {
        transmit(op);
        return;
    }
    if (c->queued >= UP_QUEUE_MAX) {
        up_op_finish(op, NULL, "too many calls wait for the upstream MCP server", MCP_CALL_BUSY);
        return;
    }
    enqueue(c, op, 0);
    if (c->state == UP_IDLE) {
        c->timeout_ms = op->timeout_ms;
        up_initialize(c);
    }
}

/* ---------- operations of an exchange ---------- */

static mcp_upop *op_new(mcp_exchange *x, const gw_mcp_upstream *up, const char *method,
                        const char *params, size_t params_len, upop_done done) {
    if (x->op_count >= GW_MCP_UPSTREAMS_MAX) return NULL;
    mcp_upconn *c = conn_for(x->mw, up);
    if (!c) return NULL;
    gw_mcp_worker *mw = x->mw;
    mcp_upop *op = mw->upop_spare;
    if (op) {
        mw->upop_spare = op->next;
        mw->upop_spare_count--;
        gw_strbuf kept = op->params; /* its memory is reused */
        memset(op, 0, sizeof *op);
        op->params = *gw_strbuf_reset(&kept);
    } else if (!(op = calloc(1, sizeof *op))) {
        return NULL;
    }
    op->conn = c;
    c->ops++;
    op->x = x;
    op->up = up;
    op->method = method;
    op->done = done;
    op->timeout_ms = up->timeout_ms ? up->timeout_ms : x->cfg->mcp->timeout_ms;
    op->params.max = x->cfg->max_body_bytes + 4096;
    gw_strbuf_add(&op->params, params, params_len);
    mcp_traceparent_line(x, op->traceparent, sizeof op->traceparent);
    if (op->params.failed) {
        c->ops--;
        gw_strbuf_free(&op->params);
        free(op);
        return NULL;
    }
    x->ops[x->op_count++] = op;
    x->ops_pending++;
    return op;
}

/* Takes op out of its queue and its exchange, and frees it (its transfer ended or cancelled). */
static void op_free(mcp_upop *op) {
    mcp_upconn *c = op->conn;
    if (op->queued) {
        mcp_upop *prev = NULL;
        for (mcp_upop *q = c->queue; q; prev = q, q = q->next)
            if (q == op) {
                if (prev)
                    prev->next = op->next;
                else
                    c->queue = op->next;
                if (c->queue_tail == op) c->queue_tail = prev;
                c->queued--;
                break;
            }
    }
    gw_fetch_cancel(op->fetch);
    if (c->transport == GW_MCP_UPSTREAM_SSE) up_sse_forget(op);
    c->ops--;
    json_object_put(op->answer);
    mcp_exchange *x = op->x;
    for (size_t i = 0; i < x->op_count; i++)
        if (x->ops[i] == op) {
            x->ops[i] = NULL;
            x->ops_pending--;
        }
    gw_mcp_worker *mw = x->mw;
    if (mw->upop_spare_count < UP_SPARE_MAX && op->params.cap <= 65536) {
        op->next = mw->upop_spare;
        mw->upop_spare = op;
        mw->upop_spare_count++;
        return;
    }
    gw_strbuf_free(&op->params);
    free(op);
}

void mcp_upstream_cancel_ops(mcp_exchange *x) {
    for (size_t i = 0; i < x->op_count; i++)
        if (x->ops[i]) op_free(x->ops[i]);
}

/* ---------- tools/list over the upstreams ---------- */

static void list_finish(mcp_exchange *x) {
    gw_strbuf *acc = &x->acc;
    gw_strbuf_adds(acc, "]");
    if (x->version >= GW_MCP_FIRST_MODERN) {
        gw_strbuf_adds(acc, ",\"ttlMs\":60000,\"cacheScope\":\"private\"");
    }
    mcp_result_tail(x, acc);
    gw_strbuf_adds(acc, "}");
    mcp_reply_result(x, acc->data, acc->len);
}

static void on_list_page(mcp_upop *op, json_object *resp, const char *failure,
                         mcp_call_outcome outcome) {
    (void)outcome;
    mcp_exchange *x = op->x;
    const gw_mcp_upstream *up = op->up;
    json_object *result = NULL, *tools = NULL, *cursor = NULL;
    if (failure || !json_object_object_get_ex(resp, "result", &result) ||
        !json_object_object_get_ex(result, "tools", &tools) ||
        !json_object_is_type(tools, json_type_array)) {
        /* the others' tools are still listed; this upstream's are missing until it answers */
        gw_log_warn("mcp_upstream_list_failed", "\"server\":%s,\"upstream\":\"%s\",\"why\":\"%s\"",
                    x->srv->name_json, up->name, failure ? failure : "no tools in the answer");
    } else {
        for (size_t i = 0; i < json_object_array_length(tools); i++) {
            json_object *t = json_object_array_get_idx(tools, i), *nm = NULL;
            if (!json_object_is_type(t, json_type_object) ||
                !json_object_object_get_ex(t, "name", &nm) ||
                !json_object_is_type(nm, json_type_string))
                continue;
            const char *name = json_object_get_string(nm);
            size_t len = (size_t)json_object_get_string_len(nm);
            char full[GW_MCP_NAME_MAX * 2 + 2];
            int n = snprintf(full, sizeof full, "%s_%s", up->name, name);
            if (n < 0 || (size_t)n > GW_MCP_NAME_MAX || !mcp_upstream_allows(up, name, len) ||
                !mcp_caller_may(&x->caller, x->srv, full, (size_t)n))
                continue;
            json_object_object_add(t, "name", json_object_new_string(full));
            /* a separator after the server's own tools, or after an earlier upstream's */
            if (x->acc.len && x->acc.data[x->acc.len - 1] != '[') gw_strbuf_adds(&x->acc, ",");
            gw_strbuf_add_json(&x->acc, t);
        }
        if (json_object_object_get_ex(result, "nextCursor", &cursor) &&
            json_object_is_type(cursor, json_type_string) && op->pages + 1 < MAX_LIST_PAGES) {
            /* the next page through the same operation */
            gw_strbuf *params = gw_strbuf_reset(&op->params);
            gw_strbuf_adds(params, "{\"cursor\":");
            gw_strbuf_add_json(params, cursor);
            gw_strbuf_adds(params, "}");
            if (!params->failed) {
                op->pages++;
                op->retried = 0;
                up_send(op);
                return;
            }
        }
    }
    op_free(op);
    if (x->ops_pending == 0) list_finish(x);
}

void mcp_upstream_list(mcp_exchange *x) {
    const gw_mcp_server *srv = x->srv;
    size_t started = 0;
    mcp_upop *ops[GW_MCP_UPSTREAMS_MAX];
    for (size_t i = 0; i < srv->upstream_count; i++) {
        ops[i] = op_new(x, &srv->upstreams[i], "tools/list", "{}", 2, on_list_page);
        started += ops[i] != NULL;
    }
    if (!started) {
        list_finish(x);
        return;
    }
    /* sent after all exist: one that fails at once must not find the count at zero early */
    for (size_t i = 0; i < srv->upstream_count; i++)
        if (ops[i]) up_send(ops[i]);
}

/* ---------- tools/call through ---------- */

static void on_call_done(mcp_upop *op, json_object *resp, const char *failure,
                         mcp_call_outcome outcome) {
    mcp_exchange *x = op->x;
    op_free(op);
    x->t_up_end = gw_now_ns();
    json_object *result = NULL, *error = NULL;
    if (failure) {
        char msg[300];
        snprintf(msg, sizeof msg, "%s: %s", x->tool_name, failure);
        mcp_call_report(x, outcome, 0);
        mcp_tool_result_text(x, msg, strlen(msg), 1);
        return;
    }
    if (json_object_object_get_ex(resp, "result", &result) &&
        json_object_is_type(result, json_type_object)) {
        json_object *is_error = NULL;
        int failed = json_object_object_get_ex(result, "isError", &is_error) &&
                     json_object_get_boolean(is_error);
        if (x->version >= GW_MCP_FIRST_MODERN) {
            json_object_object_add(result, "resultType", json_object_new_string("complete"));
        }
        mcp_call_report(x, failed ? MCP_CALL_TOOL_ERROR : MCP_CALL_OK, 200);
        const char *text = json_object_to_json_string_ext(
            result, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
        mcp_reply_result(x, text, strlen(text));
        return;
    }
    json_object *code = NULL, *message = NULL, *data = NULL;
    if (json_object_object_get_ex(resp, "error", &error) &&
        json_object_object_get_ex(error, "code", &code)) {
        json_object_object_get_ex(error, "message", &message);
        json_object_object_get_ex(error, "data", &data);
        int c = json_object_get_int(code);
        mcp_call_report(x,
                        c == GW_JSONRPC_INVALID_PARAMS || c == GW_JSONRPC_METHOD_NOT_FOUND
                            ? MCP_CALL_INVALID_ARGS
                            : MCP_CALL_UPSTREAM_ERROR,
                        200);
        mcp_reply_error(x, 200, c, message ? json_object_get_string(message) : "error",
                        data ? json_object_to_json_string_ext(data, JSON_C_TO_STRING_PLAIN) : NULL);
        return;
    }
    mcp_call_report(x, MCP_CALL_UPSTREAM_ERROR, 200);
    static const char msg[] = "the upstream MCP server's answer is not a JSON-RPC response";
    mcp_tool_result_text(x, msg, sizeof msg - 1, 1);
}

void mcp_upstream_call(mcp_exchange *x, const gw_mcp_upstream *up, const char *tool,
                       json_object *args) {
    gw_strbuf params = {0};
    gw_strbuf_adds(&params, "{\"name\":\"");
    gw_strbuf_add_json_escaped(&params, tool, strlen(tool));
    gw_strbuf_adds(&params, "\",\"arguments\":");
    gw_strbuf_add_json(&params, args);
    gw_strbuf_adds(&params, "}");
    mcp_upop *op =
        params.failed ? NULL : op_new(x, up, "tools/call", params.data, params.len, on_call_done);
    gw_strbuf_free(&params);
    if (!op) {
        mcp_call_report(x, MCP_CALL_INTERNAL, 0);
        mcp_reply_error(x, 503, GW_JSONRPC_INTERNAL_ERROR, "out of memory", NULL);
        return;
    }
    mcp_url_host(up->url, x->endpoint, sizeof x->endpoint);
    x->t_up_start = gw_now_ns();
    up_send(op);
}
