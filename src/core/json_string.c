/* JSON string escaping (see json_string.h). */
#include "core/json_string.h"

#include <event2/buffer.h>
#include <string.h>

void gw_json_string_escape(const char *s, size_t len, gw_json_sink *sink, void *ctx) {
    static const char hex[] = "0123456789abcdef";
    size_t run = 0; /* where the bytes not yet written begin */
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\') continue;
        if (i > run) sink(ctx, s + run, i - run);
        run = i + 1;
        char esc[6] = {'\\', 0, 0, 0, 0, 0};
        size_t n = 2;
        switch (c) {
        case '"':
        case '\\':
            esc[1] = (char)c;
            break;
        case '\n':
            esc[1] = 'n';
            break;
        case '\r':
            esc[1] = 'r';
            break;
        case '\t':
            esc[1] = 't';
            break;
        case '\b':
            esc[1] = 'b';
            break;
        case '\f':
            esc[1] = 'f';
            break;
        default:
            memcpy(esc, "\\u00", 4);
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            n = 6;
        }
        sink(ctx, esc, n);
    }
    if (len > run) sink(ctx, s + run, len - run);
}

static void evbuffer_sink(void *out, const char *s, size_t len) {
    evbuffer_add(out, s, len);
}

void gw_evbuffer_add_json_string(struct evbuffer *out, const char *s, size_t len) {
    evbuffer_add(out, "\"", 1);
    gw_json_string_escape(s, len, evbuffer_sink, out);
    evbuffer_add(out, "\"", 1);
}
