/* What the files of src/mcp/ share: a worker's MCP state, one JSON-RPC exchange (a POST, or a
 * message of a legacy SSE session) and its answer, a held event stream. Internal to src/mcp/. */
#ifndef AIGW_MCP_INTERNAL_H
#define AIGW_MCP_INTERNAL_H

#include <stdatomic.h>
#include <stdint.h>

#include "core/drain_watch.h"
#include "core/http_server.h"
#include "core/strbuf.h"
#include "core/trace_context.h"
#include "core/worker-t.h"
#include "mcp/jsonrpc.h"
#include "mcp/mcp.h"
#include "mcp/mcp-t.h"
#include "mcp/mcp_worker.h"
#include "mcp/protocol.h"
#include "mcp/session.h"
#include "security/ratelimit.h"

struct event;
struct gw_key;
struct gw_keyset;
typedef struct gw_fetch gw_fetch;
typedef struct mcp_upconn mcp_upconn;
typedef struct mcp_upop mcp_upop;

enum {
    MCP_INBOX_CAP = 1024,
    MCP_SPARE_MAX = 64,
    /* a stream whose client reads nothing while this much more is queued for it ends: the
     * answers of a legacy SSE session are never dropped silently, nor kept without bound */
    MCP_STREAM_BEHIND_MAX = 32 << 20,
};

typedef enum { MCP_NOTE_WRITE, MCP_NOTE_CLOSE } mcp_note_kind;

/* What one worker sends another: bytes for a stream it holds, or "end that stream". */
typedef struct mcp_note {
    mcp_note_kind kind;
    gw_mcp_session_ref ref;
    char *data; /* malloc'd, the receiver frees it */
    size_t len;
} mcp_note;

typedef struct mcp_cell {
    _Atomic size_t seq;
    mcp_note note;
} mcp_cell;

/* A bounded multi-producer queue (Vyukov's): any worker posts, the owner takes. */
typedef struct mcp_inbox {
    mcp_cell cells[MCP_INBOX_CAP];
    _Atomic size_t head, tail;
    struct gw_wake *wake; /* the owner's eventfd: its loop takes no lock (core/wake.h) */
} mcp_inbox;

/* An event stream held open: a Streamable HTTP session's GET, or a legacy SSE session. */
typedef struct mcp_stream {
    gw_mcp_worker *mw;
    gw_http_req *http;
    gw_mcp_session_ref ref;
    gw_mcp_session_kind kind;
    gw_drain_watch watch;
    size_t behind; /* bytes written while the client was behind (since it last caught up) */
    struct mcp_stream *prev, *next;
} mcp_stream;

/* Who called: from the API key or token (auth:), for permissions, limits and logs. */
typedef struct mcp_caller {
    const struct gw_key *key; /* NULL: no key (auth off, or a JWT) */
    struct gw_keyset *keyset; /* a reference to the store snapshot key lives in, or NULL */
    char subject[128];        /* the key's id or the token's sub; "" when anonymous */
    char tenant[128], project[128];
} mcp_caller;

typedef enum { MCP_MODE_STATELESS, MCP_MODE_SESSION, MCP_MODE_SSE } mcp_mode;

/* How a tool call ended: the word of its log line, and its request record's status and error
 * code (methods.c has the table). A result with isError is a 200; a failure the caller reads as
 * an isError result (the upstream could not be reached, timed out) keeps the failure's status,
 * so error rates see it. */
typedef enum {
    MCP_CALL_OK,             /* 200 */
    MCP_CALL_TOOL_ERROR,     /* 200 tool_error: the REST API's HTTP error, the upstream's isError,
                                arguments failing the schema (2025-11-25 on) */
    MCP_CALL_INVALID_ARGS,   /* 400 invalid_arguments: a JSON-RPC -32602 */
    MCP_CALL_FORBIDDEN,      /* 403 model_not_allowed */
    MCP_CALL_RATE_LIMITED,   /* 429 rate_limit_exceeded */
    MCP_CALL_CLIENT_GONE,    /* 499 client_closed */
    MCP_CALL_UNREACHABLE,    /* 502 upstream_unreachable */
    MCP_CALL_TOO_LARGE,      /* 502 upstream_too_large */
    MCP_CALL_UPSTREAM_ERROR, /* 502 upstream_error: a JSON-RPC error or no answer of the kind */
    MCP_CALL_BUSY,           /* 503 upstream_busy: too many calls wait for the upstream */
    MCP_CALL_INTERNAL,       /* 503 server_error: out of memory */
    MCP_CALL_TIMEOUT,        /* 504 upstream_timeout */
} mcp_call_outcome;

enum { MCP_BATCH_MAX = 64 }; /* messages in one JSON-RPC batch */

/* A JSON-RPC batch (2025-03-26 and the legacy 2024-11-05): each request of it runs as an
 * exchange of its own, each answer is added to one array, sent when the last one ended (the
 * POST's answer, or one event on a legacy session's stream). */
typedef struct mcp_exchange mcp_exchange;
typedef struct mcp_batch {
    gw_http_req *http; /* NULL: a legacy SSE session's (or the client left) */
    gw_mcp_worker *mw;
    mcp_mode mode;
    gw_mcp_session_ref session;
    gw_strbuf out; /* "[" and the answers so far */
    size_t answers;
    size_t live; /* exchanges not yet ended, and one while it is being made */
    mcp_exchange *children[MCP_BATCH_MAX];
    size_t count;
} mcp_batch;

struct mcp_exchange {
    gw_mcp_worker *mw;
    gw_config *cfg; /* a reference: the snapshot the exchange began with */
    const gw_mcp_server *srv;
    gw_http_req *http; /* NULL once answered (SSE: at once, 202) or when the client left */
    mcp_mode mode;
    int version;
    gw_mcp_session_ref session;
    gw_jsonrpc_msg msg;
    mcp_caller caller;
    char client[48]; /* the client's address (X-Forwarded-For's behind trusted proxies) */
    char request_id[40];
    gw_trace trace;   /* the exchange's span; upstream requests name it as their parent */
    mcp_batch *batch; /* the JSON-RPC batch it answers into, or NULL */
    size_t batch_index;
    /* a tool call in flight */
    const gw_mcp_tool *tool;
    const gw_mcp_upstream *upstream;
    char tool_name[GW_MCP_NAME_MAX * 2 + 2];
    gw_fetch *fetch;
    mcp_upop *ops[GW_MCP_UPSTREAMS_MAX]; /* upstream operations this exchange waits on */
    size_t op_count, ops_pending;
    gw_strbuf acc; /* tools/list over upstreams: what came back */
    gw_limit_reservation limit;
    int64_t t_start;
    int64_t t_up_start, t_up_end; /* the upstream exchange (gw_now_ns); 0: none */
    char endpoint[128];           /* its host[:port] */
    mcp_exchange *prev, *next;
};

struct gw_mcp_worker {
    gw_worker *w;
    /* the REST calls' and proxied servers' transfers: a multi of their own, apart from the
     * channels' pools, bounded at MCP_UPSTREAM_CONNECTIONS per host */
    struct gw_curl_multi *curl;
    mcp_inbox inbox;
    struct event *sweep;
    uint32_t *home; /* slots of the sessions this worker made */
    size_t home_count, home_cap;
    mcp_stream *streams;
    mcp_exchange *exchanges;
    mcp_exchange *spare; /* freed exchanges kept for reuse (at most MCP_SPARE_MAX) */
    size_t spare_count;
    mcp_upconn *upconns;
    mcp_upop *upop_spare; /* freed upstream operations kept for reuse */
    size_t upop_spare_count;
    /* the stream of each session slot this worker holds one for (GW_MCP_SESSIONS_MAX entries,
     * zero pages until touched): a note for a session finds its stream in one load */
    mcp_stream **stream_of;
    struct evbuffer *scratch;                /* one stream write at a time */
    void *schema_md;                         /* match data for schemas' patterns (schema.h) */
    gw_strbuf rest_url, rest_body, rest_tmp; /* a REST request being built (rest_call.c) */
};

/* mcp_worker.c */
int mcp_post(int worker, mcp_note *note); /* 0, or -1 (inbox full: note not taken) */
void mcp_home_add(gw_mcp_worker *mw, uint32_t slot);
/* A zeroed exchange, from the worker's spares when it has one; and its return. */
mcp_exchange *mcp_exchange_alloc(gw_mcp_worker *mw);
void mcp_exchange_release(gw_mcp_worker *mw, mcp_exchange *x);
mcp_stream *mcp_stream_open(gw_mcp_worker *mw, gw_http_req *req, gw_mcp_session_ref ref,
                            gw_mcp_session_kind kind, const char *first_event, size_t len);
void mcp_stream_end(mcp_stream *st);
/* Sends a legacy SSE session's answer to its stream: written at once when from holds it, else
 * through the inbox of the worker that does. */
void mcp_send_to_session(gw_mcp_worker *from, gw_mcp_session_ref ref, const char *json, size_t len);
/* Ends a session and tells the worker holding its stream. */
void mcp_close_session(gw_mcp_session_ref ref);

/* exchange.c */
mcp_exchange *mcp_exchange_new(gw_mcp_worker *mw, gw_http_req *req, const gw_mcp_server *srv);
void mcp_exchange_free(mcp_exchange *x);
/* The answer (a result's JSON, or an error), delivered by the exchange's mode; frees x. */
void mcp_reply_result(mcp_exchange *x, const char *result_json, size_t len);
void mcp_reply_error(mcp_exchange *x, int http_status, int code, const char *message,
                     const char *data_json);
/* The common tail of every result: resultType and serverInfo for the stateless revision. */
void mcp_result_tail(const mcp_exchange *x, gw_strbuf *out);

/* methods.c */
void mcp_dispatch(mcp_exchange *x);
/* A tool result with one text block, isError as given. */
void mcp_tool_result_text(mcp_exchange *x, const char *text, size_t len, int is_error);
/* gw_mcp_on_call_done for the exchange's tool call */
void mcp_call_report(mcp_exchange *x, mcp_call_outcome outcome, int upstream_status);
/* The "traceparent: ..." line upstream requests of x carry (out holds 80 bytes). */
void mcp_traceparent_line(const mcp_exchange *x, char *out, size_t cap);
/* The host[:port] of url into out (for the record's endpoint and channel). */
void mcp_url_host(const char *url, char *out, size_t cap);

/* metering.c */
void mcp_meter_call(const gw_mcp_call_report *r);

/* whether an upstream's allow-list takes one of its tools (by its own name) */
int mcp_upstream_allows(const gw_mcp_upstream *up, const char *tool, size_t len);

/* rest_call.c */
void mcp_rest_call(mcp_exchange *x, const gw_mcp_tool *tool, struct json_object *args);

/* upstream.c */
/* tools/list of every upstream, merged (prefixed, allowed) into x->acc, then answered */
void mcp_upstream_list(mcp_exchange *x);
void mcp_upstream_call(mcp_exchange *x, const gw_mcp_upstream *up, const char *tool,
                       struct json_object *args);
void mcp_upstream_cancel_ops(mcp_exchange *x);
void mcp_upconns_free(gw_mcp_worker *mw);
/* Closes the connections idle for long, or whose upstream is no longer configured. */
void mcp_upconns_sweep(gw_mcp_worker *mw, int64_t now);

/* caller.c */
int mcp_authenticate(gw_worker *w, const gw_config *cfg, gw_http_req *req, mcp_caller *out);
void mcp_caller_release(mcp_caller *c);
int mcp_caller_may(const mcp_caller *c, const gw_mcp_server *srv, const char *tool, size_t len);

#endif
