/* The request log as the admin API reads it: a search (newest first, a page at a time, resumed
 * from a cursor), one request's full chain, and its captured stream for replay. The store's
 * backend reads the rows (meter/store.h); the answers' JSON is written here. Runs on the reader
 * thread (meter/reader.h). */
#ifndef AIGW_METER_REQUEST_QUERY_H
#define AIGW_METER_REQUEST_QUERY_H

#include <stddef.h>
#include <stdint.h>

#include "core/strbuf.h"
#include "meter/store-t.h"

enum { GW_REQUESTS_MAX_LIMIT = 1000, GW_REQUESTS_DEFAULT_LIMIT = 50 };

typedef struct gw_requests_query {
    int64_t from_ms, to_ms;                /* [from, to) */
    char tenant[128], key[64], model[128]; /* "" any */
    int status_min, status_max;            /* [min, max]; 0, 0: any */
    size_t limit;
    int has_cursor; /* continue after the row (cursor_time_ms, cursor_seq) */
    int64_t cursor_time_ms, cursor_seq;
} gw_requests_query;

/* One request as a backend reads it. A search fills the list fields; a request's detail fills
 * every field. Texts are valid during the row's callback. */
typedef struct gw_request_row {
    int64_t seq; /* the store's order of insertion: a cursor's tie-break within a millisecond */
    int64_t time_ms;
    gw_text id, trace_id, tenant, project, key_id, model, upstream_model, channel, path;
    gw_text error_code, currency; /* "" when none */
    int stream, status, estimated, captured;
    int64_t prompt_tokens, completion_tokens, cached_tokens, reasoning_tokens;
    double cost;
    int64_t first_token_us, latency_us; /* -1: none came */
    int64_t attempt_count;
    /* detail only */
    gw_text span_id, parent_id, client_ip, protocol, endpoint;
    int refused_by, usage_known;
    int64_t cache_creation_tokens, stream_events, max_gap_us;
    gw_text attempts; /* the attempts as the writer stored them: a JSON array (gw_meter_db) */
    /* detail only, when captured */
    int has_request_body; /* request_body is the captured body (else none was captured) */
    gw_text request_body; /* bytes, not always UTF-8 */
    int64_t response_bytes, response_events;
    int truncated;
} gw_request_row;

/* Takes each row: 0 for the next, nonzero to stop. */
typedef int (*gw_request_row_fn)(void *ud, const gw_request_row *row);

/* A cursor as the answer's next_cursor writes it; -1 when it is not one. */
int gw_requests_cursor_parse(const char *s, size_t len, int64_t *time_ms, int64_t *seq);

/* {"object":"list","data":[...],"has_more":..,"next_cursor":..}: 0, or a GW_METER_READ_ERROR /
 * _TIMEOUT with err. */
int gw_requests_search(gw_meter_reads *rd, const gw_requests_query *q, gw_strbuf *out, char *err,
                       size_t cap);

/* The full chain of the latest request with that id: 0, GW_METER_READ_NONE when there is none,
 * or an error with err. */
int gw_request_detail(gw_meter_reads *rd, const char *id, gw_strbuf *out, char *err, size_t cap);

/* A captured answer, decoded for replay: its events in order, each a span of data. */
typedef struct gw_replay_event {
    int64_t t_us; /* from the request's arrival */
    size_t offset;
    uint32_t len;
} gw_replay_event;

typedef struct gw_replay {
    int stream;    /* the caller got a stream (else one whole answer) */
    int truncated; /* the capture hit its cap */
    char path[32]; /* the API called: which shape the events have */
    char *data;    /* the blob, owned */
    size_t data_len;
    gw_replay_event *events; /* owned */
    size_t count;
} gw_replay;

/* Loads the capture of the latest request with that id: 0; GW_METER_READ_NONE when no such
 * request, GW_METER_READ_NO_CAPTURE when it has no captured answer; an error with err. */
int gw_replay_load(gw_meter_reads *rd, const char *id, gw_replay *out, char *err, size_t cap);
void gw_replay_free(gw_replay *r);

/* The answer assembled from its events: content, reasoning and tool calls, OpenAI's chunks or
 * Anthropic's events (or a whole answer of either). Writes a JSON object into out. */
void gw_replay_merged(const gw_replay *r, const char *id, gw_strbuf *out);

#endif
