#include "core/h1_request_head.h"

#include <http_parser.h>
#include <string.h>
#include <strings.h>

/* RFC 9110 token characters: a header name's */
static const uint8_t token_char[256] = {
    ['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1, ['&'] = 1, ['\''] = 1, ['*'] = 1, ['+'] = 1,
    ['-'] = 1, ['.'] = 1, ['^'] = 1, ['_'] = 1, ['`'] = 1, ['|'] = 1,  ['~'] = 1, ['0'] = 1,
    ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1,  ['7'] = 1, ['8'] = 1,
    ['9'] = 1, ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1,  ['F'] = 1, ['G'] = 1,
    ['H'] = 1, ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1,  ['N'] = 1, ['O'] = 1,
    ['P'] = 1, ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1,  ['V'] = 1, ['W'] = 1,
    ['X'] = 1, ['Y'] = 1, ['Z'] = 1, ['a'] = 1, ['b'] = 1, ['c'] = 1,  ['d'] = 1, ['e'] = 1,
    ['f'] = 1, ['g'] = 1, ['h'] = 1, ['i'] = 1, ['j'] = 1, ['k'] = 1,  ['l'] = 1, ['m'] = 1,
    ['n'] = 1, ['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1, ['s'] = 1,  ['t'] = 1, ['u'] = 1,
    ['v'] = 1, ['w'] = 1, ['x'] = 1, ['y'] = 1, ['z'] = 1,
};

/* The methods read here, as their request line begins. */
static const struct {
    const char *text;
    size_t len;
    int method;
} methods[] = {
    {"POST ", 5, HTTP_POST},     {"GET ", 4, HTTP_GET},   {"PUT ", 4, HTTP_PUT},
    {"DELETE ", 7, HTTP_DELETE}, {"HEAD ", 5, HTTP_HEAD}, {"OPTIONS ", 8, HTTP_OPTIONS},
    {"PATCH ", 6, HTTP_PATCH},
};

static int name_is(const char *name, size_t len, const char *lower, size_t lower_len) {
    return len == lower_len && !strncasecmp(name, lower, len);
}

/* The header's value, from just after the colon to the CR at `end`; 0 when it is not plain. */
static int read_value(const char *buf, size_t at, size_t end, gw_h1q_span *value) {
    while (at < end && (buf[at] == ' ' || buf[at] == '\t'))
        at++;
    for (size_t i = at; i < end; i++) {
        unsigned char ch = (unsigned char)buf[i];
        if ((ch < 0x20 && ch != '\t') || ch == 0x7f) return 0;
    }
    if (end > at && (buf[end - 1] == ' ' || buf[end - 1] == '\t')) return 0;
    *value = (gw_h1q_span){(uint32_t)at, (uint32_t)(end - at)};
    return 1;
}

static int read_length(const char *v, size_t len, uint64_t *out) {
    if (len == 0 || len > 15) return 0; /* under 10^15: no overflow, and far over any limit */
    uint64_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (v[i] < '0' || v[i] > '9') return 0;
        n = n * 10 + (uint64_t)(v[i] - '0');
    }
    *out = n;
    return 1;
}

int gw_h1_request_head_read(const char *buf, size_t len, gw_h1_request_head *out,
                            gw_h1q_header *headers, size_t max_headers) {
    size_t limit = len < GW_H1Q_HEAD_MAX ? len : GW_H1Q_HEAD_MAX;
    size_t at = 0;
    out->method = -1;
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++)
        if (limit >= methods[i].len && !memcmp(buf, methods[i].text, methods[i].len)) {
            out->method = methods[i].method;
            at = methods[i].len;
            break;
        }
    if (out->method < 0 || at >= limit || buf[at] != '/') return 0;

    size_t url = at;
    while (at < limit && (unsigned char)buf[at] > 0x20 && (unsigned char)buf[at] < 0x7f)
        at++;
    /* " HTTP/1.1\r\n" */
    if (limit - at < 11 || buf[at] != ' ' || memcmp(buf + at + 1, "HTTP/1.", 7) ||
        (buf[at + 8] != '1' && buf[at + 8] != '0') || buf[at + 9] != '\r' || buf[at + 10] != '\n')
        return 0;
    out->url = (gw_h1q_span){(uint32_t)url, (uint32_t)(at - url)};
    out->http_minor = buf[at + 8] - '0';
    at += 11;

    int seen_length = 0, conn_close = 0, conn_keep_alive = 0, seen_connection = 0;
    out->content_length = 0;
    size_t n = 0;
    for (;;) {
        const char *cr = at < limit ? memchr(buf + at, '\r', limit - at) : NULL;
        if (!cr) return 0;
        size_t end = (size_t)(cr - buf);
        if (end + 1 >= limit || buf[end + 1] != '\n') return 0;
        if (end == at) { /* the blank line */
            at = end + 2;
            break;
        }
        size_t name = at;
        while (at < end && token_char[(unsigned char)buf[at]])
            at++;
        if (at == name || at == end || buf[at] != ':' || n == max_headers) return 0;
        gw_h1q_header *h = &headers[n++];
        h->name = (gw_h1q_span){(uint32_t)name, (uint32_t)(at - name)};
        if (!read_value(buf, at + 1, end, &h->value)) return 0;
        const char *nm = buf + name, *v = buf + h->value.off;
        size_t nl = h->name.len, vl = h->value.len;
        char first = (char)(nm[0] | 0x20);
        if (first != 'c' && first != 't' && first != 'u' && first != 'p') {
            /* none of the names below: most headers are passed over at this one test */
        } else if (name_is(nm, nl, "content-length", 14)) {
            if (seen_length++ || !read_length(v, vl, &out->content_length)) return 0;
        } else if (name_is(nm, nl, "connection", 10)) {
            if (seen_connection++) return 0;
            if (name_is(v, vl, "close", 5))
                conn_close = 1;
            else if (name_is(v, vl, "keep-alive", 10))
                conn_keep_alive = 1;
            else
                return 0;
        } else if (name_is(nm, nl, "transfer-encoding", 17) || name_is(nm, nl, "upgrade", 7) ||
                   name_is(nm, nl, "proxy-connection", 16)) {
            return 0;
        }
        at = end + 2;
    }
    if (len - at < out->content_length) return 0; /* the body is still on its way */
    out->head_len = at;
    out->header_count = n;
    out->keep_alive = out->http_minor == 1 ? !conn_close : conn_keep_alive;
    return 1;
}
