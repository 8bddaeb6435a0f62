/* Incremental Server-Sent Events parser: bytes in as they arrive, whole events out. Accepts
 * `data:` with and without the space (TGI omits it), LF and CRLF, comments and `event:` lines.
 * A one-line event read whole is handed on in place (a read that is exactly one such event, the
 * usual one from an engine, with one scan and no loop); otherwise a data line's bytes are copied
 * once, into the event being built, however the network splits them; other lines are not stored
 * at all. */
#ifndef AIGW_CORE_SSE_H
#define AIGW_CORE_SSE_H

#include <stddef.h>

/* Return non-zero to stop parsing (gw_sse_feed then returns that value). data is valid only
 * during the call. */
typedef int (*gw_sse_event_cb)(void *ud, const char *event, size_t event_len, const char *data,
                               size_t data_len);

typedef enum {
    GW_SSE_FIELD,      /* reading a field name (or a blank line) */
    GW_SSE_DATA,       /* inside a data line's value */
    GW_SSE_EVENT_NAME, /* inside an event line's value */
    GW_SSE_SKIP,       /* a comment or a field a proxy does not need (id, retry, ...) */
} gw_sse_state;

typedef struct gw_sse_parser {
    gw_sse_state state;
    char field[8]; /* the start of the current line's field name */
    size_t field_len;
    int strip_space; /* the byte after the colon is dropped when it is a space */
    char *data;      /* the data lines of the current event, joined by '\n' */
    size_t data_len, data_cap;
    size_t line_start; /* where the current data line begins in data */
    char event[64];
    size_t event_len;
    int has_data;
    size_t max_event; /* bound on one event's data */
    gw_sse_event_cb cb;
    void *ud;
} gw_sse_parser;

void gw_sse_init(gw_sse_parser *p, size_t max_event, gw_sse_event_cb cb, void *ud);
/* Returns 0, the callback's non-zero value, or -1 when an event exceeds max_event. The data the
 * callback gets is len bytes, not NUL-terminated: an event read whole in buf is handed on where
 * it lies. */
int gw_sse_feed(gw_sse_parser *p, const char *buf, size_t len);
/* At the end of the stream: dispatches an event left without its closing blank line. */
int gw_sse_finish(gw_sse_parser *p);
void gw_sse_reset(gw_sse_parser *p);
void gw_sse_free(gw_sse_parser *p);

#endif
