/* Writing a stream's frames into their flat buffer (core/strbuf.h; the attempt lends it the
 * worker's): a frame is measured, its room taken once, and its pieces copied in, so a
 * frame costs one bound check and a few memcpy, and no allocation once the buffer has grown to a
 * usual read's frames. */
#ifndef AIGW_INBOUND_FRAMES_H
#define AIGW_INBOUND_FRAMES_H

#include <stddef.h>
#include <string.h>

#include "core/strbuf.h"

struct evbuffer;

/* Room for n (> 0) more bytes at the end of b: write them there, then gw_frames_commit. NULL
 * when b is over its bound or memory ran out (b->failed is latched: the attempt reports it). */
static inline char *gw_frames_room(gw_strbuf *b, size_t n) {
    if (!b->failed && b->cap - b->len >= n) return b->data + b->len;
    return gw_strbuf_grow(b, n);
}

static inline void gw_frames_commit(gw_strbuf *b, size_t n) {
    b->len += n;
}

/* Moves what `from` holds to the end of b: for a rare frame written by an evbuffer writer (an
 * error's JSON), not for every event. */
void gw_frames_take(gw_strbuf *b, struct evbuffer *from);

static inline char *gw_frames_put(char *p, const void *bytes, size_t len) {
    memcpy(p, bytes, len);
    return p + len;
}

#endif
