/* A worker's connection to one upstream MCP server (internal to src/mcp/): one upstream session
 * per (URL, credentials, transport) and worker, shared by every exchange that proxies to it, and
 * the operations (one JSON-RPC request each) exchanges run over it. upstream.c owns the
 * operations and the Streamable HTTP transport; upstream_sse.c the legacy HTTP+SSE one. */
#ifndef AIGW_MCP_UPSTREAM_CONN_H
#define AIGW_MCP_UPSTREAM_CONN_H

#include <json-c/json.h>

#include "core/sse.h"
#include "mcp/mcp_internal.h"

struct event;

enum {
    UP_QUEUE_MAX = 1024,   /* operations waiting for a connection (or a free place) */
    UP_SSE_INFLIGHT = 128, /* requests posted to a legacy SSE upstream, awaiting answers */
    UP_SSE_NOTES = 4,      /* notifications and answers to the server's own requests */
    UP_SPARE_MAX = 64,     /* freed operations a worker keeps for reuse */
};

typedef enum {
    UP_IDLE,         /* no upstream session */
    UP_CONNECTING,   /* SSE: the stream is asked for; waiting for its endpoint event */
    UP_INITIALIZING, /* initialize sent */
    UP_READY,
} up_state;

/* One POST to a legacy SSE upstream, whose answer comes on the stream: the place lives until
 * both the POST ended and the operation is done with, so a late POST never finds another's. */
typedef struct up_post {
    mcp_upconn *c;
    gw_fetch *f;
    mcp_upop *op; /* NULL: its operation is done with (answered, timed out, cancelled) */
    long long id;
} up_post;

struct mcp_upconn {
    gw_mcp_worker *mw;
    mcp_upconn *next;
    char *url;
    char *auth_line; /* NULL: none */
    gw_mcp_upstream_transport transport;
    up_state state;
    char session_id[256]; /* Streamable HTTP */
    char version[16];
    gw_fetch *init;               /* Streamable HTTP: the initialize POST */
    mcp_upop *queue, *queue_tail; /* waiting for the connection, in order */
    size_t queued;
    size_t ops; /* operations that name it (queued, in flight or finishing): it stays while any */
    long long next_id;
    int64_t last_used_ns;
    int timeout_ms; /* of the session's setup: the first operation's upstream's */
    /* ---- legacy HTTP+SSE ---- */
    gw_fetch *stream;         /* the GET holding the session */
    gw_sse_parser sse;        /* its events */
    char *post_url;           /* where to POST, from the endpoint event (same origin) */
    char *endpoint_got;       /* the endpoint event's data, until the loop takes it */
    json_object *init_answer; /* initialize's answer, until the loop takes it */
    int stream_checked;       /* its status was seen */
    int stream_failed;        /* the stream broke a bound (an event too large, not SSE) */
    int64_t setup_deadline_ns;
    up_post calls[UP_SSE_INFLIGHT]; /* by id modulo UP_SSE_INFLIGHT */
    size_t inflight;
    up_post notes[UP_SSE_NOTES];
    char server_asks[UP_SSE_NOTES][48]; /* ids of the server's requests to answer (JSON) */
    int server_ask_is_ping[UP_SSE_NOTES];
    size_t server_ask_count;
    struct event *kick;  /* work deferred out of curl's callbacks */
    struct event *timer; /* the earliest deadline */
    int64_t timer_at;    /* when it fires (gw_now_ns) */
    int answers_waiting; /* answers parked in calls[], for the loop */
};

typedef void (*upop_done)(mcp_upop *op, json_object *response, const char *failure,
                          mcp_call_outcome outcome);

struct mcp_upop {
    mcp_upconn *conn;
    mcp_exchange *x;
    const gw_mcp_upstream *up;
    const char *method; /* a literal */
    gw_strbuf params;   /* JSON text */
    gw_fetch *fetch;    /* Streamable HTTP: the POST */
    upop_done done;
    mcp_upop *next; /* in the connection's queue, or the worker's spares */
    long long id;
    int queued, retried, pages;
    int timeout_ms;
    int64_t deadline_ns;  /* SSE: when the answer is too late */
    json_object *answer;  /* SSE: its answer, parked until the loop finishes it */
    char traceparent[96]; /* "traceparent: ..." */
};

/* upstream.c */
void up_headers(const mcp_upconn *c, const mcp_upop *op, const char **h, char *sid_line,
                size_t sid_cap, char *ver_line, size_t ver_cap);
void up_op_finish(mcp_upop *op, json_object *resp, const char *failure, mcp_call_outcome why);
void up_flush_queue(mcp_upconn *c);
/* Queues op again (its session was lost before it was taken): a new session is asked for. */
void up_requeue(mcp_upop *op);
void up_fail_queue(mcp_upconn *c, const char *why, mcp_call_outcome outcome);
/* Whether id names the JSON-RPC response v is. */
int up_response_has_id(json_object *v, long long id);

/* upstream_sse.c */
int up_sse_start(mcp_upconn *c); /* 0, or -1 out of memory */
void up_sse_connect(mcp_upconn *c);
/* Posts op (the connection is ready): 0, or 1 when no place is free (op stays queued). */
int up_sse_send(mcp_upop *op);
/* op is done with: its place no longer waits for it. */
void up_sse_forget(mcp_upop *op);
int up_sse_busy(const mcp_upconn *c);
void up_sse_free(mcp_upconn *c);

#endif
