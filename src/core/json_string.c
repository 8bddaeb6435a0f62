/* JSON string escaping (see json_string.h). */
#include "core/json_string.h"

#include <event2/buffer.h>

#include "core/strbuf.h"
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

static int hex4(const char *s, unsigned *out) {
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = s[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned)(c - 'A' + 10);
        else
            return -1;
    }
    *out = v;
    return 0;
}

static void add_utf8(gw_strbuf *out, unsigned cp) {
    char u[4];
    size_t n;
    if (cp < 0x80) {
        u[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        u[0] = (char)(0xc0 | cp >> 6);
        u[1] = (char)(0x80 | (cp & 0x3f));
        n = 2;
    } else if (cp < 0x10000) {
        u[0] = (char)(0xe0 | cp >> 12);
        u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        u[2] = (char)(0x80 | (cp & 0x3f));
        n = 3;
    } else {
        u[0] = (char)(0xf0 | cp >> 18);
        u[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
        u[3] = (char)(0x80 | (cp & 0x3f));
        n = 4;
    }
    gw_strbuf_add(out, u, n);
}

int gw_json_string_decode(const char *s, size_t len, gw_strbuf *out) {
    size_t run = 0; /* bytes without escapes, appended together */
    for (size_t i = 0; i < len;) {
        if (s[i] != '\\') {
            if ((unsigned char)s[i] < 0x20 || s[i] == '"') return -1;
            i++;
            continue;
        }
        gw_strbuf_add(out, s + run, i - run);
        if (i + 1 >= len) return -1;
        char e = s[i + 1];
        const char *simple = strchr("\"\\/bfnrt", e);
        if (e && simple) {
            static const char decoded[] = "\"\\/\b\f\n\r\t";
            gw_strbuf_add(out, &decoded[simple - "\"\\/bfnrt"], 1);
            i += 2;
        } else if (e == 'u' && i + 6 <= len) {
            unsigned cp, low;
            if (hex4(s + i + 2, &cp) < 0) return -1;
            i += 6;
            if (cp >= 0xd800 && cp < 0xdc00 && i + 6 <= len && s[i] == '\\' && s[i + 1] == 'u' &&
                hex4(s + i + 2, &low) == 0 && low >= 0xdc00 && low < 0xe000) {
                cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
                i += 6;
            } else if (cp >= 0xd800 && cp < 0xe000) {
                cp = 0xfffd; /* a lone surrogate has no UTF-8 form */
            }
            add_utf8(out, cp);
        } else {
            return -1;
        }
        run = i;
    }
    gw_strbuf_add(out, s + run, len - run);
    return 0;
}
