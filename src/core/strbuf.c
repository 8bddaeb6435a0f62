/* The growable byte buffer (see strbuf.h). */
#include "core/strbuf.h"

#include <inttypes.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/decimal.h"
#include "core/json_string.h"

char *gw_strbuf_grow(gw_strbuf *b, size_t n) {
    size_t max = b->max ? b->max : GW_STRBUF_DEFAULT_MAX;
    if (b->failed) return NULL;
    if (n > max || b->len > max - n) {
        b->failed = 1;
        return NULL;
    }
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
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

void gw_strbuf_add_slow(gw_strbuf *b, const char *s, size_t len) {
    if (!len) return;
    char *room = gw_strbuf_grow(b, len);
    if (!room) return;
    memcpy(room, s, len);
    b->len += len;
}

void gw_strbuf_adds(gw_strbuf *b, const char *s) {
    gw_strbuf_add(b, s, strlen(s));
}

void gw_strbuf_add_int(gw_strbuf *b, int64_t v) {
    /* without printf: the metering writer writes ~10 a record (snprintf was a tenth of it) */
    char text[GW_DECIMAL_MAX + 1];
    text[0] = '-';
    uint64_t magnitude = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    size_t n = gw_decimal_u64(text + (v < 0), magnitude) + (v < 0);
    gw_strbuf_add(b, text, n);
}

static void strbuf_sink(void *b, const char *s, size_t len) {
    gw_strbuf_add(b, s, len);
}

void gw_strbuf_add_json_escaped(gw_strbuf *b, const char *s, size_t len) {
    gw_json_string_escape(s, len, strbuf_sink, b);
}

void gw_strbuf_add_json(gw_strbuf *b, json_object *v) {
    size_t len = 0;
    const char *text = json_object_to_json_string_length(
        v, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
    if (!text) {
        b->failed = 1;
        return;
    }
    gw_strbuf_add(b, text, len);
}

void gw_strbuf_free(gw_strbuf *b) {
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
    b->failed = 0;
}
