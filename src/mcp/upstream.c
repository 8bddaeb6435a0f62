/* Proxying: a gateway server fronts upstream MCP servers (Streamable HTTP) and shows their
 * tools as its own, each prefixed with the upstream's name ("docs_search"), as far as the
 * upstream's allow-list and the caller's key permit. Each worker keeps one connection (one
 * upstream session) per upstream, made on first use with initialize and made again when the
 * upstream forgets it (404); calls wait in its queue while it initializes. */
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/config.h"
#include "core/json_parse.h"
#include "core/log.h"
#include "mcp/mcp_internal.h"
#include "upstream/fetch.h"

enum { MAX_LIST_PAGES = 10, UPSTREAM_QUEUE_MAX = 1024 };

typedef enum { UP_IDLE, UP_INITIALIZING, UP_READY } up_state;

struct mcp_upconn {
    gw_mcp_worker *mw;
    mcp_upconn *next;
    char *url;
    char *auth_line; /* NULL: none */
    up_state state;
    char session_id[256];
    char version[16];
    gw_fetch *init;
    mcp_upop *queue; /* waiting for the connection to be ready */
    size_t queued;
    long long next_id;
};

typedef void (*upop_done)(mcp_upop *op, json_object *response, const char *failure);

struct mcp_upop {
    mcp_upconn *conn;
    mcp_exchange *x;
    const gw_mcp_upstream *up;
    char *method;
    char *params; /* JSON text */
    gw_fetch *fetch;
    upop_done done;
    mcp_upop *next; /* in the connection's queue */
    long long id;
    int queued, retried, pages;
};

static void up_send(mcp_upop *op);
static void up_fail_queue(mcp_upconn *c, const char *why);

/* ---------- connections ---------- */

static mcp_upconn *conn_for(gw_mcp_worker *mw, const gw_mcp_upstream *up) {
    const char *auth = up->auth ? up->auth->header_line : NULL;
    for (mcp_upconn *c = mw->upconns; c; c = c->next)
        if (!strcmp(c->url, up->url) &&
            ((!auth && !c->auth_line) || (auth && c->auth_line && !strcmp(auth, c->auth_line))))
            return c;
    mcp_upconn *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->mw = mw;
    c->url = strdup(up->url);
    c->auth_line = auth ? strdup(auth) : NULL;
    if (!c->url || (auth && !c->auth_line)) {
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

void mcp_upconns_free(gw_mcp_worker *mw) {
    while (mw->upconns) {
        mcp_upconn *c = mw->upconns;
        mw->upconns = c->next;
        gw_fetch_cancel(c->init);
        /* queued operations belong to exchanges, freed before this */
        free(c->url);
        free(c->auth_line);
        free(c);
    }
}

/* The headers of a request to the upstream: "" values are left out. */
static void up_headers(const mcp_upconn *c, const char **h, char *sid_line, size_t sid_cap,
                       char *ver_line, size_t ver_cap) {
    size_t n = 0;
    h[n++] = "Content-Type: application/json";
    h[n++] = "Accept: application/json, text/event-stream";
    if (c->auth_line) h[n++] = c->auth_line;
    if (c->session_id[0]) {
        snprintf(sid_line, sid_cap, "Mcp-Session-Id: %s", c->session_id);
        h[n++] = sid_line;
    }
    if (c->version[0]) {
        snprintf(ver_line, ver_cap, "MCP-Protocol-Version: %s", c->version);
        h[n++] = ver_line;
    }
    h[n] = NULL;
}

/* The JSON-RPC message answering id in an upstream's answer: JSON, or SSE events of which one
 * is the answer. NULL when there is none. */
static json_object *find_response(const gw_fetch_result *res, long long id) {
    if (strncasecmp(res->content_type, "text/event-stream", 17)) {
        json_object *v = gw_json_parse(res->body, res->body_len, 64, 0);
        return gw_json_object_only(v);
    }
    const char *p = res->body, *end = res->body + res->body_len;
    gw_strbuf data = {0};
    json_object *found = NULL;
    while (p < end && !found) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
        size_t l = len && p[len - 1] == '\r' ? len - 1 : len;
        if (l == 0) { /* an event ends */
            json_object *v =
                data.len ? gw_json_object_only(gw_json_parse(data.data, data.len, 64, 0)) : NULL;
            json_object *idv;
            if (v && json_object_object_get_ex(v, "id", &idv) && json_object_get_int64(idv) == id)
                found = v;
            else
                json_object_put(v);
            gw_strbuf_reset(&data);
        } else if (l >= 5 && !memcmp(p, "data:", 5)) {
            const char *d = p + 5;
            size_t dl = l - 5;
            if (dl && *d == ' ') d++, dl--;
            if (data.len) gw_strbuf_adds(&data, "\n");
            gw_strbuf_add(&data, d, dl);
        }
        p += len + (nl ? 1 : 0);
    }
    if (!found && data.len) { /* a last event without its blank line */
        json_object *v = gw_json_object_only(gw_json_parse(data.data, data.len, 64, 0));
        json_object *idv;
        if (v && json_object_object_get_ex(v, "id", &idv) && json_object_get_int64(idv) == id)
            found = v;
        else
            json_object_put(v);
    }
    gw_strbuf_free(&data);
    return found;
}

static void on_notified(gw_fetch *f, const gw_fetch_result *res, void *ud) {
    (void)f;
    (void)res;
    (void)ud; /* notifications/initialized: nothing comes back */
}

static void on_initialized(gw_fetch *f, const gw_fetch_result *res, void *ud) {
    mcp_upconn *c = ud;
    c->init = NULL;
    json_object *resp = res->code == CURLE_OK && res->status == 200 ? find_response(res, 0) : NULL;
    json_object *result = NULL, *pv = NULL;
    if (!resp || !json_object_object_get_ex(resp, "result", &result) ||
        !json_object_object_get_ex(result, "protocolVersion", &pv)) {
        gw_log_warn("mcp_upstream_failed", "\"url\":\"%s\",\"step\":\"initialize\",\"status\":%d",
                    c->url, res->status);
        json_object_put(resp);
        c->state = UP_IDLE;
        up_fail_queue(c, "the upstream MCP server could not be initialized");
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
    up_headers(c, h, sid_line, sizeof sid_line, ver_line, sizeof ver_line);
    static const char note[] = "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}";
    gw_fetch_request req = {.method = "POST",
                            .url = c->url,
                            .headers = h,
                            .body = note,
                            .body_len = sizeof note - 1,
                            .timeout_ms = 10000};
    gw_fetch_start(c->mw->curl, &req, on_notified, NULL);
    c->state = UP_READY;
    while (c->queue) { /* in order */
        mcp_upop *op = c->queue;
        c->queue = op->next;
        c->queued--;
        op->queued = 0;
        op->next = NULL;
        up_send(op);
    }
}

static void up_initialize(mcp_upconn *c, int timeout_ms) {
    c->state = UP_INITIALIZING;
    c->session_id[0] = c->version[0] = '\0';
    const char *h[8];
    char sid_line[300], ver_line[64];
    up_headers(c, h, sid_line, sizeof sid_line, ver_line, sizeof ver_line);
    static const char body[] =
        "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"initialize\",\"params\":{\"protocolVersion\":"
        "\"2025-11-25\",\"capabilities\":{},\"clientInfo\":{\"name\":\"aigw\",\"version\":"
        "\"" AIGW_VERSION "\"}}}";
    gw_fetch_request req = {.method = "POST",
                            .url = c->url,
                            .headers = h,
                            .body = body,
                            .body_len = sizeof body - 1,
                            .timeout_ms = timeout_ms,
                            .max_response_bytes = 1 << 20};
    c->init = gw_fetch_start(c->mw->curl, &req, on_initialized, c);
    if (!c->init) {
        c->state = UP_IDLE;
        up_fail_queue(c, "out of memory");
    }
}

static void op_finish(mcp_upop *op, json_object *resp, const char *failure) {
    op->done(op, resp, failure);
}

static void up_fail_queue(mcp_upconn *c, const char *why) {
    while (c->queue) {
        mcp_upop *op = c->queue;
        c->queue = op->next;
        c->queued--;
        op->queued = 0;
        op->next = NULL;
        op_finish(op, NULL, why);
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
        if (c->state == UP_READY) up_initialize(c, op->up->timeout_ms);
        up_send(op);
        return;
    }
    json_object *resp =
        res->code == CURLE_OK && res->status == 200 ? find_response(res, op->id) : NULL;
    if (!resp) {
        gw_log_warn("mcp_upstream_failed", "\"url\":\"%s\",\"step\":\"%s\",\"status\":%d", c->url,
                    op->method, res->status);
        op_finish(op, NULL,
                  res->code == CURLE_OPERATION_TIMEDOUT
                      ? "the upstream MCP server did not answer in time"
                      : "the upstream MCP server failed");
        return;
    }
    op_finish(op, resp, NULL);
    json_object_put(resp);
}

static void up_send(mcp_upop *op) {
    mcp_upconn *c = op->conn;
    if (c->state != UP_READY) {
        if (c->queued >= UPSTREAM_QUEUE_MAX) {
            op_finish(op, NULL, "too many calls wait for the upstream MCP server");
            return;
        }
        mcp_upop **tail = &c->queue;
        while (*tail)
            tail = &(*tail)->next;
        *tail = op;
        op->queued = 1;
        c->queued++;
        if (c->state == UP_IDLE) up_initialize(c, op->up->timeout_ms);
        return;
    }
    op->id = c->next_id++;
    gw_strbuf body = {0};
    gw_strbuf_adds(&body, "{\"jsonrpc\":\"2.0\",\"id\":");
    gw_strbuf_add_int(&body, op->id);
    gw_strbuf_adds(&body, ",\"method\":\"");
    gw_strbuf_adds(&body, op->method);
    gw_strbuf_adds(&body, "\",\"params\":");
    gw_strbuf_adds(&body, op->params);
    gw_strbuf_adds(&body, "}");
    const char *h[8];
    char sid_line[300], ver_line[64];
    up_headers(c, h, sid_line, sizeof sid_line, ver_line, sizeof ver_line);
    gw_fetch_request req = {.method = "POST",
                            .url = c->url,
                            .headers = h,
                            .body = body.data,
                            .body_len = body.len,
                            .timeout_ms = op->up->timeout_ms ? op->up->timeout_ms
                                                             : op->x->cfg->mcp->timeout_ms,
                            .max_response_bytes = op->x->cfg->mcp->max_result_bytes};
    op->fetch = body.failed ? NULL : gw_fetch_start(c->mw->curl, &req, on_op_done, op);
    gw_strbuf_free(&body);
    if (!op->fetch) op_finish(op, NULL, "out of memory");
}

/* ---------- operations of an exchange ---------- */

static mcp_upop *op_new(mcp_exchange *x, const gw_mcp_upstream *up, const char *method,
                        const char *params, upop_done done) {
    mcp_upconn *c = conn_for(x->mw, up);
    mcp_upop *op = c ? calloc(1, sizeof *op) : NULL;
    if (!op) return NULL;
    op->conn = c;
    op->x = x;
    op->up = up;
    op->method = strdup(method);
    op->params = strdup(params);
    op->done = done;
    if (!op->method || !op->params) {
        free(op->method);
        free(op->params);
        free(op);
        return NULL;
    }
    for (size_t i = 0; i < x->op_count; i++)
        if (!x->ops[i]) {
            x->ops[i] = op;
            x->ops_pending++;
            return op;
        }
    mcp_upop **ops = realloc(x->ops, (x->op_count + 1) * sizeof *ops);
    if (!ops) {
        free(op->method);
        free(op->params);
        free(op);
        return NULL;
    }
    x->ops = ops;
    x->ops[x->op_count++] = op;
    x->ops_pending++;
    return op;
}

/* Takes op out of its queue and its exchange, and frees it (its transfer ended or cancelled). */
static void op_free(mcp_upop *op) {
    mcp_upconn *c = op->conn;
    if (op->queued) {
        for (mcp_upop **p = &c->queue; *p; p = &(*p)->next)
            if (*p == op) {
                *p = op->next;
                c->queued--;
                break;
            }
    }
    gw_fetch_cancel(op->fetch);
    mcp_exchange *x = op->x;
    for (size_t i = 0; i < x->op_count; i++)
        if (x->ops[i] == op) {
            x->ops[i] = NULL;
            x->ops_pending--;
        }
    free(op->method);
    free(op->params);
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

static void on_list_page(mcp_upop *op, json_object *resp, const char *failure) {
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
            gw_strbuf params = {0};
            gw_strbuf_adds(&params, "{\"cursor\":");
            gw_strbuf_add_json(&params, cursor);
            gw_strbuf_adds(&params, "}");
            char *text = params.failed ? NULL : strndup(params.data, params.len);
            gw_strbuf_free(&params);
            if (text) {
                free(op->params);
                op->params = text;
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
        ops[i] = op_new(x, &srv->upstreams[i], "tools/list", "{}", on_list_page);
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

static void on_call_done(mcp_upop *op, json_object *resp, const char *failure) {
    mcp_exchange *x = op->x;
    op_free(op);
    json_object *result = NULL, *error = NULL;
    if (failure) {
        char msg[300];
        snprintf(msg, sizeof msg, "%s: %s", x->tool_name, failure);
        mcp_call_report(x, "tool_error", 0);
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
        mcp_call_report(x, failed ? "tool_error" : "ok", 200);
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
        mcp_call_report(x, "error", 200);
        mcp_reply_error(x, 200, json_object_get_int(code),
                        message ? json_object_get_string(message) : "error",
                        data ? json_object_to_json_string_ext(data, JSON_C_TO_STRING_PLAIN) : NULL);
        return;
    }
    mcp_call_report(x, "tool_error", 200);
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
    gw_strbuf_add(&params, "", 1);
    mcp_upop *op = params.failed ? NULL : op_new(x, up, "tools/call", params.data, on_call_done);
    gw_strbuf_free(&params);
    if (!op) {
        mcp_call_report(x, "error", 0);
        mcp_reply_error(x, 503, GW_JSONRPC_INTERNAL_ERROR, "out of memory", NULL);
        return;
    }
    up_send(op);
}
