/* The gateway's own HTTP/1.1 client, for plain-http upstreams at a literal address
 * (upstream/h1_address.h); everything else goes through curl. It exists because curl was the
 * largest cost per request and per stream event (docs/benchmarks.md): ~55k instructions, ~38
 * allocations and two poll() calls per request, one poll() per event. This client sends a
 * request with one writev on a pooled connection, reads with one recv per readiness, parses the
 * answer with its own parser (upstream/h1_response.h) and hands the body to its handler as it
 * comes, with no copy of its own.
 *
 * A connection belongs to one worker and one channel's idle list (gw_h1_idle). While idle its
 * descriptor stays registered for reading, so reusing it costs no epoll_ctl, and an engine that
 * closes it is noticed and the connection let go. The list keeps at most `keepalive`
 * connections (the least recently used one beyond is closed) and its owner closes those idle
 * past keepalive_timeout_ms (gw_h1_idle_expire). A request that finds its reused connection
 * dead before any byte of the answer came (the engine closed it meanwhile) is sent again once
 * on a new connection, as curl does. */
#ifndef AIGW_UPSTREAM_H1_CLIENT_H
#define AIGW_UPSTREAM_H1_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "upstream/h1_address.h"

struct event_base;
struct curl_slist;
typedef struct gw_h1_conn gw_h1_conn;

/* One channel's idle connections in one worker, least recently used first. */
typedef struct gw_h1_idle {
    struct event_base *base;
    gw_h1_conn *head, *tail;
    int count;
    int keepalive;            /* the most kept idle; 0 closes each connection after its answer */
    int keepalive_timeout_ms; /* gw_h1_idle_expire closes those idle longer */
} gw_h1_idle;

typedef enum {
    GW_H1_OK,
    GW_H1_CONNECT_FAILED,  /* refused or unreachable: the connection was never made */
    GW_H1_CONNECT_TIMEOUT, /* not connected within connect_timeout_ms */
    GW_H1_BROKEN,          /* closed or reset once made (before the answer, or during it) */
    GW_H1_MALFORMED,       /* not a readable HTTP/1.x answer (h1_response.h) */
    GW_H1_STOPPED,         /* the handler's body callback said stop */
} gw_h1_result;

typedef struct gw_h1_handler {
    /* The answer's head (after any 1xx): status, Content-Type ("" when none), Content-Length
     * (-1 when not given). */
    void (*head)(void *ud, int status, const char *content_type, int64_t content_length);
    /* A piece of the body, decoded (chunked framing removed); <0 stops the exchange. */
    int (*body)(void *ud, const char *data, size_t len);
    /* Asked before each read: nonzero leaves the socket unread until gw_h1_resume. */
    int (*full)(void *ud);
    /* The exchange has ended (the connection is back in its pool or closed). Never called from
     * inside gw_h1_start or gw_h1_cancel. */
    void (*done)(void *ud, gw_h1_result result, const char *detail);
} gw_h1_handler;

typedef struct gw_h1_request {
    const gw_h1_address *to;
    const char *path; /* appended to to->path; a query may follow */
    /* header lines as curl takes them: "Name: value"; "Name:" (a header curl would remove) and
     * "Name;" (curl's empty value) are honoured the same way */
    const struct curl_slist *headers;
    const char *body; /* not copied: kept alive by the caller until done or cancel */
    size_t body_len;
    int connect_timeout_ms;
} gw_h1_request;

/* An exchange: one request and its answer; the caller's (embedded in its attempt). */
typedef struct gw_h1_exchange {
    gw_h1_conn *conn; /* NULL once ended */
    gw_h1_idle *idle;
    const gw_h1_request *req; /* the caller's, alive until the exchange ends */
    const gw_h1_handler *handler;
    void *ud;
    int retried;        /* sent again once on a new connection */
    int64_t connect_ns; /* when its connection was made (0: a reused one) */
} gw_h1_exchange;

/* Sends `req` on an idle connection of `idle` to the same address, or a new one. 0, or -1 with
 * `detail` (a refused connect, no descriptor left); then handler->done is not called. */
int gw_h1_start(gw_h1_exchange *x, gw_h1_idle *idle, const gw_h1_request *req,
                const gw_h1_handler *handler, void *ud, char *detail, size_t detail_len);
/* The handler has room again: reading goes on. */
void gw_h1_resume(gw_h1_exchange *x);
/* Ends a running exchange without calling done; its connection is closed unless the answer
 * had ended. Safe on an ended one, and from inside the handler's head, body and full. */
void gw_h1_cancel(gw_h1_exchange *x);

void gw_h1_idle_init(gw_h1_idle *idle, struct event_base *base);
/* Closes the connections idle since before `now_ns` - keepalive_timeout_ms; returns when the
 * next one will be due (0: none is idle). */
int64_t gw_h1_idle_expire(gw_h1_idle *idle, int64_t now_ns);
/* When the least recently used idle connection will be due for closing (0: none is idle). */
int64_t gw_h1_idle_next_due(const gw_h1_idle *idle);
/* Closes the least recently used idle connections beyond `keepalive`. */
void gw_h1_idle_trim(gw_h1_idle *idle);
/* Closes every idle connection. */
void gw_h1_idle_close_all(gw_h1_idle *idle);

#endif
