/* A stream's bytes written at once (gw_http_stream_send) arrive whole, whatever the number of
 * chains they are held in: a writev takes a bounded number of pieces, and bytes in more chains
 * than that must go the queued way, never be cut (a peek that stopped at its vectors once
 * dropped the rest of an event). The same for flat bytes the caller keeps (a stream's frames,
 * gw_http_stream_send_bytes): what the socket does not take is copied, so the caller may reuse
 * its memory at once, and the client, once it reads, gets every byte in order. A client that
 * reads nothing at all is cut at the write timeout, and the stream's handler hears of it. */
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
/* far more than a loopback socket's buffers take before the client reads */
enum { BIG_EVENT = 32 * 1024 * 1024 };

typedef enum { SEND_CHAINS, SEND_FLAT, SEND_FLAT_SLOW_CLIENT, SEND_STALLED_CLIENT } send_mode;

typedef struct fixture {
    struct event_base *base;
    gw_http_server *server;
    int port;
    send_mode mode;
    char expected[PIECES * 32];
    char *big;    /* SEND_FLAT_SLOW_CLIENT: what the client must get */
    int was_full; /* the output was over its high mark after the big event */
    int aborted;  /* SEND_STALLED_CLIENT: the handler heard that the client is gone */
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

/* Events as a stream's flat frames: two sent at once from one buffer that is then overwritten
 * (the next read's frames reuse it), the last queued to leave with the terminator. */
static void send_flat(gw_http_req *req, fixture *f) {
    char frames[64];
    strcpy(frames, "data: one\n\ndata: two\n\n");
    gw_http_stream_send_bytes(req, frames, strlen(frames));
    memset(frames, 'X', sizeof frames);
    strcpy(frames, "data: [DONE]\n\n");
    gw_http_stream_write_bytes(req, frames, strlen(frames));
    memset(frames, 'Y', sizeof frames);
    snprintf(f->expected, sizeof f->expected, "%zx\r\n%s\r\n%zx\r\n%s\r\n0\r\n\r\n",
             strlen("data: one\n\ndata: two\n\n"), "data: one\n\ndata: two\n\n",
             strlen("data: [DONE]\n\n"), "data: [DONE]\n\n");
}

/* One event larger than the socket takes while the client does not read: the rest waits in the
 * output (the producer is told to pause), copied out of the caller's memory, which is gone. */
static void send_big(gw_http_req *req, fixture *f) {
    char *event = malloc(BIG_EVENT);
    assert_non_null(event);
    for (size_t i = 0; i < BIG_EVENT; i++)
        event[i] = (char)('a' + (i * 7) % 26);
    memcpy(f->big, event, BIG_EVENT);
    gw_http_stream_send_bytes(req, event, BIG_EVENT);
    memset(event, 'Z', BIG_EVENT);
    free(event);
    f->was_full = gw_http_output_full(req);
}

static void stream_aborted(gw_http_req *req, void *ud) {
    (void)req;
    ((fixture *)ud)->aborted = 1;
}

/* One event made of PIECES chains (each moved in from a buffer of its own), sent at once. */
static void handle(gw_http_req *req, void *ud) {
    fixture *f = ud;
    gw_http_stream_begin(req, 200, "text/event-stream", NULL, 0);
    if (f->mode == SEND_STALLED_CLIENT) { /* the stream stays open, waiting for room */
        req->on_abort = stream_aborted;
        req->handler_ud = f;
        send_big(req, f);
        return;
    }
    if (f->mode == SEND_FLAT) {
        send_flat(req, f);
        gw_http_stream_end(req);
        return;
    }
    if (f->mode == SEND_FLAT_SLOW_CLIENT) {
        send_big(req, f);
        gw_http_stream_end(req);
        return;
    }
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

static int setup_with_write_timeout(void **state, int client_timeout_ms) {
    signal(SIGPIPE, SIG_IGN);
    fixture *f = calloc(1, sizeof *f);
    struct event_config *ec = event_config_new();
    event_config_set_flag(ec, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
    f->base = event_base_new_with_config(ec);
    event_config_free(ec);
    gw_http_settings st = {.max_body_bytes = 1 << 20,
                           .max_header_bytes = 16 * 1024,
                           .keepalive_timeout_ms = 5000,
                           .client_timeout_ms = client_timeout_ms,
                           .max_connections = 4};
    char err[256];
    f->port = free_port();
    f->server =
        gw_http_server_new(f->base, "127.0.0.1", f->port, NULL, &st, handle, f, err, sizeof err);
    assert_non_null(f->server);
    *state = f;
    return 0;
}

static int setup(void **state) {
    return setup_with_write_timeout(state, 5000);
}

static int setup_flat(void **state) {
    setup(state);
    ((fixture *)*state)->mode = SEND_FLAT;
    return 0;
}

static int setup_slow_client(void **state) {
    setup(state);
    fixture *f = *state;
    f->mode = SEND_FLAT_SLOW_CLIENT;
    f->big = malloc(BIG_EVENT);
    assert_non_null(f->big);
    return 0;
}

/* A write timeout short enough to wait for */
static int setup_stalled_client(void **state) {
    setup_with_write_timeout(state, 200);
    fixture *f = *state;
    f->mode = SEND_STALLED_CLIENT;
    f->big = malloc(BIG_EVENT);
    assert_non_null(f->big);
    return 0;
}

static int teardown(void **state) {
    fixture *f = *state;
    free(f->big);
    gw_http_server_free(f->server);
    event_base_free(f->base);
    free(f);
    return 0;
}

/* Requests a stream and reads the whole reply (NUL-terminated, malloc'd) until the chunked
 * terminator has come: a bounded wait on a condition. */
static char *fetch_stream(fixture *f, size_t cap) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)f->port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    const char *request = "GET /s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    assert_int_equal(send(fd, request, strlen(request), 0), (ssize_t)strlen(request));
    char *reply = malloc(cap);
    assert_non_null(reply);
    size_t len = 0;
    time_t deadline = time(NULL) + 20;
    static const char terminator[] = "\r\n0\r\n\r\n";
    while (time(NULL) < deadline && len < cap - 1 &&
           !(len >= sizeof terminator - 1 &&
             !memcmp(reply + len - (sizeof terminator - 1), terminator, sizeof terminator - 1))) {
        event_base_loop(f->base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
        ssize_t n = recv(fd, reply + len, cap - 1 - len, MSG_DONTWAIT);
        if (n == 0) break;
        if (n > 0) len += (size_t)n;
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) break;
    }
    reply[len] = '\0';
    close(fd);
    return reply;
}

static void an_event_in_many_chains_arrives_whole(void **state) {
    fixture *f = *state;
    char *reply = fetch_stream(f, 16 * 1024);
    const char *body = strstr(reply, "\r\n\r\n");
    assert_non_null(body);
    /* one chunk: its size line, every piece, its CRLF, then the terminator */
    char want[sizeof f->expected + 64];
    snprintf(want, sizeof want, "\r\n\r\n%zx\r\n%s\r\n0\r\n\r\n", strlen(f->expected), f->expected);
    assert_string_equal(body, want);
    free(reply);
}

/* Flat frames: each call one chunk, the memory reusable at once, the last queued before the
 * terminator. */
static void flat_frames_arrive_whole_and_in_order(void **state) {
    fixture *f = *state;
    char *reply = fetch_stream(f, 16 * 1024);
    const char *body = strstr(reply, "\r\n\r\n");
    assert_non_null(body);
    assert_string_equal(body + 4, f->expected);
    free(reply);
}

/* A client that does not read while a frame larger than the socket takes is sent: the producer
 * is told the client is behind, and once the client reads, every byte comes, in order. */
static void a_slow_client_gets_every_byte(void **state) {
    fixture *f = *state;
    char *reply = fetch_stream(f, BIG_EVENT + 4096);
    assert_true(f->was_full);
    const char *body = strstr(reply, "\r\n\r\n");
    assert_non_null(body);
    body += 4;
    char size_line[32];
    int n = snprintf(size_line, sizeof size_line, "%x\r\n", (unsigned)BIG_EVENT);
    assert_memory_equal(body, size_line, (size_t)n);
    body += n;
    assert_true(memcmp(body, f->big, BIG_EVENT) == 0);
    assert_string_equal(body + BIG_EVENT, "\r\n0\r\n\r\n");
    free(reply);
}

/* A client that sends its request and then reads nothing: the output waits for the socket no
 * longer than the write timeout (server.client_timeout_ms); then the connection closes and the
 * stream's handler is told, so it can stop its upstream transfer. */
static void a_stalled_client_is_cut_at_the_write_timeout(void **state) {
    fixture *f = *state;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)f->port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    const char *request = "GET /s HTTP/1.1\r\nHost: x\r\n\r\n";
    assert_int_equal(send(fd, request, strlen(request), 0), (ssize_t)strlen(request));
    time_t deadline = time(NULL) + 20;
    while (time(NULL) < deadline && !f->aborted) {
        struct timeval tick = {0, 100000}; /* the loop returns even when nothing happens */
        event_base_loopexit(f->base, &tick);
        event_base_loop(f->base, 0);
    }
    assert_true(f->was_full);
    assert_true(f->aborted);
    assert_int_equal(gw_http_server_connections(f->server), 0);
    close(fd);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(an_event_in_many_chains_arrives_whole, setup, teardown),
        cmocka_unit_test_setup_teardown(flat_frames_arrive_whole_and_in_order, setup_flat,
                                        teardown),
        cmocka_unit_test_setup_teardown(a_slow_client_gets_every_byte, setup_slow_client, teardown),
        cmocka_unit_test_setup_teardown(a_stalled_client_is_cut_at_the_write_timeout,
                                        setup_stalled_client, teardown)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
