/* Upstream MCP servers over the legacy HTTP+SSE transport (2024-11-05), the client's side: GET
 * the server's SSE URL and keep that stream open (it is the session), read its `endpoint`
 * event (a URL of the same origin to POST messages to), POST initialize there and take its
 * answer from the stream, then POST each request and match the answers that arrive on the
 * stream by id.
 *
 * Everything runs on the worker's curl multi: the stream is a fetch whose body is handed on
 * piece by piece, parsed as it comes (core/sse.h). What the parser finds (the endpoint, an
 * answer) is parked on the connection and finished from the worker's loop (the `kick` event),
 * never inside curl's callback. Bounded: at most UP_SSE_INFLIGHT requests await answers (the
 * rest wait in the connection's queue, itself bounded), one event at most max_result_bytes, each
 * answer awaited at most the upstream's timeout (one timer per connection, armed for the
 * earliest deadline). A stream that ends loses the session: the requests it still owed an
 * answer fail, and the next request (or one waiting) connects again. A POST the upstream
 * answers 404 (it forgot the session) is sent once more on a new session. */
#include <curl/curl.h>
#include <event2/event.h>
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

enum { NOTE_INITIALIZE = 0, NOTE_OTHER = -1, MAX_ENDPOINT = 2048 };

static void on_kick(evutil_socket_t fd, short what, void *arg);
static void on_timer(evutil_socket_t fd, short what, void *arg);
static int on_event(void *ud, const char *event, size_t event_len, const char *data, size_t len);

int up_sse_start(mcp_upconn *c) {
    struct event_base *base = c->mw->w->base;
    c->kick = event_new(base, -1, 0, on_kick, c);
    c->timer = event_new(base, -1, 0, on_timer, c);
    for (size_t i = 0; i < UP_SSE_INFLIGHT; i++)
        c->calls[i].c = c;
    for (size_t i = 0; i < UP_SSE_NOTES; i++)
        c->notes[i].c = c;
    gw_sse_init(&c->sse, 1 << 20, on_event, c);
    return c->kick && c->timer ? 0 : -1;
}

static void kick(mcp_upconn *c) {
    event_active(c->kick, EV_READ, 0);
}

static void arm(mcp_upconn *c, int64_t deadline_ns) {
    /* armed already for an earlier deadline: it stays (it re-arms itself when it fires) */
    if (evtimer_pending(c->timer, NULL) && c->timer_at <= deadline_ns) return;
    int64_t now = gw_now_ns();
    int64_t wait = deadline_ns > now ? deadline_ns - now : 0;
    struct timeval tv = {(time_t)(wait / 1000000000), (suseconds_t)(wait % 1000000000 / 1000)};
    c->timer_at = deadline_ns;
    evtimer_add(c->timer, &tv);
}

/* A place of calls[] is free once its POST ended and its operation is done with. */
static void post_drop_op(up_post *p) {
    if (!p->op) return;
    p->op = NULL;
    if (!p->f) p->c->inflight--;
}

static void post_drop_fetch(up_post *p) {
    if (!p->f) return;
    p->f = NULL;
    if (!p->op) p->c->inflight--;
}

int up_sse_busy(const mcp_upconn *c) {
    if (c->transport != GW_MCP_UPSTREAM_SSE) return 0;
    return c->inflight > 0 || c->state == UP_CONNECTING || c->state == UP_INITIALIZING;
}

/* ---------- posting ---------- */

static void on_note_done(gw_fetch *f, const gw_fetch_result *res, void *ud);
static void conn_lost(mcp_upconn *c, const char *why, mcp_call_outcome outcome, int fail_queue);

/* A message that waits for no answer of its own (initialize's comes on the stream): into a
 * free place of notes[], or dropped when there is none (a notification, an answer to a ping). */
static int post_note(mcp_upconn *c, const char *body, size_t len, long long kind) {
    for (size_t i = 0; i < UP_SSE_NOTES; i++) {
        up_post *p = &c->notes[i];
        if (p->f) continue;
        const char *h[8];
        char sid_line[8], ver_line[8];
        up_headers(c, NULL, h, sid_line, sizeof sid_line, ver_line, sizeof ver_line);
        gw_fetch_request req = {.method = "POST",
                                .url = c->post_url,
                                .headers = h,
                                .body = body,
                                .body_len = len,
                                .timeout_ms = c->timeout_ms,
                                .max_response_bytes = 65536};
        p->id = kind;
        p->f = gw_fetch_start(c->mw->curl, &req, on_note_done, p);
        return p->f ? 0 : -1;
    }
    gw_log_warn("mcp_upstream_note_dropped", "\"url\":\"%s\"", c->url);
    return -1;
}

static void on_note_done(gw_fetch *f, const gw_fetch_result *res, void *ud) {
    up_post *p = ud;
    mcp_upconn *c = p->c;
    (void)f;
    p->f = NULL;
    int ok = res->code == CURLE_OK && res->status >= 200 && res->status < 300;
    if (!ok && p->id == NOTE_INITIALIZE && c->state == UP_INITIALIZING) {
        gw_log_warn("mcp_upstream_failed", "\"url\":\"%s\",\"step\":\"initialize\",\"status\":%d",
                    c->url, res->status);
        conn_lost(c, "the upstream MCP server could not be initialized",
                  res->status ? MCP_CALL_UPSTREAM_ERROR : MCP_CALL_UNREACHABLE, 1);
    }
}

static void on_post_done(gw_fetch *f, const gw_fetch_result *res, void *ud) {
    up_post *p = ud;
    mcp_upconn *c = p->c;
    (void)f;
    mcp_upop *op = p->op;
    post_drop_fetch(p);
    int ok = res->code == CURLE_OK && res->status >= 200 && res->status < 300;
    if (!op || ok || op->answer) { /* done with, or its answer comes (came) on the stream */
        if (!op) up_flush_queue(c);
        return;
    }
    post_drop_op(p);
    if ((res->status == 404 || res->status == 410) && !op->retried) {
        /* the upstream forgot the session (a restart): a new one, and this request again */
        op->retried = 1;
        if (c->state != UP_IDLE)
            conn_lost(c, "the upstream MCP server lost the session", MCP_CALL_UPSTREAM_ERROR, 0);
        up_requeue(op);
        return;
    }
    gw_log_warn("mcp_upstream_failed", "\"url\":\"%s\",\"step\":\"%s\",\"status\":%d", c->url,
                op->method, res->status);
    int timeout = res->code == CURLE_OPERATION_TIMEDOUT;
    up_op_finish(op, NULL,
                 timeout ? "the upstream MCP server did not answer in time"
                         : "the upstream MCP server failed",
                 timeout            ? MCP_CALL_TIMEOUT
                 : res->status == 0 ? MCP_CALL_UNREACHABLE
                                    : MCP_CALL_UPSTREAM_ERROR);
    up_flush_queue(c);
}

int up_sse_send(mcp_upop *op) {
    mcp_upconn *c = op->conn;
    if (c->inflight >= UP_SSE_INFLIGHT) return 1;
    up_post *p;
    long long id;
    do { /* ends: a place is free */
        id = c->next_id++;
        p = &c->calls[id % UP_SSE_INFLIGHT];
    } while (p->op || p->f);
    op->id = id;
    gw_strbuf body = {0};
    gw_strbuf_adds(&body, "{\"jsonrpc\":\"2.0\",\"id\":");
    gw_strbuf_add_int(&body, id);
    gw_strbuf_adds(&body, ",\"method\":\"");
    gw_strbuf_adds(&body, op->method);
    gw_strbuf_adds(&body, "\",\"params\":");
    gw_strbuf_add(&body, op->params.data, op->params.len);
    gw_strbuf_adds(&body, "}");
    const char *h[8];
    char sid_line[8], ver_line[8];
    up_headers(c, op, h, sid_line, sizeof sid_line, ver_line, sizeof ver_line);
    gw_fetch_request req = {.method = "POST",
                            .url = c->post_url,
                            .headers = h,
                            .body = body.data,
                            .body_len = body.len,
                            .timeout_ms = op->timeout_ms,
                            .max_response_bytes = 65536};
    p->f = body.failed ? NULL : gw_fetch_start(c->mw->curl, &req, on_post_done, p);
    gw_strbuf_free(&body);
    if (!p->f) {
        up_op_finish(op, NULL, "out of memory", MCP_CALL_INTERNAL);
        return 0;
    }
    p->op = op;
    p->id = id;
    c->inflight++;
    op->deadline_ns = gw_now_ns() + (int64_t)op->timeout_ms * 1000000;
    arm(c, op->deadline_ns);
    return 0;
}

void up_sse_forget(mcp_upop *op) {
    mcp_upconn *c = op->conn;
    if (!op->id) return;
    up_post *p = &c->calls[op->id % UP_SSE_INFLIGHT];
    if (p->op == op) post_drop_op(p); /* its POST, if running, ends by itself */
}

/* ---------- the stream ---------- */

static int on_stream_data(gw_fetch *f, const char *data, size_t len, void *ud) {
    mcp_upconn *c = ud;
    if (!c->stream_checked) { /* the head came: an event stream, or nothing */
        c->stream_checked = 1;
        size_t tlen = 0;
        const char *type = gw_fetch_header(f, "content-type", &tlen);
        if (gw_fetch_status(f) != 200 || !type || tlen < 17 ||
            strncasecmp(type, "text/event-stream", 17)) {
            c->stream_failed = 1;
            return -1;
        }
    }
    if (gw_sse_feed(&c->sse, data, len) < 0) { /* an event past max_result_bytes */
        c->stream_failed = 1;
        return -1;
    }
    return 0;
}

/* Parsed inside curl's write callback: what needs the loop is parked and the loop kicked. */
static int on_event(void *ud, const char *event, size_t event_len, const char *data, size_t len) {
    mcp_upconn *c = ud;
    if (event_len == 8 && !memcmp(event, "endpoint", 8)) {
        if (c->state == UP_CONNECTING && !c->endpoint_got && len && len <= MAX_ENDPOINT)
            c->endpoint_got = strndup(data, len);
        kick(c);
        return 0;
    }
    if (event_len && !(event_len == 7 && !memcmp(event, "message", 7))) return 0;
    json_object *v = gw_json_object_only(gw_json_parse_with(c->mw->w->tokener, data, len));
    json_object *idv = NULL, *method = NULL;
    if (!v) return 0;
    int has_id = json_object_object_get_ex(v, "id", &idv) && idv;
    if (json_object_object_get_ex(v, "method", &method)) {
        /* the server's own request (a ping, ...): answered from the loop; notifications: none */
        if (has_id && c->server_ask_count < UP_SSE_NOTES) {
            const char *id_text = json_object_to_json_string_ext(idv, JSON_C_TO_STRING_PLAIN);
            size_t n = c->server_ask_count;
            if (strlen(id_text) < sizeof c->server_asks[n]) {
                snprintf(c->server_asks[n], sizeof c->server_asks[n], "%s", id_text);
                c->server_ask_is_ping[n] = json_object_is_type(method, json_type_string) &&
                                           !strcmp(json_object_get_string(method), "ping");
                c->server_ask_count++;
                kick(c);
            }
        }
        json_object_put(v);
        return 0;
    }
    if (c->state == UP_INITIALIZING && up_response_has_id(v, 0)) {
        json_object_put(c->init_answer);
        c->init_answer = v;
        kick(c);
        return 0;
    }
    if (has_id && json_object_is_type(idv, json_type_int)) {
        long long id = json_object_get_int64(idv);
        up_post *p = id > 0 ? &c->calls[id % UP_SSE_INFLIGHT] : NULL;
        if (p && p->op && p->id == id && !p->op->answer && up_response_has_id(v, id)) {
            p->op->answer = v;
            c->answers_waiting = 1;
            kick(c);
            return 0;
        }
    }
    json_object_put(v); /* an answer no one waits for any more (timed out, cancelled) */
    return 0;
}

static void on_stream_done(gw_fetch *f, const gw_fetch_result *res, void *ud) {
    mcp_upconn *c = ud;
    (void)f;
    c->stream = NULL;
    int setup = c->state != UP_READY;
    gw_log_warn("mcp_upstream_stream_ended",
                "\"url\":\"%s\",\"status\":%d,\"during_setup\":%s,\"broke_bound\":%s", c->url,
                res->status, setup ? "true" : "false", c->stream_failed ? "true" : "false");
    conn_lost(c,
              setup ? "the upstream MCP server could not be reached over SSE"
                    : "the upstream MCP server's stream ended before it answered",
              setup && res->status == 0 ? MCP_CALL_UNREACHABLE : MCP_CALL_UPSTREAM_ERROR, setup);
}

void up_sse_connect(mcp_upconn *c) {
    if (c->state != UP_IDLE) return;
    const gw_mcp_conf *mc = c->mw->w->cfg->mcp;
    gw_sse_reset(&c->sse);
    c->sse.max_event = (mc ? mc->max_result_bytes : 4 << 20) + 65536;
    c->stream_failed = c->stream_checked = 0;
    c->session_id[0] = c->version[0] = '\0';
    const char *h[4];
    size_t n = 0;
    h[n++] = "Accept: text/event-stream";
    h[n++] = "Cache-Control: no-cache";
    if (c->auth_line) h[n++] = c->auth_line;
    h[n] = NULL;
    int timeout_ms = c->timeout_ms > 0 ? c->timeout_ms : 30000;
    gw_fetch_request req = {.method = "GET",
                            .url = c->url,
                            .headers = h,
                            .connect_timeout_ms = timeout_ms < 10000 ? timeout_ms : 10000,
                            .timeout_ms = 0, /* the session: as long as it lasts */
                            .on_data = on_stream_data};
    c->stream = gw_fetch_start(c->mw->curl, &req, on_stream_done, c);
    if (!c->stream) {
        up_fail_queue(c, "out of memory", MCP_CALL_INTERNAL);
        return;
    }
    c->state = UP_CONNECTING;
    c->setup_deadline_ns = gw_now_ns() + (int64_t)timeout_ms * 1000000;
    arm(c, c->setup_deadline_ns);
}

/* The session is gone (or never came): what it owed fails; the queue fails too, or when
 * fail_queue is 0 and something waits, a new session is asked for. */
static void conn_lost(mcp_upconn *c, const char *why, mcp_call_outcome outcome, int fail_queue) {
    if (c->stream) {
        gw_fetch *s = c->stream;
        c->stream = NULL;
        gw_fetch_cancel(s);
    }
    gw_sse_free(&c->sse);
    free(c->post_url);
    free(c->endpoint_got);
    c->post_url = c->endpoint_got = NULL;
    json_object_put(c->init_answer);
    c->init_answer = NULL;
    c->server_ask_count = 0;
    c->state = UP_IDLE;
    for (size_t i = 0; i < UP_SSE_NOTES; i++) {
        gw_fetch_cancel(c->notes[i].f);
        c->notes[i].f = NULL;
    }
    /* the operations it owed answers, taken out first: finishing one may start others */
    mcp_upop *owed[UP_SSE_INFLIGHT];
    size_t n = 0;
    for (size_t i = 0; i < UP_SSE_INFLIGHT; i++) {
        up_post *p = &c->calls[i];
        if (p->f) {
            gw_fetch_cancel(p->f);
            post_drop_fetch(p);
        }
        if (p->op) {
            owed[n++] = p->op;
            post_drop_op(p);
        }
    }
    for (size_t i = 0; i < n; i++) {
        mcp_upop *op = owed[i];
        json_object *answer = op->answer; /* it came before the end: it counts */
        op->answer = NULL;
        up_op_finish(op, answer, answer ? NULL : why, answer ? MCP_CALL_OK : outcome);
        json_object_put(answer);
    }
    if (fail_queue)
        up_fail_queue(c, why, outcome);
    else if (c->queue)
        up_sse_connect(c);
}

/* ---------- the loop's side ---------- */

/* The endpoint event's data as a URL: relative ones against the SSE URL; another origin's is
 * refused (the upstream must not send the gateway's requests, credentials included,
 * elsewhere). A malloc'd string, or NULL. */
static char *resolve_endpoint(const char *base, const char *endpoint) {
    if (strpbrk(endpoint, "\r\n")) return NULL;
    CURLU *b = curl_url(), *u = curl_url();
    char *out = NULL, *res = NULL;
    char *parts[2][3] = {{NULL}};
    if (b && u && curl_url_set(b, CURLUPART_URL, base, 0) == CURLUE_OK &&
        curl_url_set(u, CURLUPART_URL, base, 0) == CURLUE_OK &&
        curl_url_set(u, CURLUPART_URL, endpoint, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_URL, &out, 0) == CURLUE_OK) {
        CURLU *both[2] = {b, u};
        int same = 1;
        static const CURLUPart which[3] = {CURLUPART_SCHEME, CURLUPART_HOST, CURLUPART_PORT};
        for (int k = 0; k < 2; k++)
            for (int i = 0; i < 3; i++)
                if (curl_url_get(both[k], which[i], &parts[k][i], CURLU_DEFAULT_PORT) != CURLUE_OK)
                    same = 0;
        for (int i = 0; same && i < 3; i++)
            same = parts[0][i] && parts[1][i] && !strcasecmp(parts[0][i], parts[1][i]);
        if (same) res = strdup(out);
    }
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < 3; i++)
            curl_free(parts[k][i]);
    curl_free(out);
    curl_url_cleanup(b);
    curl_url_cleanup(u);
    return res;
}

static void take_endpoint(mcp_upconn *c) {
    char *endpoint = c->endpoint_got;
    c->endpoint_got = NULL;
    c->post_url = resolve_endpoint(c->url, endpoint);
    if (!c->post_url) {
        char shown[200];
        gw_json_escape(shown, sizeof shown, endpoint, strlen(endpoint));
        gw_log_warn("mcp_upstream_failed",
                    "\"url\":\"%s\",\"step\":\"endpoint\",\"endpoint\":\"%s\",\"why\":\"not a URL "
                    "of the SSE URL's origin\"",
                    c->url, shown);
        free(endpoint);
        conn_lost(c, "the upstream MCP server named an endpoint of another origin",
                  MCP_CALL_UPSTREAM_ERROR, 1);
        return;
    }
    free(endpoint);
    c->state = UP_INITIALIZING;
    static const char body[] =
        "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"initialize\",\"params\":{\"protocolVersion\":"
        "\"2024-11-05\",\"capabilities\":{},\"clientInfo\":{\"name\":\"aigw\",\"version\":"
        "\"" AIGW_VERSION "\"}}}";
    if (post_note(c, body, sizeof body - 1, NOTE_INITIALIZE) < 0)
        conn_lost(c, "out of memory", MCP_CALL_INTERNAL, 1);
}

static void take_init_answer(mcp_upconn *c) {
    json_object *resp = c->init_answer, *result = NULL, *pv = NULL;
    c->init_answer = NULL;
    if (!json_object_object_get_ex(resp, "result", &result) ||
        !json_object_object_get_ex(result, "protocolVersion", &pv) ||
        !json_object_is_type(pv, json_type_string)) {
        gw_log_warn("mcp_upstream_failed", "\"url\":\"%s\",\"step\":\"initialize\",\"status\":200",
                    c->url);
        json_object_put(resp);
        conn_lost(c, "the upstream MCP server could not be initialized", MCP_CALL_UPSTREAM_ERROR,
                  1);
        return;
    }
    snprintf(c->version, sizeof c->version, "%s", json_object_get_string(pv));
    json_object_put(resp);
    static const char note[] = "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}";
    post_note(c, note, sizeof note - 1, NOTE_OTHER);
    c->state = UP_READY;
    up_flush_queue(c);
}

static void answer_server_asks(mcp_upconn *c) {
    size_t n = c->server_ask_count;
    c->server_ask_count = 0;
    for (size_t i = 0; i < n && c->post_url; i++) {
        char body[200];
        int len = c->server_ask_is_ping[i]
                      ? snprintf(body, sizeof body, "{\"jsonrpc\":\"2.0\",\"id\":%s,\"result\":{}}",
                                 c->server_asks[i])
                      : snprintf(body, sizeof body,
                                 "{\"jsonrpc\":\"2.0\",\"id\":%s,\"error\":{\"code\":-32601,"
                                 "\"message\":\"Method not found\"}}",
                                 c->server_asks[i]);
        post_note(c, body, (size_t)len, NOTE_OTHER);
    }
}

static void on_kick(evutil_socket_t fd, short what, void *arg) {
    mcp_upconn *c = arg;
    (void)fd;
    (void)what;
    if (c->endpoint_got && c->state == UP_CONNECTING) take_endpoint(c);
    if (c->init_answer && c->state == UP_INITIALIZING) take_init_answer(c);
    if (c->server_ask_count) answer_server_asks(c);
    if (c->answers_waiting) {
        c->answers_waiting = 0;
        for (size_t i = 0; i < UP_SSE_INFLIGHT; i++) {
            up_post *p = &c->calls[i];
            mcp_upop *op = p->op;
            if (!op || !op->answer) continue;
            post_drop_op(p);
            json_object *answer = op->answer;
            op->answer = NULL;
            up_op_finish(op, answer, NULL, MCP_CALL_OK);
            json_object_put(answer);
        }
        up_flush_queue(c);
    }
}

static void on_timer(evutil_socket_t fd, short what, void *arg) {
    mcp_upconn *c = arg;
    (void)fd;
    (void)what;
    int64_t now = gw_now_ns(), next = INT64_MAX;
    if (c->state == UP_CONNECTING || c->state == UP_INITIALIZING) {
        if (now >= c->setup_deadline_ns) {
            gw_log_warn("mcp_upstream_failed", "\"url\":\"%s\",\"step\":\"%s\",\"why\":\"timeout\"",
                        c->url, c->state == UP_CONNECTING ? "endpoint" : "initialize");
            conn_lost(c, "the upstream MCP server could not be initialized in time",
                      MCP_CALL_TIMEOUT, 1);
            return;
        }
        next = c->setup_deadline_ns;
    }
    for (size_t i = 0; i < UP_SSE_INFLIGHT; i++) {
        up_post *p = &c->calls[i];
        mcp_upop *op = p->op;
        if (!op || op->answer) continue;
        if (op->deadline_ns <= now) {
            post_drop_op(p); /* a late answer finds no one, and is dropped */
            up_op_finish(op, NULL, "the upstream MCP server did not answer in time",
                         MCP_CALL_TIMEOUT);
            continue;
        }
        if (op->deadline_ns < next) next = op->deadline_ns;
    }
    if (next != INT64_MAX) arm(c, next);
    up_flush_queue(c);
}

void up_sse_free(mcp_upconn *c) {
    if (c->transport != GW_MCP_UPSTREAM_SSE) return;
    gw_fetch_cancel(c->stream);
    c->stream = NULL;
    for (size_t i = 0; i < UP_SSE_INFLIGHT; i++) {
        gw_fetch_cancel(c->calls[i].f);
        c->calls[i].f = NULL;
    }
    for (size_t i = 0; i < UP_SSE_NOTES; i++) {
        gw_fetch_cancel(c->notes[i].f);
        c->notes[i].f = NULL;
    }
    gw_sse_free(&c->sse);
    free(c->post_url);
    free(c->endpoint_got);
    json_object_put(c->init_answer);
    if (c->kick) event_free(c->kick);
    if (c->timer) event_free(c->timer);
}
