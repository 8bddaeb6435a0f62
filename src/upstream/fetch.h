/* A plain asynchronous HTTP exchange on a worker's curl multi handle, for any handler: no
 * request, channel or engine behind it (those are the attempt's, upstream/attempt.h). The MCP
 * bridge calls REST APIs and upstream MCP servers through it. Bounded: the response body is
 * kept up to max_response_bytes (past that the exchange fails), or handed on piece by piece
 * (on_data) for a stream that never ends; the headers up to 16 KiB. */
#ifndef AIGW_UPSTREAM_FETCH_H
#define AIGW_UPSTREAM_FETCH_H

#include <stddef.h>

#include "upstream/curl_multi.h"

typedef struct gw_fetch gw_fetch;

typedef struct gw_fetch_result {
    int status;        /* the HTTP status; 0 when no answer came */
    CURLcode code;     /* CURLE_OK, or why the exchange failed */
    const char *error; /* curl's words for code (for logs only: may name addresses) */
    int too_large;     /* the body passed max_response_bytes */
    const char *body;  /* NUL-terminated; the buffered body (empty with on_data) */
    size_t body_len;
    const char *content_type; /* "" when none */
} gw_fetch_result;

/* Called once when the exchange ends (never after gw_fetch_cancel). The result lives until the
 * callback returns; the fetch is freed after it. */
typedef void (*gw_fetch_done_cb)(gw_fetch *f, const gw_fetch_result *res, void *ud);
/* A piece of the body as it arrives. Runs inside curl: start or cancel no other exchange here
 * (defer that to the event loop). Return 0 to go on, -1 to end the exchange (done is called). */
typedef int (*gw_fetch_data_cb)(gw_fetch *f, const char *data, size_t len, void *ud);

typedef struct gw_fetch_request {
    const char *method; /* "GET", "POST", ... */
    const char *url;
    const char *const *headers; /* "Name: value" lines, copied; NULL-terminated, or NULL */
    const char *body;           /* copied; NULL for none */
    size_t body_len;
    int connect_timeout_ms; /* 0: 10 s */
    int timeout_ms;         /* the whole exchange; 0: none (a stream) */
    size_t max_response_bytes;
    gw_fetch_data_cb on_data; /* NULL: the body is buffered */
} gw_fetch_request;

/* Starts the exchange; NULL when out of memory (nothing is called then). */
gw_fetch *gw_fetch_start(gw_curl_multi *m, const gw_fetch_request *req, gw_fetch_done_cb done,
                         void *ud);
/* Ends it now without calling done. */
void gw_fetch_cancel(gw_fetch *f);
/* A response header's value (the last one of that name, case-insensitive), trimmed; NULL when
 * absent. Valid until the fetch ends. */
const char *gw_fetch_header(const gw_fetch *f, const char *name, size_t *len);
/* The status once the head arrived (0 before), for on_data. */
int gw_fetch_status(const gw_fetch *f);

#endif
