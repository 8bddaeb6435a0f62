/* Incremental Server-Sent Events parser: bytes in as they arrive, whole events out. Accepts
 * `data:` with and without the space (TGI omits it), LF and CRLF, comments and `event:` lines. */
#ifndef AIGW_CORE_SSE_H
#define AIGW_CORE_SSE_H

#include <stddef.h>

/* Return non-zero to stop parsing (gw_sse_feed then returns that value). */
typedef int (*gw_sse_event_cb)(void *ud, const char *event, size_t event_len, const char *data,
                               size_t data_len);

typedef struct gw_sse_parser {
    char *line; /* an unfinished line carried over between feeds */
    size_t line_len, line_cap;
    char *data; /* the data lines of the current event, joined by '\n' */
    size_t data_len, data_cap;
    char event[64];
    size_t event_len;
    int has_data;
    size_t max_event; /* bound on one event's size */
    gw_sse_event_cb cb;
    void *ud;
} gw_sse_parser;

void gw_sse_init(gw_sse_parser *p, size_t max_event, gw_sse_event_cb cb, void *ud);
/* Returns 0, the callback's non-zero value, or -1 when an event exceeds max_event. */
int gw_sse_feed(gw_sse_parser *p, const char *buf, size_t len);
/* At the end of the stream: dispatches an event left without its closing blank line. */
int gw_sse_finish(gw_sse_parser *p);
void gw_sse_reset(gw_sse_parser *p);
void gw_sse_free(gw_sse_parser *p);

#endif
