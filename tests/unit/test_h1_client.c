/* The own HTTP/1.1 client (upstream/h1_client.h) against a real loopback server on the same event
 * base: a tiny scripted server accepts, reads each request to its blank line and Content-Length
 * body, keeps a copy for the test to check, and writes a canned answer, whole, cut in two at an
 * offset, or one byte a write. A piece goes out only once the client has read the one before
 * (its socket, found in this process, holds nothing and has received all that was written), so
 * a cut is a cut in what the client's recv returns, not a hope. Every wait is for a condition,
 * bounded by a 5 s deadline that fails the test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <linux/tcp.h> /* struct tcp_info with tcpi_bytes_received */
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/clock.h"
#include "upstream/h1_client.h"

enum { MAX_SCONNS = 8, MAX_SCRIPTS = 8, MAX_REQUESTS = 8, REQUEST_MAX = 32 << 20, FD_SCAN = 1024 };

/* ---- the scripted server ---- */

/* What the server does with one request. */
typedef struct script {
    const char *answer;
    size_t answer_len;
    long split;         /* 0: one write; >0: two writes cut at this offset; -1: a byte a write */
    size_t hold_at;     /* >0: stop after this many bytes until server_release */
    int close_after;    /* close the connection once the answer is written */
    int no_answer;      /* close the connection instead of answering */
    int answer_on_head; /* answer once the head came, and read no more */
} script;

typedef struct server server;

typedef struct sconn {
    server *srv;
    int fd;        /* -1 once closed */
    int client_fd; /* the client's end of this connection, in this process */
    uint16_t client_port;
    struct event *ev_read, *ev_tick;
    char *in;
    size_t in_len, in_cap;
    int eof; /* the client closed (or reset) its end */
    script s;
    int answering, released;
    size_t written;
    uint64_t total_written; /* over the connection's life */
} sconn;

struct server {
    struct event_base *base;
    int listen_fd;
    uint16_t port;
    struct event *ev_accept;
    int accepts;
    sconn conns[MAX_SCONNS];
    script scripts[MAX_SCRIPTS];
    int nscripts, next_script;
    char *requests[MAX_REQUESTS];
    size_t request_len[MAX_REQUESTS];
    int nrequests;
};

static void server_expect(server *srv, script s) {
    assert_true(srv->nscripts < MAX_SCRIPTS);
    if (!s.answer_len && s.answer) s.answer_len = strlen(s.answer);
    srv->scripts[srv->nscripts++] = s;
}

/* The script queue is reused by the tests that loop: the next request takes the first again. */
static void server_rewind(server *srv) {
    srv->nscripts = srv->next_script = 0;
}

static void sconn_close(sconn *c) {
    if (c->fd < 0) return;
    event_free(c->ev_read);
    event_free(c->ev_tick);
    c->ev_read = c->ev_tick = NULL;
    close(c->fd);
    c->fd = -1;
    free(c->in);
    c->in = NULL;
}

/* Whether `fd` is still the client's socket of `c` (a descriptor closed by the client may have
 * been reused since). */
static int client_fd_is(const sconn *c) {
    struct sockaddr_in me;
    socklen_t len = sizeof me;
    return getsockname(c->client_fd, (struct sockaddr *)&me, &len) == 0 && len == sizeof me &&
           me.sin_family == AF_INET && ntohs(me.sin_port) == c->client_port;
}

/* The client has received all that was written and read it. */
static int client_drained(const sconn *c) {
    if (!client_fd_is(c)) return 1;
    int queued = 0;
    struct tcp_info ti;
    socklen_t len = sizeof ti;
    memset(&ti, 0, sizeof ti);
    if (ioctl(c->client_fd, FIONREAD, &queued) < 0) return 1;
    if (getsockopt(c->client_fd, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0) return 1;
    return queued == 0 && ti.tcpi_bytes_received >= c->total_written;
}

static int client_queued(const sconn *c) {
    int queued = -1;
    if (client_fd_is(c)) ioctl(c->client_fd, FIONREAD, &queued);
    return queued;
}

static void send_all(sconn *c, const char *data, size_t len) {
    while (len) {
        ssize_t n = send(c->fd, data, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        assert_true(n > 0); /* answers are small: the socket takes them at once */
        data += n;
        len -= (size_t)n;
        c->total_written += (uint64_t)n;
    }
}

static void try_request(sconn *c);

static void write_next(sconn *c) {
    const script *s = &c->s;
    size_t end = s->answer_len;
    if (s->split > 0 && c->written < (size_t)s->split) end = (size_t)s->split;
    if (s->split < 0) end = c->written + 1;
    if (s->hold_at && !c->released && c->written < s->hold_at && end > s->hold_at) end = s->hold_at;
    send_all(c, s->answer + c->written, end - c->written);
    c->written = end;
    if (c->written == s->answer_len) {
        c->answering = 0;
        if (s->close_after) {
            sconn_close(c);
            return;
        }
        try_request(c); /* a request that came meanwhile */
        return;
    }
    if (s->hold_at && !c->released && c->written == s->hold_at) return;
    static const struct timeval now = {0, 0};
    evtimer_add(c->ev_tick, &now);
}

static void on_tick(evutil_socket_t fd, short what, void *arg) {
    sconn *c = arg;
    (void)fd;
    (void)what;
    if (!client_drained(c)) {
        static const struct timeval now = {0, 0};
        evtimer_add(c->ev_tick, &now);
        return;
    }
    write_next(c);
}

/* Writes the rest of a held answer. */
static void server_release(sconn *c) {
    c->released = 1;
    if (c->answering) write_next(c);
}

static long content_length_of(const char *head, size_t head_len) {
    for (size_t i = 0; i + 16 < head_len; i++)
        if (!strncasecmp(head + i, "\r\ncontent-length:", 17))
            return strtol(head + i + 17, NULL, 10);
    return 0;
}

/* A whole request in the buffer: kept, then answered by the next script. */
static void try_request(sconn *c) {
    if (c->answering || c->fd < 0) return;
    const char *end = memmem(c->in, c->in_len, "\r\n\r\n", 4);
    if (!end) return;
    size_t head_len = (size_t)(end - c->in) + 4;
    long body_len = content_length_of(c->in, head_len);
    server *srv = c->srv;
    assert_true(srv->next_script < srv->nscripts);
    const script *s = &srv->scripts[srv->next_script];
    if (!s->answer_on_head && c->in_len < head_len + (size_t)body_len) return;
    srv->next_script++;
    size_t len = s->answer_on_head ? head_len : head_len + (size_t)body_len;
    assert_true(srv->nrequests < MAX_REQUESTS);
    srv->requests[srv->nrequests] = malloc(len + 1);
    memcpy(srv->requests[srv->nrequests], c->in, len);
    srv->requests[srv->nrequests][len] = '\0';
    srv->request_len[srv->nrequests++] = len;
    memmove(c->in, c->in + len, c->in_len - len);
    c->in_len -= len;
    if (s->no_answer) {
        sconn_close(c);
        return;
    }
    if (s->answer_on_head) event_del(c->ev_read); /* the body stays in the client's socket */
    c->s = *s;
    c->answering = 1;
    c->released = 0;
    c->written = 0;
    write_next(c);
}

static void on_sconn_readable(evutil_socket_t fd, short what, void *arg) {
    sconn *c = arg;
    (void)what;
    for (;;) {
        if (c->in_cap - c->in_len < 64 * 1024) {
            c->in_cap = c->in_cap ? c->in_cap * 2 : 128 * 1024;
            assert_true(c->in_cap <= 2 * (size_t)REQUEST_MAX);
            c->in = realloc(c->in, c->in_cap);
            assert_non_null(c->in);
        }
        ssize_t n = recv(fd, c->in + c->in_len, c->in_cap - c->in_len, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
        if (n <= 0) { /* closed or reset by the client */
            c->eof = 1;
            event_del(c->ev_read);
            break;
        }
        c->in_len += (size_t)n;
    }
    try_request(c);
}

static void on_accept(evutil_socket_t fd, short what, void *arg) {
    server *srv = arg;
    (void)what;
    int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (cfd < 0) return;
    assert_true(srv->accepts < MAX_SCONNS);
    sconn *c = &srv->conns[srv->accepts++];
    memset(c, 0, sizeof *c);
    c->srv = srv;
    c->fd = cfd;
    struct sockaddr_in peer;
    socklen_t len = sizeof peer;
    assert_int_equal(getpeername(cfd, (struct sockaddr *)&peer, &len), 0);
    c->client_port = ntohs(peer.sin_port);
    int one = 1; /* each piece goes out as written, not held for the previous one's ack */
    setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->client_fd = -1; /* none when the client has closed it already */
    for (int i = 3; i < FD_SCAN && c->client_fd < 0; i++) {
        c->client_fd = i;
        if (i == cfd || !client_fd_is(c)) c->client_fd = -1;
    }
    c->ev_read = event_new(srv->base, cfd, EV_READ | EV_PERSIST, on_sconn_readable, c);
    c->ev_tick = evtimer_new(srv->base, on_tick, c);
    event_add(c->ev_read, NULL);
}

static void server_open(server *srv, struct event_base *base) {
    memset(srv, 0, sizeof *srv);
    srv->base = base;
    srv->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    assert_true(srv->listen_fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(srv->listen_fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(srv->listen_fd, 16), 0);
    socklen_t len = sizeof sa;
    assert_int_equal(getsockname(srv->listen_fd, (struct sockaddr *)&sa, &len), 0);
    srv->port = ntohs(sa.sin_port);
    srv->ev_accept = event_new(base, srv->listen_fd, EV_READ | EV_PERSIST, on_accept, srv);
    event_add(srv->ev_accept, NULL);
}

static void server_close(server *srv) {
    for (int i = 0; i < srv->accepts; i++)
        sconn_close(&srv->conns[i]);
    for (int i = 0; i < srv->nrequests; i++)
        free(srv->requests[i]);
    event_free(srv->ev_accept);
    close(srv->listen_fd);
}

/* ---- the client's side ---- */

typedef struct fixture {
    struct event_base *base;
    server srv;
    gw_h1_idle idle;
    gw_h1_address to;
    struct event *deadline;
    int timed_out;
} fixture;

typedef struct call {
    fixture *f;
    gw_h1_exchange x;
    gw_h1_request req;
    int start_rc;
    char start_detail[160];
    int head_calls, status;
    char content_type[128];
    int64_t length;
    char body[64 * 1024];
    size_t body_len;
    int body_calls;
    int done_calls;
    gw_h1_result result;
    char detail[160];
    int stop_in_body;    /* body() says stop */
    int cancel_in;       /* 1: head() cancels the exchange, 2: body(), 3: full() once a body came */
    int full;            /* full() says so */
    int full_after_body; /* full() says so once a body piece came */
    int connect_timeout_ms; /* 0: 2 s */
    struct call *then;      /* started from done(), on the same idle list */
} call;

static void on_head(void *ud, int status, const char *content_type, int64_t length) {
    call *c = ud;
    c->head_calls++;
    c->status = status;
    snprintf(c->content_type, sizeof c->content_type, "%s", content_type);
    c->length = length;
    if (c->cancel_in == 1) gw_h1_cancel(&c->x);
}

static int on_body(void *ud, const char *data, size_t len) {
    call *c = ud;
    assert_int_equal(c->head_calls, 1);
    c->body_calls++;
    if (c->cancel_in == 2) {
        gw_h1_cancel(&c->x);
        return 0;
    }
    if (c->stop_in_body) return -1;
    assert_true(c->body_len + len <= sizeof c->body);
    memcpy(c->body + c->body_len, data, len);
    c->body_len += len;
    return 0;
}

static int on_full(void *ud) {
    call *c = ud;
    if (c->cancel_in == 3 && c->body_len > 0) {
        gw_h1_cancel(&c->x);
        return 0;
    }
    return c->full || (c->full_after_body && c->body_len > 0);
}

static void call_start(call *c, fixture *f, const char *path, const struct curl_slist *headers,
                       const char *body, size_t body_len);

static void on_done(void *ud, gw_h1_result result, const char *detail) {
    call *c = ud;
    c->done_calls++;
    c->result = result;
    snprintf(c->detail, sizeof c->detail, "%s", detail ? detail : "");
    if (c->then) call_start(c->then, c->f, "/next", NULL, "{}", 2);
}

static const gw_h1_handler handler = {
    .head = on_head, .body = on_body, .full = on_full, .done = on_done};

static void call_start(call *c, fixture *f, const char *path, const struct curl_slist *headers,
                       const char *body, size_t body_len) {
    c->f = f;
    c->length = -2;
    c->req =
        (gw_h1_request){.to = &f->to,
                        .path = path,
                        .headers = headers,
                        .body = body,
                        .body_len = body_len,
                        .connect_timeout_ms = c->connect_timeout_ms ? c->connect_timeout_ms : 2000};
    c->start_rc =
        gw_h1_start(&c->x, &f->idle, &c->req, &handler, c, c->start_detail, sizeof c->start_detail);
}

static void on_deadline(evutil_socket_t fd, short what, void *arg) {
    fixture *f = arg;
    (void)fd;
    (void)what;
    f->timed_out = 1;
}

/* Runs the loop until `cond`, failing the test after 5 s. */
#define RUN_UNTIL(f, cond)                                                                         \
    do {                                                                                           \
        struct timeval limit_ = {5, 0};                                                            \
        evtimer_add((f)->deadline, &limit_);                                                       \
        while (!(cond) && !(f)->timed_out)                                                         \
            event_base_loop((f)->base, EVLOOP_ONCE);                                               \
        evtimer_del((f)->deadline);                                                                \
        assert_false((f)->timed_out);                                                              \
    } while (0)

/* A few turns of the loop that wait for nothing: what is ready runs. */
static void spin(fixture *f) {
    for (int i = 0; i < 8; i++)
        event_base_loop(f->base, EVLOOP_NONBLOCK);
}

static void to_port(fixture *f, uint16_t port, const char *base_path) {
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%u%s", port, base_path);
    assert_int_equal(gw_h1_address_parse(url, &f->to), 0);
}

static int setup(void **state) {
    fixture *f = calloc(1, sizeof *f);
    f->base = event_base_new();
    server_open(&f->srv, f->base);
    gw_h1_idle_init(&f->idle, f->base);
    f->idle.keepalive = 4;
    f->idle.keepalive_timeout_ms = 60000;
    f->deadline = evtimer_new(f->base, on_deadline, f);
    to_port(f, f->srv.port, "/v1");
    *state = f;
    return 0;
}

/* Sockets open in this process: none may be left once client and server are closed. */
static int open_sockets(void) {
    int n = 0;
    for (int fd = 3; fd < FD_SCAN; fd++) {
        struct sockaddr_storage sa;
        socklen_t len = sizeof sa;
        if (getsockname(fd, (struct sockaddr *)&sa, &len) == 0) n++;
    }
    return n;
}

static int teardown(void **state) {
    fixture *f = *state;
    gw_h1_idle_close_all(&f->idle);
    assert_int_equal(f->idle.count, 0);
    server_close(&f->srv);
    event_free(f->deadline);
    event_base_free(f->base);
    free(f);
    assert_int_equal(open_sockets(), 0);
    return 0;
}

static call *new_call(void) {
    return calloc(1, sizeof(call));
}

#define OK_ANSWER "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\nok"

static void expect_ok(call *c, const char *body) {
    assert_int_equal(c->start_rc, 0);
    assert_int_equal(c->done_calls, 1);
    assert_int_equal(c->result, GW_H1_OK);
    assert_int_equal(c->head_calls, 1);
    assert_int_equal(c->body_len, strlen(body));
    assert_memory_equal(c->body, body, c->body_len);
    assert_null(c->x.conn);
}

/* ---- 1. the request's bytes ---- */

static void request_bytes(void **state) {
    fixture *f = *state;
    struct curl_slist *h = NULL;
    h = curl_slist_append(h, "Content-Type: application/json");
    h = curl_slist_append(h, "X-Removed:");          /* curl's removal: not sent */
    h = curl_slist_append(h, "Expect:   ");          /* the same with blanks */
    h = curl_slist_append(h, "X-Empty;");            /* curl's empty value */
    h = curl_slist_append(h, "Host: engine.test");   /* instead of the own one */
    h = curl_slist_append(h, "Content-Length: 999"); /* the client's own counts */
    h = curl_slist_append(h, "authorization: Bearer sk-1");
    static const char body[] = "{\"model\":\"m\",\"messages\":[]}";
    server_expect(&f->srv, (script){.answer = OK_ANSWER});
    call *c = new_call();
    call_start(c, f, "/chat/completions?x=1", h, body, sizeof body - 1);
    RUN_UNTIL(f, c->done_calls);
    expect_ok(c, "ok");
    char want[512];
    snprintf(want, sizeof want,
             "POST /v1/chat/completions?x=1 HTTP/1.1\r\n"
             "Content-Length: %zu\r\n"
             "Content-Type: application/json\r\n"
             "X-Empty:\r\n"
             "Host: engine.test\r\n"
             "authorization: Bearer sk-1\r\n"
             "\r\n%s",
             sizeof body - 1, body);
    assert_int_equal(f->srv.nrequests, 1);
    assert_string_equal(f->srv.requests[0], want);

    /* no list: the own Host, as the base URL wrote it; an empty body */
    server_expect(&f->srv, (script){.answer = OK_ANSWER});
    call *d = new_call();
    call_start(d, f, "/models", NULL, "", 0);
    RUN_UNTIL(f, d->done_calls);
    expect_ok(d, "ok");
    snprintf(want, sizeof want,
             "POST /v1/models HTTP/1.1\r\nHost: 127.0.0.1:%u\r\nContent-Length: 0\r\n\r\n",
             f->srv.port);
    assert_string_equal(f->srv.requests[1], want);

    /* "Host:" alone removes the Host header, as with curl */
    curl_slist_free_all(h);
    h = curl_slist_append(NULL, "Host:");
    server_expect(&f->srv, (script){.answer = OK_ANSWER});
    call *e = new_call();
    call_start(e, f, "", h, "x", 1);
    RUN_UNTIL(f, e->done_calls);
    expect_ok(e, "ok");
    assert_string_equal(f->srv.requests[2], "POST /v1 HTTP/1.1\r\nContent-Length: 1\r\n\r\nx");
    assert_int_equal(f->srv.accepts, 1);

    /* heads larger than the connection's first buffer, one after another on it, each whole */
    for (size_t size = 700, k = 3; size <= 5000; size *= 7, k++) {
        char *line = malloc(size + 16);
        memcpy(line, "X-Big: ", 7);
        memset(line + 7, 'b', size);
        line[7 + size] = '\0';
        curl_slist_free_all(h);
        h = curl_slist_append(NULL, line);
        server_expect(&f->srv, (script){.answer = OK_ANSWER});
        call *g = new_call();
        call_start(g, f, "", h, "y", 1);
        RUN_UNTIL(f, g->done_calls);
        expect_ok(g, "ok");
        size_t want_len = strlen(line) + 80;
        char *big = malloc(want_len);
        snprintf(big, want_len,
                 "POST /v1 HTTP/1.1\r\nHost: 127.0.0.1:%u\r\nContent-Length: 1\r\n%s\r\n\r\ny",
                 f->srv.port, line);
        assert_string_equal(f->srv.requests[k], big);
        free(big);
        free(line);
        free(g);
    }
    assert_int_equal(f->srv.accepts, 1);
    curl_slist_free_all(h);
    free(c);
    free(d);
    free(e);
}

/* A body far larger than the socket buffers: sent in many writes, exactly. */
static void large_body_sent_whole(void **state) {
    fixture *f = *state;
    size_t len = 8u << 20;
    char *body = malloc(len);
    for (size_t i = 0; i < len; i++)
        body[i] = (char)('a' + (i * 7 + i / 4096) % 26);
    server_expect(&f->srv, (script){.answer = OK_ANSWER});
    call *c = new_call();
    call_start(c, f, "/big", NULL, body, len);
    RUN_UNTIL(f, c->done_calls);
    expect_ok(c, "ok");
    const char *got = f->srv.requests[0];
    size_t head_len =
        (size_t)((const char *)memmem(got, f->srv.request_len[0], "\r\n\r\n", 4) - got) + 4;
    assert_int_equal(f->srv.request_len[0] - head_len, len);
    assert_memory_equal(got + head_len, body, len);
    free(body);
    free(c);
}

/* ---- 2. answers ---- */

static void content_length_answer(void **state) {
    fixture *f = *state;
    server_expect(&f->srv, (script){.answer = "HTTP/1.1 404 Not Found\r\nContent-Type: "
                                              "application/json; charset=utf-8\r\nContent-Length: "
                                              "20\r\n\r\n{\"error\":\"no model\"}"});
    call *c = new_call();
    call_start(c, f, "/x", NULL, "{}", 2);
    RUN_UNTIL(f, c->done_calls);
    expect_ok(c, "{\"error\":\"no model\"}");
    assert_int_equal(c->status, 404);
    assert_string_equal(c->content_type, "application/json; charset=utf-8");
    assert_int_equal(c->length, 20);
    assert_int_equal(f->idle.count, 1);
    free(c);
}

/* The upstream socket: non-blocking and close-on-exec from its making, and without Nagle (a
 * request's head and body go in one write, but a stream's answer must not wait on ACKs). */
static void socket_options(void **state) {
    fixture *f = *state;
    server_expect(&f->srv, (script){.answer = OK_ANSWER});
    call *c = new_call();
    call_start(c, f, "/x", NULL, "{}", 2);
    RUN_UNTIL(f, c->done_calls);
    expect_ok(c, "ok");
    assert_int_equal(f->idle.count, 1); /* kept: its descriptor is still the client's */
    const sconn *s = &f->srv.conns[0];
    assert_true(client_fd_is(s));
    assert_true(fcntl(s->client_fd, F_GETFL) & O_NONBLOCK);
    assert_true(fcntl(s->client_fd, F_GETFD) & FD_CLOEXEC);
    int nodelay = 0;
    socklen_t len = sizeof nodelay;
    assert_int_equal(getsockopt(s->client_fd, IPPROTO_TCP, TCP_NODELAY, &nodelay, &len), 0);
    assert_int_equal(nodelay, 1);
    free(c);
}

static const char chunked_answer[] = "HTTP/1.1 200 OK\r\n"
                                     "Content-Type: text/event-stream\r\n"
                                     "Transfer-Encoding: chunked\r\n\r\n"
                                     "5\r\nhello\r\n"
                                     "7;ext=1\r\n, world\r\n"
                                     "1c\r\n\ndata: {\"a\":1}\n\ndata: [DONE]\r\n"
                                     "0\r\n\r\n";
static const char chunked_body[] = "hello, world\ndata: {\"a\":1}\n\ndata: [DONE]";

/* Chunked, a byte per read: every chunk size line, chunk and trailer cut everywhere. */
static void chunked_a_byte_a_read(void **state) {
    fixture *f = *state;
    server_expect(&f->srv, (script){.answer = chunked_answer, .split = -1});
    call *c = new_call();
    call_start(c, f, "/x", NULL, "{}", 2);
    RUN_UNTIL(f, c->done_calls);
    expect_ok(c, chunked_body);
    assert_int_equal(c->body_calls, (int)strlen(chunked_body)); /* one read, one byte */
    assert_int_equal(c->status, 200);
    assert_string_equal(c->content_type, "text/event-stream");
    assert_int_equal(c->length, -1);
    assert_int_equal(f->idle.count, 1);
    free(c);
}

static void close_delimited_answer(void **state) {
    fixture *f = *state;
    server_expect(&f->srv, (script){.answer = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n"
                                              "until the end",
                                    .close_after = 1});
    call *c = new_call();
    call_start(c, f, "/x", NULL, "{}", 2);
    RUN_UNTIL(f, c->done_calls);
    expect_ok(c, "until the end");
    assert_int_equal(c->length, -1);
    assert_string_equal(c->content_type, "text/plain");
    assert_int_equal(f->idle.count, 0);
    free(c);
}

static const char continue_answer[] = "HTTP/1.1 100 Continue\r\n\r\n"
                                      "HTTP/1.1 201 Created\r\nContent-Type: a/b\r\n"
                                      "Content-Length: 3\r\n\r\nabc";

static void continue_before_head(void **state) {
    fixture *f = *state;
    for (long split = 0; split >= -1; split--) { /* one write, then a byte a write */
        server_rewind(&f->srv);
        server_expect(&f->srv, (script){.answer = continue_answer, .split = split});
        call *c = new_call();
        call_start(c, f, "/x", NULL, "{}", 2);
        RUN_UNTIL(f, c->done_calls);
        expect_ok(c, "abc");
        assert_int_equal(c->status, 201);
        assert_string_equal(c->content_type, "a/b");
        assert_int_equal(c->length, 3);
        free(c);
    }
    assert_int_equal(f->srv.accepts, 1);
}

/* An answer cut in two at each offset gives the same head and body; all on one connection. */
static void every_split_point(void **state) {
    fixture *f = *state;
    static const char length_answer[] = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                        "Content-Length: 27\r\nX-Request-Id: 42\r\n\r\n"
                                        "{\"choices\":[{\"text\":\"hi\"}]}";
    const struct {
        const char *answer;
        const char *body;
        int status;
        const char *content_type;
        int64_t length;
    } cases[] = {
        {length_answer, "{\"choices\":[{\"text\":\"hi\"}]}", 200, "application/json", 27},
        {chunked_answer, chunked_body, 200, "text/event-stream", -1},
        {continue_answer, "abc", 201, "a/b", 3},
    };
    int exchanges = 0;
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        size_t len = strlen(cases[k].answer);
        for (size_t split = 1; split < len; split++) {
            server_rewind(&f->srv);
            server_expect(&f->srv, (script){.answer = cases[k].answer, .split = (long)split});
            call *c = new_call();
            call_start(c, f, "/x", NULL, "{}", 2);
            RUN_UNTIL(f, c->done_calls);
            expect_ok(c, cases[k].body);
            assert_int_equal(c->status, cases[k].status);
            assert_string_equal(c->content_type, cases[k].content_type);
            assert_int_equal(c->length, cases[k].length);
            assert_int_equal(f->idle.count, 1);
            free(c);
            exchanges++;
            for (int i = 0; i < f->srv.nrequests; i++)
                free(f->srv.requests[i]);
            f->srv.nrequests = 0;
        }
    }
    assert_true(exchanges > 300);
    assert_int_equal(f->srv.accepts, 1);
}

/* An answer before the request was all sent (an engine refusing a huge body): whole, and its
 * connection, with the rest of the request unsent, is not kept. */
static void answer_before_request_sent(void **state) {
    fixture *f = *state;
    size_t len = 32u << 20;
    char *body = calloc(1, len);
    server_expect(
        &f->srv,
        (script){.answer = "HTTP/1.1 413 Payload Too Large\r\nContent-Length: 3\r\n\r\nbig",
                 .answer_on_head = 1});
    call *c = new_call();
    call_start(c, f, "/x", NULL, body, len);
    RUN_UNTIL(f, c->done_calls);
    expect_ok(c, "big");
    assert_int_equal(c->status, 413);
    assert_int_equal(f->idle.count, 0);
    free(body);
    free(c);
}

/* Answers without a body (204, Content-Length: 0): whole at their head, and kept. */
static void bodiless_answers(void **state) {
    fixture *f = *state;
    server_expect(&f->srv, (script){.answer = "HTTP/1.1 204 No Content\r\n\r\n"});
    server_expect(&f->srv, (script){.answer = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"});
    call *c = new_call(), *d = new_call();
    call_start(c, f, "/a", NULL, "{}", 2);
    RUN_UNTIL(f, c->done_calls);
    expect_ok(c, "");
    assert_int_equal(c->status, 204);
    assert_string_equal(c->content_type, "");
    assert_int_equal(c->length, -1);
    call_start(d, f, "/b", NULL, "{}", 2);
    RUN_UNTIL(f, d->done_calls);
    expect_ok(d, "");
    assert_int_equal(d->length, 0);
    assert_int_equal(f->srv.accepts, 1);
    assert_int_equal(f->idle.count, 1);
    free(c);
    free(d);
}

/* ---- 3. keep-alive ---- */

static void two_exchanges_one_connection(void **state) {
    fixture *f = *state;
    server_expect(&f->srv, (script){.answer = OK_ANSWER});
    server_expect(&f->srv, (script){.answer = chunked_answer});
    call *c = new_call(), *d = new_call();
    call_start(c, f, "/a", NULL, "{}", 2);
    assert_int_not_equal(c->x.connect_ns, 0);
    RUN_UNTIL(f, c->done_calls);
    expect_ok(c, "ok");
    assert_int_equal(f->idle.count, 1);
    call_start(d, f, "/b", NULL, "{}", 2);
    assert_int_equal(d->x.connect_ns, 0); /* a reused one */
    assert_int_equal(f->idle.count, 0);
    RUN_UNTIL(f, d->done_calls);
    expect_ok(d, chunked_body);
    assert_int_equal(f->srv.accepts, 1);
    assert_int_equal(f->srv.nrequests, 2);
    assert_int_equal(f->idle.count, 1);
    free(c);
    free(d);
}

/* done() starting the next exchange: it takes the connection just put back. */
static void next_exchange_from_done(void **state) {
    fixture *f = *state;
    server_expect(&f->srv, (script){.answer = OK_ANSWER});
    server_expect(&f->srv, (script){.answer = "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nnext"});
    call *c = new_call(), *d = new_call();
    c->then = d;
    call_start(c, f, "/a", NULL, "{}", 2);
    RUN_UNTIL(f, d->done_calls);
    expect_ok(c, "ok");
    expect_ok(d, "next");
    assert_int_equal(f->srv.accepts, 1);
    assert_string_equal(f->srv.requests[1] + strlen(f->srv.requests[1]) - 2, "{}");
    free(c);
    free(d);
}

static void not_kept(fixture *f, const char *answer) {
    server_expect(&f->srv, (script){.answer = answer});
    server_expect(&f->srv, (script){.answer = OK_ANSWER});
    call *c = new_call(), *d = new_call();
    call_start(c, f, "/a", NULL, "{}", 2);
    RUN_UNTIL(f, c->done_calls);
    expect_ok(c, "ok");
    assert_int_equal(f->idle.count, 0);
    RUN_UNTIL(f, f->srv.conns[0].eof); /* the client closed it */
    call_start(d, f, "/b", NULL, "{}", 2);
    RUN_UNTIL(f, d->done_calls);
    expect_ok(d, "ok");
    assert_int_equal(f->srv.accepts, 2);
    free(c);
    free(d);
}

static void connection_close_not_kept(void **state) {
    not_kept(*state, "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok");
}

static void http10_not_kept(void **state) {
    not_kept(*state, "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok");
}

static void keepalive_zero_not_kept(void **state) {
    fixture *f = *state;
    f->idle.keepalive = 0;
    not_kept(f, OK_ANSWER);
}

/* Something after the answer nobody asked for: the connection cannot be trusted with another. */
static void trailing_bytes_not_kept(void **state) {
    not_kept(*state, OK_ANSWER "HTTP/1.1 200 OK\r\n");
}

static void keepalive_cap(void **state) {
    fixture *f = *state;
    f->idle.keepalive = 1;
    server_expect(&f->srv, (script){.answer = OK_ANSWER});
    server_expect(&f->srv, (script){.answer = OK_ANSWER});
    call *c = new_call(), *d = new_call();
    call_start(c, f, "/a", NULL, "{}", 2);
    call_start(d, f, "/b", NULL, "{}", 2);
    RUN_UNTIL(f, c->done_calls && d->done_calls);
    expect_ok(c, "ok");
    expect_ok(d, "ok");
    assert_int_equal(f->srv.accepts, 2);
    assert_int_equal(f->idle.count, 1);
    RUN_UNTIL(f, f->srv.conns[0].eof || f->srv.conns[1].eof);
    assert_false(f->srv.conns[0].eof && f->srv.conns[1].eof);
    free(c);
    free(d);
}

static void idle_expiry(void **state) {
    fixture *f = *state;
    f->idle.keepalive_timeout_ms = 50;
    server_expect(&f->srv, (script){.answer = OK_ANSWER});
    call *c = new_call();
    int64_t before = gw_now_ns();
    call_start(c, f, "/a", NULL, "{}", 2);
    RUN_UNTIL(f, c->done_calls);
    expect_ok(c, "ok");
    assert_int_equal(f->idle.count, 1);
    int64_t due = gw_h1_idle_next_due(&f->idle);
    assert_true(due >= before + 50 * 1000000LL && due <= gw_now_ns() + 50 * 1000000LL);
    assert_int_equal(gw_h1_idle_expire(&f->idle, due - 1), due); /* not yet */
    assert_int_equal(f->idle.count, 1);
    assert_int_equal(gw_h1_idle_expire(&f->idle, due), 0);
    assert_int_equal(f->idle.count, 0);
    assert_int_equal(gw_h1_idle_next_due(&f->idle), 0);
    RUN_UNTIL(f, f->srv.conns[0].eof);
    free(c);
}

/* ---- 4. failures ---- */

static void connection_refused(void **state) {
    fixture *f = *state;
    /* a port bound and not listening: nobody else takes it meanwhile, and it refuses */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    to_port(f, ntohs(sa.sin_port), "/v1");
    call *c = new_call();
    call_start(c, f, "/x", NULL, "{}", 2);
    if (c->start_rc == 0) {
        RUN_UNTIL(f, c->done_calls);
        assert_int_equal(c->result, GW_H1_CONNECT_FAILED);
        assert_non_null(strstr(c->detail, "refused"));
    } else {
        assert_int_equal(c->start_rc, -1);
        assert_non_null(strstr(c->start_detail, "refused"));
        spin(f);
        assert_int_equal(c->done_calls, 0);
    }
    assert_int_equal(c->head_calls, 0);
    assert_int_equal(f->idle.count, 0);
    close(fd);
    free(c);
}

/* A listener whose accept queue is full drops the SYN: the connect hangs until its timeout. */
static void connect_timeout(void **state) {
    fixture *f = *state;
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(lfd, 0), 0);
    assert_int_equal(getsockname(lfd, (struct sockaddr *)&sa, &len), 0);
    int filler = socket(AF_INET, SOCK_STREAM, 0);
    assert_int_equal(connect(filler, (struct sockaddr *)&sa, sizeof sa), 0); /* queue full */
    to_port(f, ntohs(sa.sin_port), "/v1");
    call *c = new_call();
    c->connect_timeout_ms = 100;
    call_start(c, f, "/x", NULL, "{}", 2);
    assert_int_equal(c->start_rc, 0);
    RUN_UNTIL(f, c->done_calls);
    assert_int_equal(c->result, GW_H1_CONNECT_TIMEOUT);
    assert_string_equal(c->detail, "not connected within 100 ms");
    assert_int_equal(c->head_calls, 0);
    close(filler);
    close(lfd);
    free(c);
}

static void closed_without_answer(void **state) {
    fixture *f = *state;
    server_expect(&f->srv, (script){.no_answer = 1});
    call *c = new_call();
    call_start(c, f, "/x", NULL, "{}", 2);
    RUN_UNTIL(f, c->done_calls);
    assert_int_equal(c->result, GW_H1_BROKEN);
    assert_int_equal(c->head_calls, 0);
    assert_int_equal(c->x.retried, 0); /* a new connection: no second try */
    assert_int_equal(f->srv.nrequests, 1);
    assert_int_equal(f->idle.count, 0);
    free(c);
}

/* Cut in the middle of the body: broken, not a short OK. */
static void closed_mid_body(void **state) {
    fixture *f = *state;
    static const char cut[] = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf";
    server_expect(&f->srv, (script){.answer = cut, .close_after = 1});
    call *c = new_call();
    call_start(c, f, "/x", NULL, "{}", 2);
    RUN_UNTIL(f, c->done_calls);
    assert_int_equal(c->result, GW_H1_BROKEN);
    assert_int_equal(c->head_calls, 1);
    assert_int_equal(c->body_len, 4);
    free(c);
}

/* The engine closed the idle connection and the client has not yet seen it: the request goes
 * once more, on a new connection. */
static void dead_reused_connection_retried(void **state) {
    fixture *f = *state;
    server_expect(&f->srv, (script){.answer = OK_ANSWER});
    server_expect(&f->srv, (script){.answer = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nagain"});
    call *c = new_call(), *d = new_call();
    call_start(c, f, "/a", NULL, "{}", 2);
    RUN_UNTIL(f, c->done_calls);
    expect_ok(c, "ok");
    assert_int_equal(f->idle.count, 1);
    sconn_close(&f->srv.conns[0]); /* no loop turn between this and the start */
    call_start(d, f, "/b", NULL, "{\"n\":2}", 7);
    assert_int_equal(d->start_rc, 0);
    RUN_UNTIL(f, d->done_calls);
    expect_ok(d, "again");
    assert_int_equal(d->x.retried, 1);
    assert_int_equal(f->srv.accepts, 2);
    assert_int_equal(f->srv.nrequests, 2);
    assert_string_equal(f->srv.requests[1] + f->srv.request_len[1] - 7, "{\"n\":2}");
    assert_int_equal(f->idle.count, 1);
    free(c);
    free(d);
}

/* The same, but the retry's connection breaks too: broken, no third try. */
static void retry_only_once(void **state) {
    fixture *f = *state;
    server_expect(&f->srv, (script){.answer = OK_ANSWER});
    server_expect(&f->srv, (script){.no_answer = 1});
    call *c = new_call(), *d = new_call();
    call_start(c, f, "/a", NULL, "{}", 2);
    RUN_UNTIL(f, c->done_calls);
    expect_ok(c, "ok");
    sconn_close(&f->srv.conns[0]);
    call_start(d, f, "/b", NULL, "{}", 2);
    RUN_UNTIL(f, d->done_calls);
    assert_int_equal(d->result, GW_H1_BROKEN);
    assert_int_equal(d->x.retried, 1);
    assert_int_equal(f->srv.accepts, 2);
    spin(f);
    assert_int_equal(f->srv.accepts, 2);
    assert_int_equal(f->idle.count, 0);
    free(c);
    free(d);
}

/* Closed while idle and the loop saw it: the connection is let go, the next request opens one. */
static void idle_close_noticed(void **state) {
    fixture *f = *state;
    server_expect(&f->srv, (script){.answer = OK_ANSWER});
    server_expect(&f->srv, (script){.answer = OK_ANSWER});
    call *c = new_call(), *d = new_call();
    call_start(c, f, "/a", NULL, "{}", 2);
    RUN_UNTIL(f, c->done_calls);
    assert_int_equal(f->idle.count, 1);
    sconn_close(&f->srv.conns[0]);
    RUN_UNTIL(f, f->idle.count == 0);
    call_start(d, f, "/b", NULL, "{}", 2);
    assert_int_not_equal(d->x.connect_ns, 0);
    RUN_UNTIL(f, d->done_calls);
    expect_ok(d, "ok");
    assert_int_equal(d->x.retried, 0);
    assert_int_equal(f->srv.accepts, 2);
    free(c);
    free(d);
}

static void garbage_answer(void **state) {
    fixture *f = *state;
    server_expect(&f->srv, (script){.answer = "SSH-2.0-OpenSSH_9.6\r\n\r\n"});
    call *c = new_call();
    call_start(c, f, "/x", NULL, "{}", 2);
    RUN_UNTIL(f, c->done_calls);
    assert_int_equal(c->result, GW_H1_MALFORMED);
    assert_non_null(strstr(c->detail, "unreadable"));
    assert_int_equal(c->head_calls, 0);
    assert_int_equal(f->idle.count, 0);
    RUN_UNTIL(f, f->srv.conns[0].eof);
    free(c);
}

static void bad_chunk_size(void **state) {
    fixture *f = *state;
    server_expect(
        &f->srv, (script){.answer = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"});
    call *c = new_call();
    call_start(c, f, "/x", NULL, "{}", 2);
    RUN_UNTIL(f, c->done_calls);
    assert_int_equal(c->result, GW_H1_MALFORMED);
    assert_int_equal(c->head_calls, 1);
    free(c);
}

/* Content-Length and Transfer-Encoding both: which one frames the body is ambiguous (a way to
 * smuggle an answer), so the answer fails before its head is handed on. */
static void conflicting_framing(void **state) {
    fixture *f = *state;
    server_expect(&f->srv, (script){.answer = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"
                                              "Transfer-Encoding: chunked\r\n\r\n"
                                              "5\r\nhello\r\n0\r\n\r\n"});
    call *c = new_call();
    call_start(c, f, "/x", NULL, "{}", 2);
    RUN_UNTIL(f, c->done_calls);
    assert_int_equal(c->result, GW_H1_MALFORMED);
    assert_string_equal(c->detail,
                        "unreadable HTTP answer: both Content-Length and Transfer-Encoding");
    assert_int_equal(c->head_calls, 0);
    assert_int_equal(f->idle.count, 0);
    RUN_UNTIL(f, f->srv.conns[0].eof);
    free(c);
}

static void body_callback_stops(void **state) {
    fixture *f = *state;
    server_expect(&f->srv, (script){.answer = chunked_answer});
    call *c = new_call();
    c->stop_in_body = 1;
    call_start(c, f, "/x", NULL, "{}", 2);
    RUN_UNTIL(f, c->done_calls);
    assert_int_equal(c->result, GW_H1_STOPPED);
    assert_int_equal(c->body_calls, 1);
    assert_int_equal(f->idle.count, 0);
    RUN_UNTIL(f, f->srv.conns[0].eof);
    free(c);
}

/* ---- 5. backpressure ---- */

static void full_stops_reading(void **state) {
    fixture *f = *state;
    static const char answer[] = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789";
    size_t head_len = strlen(answer) - 10;
    server_expect(&f->srv, (script){.answer = answer, .hold_at = head_len + 3});
    call *c = new_call();
    c->full_after_body = 1;
    call_start(c, f, "/x", NULL, "{}", 2);
    RUN_UNTIL(f, c->body_len == 3);
    sconn *s = &f->srv.conns[0];
    server_release(s);
    RUN_UNTIL(f, client_queued(s) == 7); /* arrived, and left in the socket */
    spin(f);
    assert_int_equal(client_queued(s), 7);
    assert_int_equal(c->body_len, 3);
    assert_int_equal(c->done_calls, 0);
    c->full_after_body = 0;
    gw_h1_resume(&c->x);
    gw_h1_resume(&c->x); /* twice: harmless */
    RUN_UNTIL(f, c->done_calls);
    expect_ok(c, "0123456789");
    assert_int_equal(f->idle.count, 1);
    gw_h1_resume(&c->x); /* after the end: nothing */
    free(c);
}

/* Full from the start: not even the head is read; whole once resumed, and kept. */
static void full_before_head(void **state) {
    fixture *f = *state;
    server_expect(&f->srv, (script){.answer = chunked_answer});
    call *c = new_call();
    c->full = 1;
    call_start(c, f, "/x", NULL, "{}", 2);
    RUN_UNTIL(f, f->srv.nrequests == 1 &&
                     client_queued(&f->srv.conns[0]) == (int)strlen(chunked_answer));
    spin(f);
    assert_int_equal(c->head_calls, 0);
    c->full = 0;
    gw_h1_resume(&c->x);
    RUN_UNTIL(f, c->done_calls);
    expect_ok(c, chunked_body);
    assert_int_equal(f->idle.count, 1);
    free(c);
}

/* ---- 6. cancel ---- */

static void cancel_mid_answer(void **state) {
    fixture *f = *state;
    static const char answer[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                                 "5\r\nfirst\r\n6\r\nsecond\r\n0\r\n\r\n";
    server_expect(&f->srv, (script){.answer = answer, .hold_at = strlen(answer) - 16});
    call *c = new_call();
    call_start(c, f, "/x", NULL, "{}", 2);
    RUN_UNTIL(f, c->body_len == 5);
    gw_h1_cancel(&c->x);
    assert_null(c->x.conn);
    RUN_UNTIL(f, f->srv.conns[0].eof); /* the connection is closed */
    spin(f);
    assert_int_equal(c->done_calls, 0);
    assert_int_equal(f->idle.count, 0);
    gw_h1_cancel(&c->x); /* on an ended one: nothing */
    free(c);
}

/* The handler cancels from inside its own head, body or full (as a sink that ends the request
 * there would): the connection is closed once the parser has returned, nothing else runs. */
static void cancel_from_the_handler(void **state) {
    fixture *f = *state;
    static const char answer[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                                 "5\r\nfirst\r\n6\r\nsecond\r\n0\r\n\r\n";
    for (int where = 1; where <= 3; where++) {
        server_expect(&f->srv, (script){.answer = answer, .hold_at = strlen(answer) - 16});
        call *c = new_call();
        c->cancel_in = where;
        call_start(c, f, "/x", NULL, "{}", 2);
        if (where == 3) { /* full() is asked before the read after the first piece */
            RUN_UNTIL(f, c->body_len == 5);
            server_release(&f->srv.conns[where - 1]);
        }
        RUN_UNTIL(f, c->x.conn == NULL);
        RUN_UNTIL(f, f->srv.conns[where - 1].eof); /* closed, not kept */
        spin(f);
        assert_int_equal(c->done_calls, 0);
        assert_int_equal(c->head_calls, 1);
        assert_int_equal(c->body_calls, where == 1 ? 0 : 1);
        assert_int_equal(f->idle.count, 0);
        free(c);
    }
}

/* Cancelled while connecting (its timer pending) and while full: nothing left behind. */
static void cancel_early(void **state) {
    fixture *f = *state;
    /* the request is tried at once on a new connection: on loopback it may have gone out
     * before the cancel, so the server has an answer ready for it */
    server_expect(&f->srv, (script){.answer = OK_ANSWER});
    call *c = new_call();
    call_start(c, f, "/x", NULL, "{}", 2);
    assert_int_equal(c->start_rc, 0);
    gw_h1_cancel(&c->x);
    assert_null(c->x.conn);
    spin(f);
    assert_int_equal(c->done_calls, 0);
    assert_int_equal(f->idle.count, 0);
    int seen = f->srv.nrequests;

    server_expect(&f->srv, (script){.answer = OK_ANSWER});
    call *d = new_call();
    d->full = 1;
    call_start(d, f, "/x", NULL, "{}", 2);
    RUN_UNTIL(f, f->srv.nrequests == seen + 1);
    gw_h1_cancel(&d->x);
    spin(f);
    assert_int_equal(d->done_calls, 0);
    assert_int_equal(d->head_calls, 0);
    assert_int_equal(f->idle.count, 0);
    free(c);
    free(d);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void) {
    const struct CMUnitTest tests[] = {
        T(request_bytes),
        T(large_body_sent_whole),
        T(content_length_answer),
        T(socket_options),
        T(chunked_a_byte_a_read),
        T(close_delimited_answer),
        T(continue_before_head),
        T(every_split_point),
        T(answer_before_request_sent),
        T(bodiless_answers),
        T(two_exchanges_one_connection),
        T(next_exchange_from_done),
        T(connection_close_not_kept),
        T(http10_not_kept),
        T(keepalive_zero_not_kept),
        T(trailing_bytes_not_kept),
        T(keepalive_cap),
        T(idle_expiry),
        T(connection_refused),
        T(connect_timeout),
        T(closed_without_answer),
        T(closed_mid_body),
        T(dead_reused_connection_retried),
        T(retry_only_once),
        T(idle_close_noticed),
        T(garbage_answer),
        T(bad_chunk_size),
        T(conflicting_framing),
        T(body_callback_stops),
        T(full_stops_reading),
        T(full_before_head),
        T(cancel_mid_answer),
        T(cancel_from_the_handler),
        T(cancel_early),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
