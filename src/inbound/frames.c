#include "inbound/frames.h"

#include <event2/buffer.h>
#include <stdlib.h>

/* as core/strbuf.c: far above any stream's read, only keeps a size computation from overflowing */
#define FRAMES_DEFAULT_MAX ((size_t)1 << 30)

char *gw_frames_grow(gw_strbuf *b, size_t n) {
    size_t max = b->max ? b->max : FRAMES_DEFAULT_MAX;
    if (b->failed) return NULL;
    if (n > max || b->len > max - n) {
        b->failed = 1;
        return NULL;
    }
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 512;
        while (cap < b->len + n)
            cap *= 2;
        char *grown = realloc(b->data, cap);
        if (!grown) {
            b->failed = 1;
            return NULL;
        }
        b->data = grown;
        b->cap = cap;
    }
    return b->data + b->len;
}

void gw_frames_take(gw_strbuf *b, struct evbuffer *from) {
    size_t len = evbuffer_get_length(from);
    char *p = len ? gw_frames_room(b, len) : NULL;
    if (p && evbuffer_remove(from, p, len) == (int)len) gw_frames_commit(b, len);
    evbuffer_drain(from, evbuffer_get_length(from));
}
