/* The fast path for plain requests (core/h1_request_head.h) against http-parser, which reads
 * every request it declines: whatever it accepts, http-parser must read the same way (method,
 * version, URL, each header, body, keep-alive, where the request ends), over a corpus of real
 * clients' heads, hand-made edge cases, and many thousands of mutations of them. */
#include <setjmp.h>
#include <stdarg.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <http_parser.h>

#include "core/h1_request_head.h"
#include "mutate.h"

enum { MAX_HEADERS = 32, TEXT_MAX = 32 * 1024 };

/* What http-parser made of a buffer. */
typedef struct reading {
    int error, complete, method, minor, keep_alive;
    size_t used;
    uint64_t content_length;
    char url[TEXT_MAX];
    size_t url_len;
    char names[MAX_HEADERS * 2][256], values[MAX_HEADERS * 2][1024];
    size_t name_len[MAX_HEADERS * 2], value_len[MAX_HEADERS * 2];
    size_t headers;
    int in_value;
    char body[TEXT_MAX];
    size_t body_len;
} reading;

static int append(char *dst, size_t *len, size_t cap, const char *at, size_t n) {
    if (*len + n > cap) return -1;
    memcpy(dst + *len, at, n);
    *len += n;
    return 0;
}

static int on_url(http_parser *p, const char *at, size_t n) {
    reading *r = p->data;
    return append(r->url, &r->url_len, sizeof r->url, at, n);
}

static int on_field(http_parser *p, const char *at, size_t n) {
    reading *r = p->data;
    if (r->in_value || r->headers == 0) {
        if (r->headers == MAX_HEADERS * 2) return -1;
        r->headers++;
        r->in_value = 0;
    }
    size_t i = r->headers - 1;
    return append(r->names[i], &r->name_len[i], sizeof r->names[i], at, n);
}

static int on_value(http_parser *p, const char *at, size_t n) {
    reading *r = p->data;
    r->in_value = 1;
    size_t i = r->headers - 1;
    return append(r->values[i], &r->value_len[i], sizeof r->values[i], at, n);
}

static int on_headers_complete(http_parser *p) {
    reading *r = p->data;
    r->method = p->method;
    r->minor = p->http_minor;
    r->content_length = p->content_length == ULLONG_MAX ? 0 : p->content_length;
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t n) {
    reading *r = p->data;
    return append(r->body, &r->body_len, sizeof r->body, at, n);
}

static int on_complete(http_parser *p) {
    reading *r = p->data;
    r->complete = 1;
    r->keep_alive = http_should_keep_alive(p);
    http_parser_pause(p, 1);
    return 0;
}

static const http_parser_settings settings = {
    .on_url = on_url,
    .on_header_field = on_field,
    .on_header_value = on_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_complete,
};

static void read_with_http_parser(const char *buf, size_t len, reading *r) {
    memset(r, 0, sizeof *r);
    http_parser p;
    http_parser_init(&p, HTTP_REQUEST);
    p.data = r;
    r->used = http_parser_execute(&p, &settings, buf, len);
    enum http_errno e = HTTP_PARSER_ERRNO(&p);
    r->error = e != HPE_OK && e != HPE_PAUSED;
}

static reading theirs;

/* 1 when the fast path read buf; then http-parser must agree with every field of it. */
static int check(const char *buf, size_t len) {
    gw_h1_request_head h;
    gw_h1q_header headers[MAX_HEADERS];
    if (!gw_h1_request_head_read(buf, len, &h, headers, MAX_HEADERS)) return 0;
    read_with_http_parser(buf, len, &theirs);
    if (theirs.error || !theirs.complete) {
        fprintf(stderr, "accepted, but http-parser %s:\n%.*s\n",
                theirs.error ? "refuses it" : "wants more", (int)len, buf);
        fail();
    }
    assert_int_equal(theirs.used, h.head_len + h.content_length);
    assert_int_equal(theirs.method, h.method);
    assert_int_equal(theirs.minor, h.http_minor);
    assert_int_equal(theirs.keep_alive, h.keep_alive);
    assert_int_equal(theirs.content_length, h.content_length);
    assert_int_equal(theirs.url_len, h.url.len);
    assert_memory_equal(theirs.url, buf + h.url.off, h.url.len);
    assert_int_equal(theirs.headers, h.header_count);
    for (size_t i = 0; i < h.header_count; i++) {
        assert_int_equal(theirs.name_len[i], headers[i].name.len);
        assert_memory_equal(theirs.names[i], buf + headers[i].name.off, headers[i].name.len);
        if (theirs.value_len[i] != headers[i].value.len ||
            memcmp(theirs.values[i], buf + headers[i].value.off, headers[i].value.len)) {
            fprintf(stderr, "header %zu: http-parser [%.*s], fast [%.*s]\n", i,
                    (int)theirs.value_len[i], theirs.values[i], (int)headers[i].value.len,
                    buf + headers[i].value.off);
            fail();
        }
    }
    assert_int_equal(theirs.body_len, h.content_length);
    assert_memory_equal(theirs.body, buf + h.head_len, h.content_length);
    return 1;
}

static int check_text(const char *text) {
    return check(text, strlen(text));
}

#define BODY "{\"model\":\"chat\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}"

/* heads as real clients send them */
static const char *const clients[] = {
    /* the openai npm package (through undici) */
    "POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1:8080\r\nconnection: keep-alive\r\n"
    "content-type: application/json\r\naccept: application/json\r\n"
    "authorization: Bearer sk-test\r\nuser-agent: OpenAI/JS 4.104.0\r\n"
    "x-stainless-lang: js\r\nx-stainless-package-version: 4.104.0\r\nx-stainless-os: Linux\r\n"
    "x-stainless-arch: x64\r\nx-stainless-runtime: node\r\n"
    "x-stainless-runtime-version: v20.20.2\r\nx-stainless-retry-count: 0\r\n"
    "x-stainless-timeout: 600000\r\naccept-language: *\r\nsec-fetch-mode: cors\r\n"
    "accept-encoding: gzip, deflate\r\ncontent-length: 60\r\n\r\n" BODY,
    /* curl */
    "POST /v1/chat/completions HTTP/1.1\r\nHost: localhost:8080\r\nUser-Agent: curl/7.88.1\r\n"
    "Accept: */*\r\nContent-Type: application/json\r\nContent-Length: 60\r\n\r\n" BODY,
    "GET /v1/models HTTP/1.1\r\nHost: localhost\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n",
    /* Python requests, HTTP/1.0 clients, probes */
    "GET /healthz HTTP/1.1\r\nHost: gw\r\nUser-Agent: python-requests/2.31.0\r\n"
    "Accept-Encoding: gzip, deflate\r\nAccept: */*\r\nConnection: keep-alive\r\n\r\n",
    "GET /readyz HTTP/1.0\r\n\r\n",
    "GET /readyz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    "GET /readyz HTTP/1.1\r\nConnection: close\r\n\r\n",
    "HEAD / HTTP/1.1\r\nHost: x\r\n\r\n",
    "DELETE /admin/keys/k1?force=1&x=%20y HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer a\r\n\r\n",
    "OPTIONS /v1/chat/completions HTTP/1.1\r\nHost: x\r\nOrigin: http://a\r\n"
    "Access-Control-Request-Method: POST\r\n\r\n",
    "PATCH /admin/quotas/q HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}",
    "PUT /x HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
    "POST /v1/messages HTTP/1.1\r\nHost: x\r\nx-api-key: k\r\nanthropic-version: 2023-06-01\r\n"
    "content-type: application/json\r\ncontent-length: 60\r\n\r\n" BODY,
    /* values with inner blanks, tabs, UTF-8 and odd characters */
    "GET /a/b;c=d/~e!$&'()*+,=:@[]|^`{}\"<>\\ HTTP/1.1\r\nX-A:\tv w\tx\r\nX-B:\r\n"
    "X-C: \xc3\xa9t\xc3\xa9\r\nX-D: a:b:c\r\n!#$%&'*+-.^_`|~09azAZ: 1\r\n\r\n",
    "GET /#frag HTTP/1.1\r\nHost: x\r\n\r\n",
    "GET /?a=1#b HTTP/1.1\r\nHost: x\r\n\r\n",
};

static void real_clients_are_read_and_agree(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof clients / sizeof clients[0]; i++) {
        if (!check_text(clients[i])) {
            fprintf(stderr, "declined: %s\n", clients[i]);
            fail();
        }
    }
}

/* declined: http-parser reads (or refuses) them */
static const char *const declined[] = {
    "POST /v1 HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
    "POST /v1 HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n{}",
    "POST /v1 HTTP/1.1\r\nContent-Length: +2\r\n\r\n{}",
    "POST /v1 HTTP/1.1\r\nContent-Length: 2 \r\n\r\n{}",
    "POST /v1 HTTP/1.1\r\nContent-Length: 1e3\r\n\r\n{}",
    "POST /v1 HTTP/1.1\r\nContent-Length: 10\r\n\r\n{}", /* the body is on its way */
    "POST /v1 HTTP/1.1\r\nContent-Length: 2\r\n\r\n",
    "GET / HTTP/1.1\r\nX-A: a\r\n b\r\n\r\n", /* obs-fold */
    "GET / HTTP/1.1\nHost: x\n\n",            /* bare LF */
    "GET / HTTP/1.1\r\nHost: x\n\r\n",
    "get / HTTP/1.1\r\n\r\n",
    "CONNECT host:443 HTTP/1.1\r\n\r\n",
    "PURGE / HTTP/1.1\r\n\r\n",
    "GET http://host/ HTTP/1.1\r\n\r\n",
    "GET * HTTP/1.1\r\n\r\n",
    "GET / HTTP/2.0\r\n\r\n",
    "GET / HTTP/1.1 \r\n\r\n",
    "GET  / HTTP/1.1\r\n\r\n",
    "GET / HTTP/1.1\r\nHost : x\r\n\r\n",
    "GET / HTTP/1.1\r\n: x\r\n\r\n",
    "GET / HTTP/1.1\r\nX-A: a\x01b\r\n\r\n",
    "GET / HTTP/1.1\r\nX-A: a\x7f\r\n\r\n",
    "GET / HTTP/1.1\r\nX-A: a \r\n\r\n",
    "GET / HTTP/1.1\r\nX-A: a\t\r\n\r\n",
    "GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
    "GET / HTTP/1.1\r\nProxy-Connection: close\r\n\r\n",
    "GET / HTTP/1.1\r\nConnection: keep-alive, Upgrade\r\n\r\n",
    "GET / HTTP/1.1\r\nConnection: close\r\nConnection: close\r\n\r\n",
    "\r\nGET / HTTP/1.1\r\n\r\n", /* a blank line first: http-parser skips it */
    "GET / HTTP/1.1\r\nHost: x\r\n",
    "GET /\x80 HTTP/1.1\r\n\r\n",
    "",
};

static void what_is_not_plain_is_left_to_http_parser(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof declined / sizeof declined[0]; i++) {
        gw_h1_request_head h;
        gw_h1q_header headers[MAX_HEADERS];
        if (gw_h1_request_head_read(declined[i], strlen(declined[i]), &h, headers, MAX_HEADERS)) {
            fprintf(stderr, "read: %s\n", declined[i]);
            fail();
        }
    }
    /* more headers than the caller holds */
    char many[4096] = "GET / HTTP/1.1\r\n";
    for (int i = 0; i < 5; i++)
        snprintf(many + strlen(many), sizeof many - strlen(many), "X-%d: v\r\n", i);
    strcat(many, "\r\n");
    gw_h1_request_head h;
    gw_h1q_header headers[5];
    assert_int_equal(gw_h1_request_head_read(many, strlen(many), &h, headers, 5), 1);
    assert_int_equal(gw_h1_request_head_read(many, strlen(many), &h, headers, 4), 0);
    /* a head over GW_H1Q_HEAD_MAX */
    char *big = malloc(GW_H1Q_HEAD_MAX + 64);
    assert_non_null(big);
    strcpy(big, "GET / HTTP/1.1\r\nX-Big: ");
    size_t at = strlen(big);
    memset(big + at, 'a', GW_H1Q_HEAD_MAX);
    memcpy(big + at + GW_H1Q_HEAD_MAX, "\r\n\r\n", 4);
    assert_int_equal(gw_h1_request_head_read(big, at + GW_H1Q_HEAD_MAX + 4, &h, headers, 5), 0);
    free(big);
}

/* Two requests in one read: the first ends where http-parser's does, the second follows. */
static void pipelined_requests_split_where_http_parser_splits(void **state) {
    (void)state;
    const char *two = "POST /a HTTP/1.1\r\nContent-Length: 3\r\n\r\nabcGET /b HTTP/1.1\r\n\r\n";
    assert_int_equal(check_text(two), 1);
    gw_h1_request_head h;
    gw_h1q_header headers[4];
    assert_int_equal(gw_h1_request_head_read(two, strlen(two), &h, headers, 4), 1);
    size_t first = h.head_len + h.content_length;
    assert_int_equal(check_text(two + first), 1);
    assert_int_equal(h.content_length, 3);
}

/* Mutations of the clients' heads: wherever the fast path still reads one, http-parser must
 * read it the same way; and both outcomes must occur, or the mutations test nothing. */
static void mutations_agree_with_http_parser(void **state) {
    (void)state;
    static const char interesting[] = {' ', '\t', '\r', '\n', ':', 1,   0x7f, (char)0x80, 'a',
                                       '/', ',',  '0',  '9',  '-', 'C', 'c',  '\0'};
    mutation_kit kit = {
        .bytes = interesting, .byte_count = sizeof interesting, .state = 0x9e3779b97f4a7c15ULL};
    size_t accepted = 0, declined_count = 0;
    char buf[4096];
    for (int round = 0; round < 60000; round++) {
        const char *base =
            clients[mutate_random(&kit.state) % (sizeof clients / sizeof clients[0])];
        size_t len = strlen(base);
        memcpy(buf, base, len);
        len = mutate(&kit, buf, len, sizeof buf);
        if (check(buf, len))
            accepted++;
        else
            declined_count++;
    }
    assert_true(accepted > 1000);
    assert_true(declined_count > 1000);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(real_clients_are_read_and_agree),
        cmocka_unit_test(what_is_not_plain_is_left_to_http_parser),
        cmocka_unit_test(pipelined_requests_split_where_http_parser_splits),
        cmocka_unit_test(mutations_agree_with_http_parser),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
