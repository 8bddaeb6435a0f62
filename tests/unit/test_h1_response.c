/* The upstream answer parser (upstream/h1_response.h): what it reads of a head, how it frames a
 * body, that an answer cut anywhere (at every offset, a byte at a time, in random pieces) reads
 * the same, and that bad answers fail with a reason instead of being read. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "upstream/h1_response.h"

enum { BODY_MAX = 256 * 1024, PIECES_MAX = 1 << 20 };

/* What a parse saw. */
typedef struct seen {
    int heads, status, keep_alive, ended, failed;
    int64_t content_length;
    char content_type[GW_H1R_CONTENT_TYPE_MAX];
    char body[BODY_MAX];
    size_t body_len;
    int body_events;
    size_t used; /* input bytes read when it ended or failed */
    const char *error;
} seen;

/* Feeds `in` cut at the offsets in `cuts` (ascending, inside it), then an EOF when `eof`. Each
 * piece is copied into its own buffer, so a slice that outlived its read would be caught by the
 * sanitizer build. */
static void feed(seen *s, const char *in, size_t len, const size_t *cuts, size_t ncuts, int eof,
                 int head_request) {
    gw_h1_response r;
    memset(s, 0, sizeof *s);
    s->content_length = -2;
    gw_h1_response_init(&r, head_request);
    size_t from = 0;
    for (size_t i = 0; i <= ncuts && !s->ended && !s->failed; i++) {
        size_t to = i < ncuts ? cuts[i] : len;
        size_t n = to - from;
        char *piece = malloc(n ? n : 1);
        assert_non_null(piece);
        memcpy(piece, in + from, n);
        const char *at = piece, *end = piece + n;
        for (;;) {
            const char *data = NULL;
            size_t dlen = 0;
            gw_h1r_event ev = gw_h1_response_parse(&r, &at, end, &data, &dlen);
            assert_true(at >= piece && at <= end);
            if (ev == GW_H1R_MORE) {
                assert_ptr_equal(at, end);
                break;
            }
            if (ev == GW_H1R_HEAD) {
                s->heads++;
                s->status = r.status;
                s->keep_alive = r.keep_alive;
                s->content_length = r.content_length;
                strcpy(s->content_type, r.content_type);
            } else if (ev == GW_H1R_BODY) {
                assert_int_equal(s->heads, 1);
                assert_true(data >= piece && data + dlen <= end);
                assert_true(s->body_len + dlen <= BODY_MAX);
                memcpy(s->body + s->body_len, data, dlen);
                s->body_len += dlen;
                s->body_events++;
            } else if (ev == GW_H1R_END) {
                s->ended = 1;
                s->used = from + (size_t)(at - piece);
                /* it repeats, and reads no further */
                assert_int_equal(gw_h1_response_parse(&r, &at, end, &data, &dlen), GW_H1R_END);
                break;
            } else {
                s->failed = 1;
                s->used = from + (size_t)(at - piece);
                s->error = r.error;
                assert_non_null(r.error);
                assert_int_equal(gw_h1_response_parse(&r, &at, end, &data, &dlen), GW_H1R_ERROR);
                break;
            }
        }
        free(piece);
        from = to;
    }
    if (eof && !s->ended && !s->failed) {
        gw_h1r_event ev = gw_h1_response_eof(&r);
        if (ev == GW_H1R_END) {
            s->ended = 1;
            s->used = len;
        } else {
            assert_int_equal(ev, GW_H1R_ERROR);
            s->failed = 1;
            s->error = r.error;
        }
    }
}

static void feed_whole(seen *s, const char *in, int eof) {
    feed(s, in, strlen(in), NULL, 0, eof, 0);
}

static void expect_same(const seen *a, const seen *b) {
    assert_int_equal(a->heads, b->heads);
    assert_int_equal(a->status, b->status);
    assert_int_equal(a->keep_alive, b->keep_alive);
    assert_int_equal(a->content_length, b->content_length);
    assert_string_equal(a->content_type, b->content_type);
    assert_int_equal(a->ended, b->ended);
    assert_int_equal(a->failed, b->failed);
    assert_int_equal(a->used, b->used);
    assert_int_equal(a->body_len, b->body_len);
    assert_memory_equal(a->body, b->body, a->body_len);
}

static seen *new_seen(void) {
    seen *s = calloc(1, sizeof *s);
    assert_non_null(s);
    return s;
}

/* ---- heads and framing ---- */

static void content_length_body(void **state) {
    (void)state;
    seen *s = new_seen();
    feed_whole(s,
               "HTTP/1.1 200 OK\r\ncontent-TYPE:  application/json ; charset=utf-8 \r\n"
               "X-Other: whatever: it is\r\nContent-Length: 5\r\n\r\nhelloNEXT",
               0);
    assert_int_equal(s->heads, 1);
    assert_int_equal(s->status, 200);
    assert_string_equal(s->content_type, "application/json ; charset=utf-8");
    assert_int_equal(s->content_length, 5);
    assert_int_equal(s->keep_alive, 1);
    assert_true(s->ended);
    assert_int_equal(s->body_len, 5);
    assert_memory_equal(s->body, "hello", 5);
    assert_int_equal(s->body_events, 1);
    assert_int_equal(s->used, strlen("HTTP/1.1 200 OK\r\ncontent-TYPE:  application/json ; "
                                     "charset=utf-8 \r\nX-Other: whatever: it is\r\n"
                                     "Content-Length: 5\r\n\r\nhello")); /* NEXT left unread */
    free(s);
}

static const char chunked[] = "HTTP/1.1 200 OK\r\n"
                              "Content-Type: text/event-stream\r\n"
                              "Transfer-Encoding: chunked\r\n"
                              "Server: x\r\n"
                              "\r\n"
                              "1a\r\ndata: {\"n\":1,\"x\":\"abcd\"}\n\n\r\n"
                              "5;name=value;other\r\nhello\r\n"
                              "A \t;ext\r\n0123456789\r\n"
                              "0001\r\n!\r\n"
                              "0\r\n"
                              "Trailer-One: 1\r\n"
                              "Trailer-Two: 2\r\n"
                              "\r\n";
static const char chunked_body[] = "data: {\"n\":1,\"x\":\"abcd\"}\n\nhello0123456789!";

/* A chunk's data whole in the read comes in one piece. */
static void chunked_whole(void **state) {
    (void)state;
    seen *s = new_seen();
    feed_whole(s, chunked, 0);
    assert_true(s->ended);
    assert_int_equal(s->status, 200);
    assert_string_equal(s->content_type, "text/event-stream");
    assert_int_equal(s->content_length, -1);
    assert_int_equal(s->keep_alive, 1);
    assert_int_equal(s->body_len, strlen(chunked_body));
    assert_memory_equal(s->body, chunked_body, s->body_len);
    assert_int_equal(s->body_events, 4);
    assert_int_equal(s->used, strlen(chunked));
    free(s);
}

static void every_split_point(void **state) {
    (void)state;
    size_t len = strlen(chunked);
    seen *whole = new_seen(), *s = new_seen();
    feed(whole, chunked, len, NULL, 0, 0, 0);
    for (size_t cut = 1; cut < len; cut++) {
        feed(s, chunked, len, &cut, 1, 0, 0);
        expect_same(whole, s);
    }
    for (size_t a = 1; a < len; a += 3) /* two cuts: every region pair, sampled */
        for (size_t b = a + 1; b < len; b += 5) {
            size_t cuts[2] = {a, b};
            feed(s, chunked, len, cuts, 2, 0, 0);
            expect_same(whole, s);
        }
    free(whole);
    free(s);
}

static void byte_by_byte(void **state) {
    (void)state;
    size_t len = strlen(chunked);
    size_t *cuts = calloc(len, sizeof *cuts);
    assert_non_null(cuts);
    for (size_t i = 0; i + 1 < len; i++)
        cuts[i] = i + 1;
    seen *whole = new_seen(), *s = new_seen();
    feed(whole, chunked, len, NULL, 0, 0, 0);
    feed(s, chunked, len, cuts, len - 1, 0, 0);
    expect_same(whole, s);
    assert_int_equal(s->body_events, (int)strlen(chunked_body)); /* a byte each */
    free(cuts);
    free(whole);
    free(s);
}

static void random_pieces(void **state) {
    (void)state;
    /* a longer answer: many chunks, sizes in mixed case, some with extensions */
    static char in[64 * 1024], want[64 * 1024];
    size_t len = (size_t)snprintf(in, sizeof in,
                                  "HTTP/1.1 200 OK\r\nTransfer-Encoding: "
                                  "gzip, Chunked\r\nContent-Type: a/b\r\n\r\n");
    size_t want_len = 0;
    srand(12);
    for (int i = 0; i < 300; i++) {
        int n = 1 + rand() % 120;
        len += (size_t)snprintf(in + len, sizeof in - len, i % 3 ? "%X\r\n" : "%x;e=\"q\"\r\n", n);
        for (int k = 0; k < n; k++)
            in[len++] = want[want_len++] = (char)('a' + (i + k) % 26);
        in[len++] = '\r';
        in[len++] = '\n';
    }
    len += (size_t)snprintf(in + len, sizeof in - len, "0\r\n\r\n");
    seen *whole = new_seen(), *s = new_seen();
    feed(whole, in, len, NULL, 0, 0, 0);
    assert_true(whole->ended);
    assert_int_equal(whole->body_len, want_len);
    assert_memory_equal(whole->body, want, want_len);
    assert_int_equal(whole->body_events, 300);
    size_t cuts[64];
    for (int round = 0; round < 500; round++) {
        size_t ncuts = (size_t)(rand() % 64), at = 0;
        for (size_t i = 0; i < ncuts; i++) {
            at += 1 + (size_t)rand() % (len / 32);
            if (at >= len) {
                ncuts = i;
                break;
            }
            cuts[i] = at;
        }
        feed(s, in, len, cuts, ncuts, 0, 0);
        expect_same(whole, s);
    }
    free(whole);
    free(s);
}

static void close_delimited(void **state) {
    (void)state;
    seen *s = new_seen();
    feed_whole(s, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end", 0);
    assert_false(s->ended); /* not before the close */
    feed_whole(s, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end", 1);
    assert_true(s->ended);
    assert_int_equal(s->keep_alive, 0);
    assert_int_equal(s->content_length, -1);
    assert_memory_equal(s->body, "until the end", s->body_len);
    assert_int_equal(s->body_len, 13);
    /* a final coding other than chunked: to the close as well */
    feed_whole(s, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n5\r\nabc", 1);
    assert_true(s->ended);
    assert_int_equal(s->keep_alive, 0);
    assert_int_equal(s->body_len, 6);
    free(s);
}

static void interim_answers_skipped(void **state) {
    (void)state;
    static const char in[] = "HTTP/1.1 100 Continue\r\n\r\n"
                             "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\nContent-Type: x/y\r\n\r\n"
                             "HTTP/1.1 201 Created\r\nContent-Length: 3\r\n\r\nabc";
    seen *s = new_seen(), *t = new_seen();
    feed_whole(s, in, 0);
    assert_int_equal(s->heads, 1);
    assert_int_equal(s->status, 201);
    assert_string_equal(s->content_type, ""); /* the interim one's is not kept */
    assert_true(s->ended);
    for (size_t cut = 1; cut < strlen(in); cut++) {
        feed(t, in, strlen(in), &cut, 1, 0, 0);
        expect_same(s, t);
    }
    feed_whole(s, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n", 0);
    assert_true(s->failed);
    assert_int_equal(s->heads, 0);
    free(s);
    free(t);
}

static void bodiless_answers(void **state) {
    (void)state;
    seen *s = new_seen();
    feed_whole(s, "HTTP/1.1 204 No Content\r\n\r\nX", 0);
    assert_true(s->ended);
    assert_int_equal(s->body_len, 0);
    assert_int_equal(s->content_length, -1);
    assert_int_equal(s->used, 27);
    feed_whole(s, "HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n", 0);
    assert_true(s->ended);
    assert_int_equal(s->content_length, 10);
    assert_int_equal(s->body_len, 0);
    feed_whole(s, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 0);
    assert_true(s->ended);
    assert_int_equal(s->content_length, 0);
    assert_int_equal(s->keep_alive, 1);
    static const char head[] = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n";
    feed(s, head, strlen(head), NULL, 0, 0, 1); /* a HEAD's answer */
    assert_true(s->ended);
    assert_int_equal(s->body_len, 0);
    free(s);
}

static void keep_alive(void **state) {
    (void)state;
    seen *s = new_seen();
    feed_whole(s, "HTTP/1.1 200 OK\r\nConnection: Upgrade, Close\r\nContent-Length: 0\r\n\r\n", 0);
    assert_int_equal(s->keep_alive, 0);
    feed_whole(s, "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", 0);
    assert_int_equal(s->keep_alive, 0);
    feed_whole(s, "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n", 0);
    assert_int_equal(s->keep_alive, 1);
    feed_whole(s, "HTTP/1.1 200 OK\nContent-Length: 0\n\n", 0); /* bare LFs in the head */
    assert_true(s->ended);
    assert_int_equal(s->keep_alive, 1);
    free(s);
}

/* ---- bad answers ---- */

static void expect_failure(const char *in, const char *why) {
    seen *s = new_seen();
    feed_whole(s, in, 1);
    if (!s->failed) fail_msg("read as good: %s", in);
    assert_false(s->ended);
    if (why && !strstr(s->error, why)) fail_msg("\"%s\" for %s, not %s", s->error, in, why);
    /* cut a byte at a time, it fails the same */
    size_t len = strlen(in);
    size_t *cuts = calloc(len + 1, sizeof *cuts);
    assert_non_null(cuts);
    for (size_t i = 0; i + 1 < len; i++)
        cuts[i] = i + 1;
    seen *t = new_seen();
    feed(t, in, len, cuts, len ? len - 1 : 0, 1, 0);
    assert_true(t->failed);
    assert_string_equal(t->error, s->error);
    free(cuts);
    free(s);
    free(t);
}

#define TE_HEAD "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"

static void bad_chunk_framing(void **state) {
    (void)state;
    expect_failure(TE_HEAD "zz\r\n", "bad chunk size");
    expect_failure(TE_HEAD "\r\n", "bad chunk size");
    expect_failure(TE_HEAD "-1\r\n", "bad chunk size");
    expect_failure(TE_HEAD "5 5\r\nhello\r\n", "bad chunk size");
    expect_failure(TE_HEAD "10000000000000000\r\n", "too large");      /* 2^64 */
    expect_failure(TE_HEAD "fffffffffffffffff\r\n", "too large");      /* 17 digits */
    expect_failure(TE_HEAD "8000000000000000\r\n", "too large");       /* 2^63 */
    expect_failure(TE_HEAD "5\r\nhelloX\r\n0\r\n\r\n", "CRLF");        /* data then no CRLF */
    expect_failure(TE_HEAD "5\r\nhello\rX0\r\n\r\n", "CRLF");          /* CR then no LF */
    expect_failure(TE_HEAD "5\r\nhello\n0\r\n\r\n", "CRLF");           /* a bare LF */
    expect_failure(TE_HEAD "5\nhello\r\n0\r\n\r\n", "bad chunk size"); /* no CR on the size */
    expect_failure(TE_HEAD "5\rhello\r\n0\r\n\r\n", "LF");
    expect_failure(TE_HEAD "5;a\nb\r\nhello\r\n0\r\n\r\n", "CR");
    expect_failure(TE_HEAD "5\r\nhel", "closed before"); /* closed mid-chunk */
    expect_failure(TE_HEAD "5\r\nhello\r\n0\r\nTrailer: x\r\n", "closed before");
    static char ext[GW_H1R_CHUNK_EXT_MAX + 200];
    int n = snprintf(ext, sizeof ext, TE_HEAD "5;");
    memset(ext + n, 'e', GW_H1R_CHUNK_EXT_MAX + 10);
    expect_failure(ext, "extension too long");
}

static void bad_heads(void **state) {
    (void)state;
    expect_failure("SSH-2.0-OpenSSH_9.6\r\n\r\n", "not an HTTP/1.x answer");
    expect_failure("HTTP/2 200\r\n\r\n", "not an HTTP/1.x answer");
    expect_failure("HTTP/1.1 20\r\n\r\n", "bad status line");
    expect_failure("HTTP/1.1 2000 OK\r\n\r\n", "bad status line");
    expect_failure("HTTP/1.1 abc OK\r\n\r\n", "bad status line");
    expect_failure("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
                   "3\r\nabc\r\n0\r\n\r\n",
                   "both Content-Length and Transfer-Encoding");
    expect_failure("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\nabc",
                   "both");
    expect_failure("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc", "twice");
    expect_failure("HTTP/1.1 200 OK\r\nContent-Length: 3, 3\r\n\r\nabc", "bad Content-Length");
    expect_failure("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "bad Content-Length");
    expect_failure("HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\n", "bad Content-Length");
    expect_failure("HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n", "too large");
    expect_failure("HTTP/1.1 200 OK\r\nContent-Length : 3\r\n\r\nabc", "bad header name");
    expect_failure("HTTP/1.1 200 OK\r\n: 3\r\n\r\n", "bad header name");
    expect_failure("HTTP/1.1 200 OK\r\nNo colon\r\n\r\n", "bad header name");
    expect_failure("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n 4\r\n\r\nabc", "folded");
    expect_failure("HTTP/1.1 200 OK\r\nConnection: a\rb\r\n\r\n", "control character");
    expect_failure("HTTP/1.1 200 OK\r\n\rX", "CR without its LF");
    expect_failure("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nabc", "closed before");
    expect_failure("HTTP/1.1 200 OK\r\nContent-Le", "closed before");
    expect_failure("", "closed before");
}

static void head_bounds(void **state) {
    (void)state;
    size_t cap = GW_H1R_HEAD_MAX + 4096;
    char *in = malloc(cap);
    assert_non_null(in);
    /* one huge skipped header */
    int n = snprintf(in, cap, "HTTP/1.1 200 OK\r\nX-Big: ");
    memset(in + n, 'v', GW_H1R_HEAD_MAX);
    strcpy(in + n + GW_H1R_HEAD_MAX, "\r\n\r\n");
    expect_failure(in, "larger than the bound");
    /* a huge reason phrase */
    n = snprintf(in, cap, "HTTP/1.1 200 ");
    memset(in + n, 'r', GW_H1R_HEAD_MAX);
    strcpy(in + n + GW_H1R_HEAD_MAX, "\r\n\r\n");
    expect_failure(in, "larger than the bound");
    /* too many small lines */
    n = snprintf(in, cap, "HTTP/1.1 200 OK\r\n");
    for (int i = 0; i <= GW_H1R_LINES_MAX; i++)
        n += snprintf(in + n, cap - (size_t)n, "X-%d: y\r\n", i);
    strcpy(in + n, "Content-Length: 0\r\n\r\n");
    expect_failure(in, "more header lines than the bound");
    /* a value read by the client, longer than its bound */
    n = snprintf(in, cap, "HTTP/1.1 200 OK\r\nTransfer-Encoding: ");
    memset(in + n, ',', GW_H1R_VALUE_MAX);
    strcpy(in + n + GW_H1R_VALUE_MAX, "chunked\r\n\r\n0\r\n\r\n");
    expect_failure(in, "too long");
    /* endless trailers */
    n = snprintf(in, cap, TE_HEAD "0\r\n");
    for (int i = 0; i <= GW_H1R_LINES_MAX; i++)
        n += snprintf(in + n, cap - (size_t)n, "T-%d: y\r\n", i);
    strcpy(in + n, "\r\n");
    expect_failure(in, "more trailer lines than the bound");
    /* just under the bounds: read */
    n = snprintf(in, cap, "HTTP/1.1 200 OK\r\n");
    for (int i = 0; i < GW_H1R_LINES_MAX - 1; i++)
        n += snprintf(in + n, cap - (size_t)n, "X-%d: y\r\n", i);
    n += snprintf(in + n, cap - (size_t)n, "Content-Type: ");
    memset(in + n, 't', 300); /* cut to fit, not a failure */
    strcpy(in + n + 300, "\r\n\r\n");
    seen *s = new_seen();
    feed_whole(s, in, 1);
    assert_true(s->ended);
    assert_int_equal(strlen(s->content_type), GW_H1R_CONTENT_TYPE_MAX - 1);
    free(s);
    free(in);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(content_length_body),
        cmocka_unit_test(chunked_whole),
        cmocka_unit_test(every_split_point),
        cmocka_unit_test(byte_by_byte),
        cmocka_unit_test(random_pieces),
        cmocka_unit_test(close_delimited),
        cmocka_unit_test(interim_answers_skipped),
        cmocka_unit_test(bodiless_answers),
        cmocka_unit_test(keep_alive),
        cmocka_unit_test(bad_chunk_framing),
        cmocka_unit_test(bad_heads),
        cmocka_unit_test(head_bounds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
