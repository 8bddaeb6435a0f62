/* The request log as the admin API reads it: a search (newest first, a page at a time, resumed
 * from a cursor), one request's full chain, and its captured stream for replay. Runs on the
 * reader thread (meter/reader.h). */
#ifndef AIGW_METER_REQUEST_QUERY_H
#define AIGW_METER_REQUEST_QUERY_H

#include <stddef.h>
#include <stdint.h>

#include "core/strbuf.h"

struct sqlite3;

enum { GW_REQUESTS_MAX_LIMIT = 1000, GW_REQUESTS_DEFAULT_LIMIT = 50 };

typedef struct gw_requests_query {
    int64_t from_ms, to_ms;                /* [from, to) */
    char tenant[128], key[64], model[128]; /* "" any */
    int status_min, status_max;            /* [min, max]; 0, 0: any */
    size_t limit;
    int has_cursor; /* continue after the row (cursor_time_ms, cursor_seq) */
    int64_t cursor_time_ms, cursor_seq;
} gw_requests_query;

/* A cursor as the answer's next_cursor writes it; -1 when it is not one. */
int gw_requests_cursor_parse(const char *s, size_t len, int64_t *time_ms, int64_t *seq);

/* {"object":"list","data":[...],"has_more":..,"next_cursor":..}: 0, or -1 and err. */
int gw_requests_search(struct sqlite3 *db, const gw_requests_query *q, gw_strbuf *out, char *err,
                       size_t cap);

/* The full chain of the latest request with that id: 0, 1 when there is none, -1 and err. */
int gw_request_detail(struct sqlite3 *db, const char *id, gw_strbuf *out, char *err, size_t cap);

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

/* Loads the capture of the latest request with that id: 0; 1 when no such request, 2 when it
 * has no captured answer; -1 and err. */
int gw_replay_load(struct sqlite3 *db, const char *id, gw_replay *out, char *err, size_t cap);
void gw_replay_free(gw_replay *r);

/* The answer assembled from its events: content, reasoning and tool calls, OpenAI's chunks or
 * Anthropic's events (or a whole answer of either). Writes a JSON object into out. */
void gw_replay_merged(const gw_replay *r, const char *id, gw_strbuf *out);

#endif
