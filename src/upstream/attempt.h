/* One attempt: one try of a request at one channel. It sends the request through the engine
 * adapter, reads the answer (a whole body, or a stream event by event with backpressure) and
 * ends with an outcome: what the engine answered, or why it failed. It never writes to the
 * client itself: the translated bytes and the outcome go to a sink (the proxy filter), which
 * commits the client's response, or tries another channel while nothing has been committed. */
#ifndef AIGW_UPSTREAM_ATTEMPT_H
#define AIGW_UPSTREAM_ATTEMPT_H

#include <curl/curl.h>
#include <event2/event_struct.h>
#include <stddef.h>
#include <stdint.h>

#include "core/request-t.h"
#include "core/sse.h"
#include "engines/engine.h"
#include "upstream/h1_client.h"

struct evbuffer;

typedef enum { GW_RELAY_UNDECIDED, GW_RELAY_STREAM, GW_RELAY_BUFFER } gw_relay_mode;

/* Why an attempt failed, in the terms failover decides on. */
typedef enum {
    GW_FAIL_NONE,
    GW_FAIL_CONNECT,   /* no connection (refused, reset before an answer, DNS) */
    GW_FAIL_TIMEOUT,   /* connect, first byte, idle gap or total */
    GW_FAIL_STATUS,    /* the engine answered an error status (see status) */
    GW_FAIL_MALFORMED, /* unreadable answer or event, or larger than the bounds */
    GW_FAIL_BROKEN,    /* the connection broke after the answer began */
    GW_FAIL_LOCAL,     /* the gateway itself: memory, a response filter, shutdown */
} gw_fail_kind;

typedef struct gw_attempt gw_attempt;

typedef struct gw_attempt_sink {
    /* The first translated stream bytes are ready: commit the client's head. -1 stops the
     * attempt (the client is gone). */
    int (*stream_begin)(gw_req *r, gw_attempt *a);
    /* Translated stream bytes (whole events), sent or copied by the sink before it returns;
     * -1 fails the stream. */
    int (*stream_data)(gw_req *r, const char *data, size_t len);
    /* Whether the client is behind: the attempt pauses until gw_attempt_resume. */
    int (*client_full)(gw_req *r);
    /* The attempt has ended (its transfer is detached): read the outcome and decide. */
    void (*done)(gw_req *r, gw_attempt *a);
} gw_attempt_sink;

struct gw_attempt {
    gw_req *r;
    const gw_channel *channel;
    const gw_target *target;
    gw_endpoint *endpoint;
    const gw_attempt_sink *sink;
    int in_flight;      /* counted in endpoint->in_flight and its channel's (route took it) */
    int deadline_armed; /* the timer runs to the request's deadline, not a channel timeout */
    /* idle_ms between two pieces of the body: the timer is armed once, and when it fires
     * early (data came meanwhile) it is armed again for what is left after the last data */
    int idle_armed;
    int64_t last_data_ns;
    /* when the armed timer fires at the latest; 0: not pending (every add and del of the timer
     * goes through arm_timer and disarm_timer, so free skips the del). Data that comes while it
     * is due before the idle deadline leaves it be (on_timer arms the rest), so a stream's first
     * data costs no second evtimer_add */
    int64_t timer_due_ns;
    int64_t first_byte_due_ns; /* timeouts.first_byte_ms after the start */
    /* the transfer: curl's easy handle, or an exchange of the own HTTP/1.1 client when the
     * endpoint is plain http to a literal address (upstream/h1_client.h) */
    CURL *easy;
    int via_h1;
    int h1_running;            /* counted in the channel's pool until it ends */
    int64_t h1_content_length; /* from the head, for the relay decided at the first body byte */
    int64_t total_deadline_ns; /* timeouts.total_ms, kept by the timer for the own client */
    int total_armed;           /* the timer runs to it */
    int transport_result;      /* curl's CURLcode or gw_h1_result, for the debug log */
    /* per attempt only when client headers are forwarded: in header_room or allocated */
    struct curl_slist *headers;
    /* traceparent naming the gateway's span, first in the list curl sends: a node of our
     * own in front of the channel's (or the forwarded) headers, so it costs no allocation */
    struct curl_slist trace_node;
    char trace_line[16 + GW_TRACEPARENT_LEN];
    char *owned_body;
    gw_relay_mode mode;
    int status;         /* the engine's HTTP status, 0 before its head */
    int committed;      /* stream bytes went to the client: no other channel can take over */
    int events_via_out; /* the sink's, set as the stream begins: events pass through io.out */
    int paused;         /* curl holds data until the client drains */
    int stream_done;    /* the engine's terminal event came: the stream is complete */
    int got_head;
    int finished;
    /* the outcome: fail_status 0 is success (or an engine's error answer, relayed: fail_kind
     * GW_FAIL_STATUS). fail_message is for the caller (no channel, no address), fail_detail for
     * the log; error is what the caller's protocol renders, the gateway's failure or the
     * engine's error normalized */
    int fail_status;
    gw_fail_kind fail_kind;
    const char *fail_code;
    gw_error_info error;
    /* a buffered answer, held once and contiguous: sized from Content-Length when sent */
    char *body;
    size_t body_len, body_cap;
    struct evbuffer *answer; /* a buffered 2xx answer in the caller's dialect */
    /* the adapter's translation context: its stream state, and io.frames, the caller's stream
     * bytes on their way to the sink (io.out: a whole answer's) */
    gw_engine_io io;
    struct event timer; /* first-byte, then idle-gap deadline; in place, no allocation */
    int64_t t_start, t_head, t_end;
    /* Text, last: a new attempt zeroes only what comes before `url` (these are written before
     * they are read, or start as empty strings), where zeroing all of it cost ~5k instructions a
     * request. */
    char url[2048]; /* the endpoint's base URL and the adapter's path */
    char fail_message[256];
    char fail_detail[CURL_ERROR_SIZE + 128];
    char error_text[1024];
    char curl_error[CURL_ERROR_SIZE];
    char h1_content_type[128];
    /* Not zeroed either: set as they begin, read only after (h1 and h1_req while h1_running,
     * sse in GW_RELAY_STREAM) */
    gw_h1_exchange h1;
    gw_h1_request h1_req;
    gw_sse_parser sse;
    /* the adapter's stream state (io.state) when it fits: zeroed as the stream begins */
    _Alignas(max_align_t) char state_room[768];
    /* the forwarded headers' list when it fits (forwarded_headers in attempt.c) */
    _Alignas(struct curl_slist) char header_room[384];
};

/* Starts an attempt at the target's channel, on `endpoint`, and sets r->attempt to it (the request
 * frees it); NULL when it cannot even begin (out of memory). A start that fails later (no URL, the
 * adapter refuses) reports its outcome through sink->done before returning, which may end the
 * request. */
gw_attempt *gw_attempt_start(gw_req *r, const gw_target *target, gw_endpoint *endpoint,
                             const gw_attempt_sink *sink);
/* The client drained: go on reading the engine. */
void gw_attempt_resume(gw_attempt *a);
/* Ends a running attempt now with this failure (no sink->done); safe on an ended one. */
void gw_attempt_cancel(gw_attempt *a, int status, const char *code, const char *message,
                       const char *detail);
/* Cancels what still runs and frees. */
void gw_attempt_free(gw_attempt *a);
/* Logs the failure for the operator (channel, URL, detail), keyed by the request id. */
void gw_attempt_log_failure(const gw_attempt *a);
/* The curl multi glue's completion callback. */
void gw_attempt_on_curl_done(CURL *easy, CURLcode result);

#endif
