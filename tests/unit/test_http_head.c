/* The HTTP layer end to end on a loopback socket, in one thread: response heads of any size are
 * written whole (they were cut at 4 KiB), and on_response_done runs once per answered request,
 * protocol errors included, and never for a connection refused at the cap. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
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

enum { EXTRA_HEADERS = 60, EXTRA_VALUE_LEN = 100 };

typedef struct fixture {
    struct event_base *base;
    gw_http_server *server;
    int port;
    char names[EXTRA_HEADERS][16];
    char value[EXTRA_VALUE_LEN + 1];
    int done_calls;
    int done_status;
    int64_t done_end_ns;
} fixture;

/* A port nothing listens on, for the server under test. */
static int free_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    close(fd);
    return ntohs(sa.sin_port);
}

/* Answers with EXTRA_HEADERS headers of EXTRA_VALUE_LEN bytes each: over 6 KiB of head. */
static void handle(gw_http_req *req, void *ud) {
    fixture *f = ud;
    gw_http_header extra[EXTRA_HEADERS];
    for (int i = 0; i < EXTRA_HEADERS; i++)
        extra[i] = (gw_http_header){.name = f->names[i],
                                    .name_len = strlen(f->names[i]),
                                    .value = f->value,
                                    .value_len = EXTRA_VALUE_LEN};
    gw_http_respond(req, 200, "text/plain", "done", 4, extra, EXTRA_HEADERS);
}

static void on_done(gw_http_req *req, void *ud) {
    fixture *f = ud;
    f->done_calls++;
    f->done_status = req->status;
    f->done_end_ns = req->end_ns;
    assert_true(req->finished);
}

static int setup(void **state) {
    signal(SIGPIPE, SIG_IGN);
    fixture *f = calloc(1, sizeof *f);
    f->base = event_base_new();
    for (int i = 0; i < EXTRA_HEADERS; i++)
        snprintf(f->names[i], sizeof f->names[i], "X-Extra-%02d", i);
    memset(f->value, 'v', EXTRA_VALUE_LEN);
    gw_http_settings st = {.max_body_bytes = 1 << 20,
                           .max_header_bytes = 16 * 1024,
                           .keepalive_timeout_ms = 5000,
                           .client_timeout_ms = 5000,
                           .max_connections = 1,
                           .on_response_done = on_done};
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

static int connect_client(const fixture *f) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)f->port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    return fd;
}

/* Runs the server's loop and reads until the server closes the connection (or 5 s pass). */
static size_t exchange(fixture *f, int fd, const char *request, char *out, size_t cap) {
    assert_int_equal(send(fd, request, strlen(request), 0), (ssize_t)strlen(request));
    size_t len = 0;
    time_t deadline = time(NULL) + 5;
    while (time(NULL) < deadline) {
        event_base_loop(f->base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
        ssize_t n = recv(fd, out + len, cap - 1 - len, MSG_DONTWAIT);
        if (n == 0) break;
        if (n > 0) len += (size_t)n;
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) break;
        if (n < 0) usleep(1000);
    }
    out[len] = '\0';
    return len;
}

static void writes_every_header_of_a_large_head(void **state) {
    fixture *f = *state;
    static char reply[32 * 1024];
    int fd = connect_client(f);
    exchange(f, fd, "GET /big HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", reply,
             sizeof reply);
    close(fd);
    assert_true(strncmp(reply, "HTTP/1.1 200 OK\r\n", 17) == 0);
    char line[160];
    for (int i = 0; i < EXTRA_HEADERS; i++) {
        snprintf(line, sizeof line, "\r\n%s: %s\r\n", f->names[i], f->value);
        if (!strstr(reply, line)) fail_msg("%s is missing from the head", f->names[i]);
    }
    assert_non_null(strstr(reply, "\r\nContent-Length: 4\r\n"));
    assert_non_null(strstr(reply, "\r\nConnection: close\r\n\r\ndone"));
    assert_int_equal(f->done_calls, 1);
    assert_int_equal(f->done_status, 200);
    assert_true(f->done_end_ns > 0);
}

static void reports_protocol_errors_once(void **state) {
    fixture *f = *state;
    static char reply[8192];
    int fd = connect_client(f);
    exchange(f, fd, "NOT HTTP AT ALL\r\n\r\n", reply, sizeof reply);
    close(fd);
    assert_true(strncmp(reply, "HTTP/1.1 400 ", 13) == 0);
    assert_non_null(strstr(reply, "\"code\":\"malformed_request\""));
    assert_int_equal(f->done_calls, 1);
    assert_int_equal(f->done_status, 400);
}

static void refuses_past_the_cap_without_a_report(void **state) {
    fixture *f = *state;
    static char reply[8192];
    int held = connect_client(f); /* the one place (max_connections = 1) */
    for (int i = 0; i < 20; i++)  /* until the server has accepted it */
        event_base_loop(f->base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
    assert_int_equal(gw_http_server_connections(f->server), 1);
    int fd = connect_client(f);
    exchange(f, fd, "GET /big HTTP/1.1\r\nHost: x\r\n\r\n", reply, sizeof reply);
    close(fd);
    assert_true(strncmp(reply, "HTTP/1.1 503 ", 13) == 0);
    assert_non_null(strstr(reply, "\r\nConnection: close\r\n"));
    assert_non_null(strstr(reply, "\"code\":\"too_many_connections\""));
    assert_null(strstr(reply, "X-Extra-00")); /* the request was never handled */
    assert_int_equal(f->done_calls, 0);
    close(held);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(writes_every_header_of_a_large_head, setup, teardown),
        cmocka_unit_test_setup_teardown(reports_protocol_errors_once, setup, teardown),
        cmocka_unit_test_setup_teardown(refuses_past_the_cap_without_a_report, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
