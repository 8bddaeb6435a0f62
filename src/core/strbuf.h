/* A growable byte buffer with a ceiling, for text built piece by piece (engine request bodies,
 * canonical answers and chunks, prompts): appends past `max`, or an allocation that fails,
 * latch `failed` and are dropped, so callers append freely and check once at the end. */
#ifndef AIGW_CORE_STRBUF_H
#define AIGW_CORE_STRBUF_H

#include <stddef.h>
#include <stdint.h>

struct json_object;

/* Far above any text the gateway builds (that is bounded by the request it came from); only
 * keeps a size computation from overflowing when max is not set. */
#define GW_STRBUF_DEFAULT_MAX ((size_t)1 << 30)

typedef struct gw_strbuf {
    char *data; /* malloc'd, not NUL-terminated; the owner frees it (gw_strbuf_free) */
    size_t len, cap;
    size_t max; /* 0: 1 GiB */
    int failed;
} gw_strbuf;

/* Grows b for n more bytes (bounded by b->max): where they go, or NULL with b->failed latched.
 * The caller writes them there and adds n to b->len. */
char *gw_strbuf_grow(gw_strbuf *b, size_t n);
void gw_strbuf_add_slow(gw_strbuf *b, const char *s, size_t len);
/* Appends len bytes: a copy when they fit in the memory and under max (a call and a check a
 * piece were a tenth of what the metering writer's attempts text cost), else gw_strbuf_add_slow
 * grows it. */
static inline void gw_strbuf_add(gw_strbuf *b, const char *s, size_t len) {
    size_t max = b->max ? b->max : GW_STRBUF_DEFAULT_MAX;
    if (len && len <= b->cap - b->len && len <= max - b->len && !b->failed) {
        __builtin_memcpy(b->data + b->len, s, len);
        b->len += len;
        return;
    }
    gw_strbuf_add_slow(b, s, len);
}
void gw_strbuf_adds(gw_strbuf *b, const char *s);
void gw_strbuf_add_int(gw_strbuf *b, int64_t v);
/* s escaped as the inside of a JSON string, without quotes (see core/json_string.h). */
void gw_strbuf_add_json_escaped(gw_strbuf *b, const char *s, size_t len);
/* v as compact JSON text, json-c's, slashes left alone (PLAIN | NOSLASHESCAPE). */
void gw_strbuf_add_json(gw_strbuf *b, struct json_object *v);
/* Empties it for reuse, its memory kept. */
static inline gw_strbuf *gw_strbuf_reset(gw_strbuf *b) {
    b->len = 0;
    b->failed = 0;
    return b;
}
/* Releases the memory and clears failed; max stays. */
void gw_strbuf_free(gw_strbuf *b);

#endif
