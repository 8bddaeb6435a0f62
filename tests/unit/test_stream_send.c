/* A stream's bytes written at once (gw_http_stream_send) arrive whole, whatever the number of
 * chains they are held in: a writev takes a bounded number of pieces, and bytes in more chains
 * than that must go the queued way, never be cut (a peek that stopped at its vectors once
 * dropped the rest of an event). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/http_server.h"

enum { PIECES = 40 };

typedef struct fixture {
    struct event_base *base;
    gw_http_server *server;
    int port;
    char expected[PIECES * 32];
} fixture;

static int free_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    close(fd);
    return ntohs(sa.sin_port);
}

/* One event made of PIECES chains (each moved in from a buffer of its own), sent at once. */
static void handle(gw_http_req *req, void *ud) {
    fixture *f = ud;
    gw_http_stream_begin(req, 200, "text/event-stream", NULL, 0);
    struct evbuffer *data = evbuffer_new();
    f->expected[0] = '\0';
    for (int i = 0; i < PIECES; i++) {
        char piece[32];
        snprintf(piece, sizeof piece, "piece-%02d;", i);
        strcat(f->expected, piece);
        struct evbuffer *one = evbuffer_new();
        evbuffer_add(one, piece, strlen(piece));
        evbuffer_add_buffer(data, one); /* its chain moves: one chain a piece */
        evbuffer_free(one);
    }
    gw_http_stream_send(req, data);
    assert_int_equal(evbuffer_get_length(data), 0);
    evbuffer_free(data);
    gw_http_stream_end(req);
}

static int setup(void **state) {
    signal(SIGPIPE, SIG_IGN);
    fixture *f = calloc(1, sizeof *f);
    struct event_config *ec = event_config_new();
    event_config_set_flag(ec, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
    f->base = event_base_new_with_config(ec);
    event_config_free(ec);
    gw_http_settings st = {.max_body_bytes = 1 << 20,
                           .max_header_bytes = 16 * 1024,
                           .keepalive_timeout_ms = 5000,
                           .client_timeout_ms = 5000,
                           .max_connections = 4};
    char err[256];
    f->port = free_port();
    f->server =
        gw_http_server_new(f->base, "127.0.0.1", f->port, NULL, &st, handle, f, err, sizeof err);
    assert_non_null(f->server);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fixture *f = *state;
    gw_http_server_free(f->server);
    event_base_free(f->base);
    free(f);
    return 0;
}

static void an_event_in_many_chains_arrives_whole(void **state) {
    fixture *f = *state;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)f->port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    const char *request = "GET /s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    assert_int_equal(send(fd, request, strlen(request), 0), (ssize_t)strlen(request));
    static char reply[16 * 1024];
    size_t len = 0;
    time_t deadline = time(NULL) + 5;
    /* until the chunked stream's terminator has come (a bounded wait on a condition) */
    while (time(NULL) < deadline && !strstr(reply, "\r\n0\r\n\r\n")) {
        event_base_loop(f->base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
        ssize_t n = recv(fd, reply + len, sizeof reply - 1 - len, MSG_DONTWAIT);
        if (n == 0) break;
        if (n > 0) len += (size_t)n;
        reply[len] = '\0';
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) break;
    }
    close(fd);
    const char *body = strstr(reply, "\r\n\r\n");
    assert_non_null(body);
    /* one chunk: its size line, every piece, its CRLF, then the terminator */
    char want[sizeof f->expected + 64];
    snprintf(want, sizeof want, "\r\n\r\n%zx\r\n%s\r\n0\r\n\r\n", strlen(f->expected), f->expected);
    assert_string_equal(body, want);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(an_event_in_many_chains_arrives_whole, setup, teardown)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
