/* W3C Trace Context (traceparent): the caller's trace is continued, or a new one begun, and the
 * gateway's own span is what every upstream attempt names as its parent, so an engine's traces
 * and the gateway's request log join on one trace id. */
#ifndef AIGW_CORE_TRACE_CONTEXT_H
#define AIGW_CORE_TRACE_CONTEXT_H

#include <stddef.h>
#include <stdint.h>

typedef struct gw_trace {
    char trace_id[33];  /* 32 lowercase hex digits */
    char span_id[17];   /* the gateway's span: 16 hex digits */
    char parent_id[17]; /* the caller's span, "" when it sent no (valid) traceparent */
    uint8_t flags;      /* the caller's trace-flags (sampled = 1), kept as sent */
} gw_trace;

enum { GW_TRACEPARENT_LEN = 55 }; /* "00-" 32 "-" 16 "-" 2 */

/* A traceparent header value (version 00, or a later version read as 00 allows); 0 with *t's
 * trace_id, parent_id and flags filled, -1 when it is not one (then the caller's is ignored, as
 * the spec says, and a new trace begins). */
int gw_trace_parse(const char *value, size_t len, gw_trace *t);

/* Begins the request's span: continues the caller's traceparent when valid, else a new trace
 * (ids from `random`, two 64-bit draws or one, never all zero). */
void gw_trace_begin(gw_trace *t, const char *traceparent, size_t len, uint64_t random_hi,
                    uint64_t random_lo, uint64_t random_span);

/* "00-<trace_id>-<span_id>-<flags>": the header value sent upstream; out holds 56 bytes. */
void gw_trace_header_value(const gw_trace *t, char out[GW_TRACEPARENT_LEN + 1]);

#endif
