/* The context one API request carries through the filter chain and the upstream exchange. */
#ifndef AIGW_CORE_REQUEST_T_H
#define AIGW_CORE_REQUEST_T_H

#include <stddef.h>
#include <stdint.h>

#include "core/config-t.h"
#include "core/protocol-t.h"
#include "core/strbuf.h"
#include "core/trace_context.h"

struct json_object;
struct evbuffer;
typedef struct gw_http_req gw_http_req;
typedef struct gw_worker gw_worker;
typedef struct gw_attempt gw_attempt;

enum { GW_MAX_ATTEMPTS = 10, GW_REQ_EXTRA_HEADERS = 8 };

/* guard_buf's roles: the decoded text, what the guards released (every text of a chunk, one
 * after the other), the chunk written again, what a text's end released (a chunk of its own),
 * and two between chained guards */
enum {
    GW_GUARD_TEXT,
    GW_GUARD_RELEASED,
    GW_GUARD_CHUNK,
    GW_GUARD_FLUSH,
    GW_GUARD_BETWEEN,
    GW_GUARD_BUFS = 6
};

/* The text a guard slot serves in a stream (engines/text_guard.c; see gw_text_field): which
 * choice, which of its texts, and how the engine named it, so what is held can be released
 * later in a chunk of the same shape. */
typedef struct gw_guard_text {
    uint8_t open;           /* the slot serves a text now */
    uint8_t kind;           /* gw_text_kind */
    uint8_t reasoning_key;  /* the engine wrote "reasoning", not "reasoning_content" */
    uint8_t has_tool_index; /* the engine numbered its tool call */
    int64_t choice;         /* the choice's index */
    int64_t tool_index;     /* tool_calls[].index as the engine wrote it */
} gw_guard_text;

/* A header a filter adds to every answer of the request (x-ratelimit-*, Retry-After). */
typedef struct gw_req_header {
    const char *name; /* static */
    char value[40];
} gw_req_header;

/* One try at a channel, as the request log keeps it: written when the try ends. */
typedef struct gw_req_attempt {
    const struct gw_target *target; /* in the request's snapshot: channel and upstream model */
    char endpoint[64];              /* "host:port", cut if longer */
    int status;                     /* the engine's HTTP status, 0 when none came */
    const char *fail_code;          /* static; NULL on success */
    int64_t t_start, t_head, t_end; /* monotonic ns; t_head 0 when no head came */
} gw_req_attempt;

typedef enum {
    GW_ROUTE_PROXY,  /* an inference API, through the chain to an upstream */
    GW_ROUTE_MODELS, /* GET /v1/models */
    GW_ROUTE_HEALTH, /* GET /healthz */
    GW_ROUTE_READY,  /* GET /readyz */
} gw_route_kind;

/* Top-level members of the request body whose presence adapters ask about (gw_req's
 * body_members), known without the body's tree. */
enum {
    GW_BODY_HAS_STREAM_OPTIONS = 1u << 0,
    GW_BODY_HAS_MAX_TOKENS = 1u << 1,
    GW_BODY_HAS_MAX_COMPLETION_TOKENS = 1u << 2,
};

typedef struct gw_req {
    gw_worker *worker;
    struct gw_req *prev, *next;      /* the worker's running requests */
    gw_config *cfg;                  /* a reference: the snapshot this request started with */
    struct gw_config_hold *cfg_hold; /* through which, when not NULL: its worker's hold */
    gw_http_req *http;               /* NULL once the client has gone */
    char id[40];
    size_t id_len;
    gw_api_kind api;  /* the canonical API the request was converted to */
    const char *path; /* the API path called, as the route table names it */
    /* the caller's dialect: how its body is read and every answer and error written */
    const gw_protocol_ops *protocol;
    void *protocol_state; /* the protocol's own (a stream's open blocks), freed by it */
    char client[64];      /* peer address and scheme, kept for the log after the client left */
    int tls;

    struct evbuffer *body_buf; /* the request body, moved out of the connection */
    const char *body;          /* body_buf made contiguous */
    size_t body_len;
    /* the canonical (OpenAI) request's tree; read it with gw_req_json (core/request_json.h):
     * while json_deferred, body passed the scan and the tree is built when first asked for */
    struct json_object *json;
    int json_deferred;
    unsigned body_members; /* which members the body has (GW_BODY_HAS_*) */
    /* set by the scan, cleared when the body is replaced: the prompt's span in body and the
     * tokens the caller asked to generate (see gw_req_prompt_tokens, core/request_json.h) */
    int prompt_scanned;
    size_t prompt_start, prompt_end;
    uint64_t max_new_tokens;
    char *canonical_body;   /* body converted from another dialect (owned), else NULL */
    const char *model_name; /* as the caller wrote it (inside json or body) */
    size_t model_name_len;
    int stream;
    int include_usage;      /* the caller wants a usage chunk at the end of its stream */
    gw_usage usage;         /* what the engine reported, normalized: metering reads it */
    gw_text_hook text_hook; /* the response guards of the chain, when it has any */
    /* the guards' working buffers (engines/text_guard.c, the chain's hook): reused chunk after
     * chunk, so a guarded stream allocates once, not per event; freed with the request */
    gw_strbuf guard_buf[GW_GUARD_BUFS];
    gw_guard_text guard_text[GW_TEXT_SLOTS];
    size_t guard_attempt; /* the attempt (attempt_count) guard_text follows */

    const gw_model *model;
    const gw_target_group *group; /* the model's targets, or those of the rule that held */
    int rule;                     /* the index of that rule, -1 for none */
    const gw_target *target;      /* the target of the attempt running now, or the last one */
    const gw_channel *channel;    /* its channel: the one that served, for the log */
    size_t attempt_count;
    int64_t deadline_ns;   /* failover.deadline_ms from arrival; 0: none */
    char attempts_text[8]; /* x-aigw-attempts, once a channel was tried */
    size_t extra_header_count;
    gw_attempt *attempt; /* the try at a channel running now, or the last one */
    size_t attempts_logged;

    gw_trace trace; /* W3C trace context: the caller's trace, the gateway's span */
    /* what the caller received of a stream: events, the longest pause between two */
    uint32_t stream_events;
    int64_t t_last_event, max_gap_ns;
    uint32_t metrics_series; /* + 1: the metrics series its gaps count in, 0 before the first */
    /* the generated text's estimated tokens, for when the engine reports no usage (or the
     * stream was cut before it did) */
    int64_t completion_estimate;
    void *capture; /* metering's capture of the bodies (gw_capture), when configured */

    int status;             /* what the client got; 499 when it left first */
    const char *error_code; /* short reason for the access log, NULL on success */
    int64_t t_start, t_first_byte, t_end;
    uint64_t bytes_in, bytes_out;

    size_t filter_next;                 /* the next filter of r->cfg->chain whose on_request runs */
    void *filter_state[GW_MAX_FILTERS]; /* each filter's state_size bytes, zeroed; or NULL */
    int finished;

    /* Arrays filled in order up to their counts above, and never read past them: the request's
     * start leaves them unzeroed (1.6 KB of its 2.7). */
    gw_endpoint *tried[GW_MAX_ATTEMPTS]; /* the endpoints tried, so a retry goes elsewhere */
    gw_req_header extra_headers[GW_REQ_EXTRA_HEADERS];
    gw_req_attempt attempts[GW_MAX_ATTEMPTS]; /* the tries that ended, in order */
} gw_req;

#endif
