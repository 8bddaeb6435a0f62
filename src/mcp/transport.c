/* The three MCP transports on one server path, chosen per request by what the client sends:
 *
 * - the stateless revision (2026-07-28): every POST carries its protocol version in
 *   params._meta and mirrors it, the method and the tool name in headers (MCP-Protocol-Version,
 *   Mcp-Method, Mcp-Name), which must match the body; no session, so any worker answers;
 * - Streamable HTTP with sessions (2025-03-26 to 2025-11-25): initialize makes a session whose
 *   id (Mcp-Session-Id) every later POST, the GET event stream and DELETE carry;
 * - the legacy HTTP+SSE transport (2024-11-05): GET <path>/sse holds the session's stream and
 *   names where to POST (<path>/messages?sessionId=...); answers go out on the stream, through
 *   the inbox of the worker that holds it.
 *
 * Every answer to a POST is JSON (the transport lets the server choose), with the caller's id. */
#include <event2/buffer.h>
#include <http_parser.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/clock.h"
#include "core/config.h"
#include "core/log.h"
#include "mcp/mcp.h"
#include "mcp/mcp_internal.h"
#include "security/client_address.h"
#include "store/keyset.h"
#include "upstream/fetch.h"

/* ---------- the exchange and its answer ---------- */

static void on_exchange_abort(gw_http_req *req, void *ud) {
    mcp_exchange *x = ud;
    (void)req;
    x->http = NULL;
    if (x->tool || x->upstream) mcp_call_report(x, MCP_CALL_CLIENT_GONE, 0);
    mcp_exchange_free(x);
}

/* The client's address as filters see it: the peer, or behind trusted proxies the one
 * X-Forwarded-For names; without the port. */
static void client_address(const gw_config *cfg, const gw_http_req *req, char *out, size_t cap) {
    gw_xff_line lines[GW_HTTP_MAX_HEADERS];
    size_t n = 0;
    for (size_t i = 0; cfg->trusted_proxies && i < req->header_count; i++) {
        const gw_http_header *h = &req->headers[i];
        if (h->name_len == 15 && !strncasecmp(h->name, "x-forwarded-for", 15))
            lines[n++] = (gw_xff_line){h->value, h->value_len};
    }
    gw_ip ip;
    if (req->peer_addr &&
        gw_client_address_lines(req->peer_addr, lines, n, cfg->trusted_proxies, &ip) >= 0) {
        gw_ip_format(&ip, out, cap);
        return;
    }
    snprintf(out, cap, "%s", req->peer ? req->peer : "");
}

/* A caller's X-Request-Id is kept when it is short and plain, as for model calls. */
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

mcp_exchange *mcp_exchange_new(gw_mcp_worker *mw, gw_http_req *req, const gw_mcp_server *srv) {
    mcp_exchange *x = mcp_exchange_alloc(mw);
    if (!x) return NULL;
    gw_worker *w = mw->w;
    x->mw = mw;
    x->cfg = gw_config_ref(w->cfg);
    x->srv = srv;
    x->http = req;
    x->t_start = req->start_ns ? req->start_ns : gw_now_ns();
    /* tools/list: the server's own tools and, at most, a whole answer of each upstream */
    x->acc.max = srv->tools_json_len + x->cfg->mcp->max_result_bytes * srv->upstream_count + 65536;
    client_address(x->cfg, req, x->client, sizeof x->client);
    const gw_http_header *rid = gw_http_find_header(req, "x-request-id");
    if (usable_request_id(rid))
        snprintf(x->request_id, sizeof x->request_id, "%.*s", (int)rid->value_len, rid->value);
    else
        snprintf(x->request_id, sizeof x->request_id, "mcp_%08x%02x%012llx", w->id_prefix,
                 w->index & 0xff, (unsigned long long)++w->request_seq);
    const gw_http_header *tp = gw_http_find_header(req, "traceparent");
    gw_trace_begin(&x->trace, tp ? tp->value : NULL, tp ? tp->value_len : 0,
                   gw_fast_random_next(&w->rng), gw_fast_random_next(&w->rng),
                   gw_fast_random_next(&w->rng));
    x->next = mw->exchanges;
    if (mw->exchanges) mw->exchanges->prev = x;
    mw->exchanges = x;
    req->on_abort = on_exchange_abort;
    req->handler_ud = x;
    return x;
}

static void batch_release(mcp_batch *b);

void mcp_exchange_free(mcp_exchange *x) {
    gw_mcp_worker *mw = x->mw;
    mcp_batch *batch = x->batch;
    if (x->prev)
        x->prev->next = x->next;
    else
        mw->exchanges = x->next;
    if (x->next) x->next->prev = x->prev;
    if (x->http) x->http->on_abort = NULL;
    gw_fetch_cancel(x->fetch);
    mcp_upstream_cancel_ops(x);
    gw_strbuf_free(&x->acc);
    gw_jsonrpc_msg_free(&x->msg);
    mcp_caller_release(&x->caller);
    gw_config_unref(x->cfg);
    mcp_exchange_release(mw, x);
    if (batch) {
        batch->children[x->batch_index] = NULL;
        batch_release(batch);
    }
}

static void respond_json(gw_http_req *req, int status, const gw_strbuf *body,
                         const gw_http_header *extra, size_t extra_count) {
    if (body->failed) {
        static const char oom[] =
            "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32603,\"message\":\"the answer "
            "could not be built (out of memory or too large)\"}}";
        gw_http_respond(req, 500, "application/json", oom, sizeof oom - 1, NULL, 0);
        return;
    }
    gw_http_respond(req, status, "application/json", body->data ? body->data : "", body->len, extra,
                    extra_count);
}

static void batch_add(mcp_batch *b, const char *answer, size_t len) {
    gw_strbuf_adds(&b->out, b->answers++ ? "," : "");
    gw_strbuf_add(&b->out, answer, len);
}

static void deliver(mcp_exchange *x, int status, gw_strbuf *body, const gw_http_header *extra,
                    size_t extra_count) {
    if (x->batch) {
        if (!body->failed) {
            batch_add(x->batch, body->data, body->len);
        } else {
            gw_strbuf err = {0};
            gw_jsonrpc_write_error(&err, x->msg.id, GW_JSONRPC_INTERNAL_ERROR,
                                   "the answer could not be built (out of memory or too large)",
                                   NULL);
            batch_add(x->batch, err.data, err.len);
            gw_strbuf_free(&err);
        }
    } else if (x->mode == MCP_MODE_SSE) {
        if (!body->failed) mcp_send_to_session(x->mw, x->session, body->data, body->len);
    } else if (x->http) {
        gw_http_req *req = x->http;
        req->on_abort = NULL;
        x->http = NULL;
        respond_json(req, status, body, extra, extra_count);
    }
}

void mcp_result_tail(const mcp_exchange *x, gw_strbuf *out) {
    if (x->version < GW_MCP_FIRST_MODERN) return;
    gw_strbuf_adds(out, ",\"resultType\":\"complete\",\"_meta\":{\"io.modelcontextprotocol/"
                        "serverInfo\":{\"name\":");
    gw_strbuf_adds(out, x->srv->name_json);
    gw_strbuf_adds(out, ",\"version\":\"" AIGW_VERSION "\"}}");
}

void mcp_reply_result(mcp_exchange *x, const char *result_json, size_t len) {
    gw_strbuf out = {0};
    gw_jsonrpc_write_result(&out, x->msg.id, result_json, len);
    deliver(x, 200, &out, NULL, 0);
    gw_strbuf_free(&out);
    mcp_exchange_free(x);
}

void mcp_reply_error(mcp_exchange *x, int http_status, int code, const char *message,
                     const char *data_json) {
    gw_strbuf out = {0};
    gw_jsonrpc_write_error(&out, x->msg.id, code, message, data_json);
    deliver(x, http_status, &out, NULL, 0);
    gw_strbuf_free(&out);
    mcp_exchange_free(x);
}

/* An error before an exchange exists (no id known, or none usable). */
static void respond_error(gw_http_req *req, int status, json_object *id, int code,
                          const char *message, const gw_http_header *extra, size_t extra_count) {
    gw_strbuf out = {0};
    gw_jsonrpc_write_error(&out, id, code, message, NULL);
    respond_json(req, status, &out, extra, extra_count);
    gw_strbuf_free(&out);
}

static int64_t idle_ns(const gw_config *cfg) {
    return (int64_t)cfg->mcp->session_idle_ms * 1000000;
}

/* ---------- checks every request passes ---------- */

static int origin_allowed(const gw_config *cfg, const gw_http_req *req) {
    const gw_http_header *o = gw_http_find_header(req, "origin");
    if (!o) return 1; /* not a browser */
    const char *host = memmem(o->value, o->value_len, "://", 3);
    if (!host) return 0;
    host += 3;
    size_t hlen = o->value_len - (size_t)(host - o->value);
    const gw_http_header *h = gw_http_find_header(req, "host");
    if (h && h->value_len == hlen && !strncasecmp(h->value, host, hlen)) return 1;
    for (size_t i = 0; i < cfg->mcp->allowed_origin_count; i++) {
        const char *a = cfg->mcp->allowed_origins[i];
        if ((strlen(a) == o->value_len && !strncasecmp(a, o->value, o->value_len)) ||
            !strcmp(a, "*"))
            return 1;
    }
    return 0;
}

/* Authentication and the Origin check (DNS rebinding), answered here when either fails. */
static int admit(gw_worker *w, gw_http_req *req, mcp_caller *caller) {
    const gw_config *cfg = w->cfg;
    if (!origin_allowed(cfg, req)) {
        respond_error(req, 403, NULL, GW_MCP_REFUSED,
                      "Forbidden: this Origin may not call the MCP server (mcp.allowed_origins)",
                      NULL, 0);
        return 0;
    }
    if (mcp_authenticate(w, cfg, req, caller) < 0) {
        static const gw_http_header www[] = {{"WWW-Authenticate", "Bearer", 16, 6}};
        respond_error(req, 401, NULL, GW_MCP_REFUSED,
                      "Unauthorized: a valid API key is required (Authorization: Bearer <key>)",
                      www, 1);
        return 0;
    }
    return 1;
}

static const char *header_value(const gw_http_req *req, const char *name, size_t *len) {
    const gw_http_header *h = gw_http_find_header(req, name);
    if (!h) return NULL;
    *len = h->value_len;
    return h->value;
}

static int b64val(int c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62;
    if (c == '/' || c == '_') return 63;
    return -1;
}

/* A header value as the stateless revision encodes it: plain, or =?base64?...?= */
static int decode_mirrored(const char *v, size_t len, char *out, size_t cap, size_t *outlen) {
    if (len >= 11 && !memcmp(v, "=?base64?", 9) && !memcmp(v + len - 2, "?=", 2)) {
        size_t n = 0;
        unsigned acc = 0;
        int bits = 0;
        for (size_t i = 9; i < len - 2; i++) {
            if (v[i] == '=') break;
            int d = b64val((unsigned char)v[i]);
            if (d < 0) return -1;
            acc = acc << 6 | (unsigned)d;
            bits += 6;
            if (bits >= 8) {
                bits -= 8;
                if (n == cap) return -1;
                out[n++] = (char)(acc >> bits & 0xFF);
            }
        }
        *outlen = n;
        return 0;
    }
    if (len > cap) return -1;
    memcpy(out, v, len);
    *outlen = len;
    return 0;
}

static json_object *meta_field(json_object *params, const char *key) {
    json_object *meta = NULL, *v = NULL;
    if (!params || !json_object_object_get_ex(params, "_meta", &meta) ||
        !json_object_is_type(meta, json_type_object) || !json_object_object_get_ex(meta, key, &v))
        return NULL;
    return v;
}

/* The stateless revision's header-body agreement (HeaderMismatch, -32020, with a 400). */
static int headers_match(mcp_exchange *x, const char *version, size_t vlen, char *err,
                         size_t errlen) {
    size_t len;
    const char *h = header_value(x->http, "mcp-protocol-version", &len);
    if (!h || len != vlen || memcmp(h, version, vlen)) {
        snprintf(err, errlen,
                 "Header mismatch: MCP-Protocol-Version must be present and equal _meta's "
                 "io.modelcontextprotocol/protocolVersion (%.*s)",
                 (int)vlen, version);
        return 0;
    }
    h = header_value(x->http, "mcp-method", &len);
    if (!h || len != strlen(x->msg.method) || memcmp(h, x->msg.method, len)) {
        snprintf(err, errlen,
                 "Header mismatch: Mcp-Method must be present and equal the body's "
                 "method");
        return 0;
    }
    const char *field =
        !strcmp(x->msg.method, "tools/call") || !strcmp(x->msg.method, "prompts/get") ? "name"
        : !strcmp(x->msg.method, "resources/read")                                    ? "uri"
                                                                                      : NULL;
    if (!field) return 1;
    json_object *v = NULL;
    const char *want = x->msg.params && json_object_object_get_ex(x->msg.params, field, &v) &&
                               json_object_is_type(v, json_type_string)
                           ? json_object_get_string(v)
                           : NULL;
    h = header_value(x->http, "mcp-name", &len);
    char name[512];
    size_t nlen;
    if (!want || !h || decode_mirrored(h, len, name, sizeof name, &nlen) < 0 ||
        nlen != strlen(want) || memcmp(name, want, nlen)) {
        snprintf(err, errlen, "Header mismatch: Mcp-Name must be present and equal params.%s",
                 field);
        return 0;
    }
    return 1;
}

static void supported_versions_json(gw_strbuf *out, int modern) {
    gw_strbuf_adds(out, "[");
    int first = 1;
    for (int i = GW_MCP_VERSIONS - 1; i >= 0; i--) {
        if (modern && i < GW_MCP_FIRST_MODERN) continue;
        gw_strbuf_adds(out, first ? "\"" : ",\"");
        gw_strbuf_adds(out, gw_mcp_versions[i]);
        gw_strbuf_adds(out, "\"");
        first = 0;
    }
    gw_strbuf_adds(out, "]");
}

/* ---------- JSON-RPC batches ---------- */

static void batch_release(mcp_batch *b) {
    if (--b->live) return;
    gw_strbuf_adds(&b->out, "]");
    if (b->mode == MCP_MODE_SSE) {
        if (b->answers && !b->out.failed)
            mcp_send_to_session(b->mw, b->session, b->out.data, b->out.len);
    } else if (b->http) {
        gw_http_req *req = b->http;
        b->http = NULL;
        req->on_abort = NULL;
        if (b->answers)
            respond_json(req, 200, &b->out, NULL, 0);
        else /* notifications and responses only */
            gw_http_respond(req, 202, NULL, NULL, 0, NULL, 0);
    }
    gw_strbuf_free(&b->out);
    free(b);
}

/* The client left: what still runs is cancelled. */
static void on_batch_abort(gw_http_req *req, void *ud) {
    mcp_batch *b = ud;
    (void)req;
    b->http = NULL;
    b->live++; /* held while its exchanges go */
    for (size_t i = 0; i < b->count; i++) {
        mcp_exchange *c = b->children[i];
        if (!c) continue;
        if (c->tool || c->upstream) mcp_call_report(c, MCP_CALL_CLIENT_GONE, 0);
        mcp_exchange_free(c);
    }
    batch_release(b);
}

static void batch_error(mcp_batch *b, json_object *id, int code, const char *message) {
    gw_strbuf err = {0};
    gw_jsonrpc_write_error(&err, id, code, message, NULL);
    batch_add(b, err.data ? err.data : "", err.len);
    gw_strbuf_free(&err);
}

/* Runs the batch x holds (its revision allows one): each request as an exchange of its own with
 * x's caller, mode, session and trace; x is freed. Each answer joins the batch's array; element
 * errors are answered in it (with the element's id when it had one). */
static void run_batch(mcp_exchange *x) {
    gw_http_req *req = x->http;
    json_object *messages = x->msg.root;
    size_t n = json_object_array_length(messages);
    mcp_batch *b = calloc(1, sizeof *b);
    if (!b) {
        mcp_reply_error(x, 503, GW_JSONRPC_INTERNAL_ERROR, "out of memory", NULL);
        return;
    }
    b->mw = x->mw;
    b->mode = x->mode;
    b->session = x->session;
    b->http = x->mode == MCP_MODE_SSE ? NULL : req;
    b->out.max = (x->cfg->mcp->max_result_bytes * 2 + 4096) * n + 64;
    b->live = 1;
    gw_strbuf_adds(&b->out, "[");
    for (size_t i = 0; i < n; i++) {
        gw_jsonrpc_msg m;
        char err[300];
        int code = gw_jsonrpc_from_object(json_object_get(json_object_array_get_idx(messages, i)),
                                          &m, err, sizeof err);
        if (!code && m.kind == GW_JSONRPC_REQUEST && !strcmp(m.method, "initialize")) {
            code = GW_JSONRPC_INVALID_REQUEST;
            snprintf(err, sizeof err, "Invalid Request: initialize must not be part of a batch");
        }
        if (code || m.kind != GW_JSONRPC_REQUEST) { /* notifications, responses: no answer */
            if (code) batch_error(b, m.id, code, err);
            gw_jsonrpc_msg_free(&m);
            continue;
        }
        mcp_exchange *c = mcp_exchange_new(x->mw, req, x->srv);
        if (!c) {
            batch_error(b, m.id, GW_JSONRPC_INTERNAL_ERROR, "out of memory");
            gw_jsonrpc_msg_free(&m);
            continue;
        }
        c->http = NULL;
        c->msg = m;
        c->mode = x->mode;
        c->version = x->version;
        c->session = x->session;
        c->caller = x->caller;
        if (c->caller.keyset) gw_keyset_ref(c->caller.keyset);
        /* one trace for the batch, a span for each of its calls */
        memcpy(c->trace.trace_id, x->trace.trace_id, sizeof c->trace.trace_id);
        memcpy(c->trace.parent_id, x->trace.parent_id, sizeof c->trace.parent_id);
        c->trace.flags = x->trace.flags;
        c->batch = b;
        c->batch_index = b->count;
        b->children[b->count++] = c;
        b->live++;
        req->on_abort = b->http ? on_batch_abort : NULL;
        req->handler_ud = b;
        mcp_dispatch(c);
    }
    req->on_abort = b->http ? on_batch_abort : NULL;
    req->handler_ud = b;
    x->http = NULL;
    mcp_exchange_free(x);
    batch_release(b);
}

/* Whether the revision takes batches (2025-03-26 and before); otherwise answered -32600. */
static int batch_allowed(mcp_exchange *x) {
    if (x->version <= GW_MCP_V2025_03_26) return 1;
    char msg[200];
    snprintf(msg, sizeof msg,
             "Invalid Request: JSON-RPC batches are not part of protocol revision %s (only "
             "2025-03-26 and 2024-11-05 take them); send one message per request",
             gw_mcp_versions[x->version]);
    mcp_reply_error(x, 400, GW_JSONRPC_INVALID_REQUEST, msg, NULL);
    return 0;
}

static int batch_size_ok(mcp_exchange *x) {
    size_t n = json_object_array_length(x->msg.root);
    if (n >= 1 && n <= MCP_BATCH_MAX) return 1;
    char msg[120];
    if (n)
        snprintf(msg, sizeof msg, "Invalid Request: a batch holds at most %d messages",
                 MCP_BATCH_MAX);
    else
        snprintf(msg, sizeof msg, "Invalid Request: an empty batch");
    mcp_reply_error(x, 400, GW_JSONRPC_INVALID_REQUEST, msg, NULL);
    return 0;
}

/* POST <path> with an array: only within a session of a revision that takes batches. */
static void post_batch(gw_worker *w, mcp_exchange *x) {
    gw_http_req *req = x->http;
    if (!batch_size_ok(x)) return;
    size_t hlen = 0, slen = 0;
    const char *hver = header_value(req, "mcp-protocol-version", &hlen);
    const char *sid = header_value(req, "mcp-session-id", &slen);
    if (hver && gw_mcp_version_is_modern_shape(hver, hlen)) {
        x->version = GW_MCP_FIRST_MODERN;
        batch_allowed(x);
        return;
    }
    if (!sid) {
        mcp_reply_error(x, 400, GW_JSONRPC_INVALID_REQUEST,
                        "Bad Request: a batch needs a session (Mcp-Session-Id) of revision "
                        "2025-03-26; initialize is sent alone, first",
                        NULL);
        return;
    }
    gw_mcp_session_info info;
    if (gw_mcp_session_find(sid, slen, x->srv->id, gw_wall_ns(), idle_ns(w->cfg), &x->session,
                            &info) < 0 ||
        info.kind != GW_MCP_SESSION_STREAMABLE) {
        mcp_reply_error(x, 404, GW_MCP_REFUSED,
                        "Session not found: it ended or expired; initialize a new one", NULL);
        return;
    }
    x->mode = MCP_MODE_SESSION;
    x->version = info.version;
    if (batch_allowed(x)) run_batch(x);
}

/* ---------- POST <path> ---------- */

static void reply_created(mcp_exchange *x, const char *session_id);

/* initialize's version: the client's when it is one of the session revisions, else the latest
 * of them (the client then decides whether it can speak it). */
static int negotiate(const mcp_exchange *x) {
    json_object *pv = NULL;
    if (x->msg.params && json_object_object_get_ex(x->msg.params, "protocolVersion", &pv) &&
        json_object_is_type(pv, json_type_string)) {
        int v =
            gw_mcp_version_find(json_object_get_string(pv), (size_t)json_object_get_string_len(pv));
        if (v >= 0 && v <= GW_MCP_LATEST_LEGACY) return v;
    }
    return GW_MCP_LATEST_LEGACY;
}

static void answer_initialize(mcp_exchange *x, const char *session_id) {
    x->version = negotiate(x);
    if (x->mode == MCP_MODE_SSE) gw_mcp_session_set_version(x->session, x->version);
    reply_created(x, session_id);
}

static void reply_created(mcp_exchange *x, const char *session_id) {
    gw_strbuf result = {0};
    gw_strbuf_adds(&result, "{\"protocolVersion\":\"");
    gw_strbuf_adds(&result, gw_mcp_versions[x->version]);
    gw_strbuf_adds(&result, "\",\"capabilities\":{\"tools\":{\"listChanged\":false}},"
                            "\"serverInfo\":{\"name\":");
    gw_strbuf_adds(&result, x->srv->name_json);
    gw_strbuf_adds(&result, ",\"version\":\"" AIGW_VERSION "\"}");
    if (x->srv->instructions) {
        gw_strbuf_adds(&result, ",\"instructions\":\"");
        gw_strbuf_add_json_escaped(&result, x->srv->instructions, strlen(x->srv->instructions));
        gw_strbuf_adds(&result, "\"");
    }
    gw_strbuf_adds(&result, "}");
    gw_strbuf out = {0};
    gw_jsonrpc_write_result(&out, x->msg.id, result.data, result.len);
    gw_http_header hdr[1] = {
        {"Mcp-Session-Id", session_id, 14, session_id ? strlen(session_id) : 0}};
    deliver(x, 200, &out, hdr, session_id ? 1 : 0);
    gw_strbuf_free(&out);
    gw_strbuf_free(&result);
    mcp_exchange_free(x);
}

static void create_session(gw_worker *w, mcp_exchange *x) {
    const gw_mcp_conf *mc = x->cfg->mcp;
    gw_mcp_session_info info = {.kind = GW_MCP_SESSION_STREAMABLE,
                                .version = negotiate(x),
                                .server_id = x->srv->id,
                                .home = w->index};
    char id[GW_MCP_SESSION_ID_LEN + 1];
    if (gw_mcp_session_create(mc->max_sessions, &info, gw_wall_ns(), &x->session, id) < 0) {
        gw_log_warn("mcp_sessions_full", "\"server\":%s,\"max_sessions\":%d", x->srv->name_json,
                    mc->max_sessions);
        mcp_reply_error(x, 503, GW_MCP_BUSY,
                        "Service unavailable: too many open MCP sessions (mcp.max_sessions); "
                        "end one (DELETE) or use the stateless revision",
                        NULL);
        return;
    }
    mcp_home_add(x->mw, x->session.slot);
    x->mode = MCP_MODE_SESSION;
    answer_initialize(x, id);
}

/* A POST's exchange, the caller handed to it and its body parsed; NULL when it was answered
 * already (503 out of memory, or 400 with the JSON-RPC error of a body that is not a message:
 * on the POST itself, as there is no id to answer anywhere else). */
static mcp_exchange *begin_exchange(gw_worker *w, gw_http_req *req, const gw_mcp_server *srv,
                                    mcp_caller *caller) {
    mcp_exchange *x = mcp_exchange_new(w->mcp, req, srv);
    if (!x) {
        mcp_caller_release(caller);
        respond_error(req, 503, NULL, GW_JSONRPC_INTERNAL_ERROR, "out of memory", NULL, 0);
        return NULL;
    }
    x->caller = *caller;
    size_t len = evbuffer_get_length(req->body);
    const char *body = len ? (const char *)evbuffer_pullup(req->body, -1) : "";
    char err[600];
    int code = gw_jsonrpc_parse_with(w->tokener, body, len, &x->msg, err, sizeof err);
    if (code) {
        mcp_reply_error(x, 400, code, err, NULL);
        return NULL;
    }
    return x;
}

static void on_post(void *ctx, gw_http_req *req, const gw_http_route *rt, const char *rest,
                    size_t rest_len) {
    gw_worker *w = ctx;
    const gw_mcp_server *srv = rt->data;
    (void)rest;
    (void)rest_len;
    mcp_caller caller;
    if (!admit(w, req, &caller)) return;
    mcp_exchange *x = begin_exchange(w, req, srv, &caller);
    if (!x) return;
    if (x->msg.kind == GW_JSONRPC_BATCH) {
        post_batch(w, x);
        return;
    }
    if (x->msg.kind == GW_JSONRPC_RESPONSE) { /* an answer to a request this server never sent */
        gw_http_respond(req, 202, NULL, NULL, 0, NULL, 0);
        x->http = NULL;
        mcp_exchange_free(x);
        return;
    }
    json_object *mv = meta_field(x->msg.params, "io.modelcontextprotocol/protocolVersion");
    size_t hlen = 0;
    const char *hver = header_value(req, "mcp-protocol-version", &hlen);
    int modern = (mv && json_object_is_type(mv, json_type_string)) ||
                 (hver && gw_mcp_version_is_modern_shape(hver, hlen));
    if (modern) {
        if (!mv || !json_object_is_type(mv, json_type_string)) {
            mcp_reply_error(x, 400, GW_JSONRPC_INVALID_PARAMS,
                            "Invalid params: the stateless revision needs "
                            "params._meta[\"io.modelcontextprotocol/protocolVersion\"]",
                            NULL);
            return;
        }
        const char *ver = json_object_get_string(mv);
        size_t vlen = (size_t)json_object_get_string_len(mv);
        int v = gw_mcp_version_find(ver, vlen);
        if (v < GW_MCP_FIRST_MODERN) {
            gw_strbuf data = {0};
            gw_strbuf_adds(&data, "{\"supported\":");
            supported_versions_json(&data, 1);
            gw_strbuf_adds(&data, ",\"requested\":\"");
            gw_strbuf_add_json_escaped(&data, ver, vlen > 64 ? 64 : vlen);
            gw_strbuf_adds(&data, "\"}");
            gw_strbuf_add(&data, "", 1);
            char *text = data.failed ? NULL : data.data;
            mcp_reply_error(x, 400, GW_MCP_UNSUPPORTED_VERSION, "Unsupported protocol version",
                            text);
            gw_strbuf_free(&data);
            return;
        }
        char err[600];
        if (!headers_match(x, ver, vlen, err, sizeof err)) {
            mcp_reply_error(x, 400, GW_MCP_HEADER_MISMATCH, err, NULL);
            return;
        }
        x->mode = MCP_MODE_STATELESS;
        x->version = v;
    } else if (!strcmp(x->msg.method, "initialize")) {
        if (x->msg.kind != GW_JSONRPC_REQUEST) {
            mcp_reply_error(x, 400, GW_JSONRPC_INVALID_REQUEST,
                            "Invalid Request: initialize must be a request (with an id)", NULL);
            return;
        }
        create_session(w, x);
        return;
    } else {
        size_t slen = 0;
        const char *sid = header_value(req, "mcp-session-id", &slen);
        gw_mcp_session_info info;
        if (!sid) {
            mcp_reply_error(x, 400, GW_JSONRPC_INVALID_REQUEST,
                            "Bad Request: no Mcp-Session-Id header; send initialize first, or "
                            "use the stateless revision (2026-07-28) with _meta",
                            NULL);
            return;
        }
        if (gw_mcp_session_find(sid, slen, srv->id, gw_wall_ns(), idle_ns(w->cfg), &x->session,
                                &info) < 0 ||
            info.kind != GW_MCP_SESSION_STREAMABLE) {
            mcp_reply_error(x, 404, GW_MCP_REFUSED,
                            "Session not found: it ended or expired; initialize a new one", NULL);
            return;
        }
        if (hver && (gw_mcp_version_find(hver, hlen) < 0 ||
                     gw_mcp_version_find(hver, hlen) > GW_MCP_LATEST_LEGACY)) {
            mcp_reply_error(x, 400, GW_JSONRPC_INVALID_REQUEST,
                            "Bad Request: unsupported MCP-Protocol-Version", NULL);
            return;
        }
        x->mode = MCP_MODE_SESSION;
        x->version = info.version;
    }
    if (x->msg.kind == GW_JSONRPC_NOTIFICATION) {
        gw_http_respond(req, 202, NULL, NULL, 0, NULL, 0);
        x->http = NULL;
        mcp_exchange_free(x);
        return;
    }
    mcp_dispatch(x);
}

/* ---------- GET and DELETE <path> ---------- */

static int find_session_of(gw_worker *w, gw_http_req *req, const gw_mcp_server *srv,
                           gw_mcp_session_ref *ref, gw_mcp_session_kind kind) {
    size_t slen = 0;
    const char *sid = header_value(req, "mcp-session-id", &slen);
    gw_mcp_session_info info;
    if (!sid) {
        static const gw_http_header allow[] = {{"Allow", "POST", 5, 4}};
        respond_error(req, 405, NULL, GW_JSONRPC_INVALID_REQUEST,
                      "Method not allowed without an Mcp-Session-Id: the stateless revision "
                      "takes POST only",
                      allow, 1);
        return -1;
    }
    if (gw_mcp_session_find(sid, slen, srv->id, gw_wall_ns(), idle_ns(w->cfg), ref, &info) < 0 ||
        info.kind != kind) {
        respond_error(req, 404, NULL, GW_MCP_REFUSED, "Session not found", NULL, 0);
        return -1;
    }
    return 0;
}

static void on_get(void *ctx, gw_http_req *req, const gw_http_route *rt, const char *rest,
                   size_t rest_len) {
    gw_worker *w = ctx;
    (void)rest;
    (void)rest_len;
    mcp_caller caller;
    if (!admit(w, req, &caller)) return;
    mcp_caller_release(&caller);
    gw_mcp_session_ref ref;
    if (find_session_of(w, req, rt->data, &ref, GW_MCP_SESSION_STREAMABLE) < 0) return;
    if (w->draining) {
        respond_error(req, 503, NULL, GW_MCP_BUSY, "the gateway is shutting down", NULL, 0);
        return;
    }
    int rc = gw_mcp_session_attach_stream(ref, w->index);
    if (rc == -2) {
        respond_error(req, 409, NULL, GW_JSONRPC_INVALID_REQUEST,
                      "Conflict: this session's event stream is open already", NULL, 0);
        return;
    }
    if (rc < 0) {
        respond_error(req, 404, NULL, GW_MCP_REFUSED, "Session not found", NULL, 0);
        return;
    }
    if (!mcp_stream_open(w->mcp, req, ref, GW_MCP_SESSION_STREAMABLE, NULL, 0)) {
        gw_mcp_session_detach_stream(ref, w->index);
        respond_error(req, 503, NULL, GW_JSONRPC_INTERNAL_ERROR, "out of memory", NULL, 0);
    }
}

static void on_delete(void *ctx, gw_http_req *req, const gw_http_route *rt, const char *rest,
                      size_t rest_len) {
    gw_worker *w = ctx;
    (void)rest;
    (void)rest_len;
    mcp_caller caller;
    if (!admit(w, req, &caller)) return;
    mcp_caller_release(&caller);
    gw_mcp_session_ref ref;
    if (find_session_of(w, req, rt->data, &ref, GW_MCP_SESSION_STREAMABLE) < 0) return;
    mcp_close_session(ref);
    gw_http_respond(req, 200, NULL, NULL, 0, NULL, 0);
}

/* ---------- legacy HTTP+SSE: GET <path>/sse, POST <path>/messages ---------- */

static void on_sse(void *ctx, gw_http_req *req, const gw_http_route *rt, const char *rest,
                   size_t rest_len) {
    gw_worker *w = ctx;
    const gw_mcp_server *srv = rt->data;
    (void)rest;
    (void)rest_len;
    mcp_caller caller;
    if (!admit(w, req, &caller)) return;
    mcp_caller_release(&caller);
    if (w->draining) {
        respond_error(req, 503, NULL, GW_MCP_BUSY, "the gateway is shutting down", NULL, 0);
        return;
    }
    gw_mcp_session_info info = {.kind = GW_MCP_SESSION_SSE,
                                .version = GW_MCP_V2024_11_05,
                                .server_id = srv->id,
                                .home = w->index};
    gw_mcp_session_ref ref;
    char id[GW_MCP_SESSION_ID_LEN + 1];
    if (gw_mcp_session_create(w->cfg->mcp->max_sessions, &info, gw_wall_ns(), &ref, id) < 0) {
        respond_error(req, 503, NULL, GW_MCP_BUSY,
                      "Service unavailable: too many open MCP sessions (mcp.max_sessions)", NULL,
                      0);
        return;
    }
    mcp_home_add(w->mcp, ref.slot);
    if (gw_mcp_session_attach_stream(ref, w->index) < 0) {
        respond_error(req, 503, NULL, GW_JSONRPC_INTERNAL_ERROR, "session lost", NULL, 0);
        return;
    }
    char event[GW_MCP_SESSION_ID_LEN + 600];
    int n = snprintf(event, sizeof event, "event: endpoint\ndata: %s?sessionId=%s\n\n",
                     srv->sse_post_path, id);
    if (!mcp_stream_open(w->mcp, req, ref, GW_MCP_SESSION_SSE, event, (size_t)n)) {
        gw_mcp_session_detach_stream(ref, w->index);
        gw_mcp_session_close(ref);
        respond_error(req, 503, NULL, GW_JSONRPC_INTERNAL_ERROR, "out of memory", NULL, 0);
    }
}

static const char *query_param(const gw_http_req *req, const char *name, size_t *len) {
    size_t nlen = strlen(name);
    for (size_t i = 0; req->query && i < req->query_len;) {
        const char *p = req->query + i;
        const char *amp = memchr(p, '&', req->query_len - i);
        size_t plen = amp ? (size_t)(amp - p) : req->query_len - i;
        if (plen > nlen && p[nlen] == '=' && !memcmp(p, name, nlen)) {
            *len = plen - nlen - 1;
            return p + nlen + 1;
        }
        i += plen + 1;
    }
    return NULL;
}

static void on_sse_post(void *ctx, gw_http_req *req, const gw_http_route *rt, const char *rest,
                        size_t rest_len) {
    gw_worker *w = ctx;
    const gw_mcp_server *srv = rt->data;
    (void)rest;
    (void)rest_len;
    mcp_caller caller;
    if (!admit(w, req, &caller)) return;
    size_t slen = 0;
    const char *sid = query_param(req, "sessionId", &slen);
    gw_mcp_session_ref ref;
    gw_mcp_session_info info;
    if (!sid ||
        gw_mcp_session_find(sid, slen, srv->id, gw_wall_ns(), idle_ns(w->cfg), &ref, &info) < 0 ||
        info.kind != GW_MCP_SESSION_SSE) {
        mcp_caller_release(&caller);
        respond_error(req, 404, NULL, GW_MCP_REFUSED, "Session not found", NULL, 0);
        return;
    }
    mcp_exchange *x = begin_exchange(w, req, srv, &caller);
    if (!x) return;
    x->session = ref;
    x->version = info.version;
    if (x->msg.kind == GW_JSONRPC_BATCH) {
        /* refused on the POST itself; else its exchanges are made while the request is here,
         * and the array goes out on the stream */
        if (!batch_size_ok(x) || !batch_allowed(x)) return;
        x->mode = MCP_MODE_SSE;
        run_batch(x);
        req->on_abort = NULL;
        gw_http_respond(req, 202, "text/plain", "Accepted", 8, NULL, 0);
        return;
    }
    /* accepted: the answer goes out on the session's stream */
    x->mode = MCP_MODE_SSE;
    x->http = NULL;
    req->on_abort = NULL;
    gw_http_respond(req, 202, "text/plain", "Accepted", 8, NULL, 0);
    if (x->msg.kind != GW_JSONRPC_REQUEST) {
        mcp_exchange_free(x);
        return;
    }
    if (!strcmp(x->msg.method, "initialize")) {
        answer_initialize(x, NULL);
        return;
    }
    mcp_dispatch(x);
}

/* ---------- the routes of a server ---------- */

const gw_http_route_handler gw_mcp_route_handlers[] = {
    [GW_MCP_ROUTE_POST] = on_post,         [GW_MCP_ROUTE_GET] = on_get,
    [GW_MCP_ROUTE_DELETE] = on_delete,     [GW_MCP_ROUTE_SSE] = on_sse,
    [GW_MCP_ROUTE_SSE_POST] = on_sse_post,
};
