#include "upstream/h1_response.h"

#include <string.h>

typedef enum {
    S_STATUS,         /* "HTTP/1.x SSS reason" */
    S_LINE_START,     /* a header line, or the blank line that ends the head */
    S_NAME,           /* a header's name, up to its ':' */
    S_VALUE_OWS,      /* the spaces before a value */
    S_VALUE,          /* a value the client reads, up to its line's end */
    S_SKIP_LINE,      /* a header the client does not read */
    S_HEAD_LF,        /* the LF of the blank line */
    S_LENGTH,         /* a body of Content-Length bytes */
    S_CLOSE,          /* a body that ends with the connection */
    S_CHUNK_SIZE_1ST, /* a chunk's first hex digit */
    S_CHUNK_SIZE,     /* its other hex digits */
    S_CHUNK_BWS,      /* spaces after them */
    S_CHUNK_EXT,      /* ";name=value" after them, skipped */
    S_CHUNK_SIZE_LF,  /* the size line's LF */
    S_CHUNK_DATA,     /* the chunk's bytes */
    S_CHUNK_DATA_CR,  /* the CRLF after them */
    S_CHUNK_DATA_LF,  /* */
    S_TRAILER_START,  /* a trailer line, or the blank line that ends the answer */
    S_TRAILER_SKIP,   /* a trailer line, skipped */
    S_TRAILER_LF,     /* the LF of the blank line */
    S_DONE,
    S_FAILED,
} parse_state;

typedef enum { F_OTHER, F_CONTENT_TYPE, F_CONTENT_LENGTH, F_TRANSFER_ENCODING, F_CONNECTION } field;

enum { NAME_MAX = 17, /* "transfer-encoding", the longest name read */ STATUS_KEPT = 13 };

/* RFC 9110's tchar, what a header's name is made of, each mapped to its lowercase (0: not one). */
static const char name_char[256] = {
    ['!'] = '!', ['#'] = '#', ['$'] = '$', ['%'] = '%', ['&'] = '&', ['\''] = '\'', ['*'] = '*',
    ['+'] = '+', ['-'] = '-', ['.'] = '.', ['^'] = '^', ['_'] = '_', ['`'] = '`',   ['|'] = '|',
    ['~'] = '~', ['0'] = '0', ['1'] = '1', ['2'] = '2', ['3'] = '3', ['4'] = '4',   ['5'] = '5',
    ['6'] = '6', ['7'] = '7', ['8'] = '8', ['9'] = '9', ['A'] = 'a', ['B'] = 'b',   ['C'] = 'c',
    ['D'] = 'd', ['E'] = 'e', ['F'] = 'f', ['G'] = 'g', ['H'] = 'h', ['I'] = 'i',   ['J'] = 'j',
    ['K'] = 'k', ['L'] = 'l', ['M'] = 'm', ['N'] = 'n', ['O'] = 'o', ['P'] = 'p',   ['Q'] = 'q',
    ['R'] = 'r', ['S'] = 's', ['T'] = 't', ['U'] = 'u', ['V'] = 'v', ['W'] = 'w',   ['X'] = 'x',
    ['Y'] = 'y', ['Z'] = 'z', ['a'] = 'a', ['b'] = 'b', ['c'] = 'c', ['d'] = 'd',   ['e'] = 'e',
    ['f'] = 'f', ['g'] = 'g', ['h'] = 'h', ['i'] = 'i', ['j'] = 'j', ['k'] = 'k',   ['l'] = 'l',
    ['m'] = 'm', ['n'] = 'n', ['o'] = 'o', ['p'] = 'p', ['q'] = 'q', ['r'] = 'r',   ['s'] = 's',
    ['t'] = 't', ['u'] = 'u', ['v'] = 'v', ['w'] = 'w', ['x'] = 'x', ['y'] = 'y',   ['z'] = 'z'};

/* What a header's value may not hold: the control characters but HT. */
static const unsigned char value_ctl[256] = {
    [0] = 1,  [1] = 1,  [2] = 1,  [3] = 1,  [4] = 1,  [5] = 1,  [6] = 1,  [7] = 1,
    [8] = 1,  [10] = 1, [11] = 1, [12] = 1, [13] = 1, [14] = 1, [15] = 1, [16] = 1,
    [17] = 1, [18] = 1, [19] = 1, [20] = 1, [21] = 1, [22] = 1, [23] = 1, [24] = 1,
    [25] = 1, [26] = 1, [27] = 1, [28] = 1, [29] = 1, [30] = 1, [31] = 1, [127] = 1};

/* A hex digit's value plus one (0: not one). */
static const unsigned char hex_digit[256] = {
    ['0'] = 1,  ['1'] = 2,  ['2'] = 3,  ['3'] = 4,  ['4'] = 5,  ['5'] = 6,  ['6'] = 7,  ['7'] = 8,
    ['8'] = 9,  ['9'] = 10, ['a'] = 11, ['b'] = 12, ['c'] = 13, ['d'] = 14, ['e'] = 15, ['f'] = 16,
    ['A'] = 11, ['B'] = 12, ['C'] = 13, ['D'] = 14, ['E'] = 15, ['F'] = 16};

static int is_ows(char ch) {
    return ch == ' ' || ch == '\t';
}

static void reset_head(gw_h1_response *r) {
    r->state = S_STATUS;
    r->len = 0;
    r->field = F_OTHER;
    r->seen_length = r->seen_te = r->seen_type = r->te_chunked = 0;
    r->conn_close = r->conn_keep_alive = r->cut = 0;
    r->content_length = -1;
    r->content_type[0] = '\0';
}

void gw_h1_response_init(gw_h1_response *r, int head_request) {
    r->status = 0;
    r->keep_alive = 0;
    r->error = NULL;
    r->no_body = head_request != 0;
    r->head_bytes = r->lines = 0;
    r->left = 0;
    reset_head(r);
}

static gw_h1r_event fail(gw_h1_response *r, const char *why) {
    r->state = S_FAILED;
    r->error = why;
    return GW_H1R_ERROR;
}

static int token_is(const char *s, size_t len, const char *word) {
    size_t n = strlen(word);
    if (len != n) return 0;
    for (size_t i = 0; i < n; i++)
        if ((s[i] | 0x20) != word[i]) return 0;
    return 1;
}

/* Calls `each` on every comma-separated token of the value, spaces trimmed. */
static void for_each_token(gw_h1_response *r,
                           void (*each)(gw_h1_response *, const char *, size_t)) {
    const char *s = r->buf, *end = r->buf + r->len;
    while (s < end) {
        const char *comma = memchr(s, ',', (size_t)(end - s));
        const char *stop = comma ? comma : end;
        const char *a = s, *b = stop;
        while (a < b && is_ows(*a))
            a++;
        while (b > a && is_ows(b[-1]))
            b--;
        if (b > a) each(r, a, (size_t)(b - a));
        s = comma ? comma + 1 : end;
    }
}

static void transfer_coding(gw_h1_response *r, const char *s, size_t len) {
    r->te_chunked = token_is(s, len, "chunked"); /* the last one counts */
}

static void connection_option(gw_h1_response *r, const char *s, size_t len) {
    if (token_is(s, len, "close")) r->conn_close = 1;
    if (token_is(s, len, "keep-alive")) r->conn_keep_alive = 1;
}

/* A value the client reads is whole in buf (its CR, if any, still on). */
static const char *take_value(gw_h1_response *r) {
    if (r->len && r->buf[r->len - 1] == '\r' && !r->cut) r->len--;
    unsigned ctl = 0;
    for (size_t i = 0; i < r->len; i++)
        ctl |= value_ctl[(unsigned char)r->buf[i]];
    if (ctl) return "a control character in a header";
    while (r->len && is_ows(r->buf[r->len - 1]))
        r->len--;
    switch (r->field) {
    case F_CONTENT_TYPE:
        if (!r->seen_type) { /* the first one; cut to fit */
            size_t n = r->len < GW_H1R_CONTENT_TYPE_MAX - 1 ? r->len : GW_H1R_CONTENT_TYPE_MAX - 1;
            memcpy(r->content_type, r->buf, n);
            r->content_type[n] = '\0';
            r->seen_type = 1;
        }
        return NULL;
    case F_CONTENT_LENGTH: {
        if (r->seen_length) return "Content-Length given twice";
        if (r->cut || r->len == 0) return "a bad Content-Length";
        int64_t v = 0;
        for (size_t i = 0; i < r->len; i++) {
            char ch = r->buf[i];
            if (ch < '0' || ch > '9') return "a bad Content-Length";
            if (v > (INT64_MAX - 9) / 10) return "a Content-Length too large";
            v = v * 10 + (ch - '0');
        }
        r->seen_length = 1;
        r->content_length = v;
        return NULL;
    }
    case F_TRANSFER_ENCODING:
        if (r->cut) return "a Transfer-Encoding too long";
        r->seen_te = 1;
        for_each_token(r, transfer_coding);
        return NULL;
    case F_CONNECTION:
        if (r->cut) return "a Connection header too long";
        for_each_token(r, connection_option);
        return NULL;
    default:
        return NULL;
    }
}

/* buf holds a header's name, lowercased (NAME_MAX + 1 long when longer than any read). */
static field field_of(const gw_h1_response *r) {
    switch (r->len) {
    case 10:
        return memcmp(r->buf, "connection", 10) ? F_OTHER : F_CONNECTION;
    case 12:
        return memcmp(r->buf, "content-type", 12) ? F_OTHER : F_CONTENT_TYPE;
    case 14:
        return memcmp(r->buf, "content-length", 14) ? F_OTHER : F_CONTENT_LENGTH;
    case 17:
        return memcmp(r->buf, "transfer-encoding", 17) ? F_OTHER : F_TRANSFER_ENCODING;
    default:
        return F_OTHER;
    }
}

/* buf holds the status line's first bytes. */
static const char *take_status(gw_h1_response *r) {
    const char *s = r->buf;
    if (r->len < 12 || s[7] < '0' || s[7] > '9' || s[8] != ' ') return "a bad status line";
    int status = 0;
    for (int i = 9; i < 12; i++) {
        if (s[i] < '0' || s[i] > '9') return "a bad status line";
        status = status * 10 + (s[i] - '0');
    }
    if (status < 100 || (r->len > 12 && s[12] != ' ' && s[12] != '\r')) return "a bad status line";
    r->status = status;
    r->minor = (uint8_t)(s[7] - '0');
    return NULL;
}

/* The blank line after a head: an interim one is passed over, a final one says how its body is
 * framed (RFC 9112 section 6.3). */
static gw_h1r_event head_done(gw_h1_response *r) {
    if (r->status / 100 == 1) {
        if (r->status == 101) return fail(r, "101 Switching Protocols, which was not asked for");
        reset_head(r); /* 100 Continue, 103 Early Hints: the real one follows */
        return GW_H1R_MORE;
    }
    if (r->seen_te && r->seen_length) return fail(r, "both Content-Length and Transfer-Encoding");
    int keep = r->minor >= 1 ? !r->conn_close : r->conn_keep_alive && !r->conn_close;
    if (r->no_body || r->status == 204 || r->status == 304) {
        r->state = S_DONE;
    } else if (r->seen_te) { /* a final coding other than chunked: the body runs to the close */
        r->state = r->te_chunked ? S_CHUNK_SIZE_1ST : S_CLOSE;
        r->left = 0; /* the first chunk's size is read into it */
    } else if (r->seen_length) {
        r->left = (uint64_t)r->content_length;
        r->state = r->left ? S_LENGTH : S_DONE;
    } else {
        r->state = S_CLOSE;
    }
    if (r->state == S_CLOSE) keep = 0;
    r->keep_alive = keep;
    return GW_H1R_HEAD;
}

/* Counts head (or trailer) bytes against their bound. */
#define HEAD_TAKE(n)                                                                               \
    do {                                                                                           \
        size_t taken_ = (size_t)(n); /* before p moves: n may be reckoned from p */                \
        p += taken_;                                                                               \
        if ((r->head_bytes += (uint32_t)taken_) > GW_H1R_HEAD_MAX)                                 \
            return *at = p, fail(r, "a head larger than the bound");                               \
    } while (0)

#define FAIL(why) return *at = p, fail(r, why)

/* Everything but the fast case of gw_h1_response_parse: kept out of line, so that the fast case
 * pays for no more registers than it uses. */
__attribute__((noinline)) static gw_h1r_event
parse_general(gw_h1_response *r, const char **at, const char *end, const char **data, size_t *len) {
    const char *p = *at;
    for (;;) {
        if (r->state == S_DONE) return *at = p, GW_H1R_END;
        if (r->state == S_FAILED) return *at = p, GW_H1R_ERROR;
        if (p == end) return *at = p, GW_H1R_MORE;
        switch ((parse_state)r->state) {
        case S_STATUS: { /* its first bytes kept, in one loop; the reason phrase skipped */
            const char *q = p;
            while (q < end && r->len < STATUS_KEPT && *q != '\n') {
                if (r->len < 7 && *q != "HTTP/1."[r->len]) {
                    p = q;
                    FAIL("not an HTTP/1.x answer");
                }
                r->buf[r->len++] = *q++;
            }
            if (q < end && *q != '\n') {
                const char *lf = memchr(q, '\n', (size_t)(end - q));
                q = lf ? lf : end;
            }
            HEAD_TAKE(q - p);
            if (p < end) { /* at its LF */
                HEAD_TAKE(1);
                const char *why = take_status(r);
                if (why) FAIL(why);
                r->len = 0;
                r->state = S_LINE_START;
            }
            break;
        }
        case S_LINE_START:
            if (*p == '\r') {
                HEAD_TAKE(1);
                r->state = S_HEAD_LF;
            } else if (*p == '\n') {
                HEAD_TAKE(1);
                gw_h1r_event ev = head_done(r);
                if (ev != GW_H1R_MORE) return *at = p, ev;
            } else if (is_ows(*p)) { /* obs-fold: a value that goes on in this line */
                if (r->field != F_OTHER) FAIL("a folded header line");
                r->state = S_SKIP_LINE;
            } else {
                if (++r->lines > GW_H1R_LINES_MAX) FAIL("more header lines than the bound");
                r->len = 0;
                r->state = S_NAME;
            }
            break;
        case S_NAME: { /* in one loop, lowercased; only as much kept as tells the names read */
            const char *q = p;
            size_t n = r->len;
            char lower;
            while (q < end && (lower = name_char[(unsigned char)*q]) != 0) {
                if (n < NAME_MAX) r->buf[n] = lower;
                n++;
                q++;
            }
            r->len = n <= NAME_MAX ? n : NAME_MAX + 1; /* longer than any name read */
            unsigned char ch = q < end ? (unsigned char)*q : 0;
            HEAD_TAKE(q - p);
            if (p == end) break;
            if (ch != ':' || !r->len) FAIL("a bad header name");
            HEAD_TAKE(1);
            r->field = (uint8_t)field_of(r);
            r->len = 0;
            r->cut = 0;
            if (r->field == F_OTHER) {
                r->state = S_SKIP_LINE;
                break;
            }
            r->state = S_VALUE_OWS;
        }
            /* fall through */
        case S_VALUE_OWS: {
            const char *q = p;
            while (q < end && is_ows(*q))
                q++;
            HEAD_TAKE(q - p);
            if (p < end) r->state = S_VALUE;
            break;
        }
        case S_VALUE: {
            const char *lf = memchr(p, '\n', (size_t)(end - p));
            size_t n = (size_t)((lf ? lf : end) - p), room = sizeof r->buf - r->len;
            if (n > room) r->cut = 1;
            memcpy(r->buf + r->len, p, n < room ? n : room);
            r->len += n < room ? n : room;
            HEAD_TAKE(n);
            if (lf) {
                HEAD_TAKE(1);
                const char *why = take_value(r);
                if (why) FAIL(why);
                r->state = S_LINE_START;
            }
            break;
        }
        case S_SKIP_LINE: {
            const char *lf = memchr(p, '\n', (size_t)(end - p));
            HEAD_TAKE((lf ? lf + 1 : end) - p);
            if (lf) r->state = S_LINE_START;
            break;
        }
        case S_HEAD_LF: {
            if (*p != '\n') FAIL("a CR without its LF");
            HEAD_TAKE(1);
            gw_h1r_event ev = head_done(r);
            if (ev != GW_H1R_MORE) return *at = p, ev;
            break;
        }
        case S_LENGTH: {
            size_t n = (size_t)(end - p);
            if (n > r->left) n = (size_t)r->left;
            r->left -= n;
            *data = p;
            *len = n;
            *at = p + n;
            if (!r->left) r->state = S_DONE;
            return GW_H1R_BODY;
        }
        case S_CLOSE:
            *data = p;
            *len = (size_t)(end - p);
            *at = end;
            return GW_H1R_BODY;
        case S_CHUNK_SIZE_1ST:
        case S_CHUNK_SIZE: {
            /* the digits, in one loop: a stream event's size line is a few bytes */
            const char *q = p;
            uint64_t size = r->left;
            unsigned v;
            while (q < end && (v = hex_digit[(unsigned char)*q]) != 0) {
                if (size >> 59) FAIL("a chunk size too large"); /* the next digit would overflow */
                size = size << 4 | (v - 1);
                q++;
            }
            r->left = size;
            if (q > p) r->state = S_CHUNK_SIZE;
            p = q;
            if (p == end) break;
            if (r->state == S_CHUNK_SIZE_1ST) FAIL("a bad chunk size");
            if (end - p >= 2 && p[0] == '\r' && p[1] == '\n') { /* the usual: no extension */
                p++;
                r->state = S_CHUNK_SIZE_LF;
            } else {
                r->state = S_CHUNK_BWS;
                break;
            }
        }
            /* fall through */
        case S_CHUNK_SIZE_LF:
            if (*p++ != '\n') FAIL("a chunk size line without its LF");
            if (r->left) {
                r->state = S_CHUNK_DATA;
            } else { /* the last chunk: trailers follow, bounded afresh */
                r->head_bytes = r->lines = 0;
                r->state = S_TRAILER_START;
            }
            break;
        case S_CHUNK_BWS:
            if (is_ows(*p)) {
                p++;
            } else if (*p == ';') {
                p++;
                r->len = 0;
                r->state = S_CHUNK_EXT;
            } else if (*p == '\r') {
                p++;
                r->state = S_CHUNK_SIZE_LF;
            } else {
                FAIL("a bad chunk size");
            }
            break;
        case S_CHUNK_EXT: { /* up to the CR; its length bounded, its bytes not read */
            const char *cr = memchr(p, '\r', (size_t)(end - p));
            size_t n = (size_t)((cr ? cr : end) - p);
            if (memchr(p, '\n', n)) FAIL("a chunk size line without its CR");
            if ((r->len += n) > GW_H1R_CHUNK_EXT_MAX) FAIL("a chunk extension too long");
            p += n;
            if (cr) {
                p++;
                r->state = S_CHUNK_SIZE_LF;
            }
            break;
        }
        case S_CHUNK_DATA: {
            size_t n = (size_t)(end - p);
            if (n > r->left) n = (size_t)r->left;
            r->left -= n;
            *data = p;
            *len = n;
            *at = p + n;
            if (!r->left) {
                if (end - *at >= 2 && (*at)[0] == '\r' && (*at)[1] == '\n') { /* its CRLF too */
                    *at += 2;
                    r->state = S_CHUNK_SIZE_1ST;
                } else {
                    r->state = S_CHUNK_DATA_CR;
                }
            }
            return GW_H1R_BODY;
        }
        case S_CHUNK_DATA_CR:
            if (*p++ != '\r') FAIL("a chunk not followed by CRLF");
            if (p == end) {
                r->state = S_CHUNK_DATA_LF;
                break;
            }
            /* fall through */
        case S_CHUNK_DATA_LF:
            if (*p++ != '\n') FAIL("a chunk not followed by CRLF");
            r->state = S_CHUNK_SIZE_1ST;
            break;
        case S_TRAILER_START:
            if (*p == '\r') {
                HEAD_TAKE(1);
                r->state = S_TRAILER_LF;
            } else if (*p == '\n') {
                HEAD_TAKE(1);
                r->state = S_DONE;
            } else {
                if (++r->lines > GW_H1R_LINES_MAX) FAIL("more trailer lines than the bound");
                r->state = S_TRAILER_SKIP;
            }
            break;
        case S_TRAILER_SKIP: {
            const char *lf = memchr(p, '\n', (size_t)(end - p));
            HEAD_TAKE((lf ? lf + 1 : end) - p);
            if (lf) r->state = S_TRAILER_START;
            break;
        }
        case S_TRAILER_LF:
            if (*p != '\n') FAIL("a CR without its LF");
            HEAD_TAKE(1);
            r->state = S_DONE;
            break;
        case S_DONE:
        case S_FAILED:
            break; /* handled above */
        }
    }
}

gw_h1r_event gw_h1_response_parse(gw_h1_response *r, const char **at, const char *end,
                                  const char **data, size_t *len) {
    const char *p = *at;
    if (r->state == S_CHUNK_SIZE_1ST) { /* the usual stream event: a whole chunk in the read */
        const char *q = p, *digits_end = end - p > 15 ? p + 15 : end; /* 15: no overflow */
        uint64_t size = 0;
        unsigned v;
        while (q < digits_end && (v = hex_digit[(unsigned char)*q]) != 0) {
            size = size << 4 | (v - 1);
            q++;
        }
        if (size && end - q >= 2 && q[0] == '\r' && q[1] == '\n' &&
            (uint64_t)(end - q - 2) >= size) {
            *data = q + 2;
            *len = (size_t)size;
            q += 2 + size;
            if (end - q >= 2 && q[0] == '\r' && q[1] == '\n')
                q += 2; /* and the next chunk's size is read the same way */
            else
                r->state = S_CHUNK_DATA_CR;
            *at = q;
            return GW_H1R_BODY;
        }
    }
    return parse_general(r, at, end, data, len);
}

int gw_h1_response_whole(const gw_h1_response *r) {
    return r->state == S_DONE;
}

gw_h1r_event gw_h1_response_eof(gw_h1_response *r) {
    if (r->state == S_CLOSE) r->state = S_DONE;
    if (r->state == S_DONE) return GW_H1R_END;
    if (r->state != S_FAILED) fail(r, "the connection closed before the answer's end");
    return GW_H1R_ERROR;
}
