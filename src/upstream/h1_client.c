#include "upstream/h1_client.h"

#include <curl/curl.h>
#include <errno.h>
#include <event2/event.h>
#include <event2/event_struct.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/fd_slots.h"
#include "core/sys_io.h"
#include "upstream/h1_response.h"

enum {
    READ_CHUNK = 16 * 1024, /* one recv, on the worker's stack */
    READS_PER_TURN = 8,     /* a large answer yields to other connections after this many */
};

typedef enum { C_CONNECTING, C_SENDING, C_READING, C_IDLE } conn_state;

struct gw_h1_conn {
    int fd;
    conn_state state;
    struct event *ev_read;  /* persistent; registered for the connection's whole life */
    struct event *ev_write; /* while connecting, and after a partial write */
    struct event *ev_connect_timer;
    /* the three events, in place: a connection costs no allocation for them */
    struct event read_event, write_event, connect_timer_event;
    int connect_armed; /* ev_connect_timer is added: a connect the first send did not prove */
    int reading;       /* ev_read is added (not while the handler is full) */
    gw_h1_idle *home;
    gw_h1_conn *prev, *next; /* in home's idle list */
    struct sockaddr_storage addr;
    socklen_t addr_len;
    int reused;
    int pending_errno; /* a failed send, reported from ev_write on the next turn */
    /* a new connection not yet known to be made: the request was tried at once (a loopback or
     * LAN connect is often done by then, which saves the loop a turn) and the connect timer
     * runs until the first bytes go out */
    int connecting;
    /* the handler is being called from read_answer: a cancel then only detaches, and
     * read_answer closes the connection once the handler has returned */
    int in_handler;
    int64_t idle_since;
    gw_h1_exchange *x; /* NULL while idle */
    /* the request's head, kept until it is sent (a partial write, a retry); reused: head_room,
     * or an allocation for a head larger than any so far */
    char *head;
    size_t head_len, head_cap, head_sent, body_sent;
    char head_room[512];
    /* the answer */
    gw_h1_response answer;
    uint64_t bytes_in;
    int complete, stop;
};

static void on_readable(evutil_socket_t fd, short what, void *arg);
static void on_writable(evutil_socket_t fd, short what, void *arg);
static void on_connect_timeout(evutil_socket_t fd, short what, void *arg);

/* ---- the idle list ---- */

static void idle_unlink(gw_h1_conn *c) {
    gw_h1_idle *idle = c->home;
    if (c->prev)
        c->prev->next = c->next;
    else
        idle->head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    else
        idle->tail = c->prev;
    c->prev = c->next = NULL;
    idle->count--;
}

static void conn_close(gw_h1_conn *c) {
    if (c->state == C_IDLE) idle_unlink(c);
    event_del(c->ev_read);
    event_del(c->ev_write);
    if (c->connect_armed) event_del(c->ev_connect_timer);
    close(c->fd);
    if (c->head != c->head_room) free(c->head);
    free(c);
}

static void idle_put(gw_h1_conn *c) {
    gw_h1_idle *idle = c->home;
    c->state = C_IDLE;
    c->idle_since = gw_now_ns();
    c->reused = 1;
    c->prev = idle->tail;
    c->next = NULL;
    if (idle->tail)
        idle->tail->next = c;
    else
        idle->head = c;
    idle->tail = c;
    idle->count++;
    if (!c->reading) { /* an answer that ended while its reader was full */
        event_add(c->ev_read, NULL);
        c->reading = 1;
    }
    gw_h1_idle_trim(idle);
}

void gw_h1_idle_trim(gw_h1_idle *idle) {
    while (idle->count > idle->keepalive)
        conn_close(idle->head); /* the least recently used */
}

/* The most recently used idle connection to the address. */
static gw_h1_conn *idle_take(gw_h1_idle *idle, const gw_h1_address *to) {
    for (gw_h1_conn *c = idle->tail; c; c = c->prev) {
        if (c->addr_len != to->addr_len || memcmp(&c->addr, &to->addr, to->addr_len)) continue;
        idle_unlink(c);
        c->state = C_SENDING; /* off the list: a close now must not unlink it again */
        return c;
    }
    return NULL;
}

void gw_h1_idle_init(gw_h1_idle *idle, struct event_base *base) {
    memset(idle, 0, sizeof *idle);
    idle->base = base;
}

int64_t gw_h1_idle_next_due(const gw_h1_idle *idle) {
    return idle->head ? idle->head->idle_since + (int64_t)idle->keepalive_timeout_ms * 1000000 : 0;
}

int64_t gw_h1_idle_expire(gw_h1_idle *idle, int64_t now_ns) {
    while (idle->head && gw_h1_idle_next_due(idle) <= now_ns)
        conn_close(idle->head);
    return gw_h1_idle_next_due(idle);
}

void gw_h1_idle_close_all(gw_h1_idle *idle) {
    while (idle->head)
        conn_close(idle->head);
}

/* ---- ending an exchange ---- */

static gw_h1_exchange *detach(gw_h1_conn *c) {
    gw_h1_exchange *x = c->x;
    c->x = NULL;
    x->conn = NULL;
    return x;
}

static void end_exchange(gw_h1_conn *c, gw_h1_result result, const char *detail) {
    gw_h1_exchange *x = detach(c);
    conn_close(c);
    x->handler->done(x->ud, result, detail);
}

/* The answer is whole: the connection goes back to its list when the engine keeps it open and
 * nothing followed the answer. */
static void end_complete(gw_h1_conn *c, int must_close) {
    gw_h1_exchange *x = detach(c);
    if (c->state != C_READING) must_close = 1; /* answered before the request was all sent */
    if (!must_close && c->home->keepalive > 0 && c->answer.keep_alive)
        idle_put(c);
    else
        conn_close(c);
    x->handler->done(x->ud, GW_H1_OK, NULL);
}

static int begin(gw_h1_exchange *x, int fresh, char *detail, size_t detail_len);

/* A reused connection that failed before any byte of the answer: the engine closed it while it
 * was idle (or as the request arrived). The request goes again, once, on a new connection. */
static int worth_a_retry(const gw_h1_conn *c) {
    return c->reused && c->bytes_in == 0 && !c->x->retried;
}

static void retry(gw_h1_conn *c) {
    gw_h1_exchange *x = detach(c);
    conn_close(c);
    x->retried = 1;
    char detail[160];
    if (begin(x, 1, detail, sizeof detail) < 0)
        x->handler->done(x->ud, GW_H1_CONNECT_FAILED, detail);
}

static void fail_io(gw_h1_conn *c, const char *what, int err) {
    if (c->connecting) { /* refused, unreachable: the connect's failure */
        char detail[160];
        snprintf(detail, sizeof detail, "connecting: %s", err ? strerror(err) : "closed");
        end_exchange(c, GW_H1_CONNECT_FAILED, detail);
        return;
    }
    if (worth_a_retry(c)) {
        retry(c);
        return;
    }
    char detail[160];
    snprintf(detail, sizeof detail, "%s: %s", what, err ? strerror(err) : "closed by the upstream");
    end_exchange(c, GW_H1_BROKEN, detail);
}

/* ---- reading ---- */

/* Hands what the parser finds in one read to the handler: the head, the body's pieces, the end
 * (c->complete, *rest the bytes that followed it). Stops early on a cancel (c->x is NULL), a
 * handler's stop (c->stop) or an unreadable answer (the parser's error). */
static void take_answer(gw_h1_conn *c, const char *buf, size_t n, const char **rest) {
    const char *at = buf, *end = buf + n;
    for (;;) {
        const char *data = NULL;
        size_t len = 0;
        gw_h1r_event ev = gw_h1_response_parse(&c->answer, &at, end, &data, &len);
        gw_h1_exchange *x = c->x;
        switch (ev) {
        case GW_H1R_HEAD:
            x->handler->head(x->ud, c->answer.status, c->answer.content_type,
                             c->answer.content_length);
            break;
        case GW_H1R_BODY:
            if (x->handler->body(x->ud, data, len) < 0) c->stop = 1;
            if (at == end && !gw_h1_response_whole(&c->answer)) return; /* spares a call */
            break;
        case GW_H1R_END:
            c->complete = 1; /* nothing may follow an answer nobody asked for */
            *rest = at;
            return;
        case GW_H1R_MORE:
        case GW_H1R_ERROR:
            return;
        }
        if (!c->x || c->stop) return;
    }
}

static void fail_malformed(gw_h1_conn *c) {
    char detail[160];
    snprintf(detail, sizeof detail, "unreadable HTTP answer: %s", c->answer.error);
    end_exchange(c, GW_H1_MALFORMED, detail);
}

static void read_answer(gw_h1_conn *c) {
    char buf[READ_CHUNK];
    c->in_handler = 1;
    for (int round = 0; round < READS_PER_TURN; round++) {
        gw_h1_exchange *x = c->x;
        int full = x->handler->full(x->ud);
        if (!c->x) break; /* cancelled from the handler */
        if (full) {       /* the client is behind: the engine waits in TCP */
            event_del(c->ev_read);
            c->reading = 0;
            break;
        }
        ssize_t n = gw_sys_recv(c->fd, buf, sizeof buf);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) break;
            c->in_handler = 0;
            fail_io(c, "reading the answer", errno);
            return;
        }
        if (n == 0) {
            c->in_handler = 0;
            if (gw_h1_response_eof(&c->answer) == GW_H1R_END) { /* a close-delimited end */
                end_complete(c, 1);
                return;
            }
            fail_io(c, "reading the answer", 0);
            return;
        }
        c->bytes_in += (uint64_t)n;
        const char *rest = NULL;
        take_answer(c, buf, (size_t)n, &rest);
        if (!c->x) break;
        c->in_handler = 0;
        if (c->complete) {
            end_complete(c, rest < buf + n);
            return;
        }
        if (c->stop) {
            end_exchange(c, GW_H1_STOPPED, "stopped by the gateway");
            return;
        }
        if (c->answer.error) {
            fail_malformed(c);
            return;
        }
        if ((size_t)n < sizeof buf) return; /* the socket is drained: no recv to learn EAGAIN */
        c->in_handler = 1;
    }
    c->in_handler = 0;
    if (!c->x) conn_close(c); /* a cancel came while the handler ran */
}

static void on_readable(evutil_socket_t fd, short what, void *arg) {
    gw_h1_conn *c = arg;
    (void)fd;
    (void)what;
    if (c->state == C_IDLE) { /* the engine closed it (or spoke unasked): let it go */
        conn_close(c);
        return;
    }
    if (c->state == C_READING || c->state == C_SENDING) read_answer(c);
}

/* ---- sending ---- */

static int want_write(gw_h1_conn *c) {
    return event_add(c->ev_write, NULL);
}

/* Sends what the socket takes; the rest waits for room. A failure is reported on the loop's
 * next turn (from on_writable), so that no caller, gw_h1_start among them, sees done called
 * under it. */
static int send_request(gw_h1_conn *c) {
    const gw_h1_request *req = c->x->req;
    for (;;) {
        struct iovec iov[2];
        int n = 0;
        if (c->head_sent < c->head_len)
            iov[n++] = (struct iovec){c->head + c->head_sent, c->head_len - c->head_sent};
        if (c->body_sent < req->body_len)
            iov[n++] =
                (struct iovec){(char *)req->body + c->body_sent, req->body_len - c->body_sent};
        if (n == 0) {
            c->state = C_READING;
            return 0;
        }
        struct msghdr msg = {.msg_iov = iov, .msg_iovlen = (size_t)n};
        ssize_t sent = sendmsg(c->fd, &msg, MSG_NOSIGNAL);
        if (sent < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) return want_write(c), 0;
            if (errno == EINTR) continue;
            c->pending_errno = errno;
            event_active(c->ev_write, EV_WRITE, 1);
            return -1;
        }
        if (c->connecting) { /* bytes went out: it is made */
            c->connecting = 0;
            if (c->connect_armed) event_del(c->ev_connect_timer);
            c->connect_armed = 0;
        }
        size_t left = (size_t)sent, head_left = c->head_len - c->head_sent;
        size_t to_head = left < head_left ? left : head_left;
        c->head_sent += to_head;
        c->body_sent += left - to_head;
    }
}

static void on_writable(evutil_socket_t fd, short what, void *arg) {
    gw_h1_conn *c = arg;
    (void)what;
    if (c->pending_errno) {
        fail_io(c, "sending the request", c->pending_errno);
        return;
    }
    if (c->connecting) {
        int err = 0;
        socklen_t len = sizeof err;
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) err = errno;
        if (err) {
            fail_io(c, "connecting", err);
            return;
        }
    }
    if (c->state == C_SENDING) send_request(c);
}

static void on_connect_timeout(evutil_socket_t fd, short what, void *arg) {
    gw_h1_conn *c = arg;
    (void)fd;
    (void)what;
    char detail[160];
    snprintf(detail, sizeof detail, "not connected within %d ms", c->x->req->connect_timeout_ms);
    end_exchange(c, GW_H1_CONNECT_TIMEOUT, detail);
}

/* ---- starting ---- */

/* A new connection, connecting (or connected); NULL with detail. */
static gw_h1_conn *conn_open(gw_h1_idle *idle, const gw_h1_address *to, char *detail,
                             size_t detail_len) {
    int fd = socket(to->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(detail, detail_len, "no socket: %s", strerror(errno));
        return NULL;
    }
    int one = 1;
    /* TCP_NODELAY only: a silent engine is caught by the attempt's first_byte_ms, idle_ms and
     * total_ms timers, and an idle connection is let go at keepalive_timeout_ms, long before the
     * kernel's two-hour SO_KEEPALIVE would probe; that option cost a system call per connection */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    gw_h1_conn *c = calloc(1, sizeof *c);
    if (!c) {
        close(fd);
        snprintf(detail, detail_len, "out of memory");
        return NULL;
    }
    c->fd = fd;
    c->home = idle;
    c->head = c->head_room;
    c->head_cap = sizeof c->head_room;
    c->addr = to->addr;
    c->addr_len = to->addr_len;
    gw_fd_slots_reserve(idle->base, fd);
    c->ev_read = &c->read_event;
    c->ev_write = &c->write_event;
    c->ev_connect_timer = &c->connect_timer_event;
    event_assign(c->ev_read, idle->base, fd, EV_READ | EV_PERSIST, on_readable, c);
    event_assign(c->ev_write, idle->base, fd, EV_WRITE, on_writable, c);
    evtimer_assign(c->ev_connect_timer, idle->base, on_connect_timeout, c);
    c->state = C_CONNECTING;
    if (connect(fd, (const struct sockaddr *)&to->addr, to->addr_len) < 0 && errno != EINPROGRESS) {
        snprintf(detail, detail_len, "connecting: %s", strerror(errno));
        conn_close(c);
        return NULL;
    }
    return c;
}

/* "Name: value" as curl takes a header line: "Name:" alone removes a header curl would send
 * (none of which this client sends but Host), "Name;" sends it empty. */
static int header_is_named(const char *line, size_t line_len, const char *name, size_t len) {
    return line_len >= len + 1 && (line[len] == ':' || line[len] == ';') &&
           (line[0] | 0x20) == name[0] && !strncasecmp(line, name, len);
}

static size_t header_line_len(const char *line, size_t len, int *skip) {
    const char *colon = memchr(line, ':', len);
    *skip = 0;
    if (len && line[len - 1] == ';') { /* "Name;" unless a ':' comes before its first ';' */
        const char *semi = memchr(line, ';', len);
        if (!colon || semi < colon) return len + 1;
    }
    if (!colon) {
        *skip = 1;
        return 0;
    }
    const char *v = colon + 1;
    while (v < line + len && (*v == ' ' || *v == '\t'))
        v++;
    if (v == line + len) *skip = 1; /* "Name:": a removal */
    return len;
}

/* Room for a head of `need` bytes; what the buffer held is not kept (the head is rewritten). */
static int reserve_head(gw_h1_conn *c, size_t need) {
    if (need <= c->head_cap) return 0;
    size_t cap = c->head_cap * 2;
    while (cap < need)
        cap *= 2;
    char *grown = malloc(cap);
    if (!grown) return -1;
    if (c->head != c->head_room) free(c->head);
    c->head = grown;
    c->head_cap = cap;
    return 0;
}

static char *put(char *at, const char *s, size_t len) {
    memcpy(at, s, len);
    return at + len;
}

static char *put_decimal(char *at, uint64_t v) {
    char digits[20];
    int n = 0;
    do {
        digits[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        *at++ = digits[--n];
    return at;
}

/* The request's head, measured then written in one go into the connection's buffer. */
static int build_head(gw_h1_conn *c, const gw_h1_request *req) {
    const gw_h1_address *to = req->to;
    size_t base_len = strlen(to->path), path_len = strlen(req->path), host_len = strlen(to->host);
    int own_host = 1;
    size_t need = 5 + base_len + path_len + 11 + 6 + host_len + 2 + 16 + 20 + 2 + 2;
    /* a line takes at most its length and CRLF ("Name;" becomes "Name:"; a removal, nothing) */
    for (const struct curl_slist *h = req->headers; h; h = h->next) {
        size_t len = strlen(h->data);
        if (header_is_named(h->data, len, "host", 4)) own_host = 0;
        need += len + 2;
    }
    if (reserve_head(c, need) < 0) return -1;
    char *at = c->head;
    at = put(at, "POST ", 5);
    at = put(at, to->path, base_len);
    at = put(at, req->path, path_len);
    at = put(at, " HTTP/1.1\r\n", 11);
    if (own_host) {
        at = put(at, "Host: ", 6);
        at = put(at, to->host, host_len);
        at = put(at, "\r\n", 2);
    }
    at = put(at, "Content-Length: ", 16);
    at = put_decimal(at, req->body_len);
    at = put(at, "\r\n", 2);
    for (const struct curl_slist *h = req->headers; h; h = h->next) {
        size_t len = strlen(h->data);
        int skip;
        if (header_is_named(h->data, len, "content-length", 14)) continue;
        size_t out_len = header_line_len(h->data, len, &skip);
        if (skip) continue;
        if (out_len > len) { /* "Name;" */
            at = put(at, h->data, len - 1);
            at = put(at, ":", 1);
        } else {
            at = put(at, h->data, len);
        }
        at = put(at, "\r\n", 2);
    }
    at = put(at, "\r\n", 2);
    c->head_len = (size_t)(at - c->head);
    c->head_sent = c->body_sent = 0;
    return 0;
}

/* Puts the exchange on a connection (an idle one unless `fresh`) and sends what it can. 0, or
 * -1 with detail when no connection could be had. */
static int begin(gw_h1_exchange *x, int fresh, char *detail, size_t detail_len) {
    const gw_h1_request *req = x->req;
    gw_h1_conn *c = fresh ? NULL : idle_take(x->idle, req->to);
    x->connect_ns = 0;
    if (!c) {
        if (!(c = conn_open(x->idle, req->to, detail, detail_len))) return -1;
        x->connect_ns = gw_now_ns();
    }
    if (build_head(c, req) < 0) {
        conn_close(c);
        snprintf(detail, detail_len, "out of memory");
        return -1;
    }
    c->x = x;
    x->conn = c;
    c->bytes_in = 0;
    c->complete = c->stop = 0;
    gw_h1_response_init(&c->answer, 0); /* a POST's answer: never a HEAD's */
    c->pending_errno = 0;
    if (c->state == C_CONNECTING) {
        c->connecting = 1;
        event_add(c->ev_read, NULL); /* for its whole life */
        c->reading = 1;
    }
    c->state = C_SENDING;
    send_request(c);     /* on a connect still under way: EAGAIN, and ev_write says when */
    if (c->connecting) { /* no byte went out yet: the connect has connect_timeout_ms to finish */
        struct timeval tv = {req->connect_timeout_ms / 1000, req->connect_timeout_ms % 1000 * 1000};
        evtimer_add(c->ev_connect_timer, &tv);
        c->connect_armed = 1;
    }
    return 0;
}

int gw_h1_start(gw_h1_exchange *x, gw_h1_idle *idle, const gw_h1_request *req,
                const gw_h1_handler *handler, void *ud, char *detail, size_t detail_len) {
    *x = (gw_h1_exchange){.idle = idle, .req = req, .handler = handler, .ud = ud};
    return begin(x, 0, detail, detail_len);
}

void gw_h1_resume(gw_h1_exchange *x) {
    gw_h1_conn *c = x->conn;
    if (!c || c->reading) return;
    event_add(c->ev_read, NULL); /* level-triggered: what waits in the socket is read next turn */
    c->reading = 1;
}

void gw_h1_cancel(gw_h1_exchange *x) {
    gw_h1_conn *c = x->conn;
    if (!c) return;
    detach(c);
    if (c->in_handler) return; /* read_answer closes it once the handler has returned */
    conn_close(c);             /* mid-answer: the connection cannot carry another */
}
