/* What the files of src/mcp/ share: a worker's MCP state, one JSON-RPC exchange (a POST, or a
 * message of a legacy SSE session) and its answer, a held event stream. Internal to src/mcp/. */
#ifndef AIGW_MCP_INTERNAL_H
#define AIGW_MCP_INTERNAL_H

#include <stdatomic.h>
#include <stdint.h>

#include "core/drain_watch.h"
#include "core/http_server.h"
#include "core/strbuf.h"
#include "core/worker-t.h"
#include "mcp/jsonrpc.h"
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

enum { MCP_INBOX_CAP = 1024 };

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
    struct event *wake;
} mcp_inbox;

/* An event stream held open: a Streamable HTTP session's GET, or a legacy SSE session. */
typedef struct mcp_stream {
    gw_mcp_worker *mw;
    gw_http_req *http;
    gw_mcp_session_ref ref;
    gw_mcp_session_kind kind;
    gw_drain_watch watch;
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

typedef struct mcp_exchange mcp_exchange;
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
    char client[64];
    /* a tool call in flight */
    const gw_mcp_tool *tool;
    const gw_mcp_upstream *upstream;
    char tool_name[GW_MCP_NAME_MAX * 2 + 2];
    gw_fetch *fetch;
    mcp_upop **ops; /* upstream operations this exchange waits on */
    size_t op_count, ops_pending;
    gw_strbuf acc; /* tools/list over upstreams: what came back */
    gw_limit_reservation limit;
    int64_t t_start;
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
    mcp_upconn *upconns;
};

/* mcp_worker.c */
int mcp_post(int worker, mcp_note *note); /* 0, or -1 (inbox full: note not taken) */
void mcp_home_add(gw_mcp_worker *mw, uint32_t slot);
mcp_stream *mcp_stream_open(gw_mcp_worker *mw, gw_http_req *req, gw_mcp_session_ref ref,
                            gw_mcp_session_kind kind, const char *first_event, size_t len);
void mcp_stream_end(mcp_stream *st);
/* Sends a legacy SSE session's answer to the worker holding its stream. */
void mcp_send_to_session(gw_mcp_session_ref ref, const char *json, size_t len);
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
void mcp_call_report(mcp_exchange *x, const char *status, int upstream_status);

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

/* caller.c */
int mcp_authenticate(gw_worker *w, const gw_config *cfg, gw_http_req *req, mcp_caller *out);
void mcp_caller_release(mcp_caller *c);
int mcp_caller_may(const mcp_caller *c, const gw_mcp_server *srv, const char *tool, size_t len);

#endif
