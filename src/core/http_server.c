#include "core/http_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/event_struct.h>
#include <http_parser.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "core/block_cache.h"
#include "core/clock.h"
#include "core/fd_slots.h"
#include "core/h1_request_head.h"
#include "core/http_date.h"
#include "core/log.h"
#include "core/openai_error.h"
#include "core/port_owner.h"
#include "core/sys_io.h"

/* Output above HIGH tells the producer to pause; the write callback wakes it under LOW. */
enum { OUTPUT_HIGH_WATER = 64 * 1024, OUTPUT_LOW_WATER = 16 * 1024 };
/* Pipelined bytes read while a request is being handled are capped; past that reading stops. */
enum { PIPELINE_INPUT_CAP = 64 * 1024 };
/* After an error answer the client may still be sending the request it was refused for. Closing
 * with unread input sends a reset, which can destroy the answer before the client reads it; so
 * the input is read and dropped for a while after the answer went out (nginx's lingering close),
 * at most LINGER_MS in all. */
enum { LINGER_MS = 2000 };
/* Connections answered 503 at the cap, per server, at the same time: each holds a descriptor
 * until its answer is out. Past this a connection over the cap is closed without an answer. */
enum { MAX_REFUSING = 16 };
/* accept() failed (out of descriptors, most likely): the listener rests this long, rather than
 * fire again at once for the connection still waiting in the backlog. */
enum { ACCEPT_RETRY_MS = 100 };
/* Connections accepted per turn of the event loop; the rest wait in the backlog for the next
 * turn (the socket is level-triggered). Accepting a whole burst at once made every connection
 * of it wait for the requests of all the others to be read, then for all their upstream
 * transfers to start: a stream's first event came after the burst's, however early it came. */
enum { ACCEPT_PER_TURN = 64 };
/* The kernel's queue of connections not yet accepted (capped by net.core.somaxconn): what
 * waits there while a turn runs must fit, or new connections' SYNs are dropped and their
 * clients wait a second for the retry. */
enum { LISTEN_BACKLOG = 4096 };
/* Room for this many request headers lives in the connection: an SDK sends fifteen to twenty.
 * A request with more moves them to a heap block, grown by doubling up to GW_HTTP_MAX_HEADERS
 * and kept for the connection's later requests. (Room for the maximum in every connection made
 * it 7 KB, zeroed at each accept and each request.) */
enum { HEADERS_INLINE = 24 };
/* Likewise the bytes of a request's URL and headers: an SDK's take 600 to 900. A longer head
 * moves to the heap, doubling, and stays there for the connection's later requests. */
enum { HBUF_INLINE = 1024 };
/* A plain connection's read takes at most this much at once (libevent's own reads take 4 KB). */
enum { READ_SIZE = 4096 };
/* In a drain, a connection that has not sent its first request gets this long to send it (it
 * is answered, on a closing connection); one that said nothing by then is closed. Closed at the
 * drain's start instead, a client that had just connected lost the request it was sending. */
enum { DRAIN_FIRST_REQUEST_MS = 1000 };
/* connection_limit and accept_failed are written at most this often per thread. */
static const int64_t WARN_INTERVAL_NS = 1000000000;

typedef enum { CONN_READING, CONN_HANDLING, CONN_CLOSING } conn_state;

/* A request header's slot: its offsets into hbuf while the head arrives (hbuf moves as it
 * grows), turned in place into the header itself once the head is whole. */
typedef struct header_offsets {
    size_t name_off, name_len, value_off, value_len;
} header_offsets;
typedef union header_slot {
    header_offsets off;
    gw_http_header h;
} header_slot;
/* the slots are handed out as an array of headers */
_Static_assert(sizeof(header_slot) == sizeof(gw_http_header), "a slot is the size of a header");

struct gw_http_conn {
    gw_http_server *server;
    gw_http_conn *prev, *next;
    struct bufferevent *bev; /* a TLS connection's; NULL for a direct one */
    /* The seam between the two: the bufferevent's buffers, or a direct connection's own (in may
     * be NULL until needed). Everything above reads and writes these. */
    struct evbuffer *in, *out;
    http_parser parser;
    gw_http_req req;
    conn_state state;
    gw_http_conn_pool *pool; /* the pool this connection counts in; NULL when refused */
    int refused;             /* over the cap: answered 503 and closed, never read */
    int busy;                /* inside a callback of ours: freeing must wait for its end */
    int want_free;           /* close once the output has flushed */
    int dead;                /* the socket failed: free at the end of the current frame */
    int failed; /* out of memory or a direct write failed: nothing more is written; the event
                 * callback frees */
    int linger; /* once the answer is out, read and drop input before closing */
    int64_t linger_end_ns; /* set when the write side is shut: the input is dropped until then */
    int drain_wanted;
    int response_reported; /* on_response_done ran for the current request */
    int deadline_armed;    /* the read timeout armed is the request's deadline, not the gap */
    /* Output of a plain socket is written by us, once per loop turn (see conn_flush): direct.
     * When the socket takes less than all of it, wev writes the rest on writability:
     * write_evented, until the output is empty again. A TLS connection's output always goes
     * through its bufferevent. */
    int direct;
    evutil_socket_t fd; /* the socket (a TLS one's is its bufferevent's, closed with it) */
    /* A direct connection also reads by itself, with one recv on an event of its own: the
     * bufferevent's reader asks FIONREAD (an ioctl) before each readv, a system call more a
     * request. Timeouts, EOF and errors reach event_cb as the bufferevent reports them. */
    struct event rev;
    int reading;          /* rev is added */
    int read_timeout_set; /* rev is added with read_timeout */
    struct timeval read_timeout;
    /* ... and has no bufferevent at all (its setup and free cost ~2.2k instructions and four
     * allocations a connection): its output is an evbuffer of the thread's spares held only
     * while bytes wait in it (conn_output), its input likewise (pipelined bytes, or read while
     * lingering), and wev waits for
     * writability, with the write timeout, only while the socket is full. Its failures reach
     * event_cb as a bufferevent's would, deferred through the turn's flush (see conn_fail). */
    struct event wev;
    int write_timeout_set; /* wev is added with write_timeout */
    struct timeval write_timeout;
    size_t write_low; /* write_cb runs when the output falls to this (the low-water mark) */
    int write_evented;
    int flush_queued;
    gw_http_conn *flush_next; /* in server->flush_head */

    /* the raw URL and headers of the current request, copied in as they arrive */
    char *hbuf; /* hbuf_inline or the heap */
    size_t hlen, hcap;
    size_t url_off, url_len;
    header_slot *slots; /* hslots of them: slots_inline or the heap */
    size_t hcount, hslots;
    int in_header_field;
    int headers_done; /* later header callbacks are chunked trailers: ignored */
    int error_status; /* set by a parser callback to stop with this answer */
    const char *error_message;
    int message_complete;
    int had_request;    /* a request was answered on it: idle, it is a keep-alive connection */
    int parser_partial; /* http-parser holds part of a request (core/h1_request_head.h) */
    char peer[64];
    struct sockaddr_storage peer_addr; /* for address checks (allow and deny lists) */
    header_slot slots_inline[HEADERS_INLINE];
    char hbuf_inline[HBUF_INLINE];
};

struct gw_http_server {
    struct event_base *base;
    struct event *listener;     /* on the listening socket; NULL once it is closed */
    struct event *accept_retry; /* re-enables the listener after accept() failed */
    SSL_CTX *tls;
    int port; /* for logs */
    gw_http_settings settings;
    gw_http_conn_pool own_pool;     /* when settings.pool is NULL */
    gw_http_thread_state own_state; /* when settings.thread_state is NULL */
    gw_http_req_cb handler;
    void *ud;
    gw_http_conn *conns;
    size_t conn_count;
    size_t refusing; /* connections being answered 503 at the cap */
    int draining;
    struct event *flush; /* active while flush_head holds connections with new output */
    gw_http_conn *flush_head;
    gw_block_cache free_conns; /* connections' blocks for the next accepts (bounded) */
};

static void conn_free(gw_http_conn *c);
static void conn_release(gw_http_conn *c);
static void conn_parse(gw_http_conn *c);
static void conn_request_done(gw_http_conn *c);
static void respond_protocol_error(gw_http_conn *c, int status, const char *message);

static gw_http_thread_state *thread_state(gw_http_server *s) {
    return s->settings.thread_state ? s->settings.thread_state : &s->own_state;
}

/* ---------- reading: the bufferevent's for TLS, rev for a direct connection ---------- */

static int reading_enable(gw_http_conn *c) {
    if (!c->direct) return bufferevent_enable(c->bev, EV_READ);
    if (event_add(&c->rev, c->read_timeout_set ? &c->read_timeout : NULL) < 0) return -1;
    c->reading = 1;
    return 0;
}

static void reading_disable(gw_http_conn *c) {
    if (!c->direct) {
        bufferevent_disable(c->bev, EV_READ);
        return;
    }
    if (c->reading) event_del(&c->rev);
    c->reading = 0;
}

/* As bufferevent_set_timeouts: NULL clears a timeout. A read timeout runs while reading, a
 * write timeout while the output waits for the socket. */
static int set_timeouts(gw_http_conn *c, const struct timeval *rt, const struct timeval *wt) {
    if (!c->direct) return bufferevent_set_timeouts(c->bev, rt, wt);
    c->read_timeout_set = rt != NULL;
    if (rt) c->read_timeout = *rt;
    if (c->reading && (rt ? event_add(&c->rev, rt) : event_remove_timer(&c->rev)) < 0) return -1;
    c->write_timeout_set = wt != NULL;
    if (wt) c->write_timeout = *wt;
    if (c->write_evented && (wt ? event_add(&c->wev, wt) : event_remove_timer(&c->wev)) < 0)
        return -1;
    return 0;
}

/* ---------- writing on writability: the bufferevent's for TLS, wev for a direct one ---------- */

/* A direct connection's output is more than the socket took: written on writability from now
 * on (write_evented), until it is out. -1 when the event cannot be added. */
static int write_wait(gw_http_conn *c) {
    c->write_evented = 1; /* the client reads slower than this: wait for it */
    return event_add(&c->wev, c->write_timeout_set ? &c->write_timeout : NULL);
}

static void write_wait_end(gw_http_conn *c) {
    if (c->write_evented) event_del(&c->wev);
    c->write_evented = 0;
}

static void read_cb(struct bufferevent *bev, void *arg);
static void write_cb(struct bufferevent *bev, void *arg);
static void event_cb(struct bufferevent *bev, short what, void *arg);
static struct evbuffer *body_new(gw_http_server *s);

/* A direct connection's input, taken (a spare body buffer) when bytes must wait there: NULL when
 * memory ran out. */
static struct evbuffer *conn_input(gw_http_conn *c) {
    if (!c->in) c->in = body_new(c->server);
    return c->in;
}

/* The output, for bytes to add: a direct connection's is taken (a spare body buffer) when it
 * has none and given back once it is out whole (output_settled), so thousands of streams whose
 * events leave at once hold none. NULL when memory ran out. */
static struct evbuffer *conn_output(gw_http_conn *c) {
    if (!c->out) c->out = body_new(c->server);
    return c->out;
}

static size_t output_length(const gw_http_conn *c) {
    return c->out ? evbuffer_get_length(c->out) : 0;
}

static void output_settled(gw_http_conn *c) {
    if (!c->direct || !c->out || evbuffer_get_length(c->out) > 0) return;
    gw_http_body_done(thread_state(c->server), c->out);
    c->out = NULL;
}

enum { READ_WOULD_BLOCK = -2 };

/* One recv: the bytes read, 0 at the end, -1 on an error (out of memory included),
 * READ_WOULD_BLOCK when nothing is there yet. While a request is being read and nothing of it
 * waits in the input, into scratch (READ_SIZE bytes; *in_scratch set): the parser takes them from
 * there and the input keeps only what it leaves, so a read costs no buffer allocated and freed.
 * Otherwise into the input. */
static ssize_t read_once(gw_http_conn *c, char *scratch, int *in_scratch) {
    *in_scratch = c->state == CONN_READING && (!c->in || evbuffer_get_length(c->in) == 0);
    if (*in_scratch) {
        ssize_t n = gw_sys_recv(c->fd, scratch, READ_SIZE);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
            n = READ_WOULD_BLOCK;
        return n;
    }
    struct evbuffer *in = conn_input(c);
    struct evbuffer_iovec v;
    ssize_t n = -1;
    if (in && evbuffer_reserve_space(in, READ_SIZE, &v, 1) == 1) {
        n = gw_sys_recv(c->fd, v.iov_base, v.iov_len);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
            n = READ_WOULD_BLOCK;
        v.iov_len = n > 0 ? (size_t)n : 0;
        if (n > 0 && evbuffer_commit_space(in, &v, 1) < 0) n = -1;
    }
    return n;
}

static void conn_parse_bytes(gw_http_conn *c, const char *bytes, size_t len);

/* Bytes read: parsed from scratch, or from the input (the read callback). May free c. */
static void conn_read(gw_http_conn *c, const char *scratch, size_t len, int in_scratch) {
    if (!in_scratch) {
        read_cb(NULL, c);
        return;
    }
    c->busy++;
    conn_parse_bytes(c, scratch, len);
    c->busy--;
    conn_release(c);
}

/* Readable (or the read timeout passed): what the bufferevent's reader would do, with one recv
 * and no FIONREAD. The bytes are parsed; or reading stops and the event callback hears of the
 * timeout, the end or the error. May free c. */
static void direct_read_cb(evutil_socket_t fd, short what, void *arg) {
    gw_http_conn *c = arg;
    (void)fd;
    short event = BEV_EVENT_READING;
    if (what & EV_TIMEOUT) {
        event |= BEV_EVENT_TIMEOUT;
    } else {
        char scratch[READ_SIZE];
        int in_scratch;
        ssize_t n = read_once(c, scratch, &in_scratch);
        if (n == READ_WOULD_BLOCK) return;
        if (n > 0) {
            conn_read(c, scratch, (size_t)n, in_scratch);
            return;
        }
        event |= n == 0 ? BEV_EVENT_EOF : BEV_EVENT_ERROR;
    }
    reading_disable(c);
    event_cb(NULL, event, c);
}

/* Writable (or the write timeout passed): what the bufferevent's writer would do. The output is
 * written; once it falls to the low-water mark write_cb runs, and once it is out waiting ends.
 * A timeout or an error ends waiting and the event callback hears of it. May free c. */
static void direct_write_cb(evutil_socket_t fd, short what, void *arg) {
    gw_http_conn *c = arg;
    short event = BEV_EVENT_WRITING;
    if (what & EV_TIMEOUT) {
        event |= BEV_EVENT_TIMEOUT;
    } else if (output_length(c) == 0) {
        write_wait_end(c);
        output_settled(c);
        return;
    } else {
        int n = evbuffer_write(c->out, fd);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
        if (n > 0) {
            if (evbuffer_get_length(c->out) <= c->write_low) write_cb(NULL, c);
            return;
        }
        event |= n == 0 ? BEV_EVENT_EOF : BEV_EVENT_ERROR;
    }
    write_wait_end(c);
    event_cb(NULL, event, c);
}

/* Half-closes a connection whose answer is out, then drops what the client still sends until it
 * closes or the linger time ends. Returns -1 when it cannot wait: close at once then. */
static int conn_start_linger(gw_http_conn *c) {
    c->linger_end_ns = gw_now_ns() + (int64_t)LINGER_MS * 1000000;
    shutdown(c->fd, SHUT_WR); /* the client reads the answer, then EOF */
    struct timeval tv = {LINGER_MS / 1000, (LINGER_MS % 1000) * 1000};
    if (set_timeouts(c, &tv, NULL) < 0) return -1;
    return reading_enable(c);
}

/* Called as a frame of ours ends: frees the connection if it was due to go meanwhile. */
static void conn_release(gw_http_conn *c) {
    if (c->busy) return;
    if (c->dead) {
        conn_free(c);
        return;
    }
    if (!c->want_free || output_length(c) > 0) return;
    if (!c->linger || (!c->linger_end_ns && conn_start_linger(c) < 0)) conn_free(c);
}

static void conn_queue_flush(gw_http_conn *c) {
    gw_http_server *s = c->server;
    if (c->flush_queued) return;
    c->flush_queued = 1;
    c->flush_next = s->flush_head;
    if (!s->flush_head) event_active(s->flush, 0, 0);
    s->flush_head = c;
}

/* Memory ran out while writing, or a direct write failed: the connection cannot go on. It is
 * closed as on a socket error, from the event callback later in the loop (a TLS connection's
 * deferred callback; a direct one's flush, see conn_flush), so a handler hears of it through
 * on_abort outside its own call into us. */
static void conn_fail(gw_http_conn *c) {
    if (c->failed) return;
    c->failed = 1;
    reading_disable(c);
    if (!c->direct) {
        bufferevent_trigger_event(c->bev, BEV_EVENT_ERROR, BEV_TRIG_DEFER_CALLBACKS);
        return;
    }
    write_wait_end(c);
    conn_queue_flush(c);
}

/* New output on a direct connection: written when the loop turn's callbacks have run, so what
 * the turn produced (a head and the first events, events that came in one read) leaves in one
 * write, and a socket that takes it all costs no epoll_ctl (bufferevent's write event was added
 * and deleted around every write). */
static void conn_output_added(gw_http_conn *c) {
    if (!c->direct || c->write_evented || c->failed) return;
    conn_queue_flush(c);
}

/* The output went under the low-water mark (or out whole): a producer waiting for room goes on. */
static void conn_output_drained(gw_http_conn *c) {
    if (c->state == CONN_HANDLING && c->drain_wanted && c->req.on_drain) {
        c->drain_wanted = 0;
        c->req.on_drain(&c->req, c->req.handler_ud);
    }
}

/* The turn's write of a direct connection; or, for one that failed, the event callback's
 * error, as a bufferevent would defer it. May free c. */
static void conn_flush(gw_http_conn *c) {
    struct evbuffer *out = c->out;
    if (c->failed) {
        if (c->dead)
            conn_release(c);
        else
            event_cb(NULL, BEV_EVENT_ERROR, c);
        return;
    }
    c->busy++;
    if (!c->dead && !c->write_evented && out && evbuffer_get_length(out) > 0) {
        int n = evbuffer_write(out, c->fd);
        int err = errno;
        if (n < 0 && err != EAGAIN && err != EWOULDBLOCK && err != EINTR) {
            conn_fail(c); /* the client is gone: the event callback closes */
        } else if (evbuffer_get_length(out) > 0 && write_wait(c) < 0) {
            conn_fail(c);
        }
    }
    if (!c->write_evented) output_settled(c);
    if (!c->write_evented && !c->failed) conn_output_drained(c);
    c->busy--;
    conn_release(c);
}

static void flush_cb(evutil_socket_t fd, short what, void *arg) {
    gw_http_server *s = arg;
    (void)fd;
    (void)what;
    while (s->flush_head) {
        gw_http_conn *c = s->flush_head;
        s->flush_head = c->flush_next;
        c->flush_next = NULL;
        c->flush_queued = 0;
        conn_flush(c); /* may free c, or queue it again */
    }
}

static void conn_unqueue_flush(gw_http_conn *c) {
    if (!c->flush_queued) return;
    gw_http_conn **at = &c->server->flush_head;
    while (*at != c)
        at = &(*at)->flush_next;
    *at = c->flush_next;
    c->flush_queued = 0;
}

/* on_response_done, once per request that got a status; never for a refused connection. */
static void report_response_done(gw_http_conn *c) {
    gw_http_server *s = c->server;
    if (c->response_reported || c->refused || !c->req.status) return;
    c->response_reported = 1;
    c->req.end_ns = gw_now_ns();
    if (s->settings.on_response_done) s->settings.on_response_done(&c->req, s->ud);
}

/* ---------- parser callbacks: copy the request in, bounded ---------- */

/* Room in hbuf for `need` bytes in all. */
static int hbuf_reserve(gw_http_conn *c, size_t need) {
    if (need > c->hcap) {
        size_t cap = c->hcap * 2;
        while (cap < need)
            cap *= 2;
        int was_inline = c->hbuf == c->hbuf_inline;
        char *nbuf = was_inline ? malloc(cap) : realloc(c->hbuf, cap);
        if (!nbuf) {
            c->error_status = 500;
            c->error_message = "out of memory";
            return -1;
        }
        if (was_inline) memcpy(nbuf, c->hbuf_inline, c->hlen);
        c->hbuf = nbuf;
        c->hcap = cap;
    }
    return 0;
}

static int hbuf_append(gw_http_conn *c, const char *at, size_t len) {
    if (c->hlen + len > c->server->settings.max_header_bytes) {
        c->error_status = 431;
        c->error_message = "request headers are larger than the limit";
        return -1;
    }
    if (hbuf_reserve(c, c->hlen + len) < 0) return -1;
    memcpy(c->hbuf + c->hlen, at, len);
    c->hlen += len;
    return 0;
}

static void message_begin(gw_http_conn *c) {
    c->hlen = c->url_len = c->hcount = 0;
    c->in_header_field = 0;
    c->headers_done = 0;
    c->req.start_ns = gw_now_ns(); /* also starts the request's deadline */
}

static int on_message_begin(http_parser *p) {
    message_begin(p->data);
    return 0;
}

static int on_url(http_parser *p, const char *at, size_t len) {
    gw_http_conn *c = p->data;
    if (c->url_len == 0) c->url_off = c->hlen;
    c->url_len += len;
    return hbuf_append(c, at, len);
}

/* Room for one more header than hslots: twice as many (at most the limit), on the heap. */
static int grow_headers(gw_http_conn *c) {
    size_t slots = c->hslots * 2 < GW_HTTP_MAX_HEADERS ? c->hslots * 2 : GW_HTTP_MAX_HEADERS;
    int was_inline = c->slots == c->slots_inline;
    header_slot *grown =
        was_inline ? malloc(slots * sizeof *grown) : realloc(c->slots, slots * sizeof *grown);
    if (!grown) {
        c->error_status = 500;
        c->error_message = "out of memory";
        return -1;
    }
    if (was_inline) memcpy(grown, c->slots_inline, c->hcount * sizeof *grown);
    c->slots = grown;
    c->hslots = slots;
    return 0;
}

static int on_header_field(http_parser *p, const char *at, size_t len) {
    gw_http_conn *c = p->data;
    if (c->headers_done) return 0; /* storing would move hbuf under the parsed headers */
    if (!c->in_header_field) {
        if (c->hcount == GW_HTTP_MAX_HEADERS) {
            c->error_status = 431;
            c->error_message = "too many request headers";
            return -1;
        }
        if (c->hcount == c->hslots && grow_headers(c) < 0) return -1;
        c->slots[c->hcount++].off = (header_offsets){.name_off = c->hlen};
        c->in_header_field = 1;
    }
    c->slots[c->hcount - 1].off.name_len += len;
    return hbuf_append(c, at, len);
}

static int on_header_value(http_parser *p, const char *at, size_t len) {
    gw_http_conn *c = p->data;
    if (c->headers_done) return 0;
    header_slot *h = &c->slots[c->hcount - 1];
    if (c->in_header_field) {
        c->in_header_field = 0;
        h->off.value_off = c->hlen;
    }
    h->off.value_len += len;
    return hbuf_append(c, at, len);
}

/* The head is whole (its URL and headers in hbuf, at the slots' offsets): the request takes
 * them. content_length: what the head gives, checked against the limit (http-parser's
 * ULLONG_MAX, or the fast path's 0, when it gives none). */
static int head_complete(gw_http_conn *c, int method, int http_minor, uint64_t content_length) {
    gw_http_req *r = &c->req;
    c->headers_done = 1;
    for (size_t i = 0; i < c->hcount; i++) { /* hbuf stays put from here: offsets to pointers */
        header_slot *h = &c->slots[i];
        size_t name_off = h->off.name_off, name_len = h->off.name_len;
        size_t value_off = h->off.value_off, value_len = h->off.value_len;
        h->h = (gw_http_header){.name = c->hbuf + name_off,
                                .name_len = name_len,
                                .value = c->hbuf + value_off,
                                .value_len = value_len};
    }
    r->headers = &c->slots->h;
    r->header_count = c->hcount;
    const char *url = c->hbuf + c->url_off;
    const char *q = memchr(url, '?', c->url_len);
    r->path = url;
    r->path_len = q ? (size_t)(q - url) : c->url_len;
    r->query = q ? q + 1 : NULL;
    r->query_len = q ? c->url_len - r->path_len - 1 : 0;
    r->method = method;
    r->method_name = http_method_str((enum http_method)method);
    r->http_minor = http_minor;

    uint64_t max_body = c->server->settings.max_body_bytes;
    if (content_length != ULLONG_MAX && content_length > max_body) {
        c->error_status = 413;
        c->error_message = "request body is larger than the limit";
        return -1;
    }
    const gw_http_header *expect = gw_http_find_header(r, "expect");
    if (expect && expect->value_len == 12 && !strncasecmp(expect->value, "100-continue", 12) &&
        (!conn_output(c) || evbuffer_add(c->out, "HTTP/1.1 100 Continue\r\n\r\n", 25) < 0)) {
        c->error_status = 500;
        c->error_message = "out of memory";
        return -1;
    }
    if (expect) conn_output_added(c);
    return 0;
}

static int on_headers_complete(http_parser *p) {
    return head_complete(p->data, p->method, p->http_minor, p->content_length);
}

static int body_append(gw_http_conn *c, const char *at, size_t len) {
    if (evbuffer_get_length(c->req.body) + len > c->server->settings.max_body_bytes) {
        c->error_status = 413;
        c->error_message = "request body is larger than the limit";
        return -1;
    }
    if (evbuffer_add(c->req.body, at, len) < 0) {
        c->error_status = 500;
        c->error_message = "out of memory";
        return -1;
    }
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t len) {
    return body_append(p->data, at, len);
}

static void message_done(gw_http_conn *c, int keep_alive) {
    c->message_complete = 1;
    c->req.keep_alive = keep_alive && !c->server->draining;
}

static int on_message_complete(http_parser *p) {
    message_done(p->data, http_should_keep_alive(p));
    http_parser_pause(p, 1); /* one request at a time; the rest stays in the input buffer */
    return 0;
}

static const http_parser_settings parser_settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

/* ---------- responses ---------- */

const char *gw_http_status_text(int status) {
    switch (status) {
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 204:
        return "No Content";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 413:
        return "Payload Too Large";
    case 415:
        return "Unsupported Media Type";
    case 422:
        return "Unprocessable Entity";
    case 424:
        return "Failed Dependency";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    case 529:
        return "Overloaded";
    default:
        return status < 300 ? "OK" : status < 500 ? "Client Error" : "Server Error";
    }
}

/* content_length < 0: a streamed body (chunked on HTTP/1.1, close-delimited on 1.0). The head
 * goes straight into the output buffer, whatever its size: every header given is written. */
/* Decimal digits of v into a buffer of 20 or more; returns how many. */
static size_t format_decimal(char *out, unsigned long long v) {
    char digits[20], *q = digits + sizeof digits;
    do
        *--q = (char)('0' + v % 10);
    while (v /= 10);
    size_t n = (size_t)(digits + sizeof digits - q);
    memcpy(out, q, n);
    return n;
}

static char *put_bytes(char *p, const char *bytes, size_t len) {
    memcpy(p, bytes, len);
    return p + len;
}

#define PUT_LITERAL(p, s) put_bytes((p), (s), sizeof(s) - 1)

/* The head is measured, then written into exactly that much space in the output (no header is
 * ever dropped), without printf: the three evbuffer_add_printf it took cost ~5k instructions. */
static void write_head(gw_http_req *r, int status, const char *content_type,
                       long long content_length, const gw_http_header *extra, size_t extra_count) {
    gw_http_conn *c = r->conn;
    if (content_length < 0 && r->http_minor == 0) r->keep_alive = 0;
    if (c->server->draining) r->keep_alive = 0;
    r->status = status;
    if (c->failed) return;
    struct evbuffer *out = conn_output(c);
    if (!out) {
        conn_fail(c);
        return;
    }
    char status_digits[24], length_digits[24];
    size_t status_len = status >= 0
                            ? format_decimal(status_digits, (unsigned long long)status)
                            : (size_t)snprintf(status_digits, sizeof status_digits, "%d", status);
    size_t length_len =
        content_length >= 0 ? format_decimal(length_digits, (unsigned long long)content_length) : 0;
    const char *status_text = gw_http_status_text(status), *date = gw_http_date();
    size_t status_text_len = strlen(status_text), date_len = strlen(date);
    size_t ct_len = content_type ? strlen(content_type) : 0;
    size_t total = 9 + status_len + 1 + status_text_len + 2 + 6 + date_len + 2;
    if (content_type) total += 14 + ct_len + 2;
    if (content_length >= 0)
        total += 16 + length_len + 2;
    else if (r->http_minor > 0)
        total += 28;
    for (size_t i = 0; i < extra_count; i++)
        total += extra[i].name_len + 2 + extra[i].value_len + 2;
    if (!r->keep_alive)
        total += 19;
    else if (r->http_minor == 0)
        total += 24;
    total += 2;
    struct evbuffer_iovec v;
    if (evbuffer_expand(out, total) < 0 ||
        evbuffer_reserve_space(out, (ev_ssize_t)total, &v, 1) < 1 || v.iov_len < total) {
        conn_fail(c);
        return;
    }
    char *p = v.iov_base;
    p = PUT_LITERAL(p, "HTTP/1.1 ");
    p = put_bytes(p, status_digits, status_len);
    *p++ = ' ';
    p = put_bytes(p, status_text, status_text_len);
    p = PUT_LITERAL(p, "\r\nDate: ");
    p = put_bytes(p, date, date_len);
    p = PUT_LITERAL(p, "\r\n");
    if (content_type) {
        p = PUT_LITERAL(p, "Content-Type: ");
        p = put_bytes(p, content_type, ct_len);
        p = PUT_LITERAL(p, "\r\n");
    }
    if (content_length >= 0) {
        p = PUT_LITERAL(p, "Content-Length: ");
        p = put_bytes(p, length_digits, length_len);
        p = PUT_LITERAL(p, "\r\n");
    } else if (r->http_minor > 0) {
        p = PUT_LITERAL(p, "Transfer-Encoding: chunked\r\n");
    }
    for (size_t i = 0; i < extra_count; i++) {
        p = put_bytes(p, extra[i].name, extra[i].name_len);
        p = PUT_LITERAL(p, ": ");
        p = put_bytes(p, extra[i].value, extra[i].value_len);
        p = PUT_LITERAL(p, "\r\n");
    }
    if (!r->keep_alive)
        p = PUT_LITERAL(p, "Connection: close\r\n");
    else if (r->http_minor == 0)
        p = PUT_LITERAL(p, "Connection: keep-alive\r\n");
    p = PUT_LITERAL(p, "\r\n");
    v.iov_len = (size_t)(p - (char *)v.iov_base);
    if (evbuffer_commit_space(out, &v, 1) < 0) conn_fail(c);
    conn_output_added(c); /* and the body, added next in this turn */
}

/* The response has ended: report it, then go on to the next request or close. */
static void response_finished(gw_http_req *r) {
    r->finished = 1;
    report_response_done(r->conn);
    conn_request_done(r->conn);
}

void gw_http_respond_buffer(gw_http_req *r, int status, const char *content_type,
                            struct evbuffer *body, const gw_http_header *extra,
                            size_t extra_count) {
    if (r->finished) return;
    size_t len = body ? evbuffer_get_length(body) : 0;
    write_head(r, status, content_type, (long long)len, extra, extra_count);
    if (len && r->method != HTTP_HEAD && !r->conn->failed) {
        if (!conn_output(r->conn) || evbuffer_add_buffer(r->conn->out, body) < 0)
            conn_fail(r->conn);
    }
    if (body) evbuffer_drain(body, evbuffer_get_length(body));
    r->bytes_out += len;
    response_finished(r);
}

void gw_http_respond(gw_http_req *r, int status, const char *content_type, const char *body,
                     size_t len, const gw_http_header *extra, size_t extra_count) {
    if (r->finished) return;
    write_head(r, status, content_type, (long long)len, extra, extra_count);
    if (len && r->method != HTTP_HEAD && !r->conn->failed) {
        if (!conn_output(r->conn) || evbuffer_add(r->conn->out, body, len) < 0) conn_fail(r->conn);
    }
    r->bytes_out += len;
    response_finished(r);
}

void gw_http_stream_begin(gw_http_req *r, int status, const char *content_type,
                          const gw_http_header *extra, size_t extra_count) {
    if (r->finished) return;
    write_head(r, status, content_type, -1, extra, extra_count);
}

/* The chunk-size line of a len-byte chunk, written backwards to end at `end`: where it begins. */
static char *chunk_size_line(char *end, size_t len) {
    char *p = end;
    *--p = '\n';
    *--p = '\r';
    for (size_t v = len; v; v >>= 4)
        *--p = "0123456789abcdef"[v & 15];
    return p;
}

enum { CHUNK_SIZE_LINE_MAX = 2 * sizeof(size_t) + 2 };

void gw_http_stream_write(gw_http_req *r, struct evbuffer *data) {
    size_t len = evbuffer_get_length(data);
    if (!len || r->finished) return;
    gw_http_conn *c = r->conn;
    struct evbuffer *out = c->failed ? NULL : conn_output(c);
    if (!out) {
        evbuffer_drain(data, len);
        conn_fail(c);
        return;
    }
    int rc = 0;
    if (r->http_minor > 0) {
        char size_line[CHUNK_SIZE_LINE_MAX], *end = size_line + sizeof size_line;
        char *p = chunk_size_line(end, len);
        rc |= evbuffer_add(out, p, (size_t)(end - p));
        rc |= evbuffer_add_buffer(out, data);
        rc |= evbuffer_add(out, "\r\n", 2);
    } else {
        rc |= evbuffer_add_buffer(out, data);
    }
    if (rc) {
        evbuffer_drain(data, evbuffer_get_length(data));
        conn_fail(c);
    }
    conn_output_added(c);
    r->bytes_out += len;
}

/* A stream's bytes queued in the output for the loop turn's flush, framed as a chunk, in one
 * piece: one reservation rather than an evbuffer_add for the size line, the bytes and the CRLF. */
void gw_http_stream_write_bytes(gw_http_req *r, const char *bytes, size_t len) {
    if (!len || r->finished) return;
    gw_http_conn *c = r->conn;
    if (c->failed) return;
    struct evbuffer *out = conn_output(c);
    if (!out) {
        conn_fail(c);
        return;
    }
    char size_line[CHUNK_SIZE_LINE_MAX], *end = size_line + sizeof size_line, *size = end;
    int chunked = r->http_minor > 0;
    if (chunked) size = chunk_size_line(end, len);
    size_t total = (size_t)(end - size) + len + (chunked ? 2 : 0);
    struct evbuffer_iovec v;
    if (evbuffer_expand(out, total) < 0 ||
        evbuffer_reserve_space(out, (ev_ssize_t)total, &v, 1) < 1 || v.iov_len < total) {
        conn_fail(c);
        return;
    }
    char *p = put_bytes(v.iov_base, size, (size_t)(end - size));
    p = put_bytes(p, bytes, len);
    if (chunked) memcpy(p, "\r\n", 2);
    v.iov_len = total;
    if (evbuffer_commit_space(out, &v, 1) < 0) {
        conn_fail(c);
        return;
    }
    conn_output_added(c);
    r->bytes_out += len;
}

/* What the socket did not take of a direct write, in order after what the output still holds:
 * the rest of `bytes` (len of them) past `taken`. Returns how much of `taken` is left over. */
static size_t keep_unwritten(struct evbuffer *out, const char *bytes, size_t len, size_t taken,
                             int *rc) {
    if (taken >= len) return taken - len;
    *rc |= evbuffer_add(out, bytes + taken, len - taken);
    return 0;
}

/* Pieces of one writev: what the output holds (the head, when the stream begins in this call),
 * the chunk's size line, the body's pieces and the CRLF. The body's pieces are few: a stream's
 * frames come flat (one piece however many events a read brought), and an evbuffer's chains are
 * peeked by length, so one that needs more pieces than are left goes the queued way. */
enum { MAX_PIECES = 16 };

/* A stream's bytes (len of them, in `pieces` pieces) written now, in one writev with what the
 * output holds and the chunk's framing, straight from the caller's memory: no chain is allocated,
 * no output callback runs, and the turn's flush has nothing left to do. Only what the socket does
 * not take is copied into the output, and libevent writes it on writability, as conn_flush
 * leaves it. Returns -1 when this cannot be done (a TLS or a waiting connection, too many
 * pieces): the caller queues the bytes instead. The caller's bytes are no longer needed after. */
static int stream_write_now(gw_http_req *r, const struct evbuffer_iovec *body, int pieces,
                            size_t len) {
    gw_http_conn *c = r->conn;
    if (!c->direct || c->write_evented || c->dead) return -1;
    struct evbuffer_iovec v[MAX_PIECES];
    struct evbuffer *out = c->out; /* NULL when empty and given back */
    size_t held = output_length(c);
    /* a length, not -1: with -1 evbuffer_peek stops at the vectors given and returns their
     * count, so a buffer of more chains would be sent cut, silently (seen: 13 of a stream's
     * chains written, the rest dropped) */
    int n = held ? evbuffer_peek(out, (ev_ssize_t)held, NULL, v, MAX_PIECES) : 0;
    if (n < 0 || n > MAX_PIECES - 2 - pieces) return -1;
    int first_own = n; /* v[first_own..] are this call's: they outlive the output's drain */
    char size_line[CHUNK_SIZE_LINE_MAX], *end = size_line + sizeof size_line;
    size_t own = len; /* this call's bytes, framing included */
    if (r->http_minor > 0) {
        char *size = chunk_size_line(end, len);
        v[n++] = (struct evbuffer_iovec){.iov_base = size, .iov_len = (size_t)(end - size)};
        own += (size_t)(end - size) + 2;
    }
    for (int i = 0; i < pieces; i++) /* one, for a stream's frames: no memcpy call */
        v[n++] = body[i];
    if (r->http_minor > 0) v[n++] = (struct evbuffer_iovec){.iov_base = "\r\n", .iov_len = 2};
    ssize_t w = gw_sys_writev(c->fd, (struct iovec *)v, n);
    if (w < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
            conn_fail(c); /* the client is gone: the event callback closes */
            return 0;
        }
        w = 0;
    }
    size_t taken = (size_t)w, gone = taken < held ? taken : held;
    taken -= gone;
    if (gone) evbuffer_drain(out, gone);
    if (taken == own) { /* all of it went, the output's too: nothing is left to wait */
        output_settled(c);
        return 0;
    }
    int rc = 0;
    if (!(out = conn_output(c))) {
        conn_fail(c);
        return 0;
    }
    for (int i = first_own; i < n; i++)
        taken = keep_unwritten(out, v[i].iov_base, v[i].iov_len, taken, &rc);
    if (rc) {
        conn_fail(c);
    } else if (evbuffer_get_length(out) > 0 && write_wait(c) < 0) {
        conn_fail(c);
    }
    return 0;
}

void gw_http_stream_send_bytes(gw_http_req *r, const char *bytes, size_t len) {
    if (!len || r->finished || r->conn->failed) return;
    struct evbuffer_iovec piece = {.iov_base = (void *)bytes, .iov_len = len};
    if (stream_write_now(r, &piece, 1, len) < 0) {
        gw_http_stream_write_bytes(r, bytes, len);
        return;
    }
    r->bytes_out += len;
}

void gw_http_stream_send(gw_http_req *r, struct evbuffer *data) {
    size_t len = evbuffer_get_length(data);
    if (!len || r->finished) return;
    struct evbuffer_iovec pieces[MAX_PIECES];
    int k = r->conn->failed ? -1 : evbuffer_peek(data, (ev_ssize_t)len, NULL, pieces, MAX_PIECES);
    if (k < 0 || k > MAX_PIECES || stream_write_now(r, pieces, k, len) < 0) {
        gw_http_stream_write(r, data);
        return;
    }
    evbuffer_drain(data, len); /* written, or what the socket did not take copied */
    r->bytes_out += len;
}

void gw_http_stream_end(gw_http_req *r) {
    if (r->finished) return;
    gw_http_conn *c = r->conn;
    if (r->http_minor > 0 && !c->failed &&
        (!conn_output(c) || evbuffer_add(c->out, "0\r\n\r\n", 5) < 0))
        conn_fail(c);
    conn_output_added(c);
    response_finished(r);
}

int gw_http_output_full(const gw_http_req *r) {
    gw_http_conn *c = r->conn;
    if (output_length(c) <= OUTPUT_HIGH_WATER) return 0;
    c->drain_wanted = 1;
    return 1;
}

void gw_http_body_done(gw_http_thread_state *ts, struct evbuffer *body) {
    if (!body) return;
    if (ts->spare_body_count == GW_HTTP_SPARE_BODIES) {
        evbuffer_free(body);
        return;
    }
    evbuffer_drain(body, evbuffer_get_length(body)); /* its memory goes back now */
    ts->spare_bodies[ts->spare_body_count++] = body;
}

void gw_http_thread_state_clear(gw_http_thread_state *ts) {
    while (ts->spare_body_count > 0)
        evbuffer_free(ts->spare_bodies[--ts->spare_body_count]);
}

/* An empty body buffer for a connection's next request: a spare one, or a new one. */
static struct evbuffer *body_new(gw_http_server *s) {
    gw_http_thread_state *ts = thread_state(s);
    return ts->spare_body_count > 0 ? ts->spare_bodies[--ts->spare_body_count] : evbuffer_new();
}

struct evbuffer *gw_http_take_body(gw_http_req *r) {
    struct evbuffer *body = r->body;
    r->body = NULL; /* the connection makes another if a next request comes */
    return body;
}

const gw_http_header *gw_http_find_header(const gw_http_req *r, const char *name) {
    size_t len = strlen(name);
    for (size_t i = 0; i < r->header_count; i++)
        if (r->headers[i].name_len == len && !strncasecmp(r->headers[i].name, name, len))
            return &r->headers[i];
    return NULL;
}

static const char *protocol_error_code(int status) {
    switch (status) {
    case 408:
        return "request_timeout";
    case 413:
        return "request_too_large";
    case 431:
        return "headers_too_large";
    case 500:
        return "out_of_memory";
    case 403:
        return "address_denied";
    case 503:
        return "too_many_connections";
    default:
        return "malformed_request";
    }
}

/* An answer of this layer's own, before or instead of a handler: JSON in OpenAI's shape, then
 * close, lingering so that the client reads it even while it is still sending. */
static void respond_protocol_error(gw_http_conn *c, int status, const char *message) {
    c->req.keep_alive = 0;
    if (!c->req.path) c->req.http_minor = 1;
    c->state = CONN_HANDLING;
    c->linger = 1;
    struct evbuffer *body = evbuffer_new();
    if (!body) {
        c->req.status = status;
        c->req.finished = 1;
        c->state = CONN_CLOSING;
        report_response_done(c);
        conn_fail(c);
        return;
    }
    gw_openai_error(body, message, status >= 500 ? "server_error" : "invalid_request_error",
                    protocol_error_code(status), NULL);
    gw_http_respond_buffer(&c->req, status, "application/json", body, NULL, 0);
    evbuffer_free(body);
}

/* ---------- connection lifecycle ---------- */

static void set_read_timeout(gw_http_conn *c, int ms) {
    struct timeval rt = {ms / 1000, (ms % 1000) * 1000};
    int wms = c->server->settings.client_timeout_ms;
    struct timeval wt = {wms / 1000, (wms % 1000) * 1000};
    if (set_timeouts(c, ms > 0 ? &rt : NULL, wms > 0 ? &wt : NULL) < 0)
        conn_fail(c); /* a connection without its timeouts could hang forever */
}

/* How long a new connection may wait before its first request begins: the keep-alive gap, or
 * in a drain at most DRAIN_FIRST_REQUEST_MS. */
static int first_request_timeout_ms(const gw_http_server *s) {
    int ms = s->settings.keepalive_timeout_ms;
    return s->draining && (ms <= 0 || ms > DRAIN_FIRST_REQUEST_MS) ? DRAIN_FIRST_REQUEST_MS : ms;
}

/* Whether the current request has begun arriving (and is not yet whole). */
static int request_arriving(const gw_http_conn *c) {
    return c->state == CONN_READING && c->req.start_ns != 0;
}

/* Milliseconds left of the request's deadline (server.request_timeout_ms from its first byte);
 * INT32_MAX when there is none. */
static int64_t deadline_left_ms(const gw_http_conn *c) {
    int limit_ms = c->server->settings.request_timeout_ms;
    if (limit_ms <= 0 || !request_arriving(c)) return INT32_MAX;
    int64_t left_ns = c->req.start_ns + (int64_t)limit_ms * 1000000 - gw_now_ns();
    return left_ns <= 0 ? 0 : (left_ns + 999999) / 1000000; /* rounded up: never early */
}

static void respond_request_timeout(gw_http_conn *c) {
    char msg[200];
    /* libevent's coarse clock may fire a timer a few ms before gw_now_ns says it is due */
    if (c->deadline_armed || deadline_left_ms(c) == 0)
        snprintf(msg, sizeof msg,
                 "the request's headers and body did not arrive within "
                 "server.request_timeout_ms (%d ms)",
                 c->server->settings.request_timeout_ms);
    else
        snprintf(msg, sizeof msg,
                 "the client sent nothing for server.keepalive_timeout_ms (%d ms) in the middle "
                 "of a request",
                 c->server->settings.keepalive_timeout_ms);
    respond_protocol_error(c, 408, msg);
}

/* While a request arrives, reads time out at its deadline or after the keep-alive gap, whichever
 * comes first. Re-armed after every read, so a client that trickles a byte a second is still cut
 * at the deadline, not only one that stops. */
static void arm_request_timeout(gw_http_conn *c) {
    int64_t left = deadline_left_ms(c);
    if (left == 0) {
        respond_request_timeout(c);
        return;
    }
    int ms = c->server->settings.keepalive_timeout_ms;
    c->deadline_armed = left != INT32_MAX && (ms <= 0 || left < ms);
    if (c->deadline_armed) ms = (int)left;
    set_read_timeout(c, ms);
}

/* 0, or -1 when the body the handler took cannot be replaced (out of memory). */
static int conn_reset_request(gw_http_conn *c) {
    struct evbuffer *body = c->req.body;
    if (body)
        evbuffer_drain(body, evbuffer_get_length(body));
    else if (!(body = body_new(c->server)))
        return -1;
    c->req = (gw_http_req){.conn = c,
                           .body = body,
                           .peer = c->peer,
                           .peer_addr = (const struct sockaddr *)&c->peer_addr,
                           .is_tls = c->req.is_tls};
    c->message_complete = 0;
    c->drain_wanted = 0;
    c->response_reported = 0;
    c->hlen = c->hcount = c->url_len = 0;
    return 0;
}

static void conn_close_when_flushed(gw_http_conn *c) {
    c->state = CONN_CLOSING;
    c->want_free = 1;
    if (c->linger) {
        /* keep reading (and dropping) while the answer goes out: see LINGER_MS */
        struct timeval tv = {LINGER_MS / 1000, (LINGER_MS % 1000) * 1000};
        int wms = c->server->settings.client_timeout_ms;
        struct timeval wt = {wms / 1000, (wms % 1000) * 1000};
        if (set_timeouts(c, &tv, wms > 0 ? &wt : NULL) < 0 || reading_enable(c) < 0)
            c->linger = 0; /* cannot wait for the client: close once the answer is out */
    }
    if (!c->linger) reading_disable(c);
    if (c->direct)
        c->write_low = 0;
    else
        bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);
    conn_release(c);
}

static void conn_request_done(gw_http_conn *c) {
    if (c->failed) { /* the event callback closes it */
        c->state = CONN_CLOSING;
        return;
    }
    c->had_request = 1;
    /* draining: a response that began before shutdown still ends its connection */
    if (!c->req.keep_alive || c->server->draining || conn_reset_request(c) < 0) {
        conn_close_when_flushed(c);
        return;
    }
    http_parser_pause(&c->parser, 0);
    c->state = CONN_READING;
    set_read_timeout(c, c->server->settings.keepalive_timeout_ms);
    if (reading_enable(c) < 0) conn_fail(c);
    if (!c->busy && !c->failed) {
        c->busy++;
        conn_parse(c);
        c->busy--;
        conn_release(c);
    }
}

static void conn_dispatch(gw_http_conn *c) {
    c->state = CONN_HANDLING;
    set_read_timeout(c, 0); /* the upstream's timeouts govern while a model thinks */
    c->server->handler(&c->req, c->server->ud);
}

/* What the parser made of some bytes. */
typedef enum { PARSED_SOME, PARSED_REQUEST, PARSE_FAILED } parse_result;

/* A whole plain request at the start of bytes, read at once (core/h1_request_head.h): as the
 * parser callbacks would have taken it, into hbuf, the slots and the body. PARSED_REQUEST, or
 * PARSE_FAILED on a limit (413, 500); -1 when declined, nothing used: http-parser reads it. */
static int parse_plain(gw_http_conn *c, const char *bytes, size_t len, size_t *used) {
    gw_h1_request_head h;
    gw_h1q_header headers[GW_HTTP_MAX_HEADERS];
    if (!gw_h1_request_head_read(bytes, len, &h, headers, GW_HTTP_MAX_HEADERS) ||
        h.head_len > c->server->settings.max_header_bytes) /* http-parser counts it for 431 */
        return -1;
    message_begin(c);
    *used = len; /* unless it is read whole: after a failure the rest is dropped */
    while (c->hslots < h.header_count)
        if (grow_headers(c) < 0) return PARSE_FAILED;
    if (hbuf_reserve(c, h.head_len) < 0) return PARSE_FAILED;
    /* the head as it came: URL and headers at their offsets in it */
    memcpy(c->hbuf, bytes, h.head_len);
    c->hlen = h.head_len;
    c->url_off = h.url.off;
    c->url_len = h.url.len;
    for (size_t i = 0; i < h.header_count; i++)
        c->slots[i].off = (header_offsets){.name_off = headers[i].name.off,
                                           .name_len = headers[i].name.len,
                                           .value_off = headers[i].value.off,
                                           .value_len = headers[i].value.len};
    c->hcount = h.header_count;
    if (head_complete(c, h.method, h.http_minor, h.content_length) < 0) return PARSE_FAILED;
    if (h.content_length && body_append(c, bytes + h.head_len, h.content_length) < 0)
        return PARSE_FAILED;
    message_done(c, h.keep_alive);
    *used = h.head_len + h.content_length;
    return PARSED_REQUEST;
}

static parse_result parse_some(gw_http_conn *c, const char *bytes, size_t len, size_t *used) {
    if (!c->parser_partial) { /* http-parser is between requests: the fast path may read one */
        int plain = parse_plain(c, bytes, len, used);
        if (plain >= 0) return (parse_result)plain;
    }
    *used = http_parser_execute(&c->parser, &parser_settings, bytes, len);
    parse_result result;
    if (c->error_status || c->message_complete)
        result = c->error_status ? PARSE_FAILED : PARSED_REQUEST;
    else
        result = HTTP_PARSER_ERRNO(&c->parser) != HPE_OK ? PARSE_FAILED : PARSED_SOME;
    c->parser_partial = result == PARSED_SOME; /* holds part of a request: it reads the rest */
    return result;
}

/* The answer to a request the parser refused. */
static void respond_parse_error(gw_http_conn *c) {
    if (c->error_status) {
        respond_protocol_error(c, c->error_status, c->error_message);
        return;
    }
    char msg[160];
    snprintf(msg, sizeof msg, "malformed HTTP request: %s",
             http_errno_description(HTTP_PARSER_ERRNO(&c->parser)));
    respond_protocol_error(c, 400, msg);
}

static void conn_parse(gw_http_conn *c) {
    struct evbuffer *in = c->in;
    while (in && c->state == CONN_READING && evbuffer_get_length(in) > 0) {
        struct evbuffer_iovec v;
        if (evbuffer_peek(in, -1, NULL, &v, 1) < 1) break;
        size_t n;
        parse_result result = parse_some(c, v.iov_base, v.iov_len, &n);
        evbuffer_drain(in, n);
        if (result == PARSE_FAILED) {
            respond_parse_error(c);
            return;
        }
        if (result == PARSED_REQUEST)
            conn_dispatch(c); /* a synchronous answer with keep-alive
                                goes on to the next request */
    }
    if (request_arriving(c)) arm_request_timeout(c);
    if (in && c->state == CONN_HANDLING && evbuffer_get_length(in) > PIPELINE_INPUT_CAP)
        reading_disable(c);
}

/* As conn_parse, for bytes read outside the input (which is empty): what the parser leaves of
 * them (a next request sent before this one was answered) is kept in the input. */
static void conn_parse_bytes(gw_http_conn *c, const char *bytes, size_t len) {
    while (c->state == CONN_READING && len > 0) {
        size_t n;
        parse_result result = parse_some(c, bytes, len, &n);
        bytes += n;
        len -= n;
        if (result == PARSE_FAILED) {
            respond_parse_error(c); /* the rest is dropped, as lingering drops what follows */
            return;
        }
        if (result == PARSED_REQUEST) conn_dispatch(c);
    }
    if (len > 0 && c->state == CONN_HANDLING) {
        struct evbuffer *in = conn_input(c);
        if (!in || evbuffer_add(in, bytes, len) < 0) {
            conn_fail(c);
            return;
        }
    }
    conn_parse(c); /* the timeouts and the pipelining cap, as after any read */
}

static void read_cb(struct bufferevent *bev, void *arg) {
    gw_http_conn *c = arg;
    (void)bev;
    c->busy++;
    if (c->state == CONN_READING) {
        conn_parse(c);
    } else if (c->state == CONN_CLOSING && c->linger) {
        evbuffer_drain(c->in, evbuffer_get_length(c->in)); /* the refused request: unread */
        if (c->linger_end_ns && gw_now_ns() >= c->linger_end_ns) c->dead = 1;
    }
    c->busy--;
    conn_release(c);
}

static void write_cb(struct bufferevent *bev, void *arg) {
    gw_http_conn *c = arg;
    (void)bev;
    c->busy++;
    if (c->write_evented && output_length(c) == 0) {
        write_wait_end(c); /* the client caught up: back to writing at the turn's end */
        output_settled(c);
    }
    conn_output_drained(c);
    c->busy--;
    conn_release(c);
}

static void event_cb(struct bufferevent *bev, short what, void *arg) {
    gw_http_conn *c = arg;
    (void)bev;
    if (what & BEV_EVENT_CONNECTED) return;
    c->busy++;
    if ((what & BEV_EVENT_TIMEOUT) && (what & BEV_EVENT_READING) && request_arriving(c) &&
        !c->failed) {
        /* a request begun and not finished in time (slowloris): 408, not a silent close */
        respond_request_timeout(c);
        c->busy--;
        conn_release(c);
        return;
    }
    /* EOF, an error or a timeout: the client is gone or stuck. A handler still working on its
     * request hears of it at once so it can cancel the upstream transfer. */
    if (c->state == CONN_HANDLING && !c->req.finished && c->req.on_abort) {
        gw_http_req_cb on_abort = c->req.on_abort;
        c->req.on_abort = NULL;
        on_abort(&c->req, c->req.handler_ud);
    }
    report_response_done(c); /* a response cut short: finished is still 0 */
    c->req.finished = 1;     /* nothing more is written to a dead socket */
    c->dead = 1;
    c->busy--;
    conn_release(c);
}

static void conn_free(gw_http_conn *c) {
    gw_http_server *s = c->server;
    conn_unqueue_flush(c);
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    s->conn_count--;
    if (c->refused) s->refusing--;
    if (c->pool) atomic_fetch_sub_explicit(&c->pool->open, 1, memory_order_relaxed);
    if (c->direct) {
        event_del(&c->rev); /* before the socket closes */
        event_del(&c->wev);
        evutil_closesocket(c->fd);
        gw_http_body_done(thread_state(s), c->in);
        gw_http_body_done(thread_state(s), c->out);
    } else {
        SSL *ssl = bufferevent_openssl_get_ssl(c->bev);
        if (ssl) SSL_set_shutdown(ssl, SSL_RECEIVED_SHUTDOWN); /* no blocking close_notify */
        bufferevent_free(c->bev);
    }
    gw_http_body_done(thread_state(s), c->req.body);
    if (c->hbuf != c->hbuf_inline) free(c->hbuf);
    if (c->slots != c->slots_inline) free(c->slots);
    gw_block_cache_put(&s->free_conns, c, sizeof *c);
}

/* "a.b.c.d:port" by hand: inet_ntop and snprintf cost 2,700 instructions a connection. */
static void format_peer_v4(const struct sockaddr_in *in, char *out) {
    const unsigned char *a = (const unsigned char *)&in->sin_addr;
    char *p = out;
    for (int i = 0; i < 4; i++) {
        unsigned v = a[i];
        if (v >= 100) *p++ = (char)('0' + v / 100);
        if (v >= 10) *p++ = (char)('0' + v / 10 % 10);
        *p++ = (char)('0' + v % 10);
        *p++ = i < 3 ? '.' : ':';
    }
    char digits[5];
    int n = 0;
    for (unsigned port = ntohs(in->sin_port); n == 0 || port; port /= 10)
        digits[n++] = (char)('0' + port % 10);
    while (n)
        *p++ = digits[--n];
    *p = '\0';
}

static void format_peer(const struct sockaddr *sa, char *out, size_t outlen) {
    char host[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    if (sa->sa_family == AF_INET) { /* at most 21 bytes */
        _Static_assert(sizeof((gw_http_conn *)0)->peer >= 22, "peer holds an IPv4 address");
        format_peer_v4((const struct sockaddr_in *)sa, out);
        return;
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
        port = ntohs(in6->sin6_port);
    }
    snprintf(out, outlen, "%s:%d", host, port);
}

/* A connection on an accepted socket, listed in the server; NULL (the socket closed) when memory
 * ran out. */
static gw_http_conn *conn_new(gw_http_server *s, evutil_socket_t fd, const struct sockaddr *sa) {
    gw_fd_slots_reserve(s->base, fd);
    /* TCP_NODELAY came from the listener (see listen_socket) */
    gw_http_conn *c = gw_block_cache_take(&s->free_conns, sizeof *c);
    if (!c) {
        evutil_closesocket(fd);
        return NULL;
    }
    /* the room for the head is written before it is read: only what comes before it is zeroed */
    memset(c, 0, offsetof(gw_http_conn, slots_inline));
    c->hbuf = c->hbuf_inline;
    c->hcap = HBUF_INLINE;
    c->slots = c->slots_inline;
    c->hslots = HEADERS_INLINE;
    c->server = s;
    c->fd = fd;
    if (s->tls) {
        SSL *ssl = SSL_new(s->tls);
        /* deferred callbacks: an OpenSSL write may fail inside our own call otherwise */
        c->bev =
            ssl ? bufferevent_openssl_socket_new(s->base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING,
                                                 BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS)
                : NULL;
        if (c->bev)
            bufferevent_openssl_set_allow_dirty_shutdown(c->bev, 1);
        else if (ssl)
            SSL_free(ssl);
        if (c->bev) {
            c->in = bufferevent_get_input(c->bev);
            c->out = bufferevent_get_output(c->bev);
        }
    } else {
    }
    c->req.body = body_new(s); /* a direct connection's input and output: when needed */
    if ((s->tls && !c->bev) || !c->req.body) {
        if (c->bev)
            bufferevent_free(c->bev);
        else
            evutil_closesocket(fd);
        gw_http_body_done(thread_state(s), c->req.body);
        gw_block_cache_put(&s->free_conns, c, sizeof *c);
        return NULL;
    }
    c->direct = !s->tls;
    if (c->direct) {
        event_assign(&c->rev, s->base, fd, EV_READ | EV_PERSIST, direct_read_cb, c);
        event_assign(&c->wev, s->base, fd, EV_WRITE | EV_PERSIST, direct_write_cb, c);
        c->write_low = OUTPUT_LOW_WATER;
    }
    format_peer(sa, c->peer, sizeof c->peer);
    size_t sa_len =
        sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    memcpy(&c->peer_addr, sa, sa_len);
    c->req.conn = c;
    c->req.peer = c->peer;
    c->req.peer_addr = (const struct sockaddr *)&c->peer_addr;
    c->req.is_tls = s->tls != NULL;
    http_parser_init(&c->parser, HTTP_REQUEST);
    c->parser.data = c;
    c->next = s->conns;
    if (s->conns) s->conns->prev = c;
    s->conns = c;
    s->conn_count++;
    if (!c->direct) {
        bufferevent_setcb(c->bev, read_cb, write_cb, event_cb, c);
        bufferevent_setwatermark(c->bev, EV_WRITE, OUTPUT_LOW_WATER, 0);
    }
    set_read_timeout(c, first_request_timeout_ms(s));
    if ((c->direct ? reading_enable(c) : bufferevent_enable(c->bev, EV_READ | EV_WRITE)) < 0) {
        conn_free(c);
        return NULL;
    }
    return c;
}

static int server_max_connections(const gw_http_server *s) {
    return s->settings.max_connections > 0 ? s->settings.max_connections
                                           : GW_HTTP_DEFAULT_MAX_CONNECTIONS;
}

/* Over the cap: 503 in OpenAI's shape and close, the request (if any) never read. Counted and
 * warned about, at most once a second per thread. */
static void refuse_connection(gw_http_server *s, evutil_socket_t fd, const struct sockaddr *sa) {
    gw_http_thread_state *ts = thread_state(s);
    if (ts->connections_refused)
        atomic_fetch_add_explicit(ts->connections_refused, 1, memory_order_relaxed);
    int64_t now = gw_now_ns();
    if (now - ts->limit_logged_ns >= WARN_INTERVAL_NS) {
        gw_log_warn("connection_limit",
                    "\"port\":%d,\"max_connections\":%d,\"refused_since_last_warning\":%llu",
                    s->port, server_max_connections(s), (unsigned long long)ts->limit_unlogged + 1);
        ts->limit_logged_ns = now;
        ts->limit_unlogged = 0;
    } else {
        ts->limit_unlogged++;
    }
    if (s->refusing >= MAX_REFUSING) {
        evutil_closesocket(fd); /* answering costs a descriptor each: bounded */
        return;
    }
    gw_http_conn *c = conn_new(s, fd, sa);
    if (!c) return;
    c->refused = 1;
    s->refusing++;
    respond_protocol_error(c, 503,
                           s->settings.max_connections > 0
                               ? "the gateway is at its connection limit (server.max_connections)"
                               : "the server is at its connection limit");
}

/* The accept hook refused the address: answered with its status and closed, before a byte of
 * the request is parsed (over TLS, after the handshake, the one way to answer at all). */
static void deny_connection(gw_http_server *s, evutil_socket_t fd, const struct sockaddr *sa,
                            int status) {
    if (s->refusing >= MAX_REFUSING) {
        evutil_closesocket(fd);
        return;
    }
    gw_http_conn *c = conn_new(s, fd, sa);
    if (!c) return;
    c->refused = 1;
    s->refusing++;
    respond_protocol_error(c, status, "this client address may not use the gateway");
}

/* A connection of a burst has its request waiting, as a rule, by the time it is accepted: it is
 * read now, not when its read event fires a loop turn later, which also put every step after
 * (routing, the upstream connect, the first event) a turn behind. One recv; nothing there yet
 * costs that one call, and the read event says the rest. May free c. */
static void conn_read_now(gw_http_conn *c) {
    char scratch[READ_SIZE];
    int in_scratch;
    ssize_t n = read_once(c, scratch, &in_scratch);
    if (n > 0) conn_read(c, scratch, (size_t)n, in_scratch);
}

static void accept_one(gw_http_server *s, evutil_socket_t fd, struct sockaddr *sa) {
    gw_http_conn_pool *pool = s->settings.pool ? s->settings.pool : &s->own_pool;
    /* take a place first, give it back when over: the pool is shared by every worker */
    int open = atomic_fetch_add_explicit(&pool->open, 1, memory_order_relaxed);
    if (open >= server_max_connections(s)) {
        atomic_fetch_sub_explicit(&pool->open, 1, memory_order_relaxed);
        refuse_connection(s, fd, sa);
        return;
    }
    int denied = s->settings.on_accept ? s->settings.on_accept(sa, s->ud) : 0;
    if (denied) {
        atomic_fetch_sub_explicit(&pool->open, 1, memory_order_relaxed);
        deny_connection(s, fd, sa, denied);
        return;
    }
    gw_http_conn *c = conn_new(s, fd, sa);
    if (!c) {
        atomic_fetch_sub_explicit(&pool->open, 1, memory_order_relaxed);
        return;
    }
    c->pool = pool;
    if (c->direct) conn_read_now(c);
}

static void accept_retry_cb(evutil_socket_t fd, short what, void *arg) {
    gw_http_server *s = arg;
    (void)fd;
    (void)what;
    if (s->listener) event_add(s->listener, NULL); /* a drain still accepts, see drain */
}

/* accept() failed for a reason other than a vanished connection: out of descriptors (EMFILE,
 * ENFILE) or memory. The waiting connection stays in the backlog and the listener would fire
 * again at once, a busy loop; it rests ACCEPT_RETRY_MS instead, while connections that end give
 * their descriptors back. Logged at most once a second per thread, with what went unlogged. */
static void accept_failed(gw_http_server *s, int err) {
    event_del(s->listener);
    struct timeval tv = {0, ACCEPT_RETRY_MS * 1000};
    if (evtimer_add(s->accept_retry, &tv) < 0)
        event_add(s->listener, NULL); /* no timer to wake it: a busy listener beats a deaf one */
    gw_http_thread_state *ts = thread_state(s);
    int64_t now = gw_now_ns();
    if (now - ts->accept_logged_ns >= WARN_INTERVAL_NS) {
        gw_log_warn("accept_failed",
                    "\"port\":%d,\"errno\":%d,\"error\":\"%s\",\"retry_ms\":%d,"
                    "\"suppressed\":%llu,\"open_connections\":%zu",
                    s->port, err, strerror(err), ACCEPT_RETRY_MS,
                    (unsigned long long)ts->accept_failed_unlogged, s->conn_count);
        ts->accept_logged_ns = now;
        ts->accept_failed_unlogged = 0;
    } else {
        ts->accept_failed_unlogged++;
    }
}

/* At most ACCEPT_PER_TURN connections, then back to the loop: what else is ready (requests,
 * upstream data) runs before the next ones are taken. */
static void accept_cb(evutil_socket_t lfd, short what, void *arg) {
    gw_http_server *s = arg;
    (void)what;
    for (int n = 0; n < ACCEPT_PER_TURN && s->listener;) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof ss;
        int fd = accept4(lfd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            int err = errno;
            if (err == EINTR || err == ECONNABORTED) continue; /* that one left: the next */
            if (err != EAGAIN && err != EWOULDBLOCK) accept_failed(s, err);
            return;
        }
        n++;
        accept_one(s, fd, (struct sockaddr *)&ss);
    }
}

/* The listening socket: SO_REUSEPORT, so every worker binds the same port and the kernel
 * spreads connections; SO_KEEPALIVE and TCP_NODELAY, which accepted sockets inherit on Linux (a
 * client that vanished is found; tokens are streamed now, not later), so no accepted socket
 * costs a setsockopt. -1 with errno set. */
static int listen_socket(const struct addrinfo *ai) {
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    int one = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one) < 0 ||
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0 ||
        bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, LISTEN_BACKLOG) < 0) {
        int err = errno;
        close(fd);
        errno = err;
        return -1;
    }
    return fd;
}

static void close_listener(gw_http_server *s) {
    if (!s->listener) return;
    evutil_socket_t fd = event_get_fd(s->listener);
    event_free(s->listener);
    close(fd);
    s->listener = NULL;
}

static struct addrinfo *resolve_listen(const char *host, int port, char *err, size_t errlen) {
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *ai = NULL;
    char port_str[8];
    snprintf(port_str, sizeof port_str, "%d", port);
    int rc = getaddrinfo(host, port_str, &hints, &ai);
    if (rc != 0) {
        snprintf(err, errlen, "cannot resolve listen address %s: %s", host, gai_strerror(rc));
        return NULL;
    }
    return ai;
}

int gw_http_probe_port(const char *host, int port, char *err, size_t errlen) {
    struct addrinfo *ai = resolve_listen(host, port, err, errlen);
    if (!ai) return -1;
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1, rc = -1;
    if (fd >= 0) {
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one); /* TIME_WAIT is fine */
        rc = bind(fd, ai->ai_addr, ai->ai_addrlen);
        if (rc < 0 && errno == EADDRINUSE) {
            char owner[256]; /* "held by nginx, pid 1234": the user knows what to stop */
            gw_port_owner_describe(port, owner, sizeof owner);
            snprintf(err, errlen, "cannot listen on %s:%d: %s (%s)", host, port,
                     strerror(EADDRINUSE), owner);
        } else if (rc < 0) {
            snprintf(err, errlen, "cannot listen on %s:%d: %s", host, port, strerror(errno));
        }
        close(fd);
    } else {
        snprintf(err, errlen, "cannot create a socket: %s", strerror(errno));
    }
    freeaddrinfo(ai);
    return rc < 0 ? -1 : 0;
}

gw_http_server *gw_http_server_new(struct event_base *base, const char *host, int port,
                                   SSL_CTX *tls, const gw_http_settings *settings,
                                   gw_http_req_cb handler, void *ud, char *err, size_t errlen) {
    struct addrinfo *ai = resolve_listen(host, port, err, errlen);
    if (!ai) return NULL;
    gw_http_server *s = calloc(1, sizeof *s);
    if (s) {
        s->accept_retry = evtimer_new(base, accept_retry_cb, s);
        s->flush = event_new(base, -1, 0, flush_cb, s);
    }
    if (!s || !s->accept_retry || !s->flush) {
        freeaddrinfo(ai);
        if (s && s->accept_retry) event_free(s->accept_retry);
        if (s && s->flush) event_free(s->flush);
        free(s);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->base = base;
    s->tls = tls;
    s->port = port;
    s->settings = *settings;
    s->handler = handler;
    s->ud = ud;
    int fd = listen_socket(ai);
    int listen_errno = errno;
    freeaddrinfo(ai);
    if (fd >= 0 && !(s->listener = event_new(base, fd, EV_READ | EV_PERSIST, accept_cb, s))) {
        close(fd);
        fd = -1;
        listen_errno = ENOMEM;
    }
    if (fd < 0 || event_add(s->listener, NULL) < 0) {
        snprintf(err, errlen, "cannot listen on %s:%d: %s", host, port, strerror(listen_errno));
        close_listener(s);
        event_free(s->accept_retry);
        event_free(s->flush);
        free(s);
        return NULL;
    }
    return s;
}

void gw_http_server_set_settings(gw_http_server *s, const gw_http_settings *settings) {
    gw_http_conn_pool *pool = s->settings.pool; /* connections already count in it */
    s->settings = *settings;
    s->settings.pool = pool;
}

void gw_http_server_set_tls(gw_http_server *s, SSL_CTX *tls) {
    s->tls = tls; /* connections made before keep the context they took a reference to */
}

void gw_http_server_drain(gw_http_server *s) {
    s->draining = 1;
    for (gw_http_conn *c = s->conns, *next; c; c = next) {
        next = c->next;
        if (c->state != CONN_READING || c->hlen != 0 || c->busy || request_arriving(c)) continue;
        if (c->had_request)
            conn_free(c); /* idle between requests: its client reconnects for the next one */
        else
            set_read_timeout(c, first_request_timeout_ms(s)); /* its first may be on the way */
    }
}

void gw_http_server_stop_accepting(gw_http_server *s) {
    evtimer_del(s->accept_retry);
    close_listener(s);
}

size_t gw_http_server_connections(const gw_http_server *s) {
    return s->conn_count;
}

void gw_http_server_free(gw_http_server *s) {
    if (!s) return;
    close_listener(s);
    event_free(s->accept_retry);
    while (s->conns) {
        gw_http_conn *c = s->conns;
        if (c->state == CONN_HANDLING && !c->req.finished && c->req.on_abort)
            c->req.on_abort(&c->req, c->req.handler_ud);
        report_response_done(c);
        conn_free(c);
    }
    gw_block_cache_clear(&s->free_conns);
    gw_http_thread_state_clear(&s->own_state);
    event_free(s->flush);
    free(s);
}
