/* HTTP/1.1 server on plain sockets (read and written with events of its own) or TLS
 * bufferevents, with http-parser doing the parsing.
 * Why not evhttp: it answers an over-long body or a malformed request with its own HTML page
 * (callers must get OpenAI-shaped JSON), gives no backpressure on chunked replies and does not
 * report a client that leaves while the request waits; this layer does all three, and bounds
 * every buffer. One request per connection at a time; pipelined bytes wait in the input. */
#ifndef AIGW_CORE_HTTP_SERVER_H
#define AIGW_CORE_HTTP_SERVER_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
struct evbuffer;
struct sockaddr;
typedef struct ssl_ctx_st SSL_CTX;

enum {
    GW_HTTP_MAX_HEADERS = 100,
    /* the cap of a server given no max_connections (the admin listener); the descriptor reserve
     * of core/fd_limit.c counts on it */
    GW_HTTP_DEFAULT_MAX_CONNECTIONS = 64,
};

typedef struct gw_http_header {
    const char *name, *value;
    size_t name_len, value_len;
} gw_http_header;

typedef struct gw_http_conn gw_http_conn;
typedef struct gw_http_server gw_http_server;
typedef struct gw_http_req gw_http_req;

typedef void (*gw_http_req_cb)(gw_http_req *req, void *ud);

struct gw_http_req {
    gw_http_conn *conn;
    int method; /* http_parser's enum http_method */
    const char *method_name;
    const char *path, *query; /* path without the query; query may be NULL */
    size_t path_len, query_len;
    const gw_http_header *headers; /* header_count of them, the connection's: valid while the
                                    * request is (NULL before its headers are whole) */
    size_t header_count;
    struct evbuffer *body; /* NULL once gw_http_take_body took it */
    int http_minor;
    int keep_alive;
    int64_t start_ns;
    const char *peer;                 /* client address, for logs */
    const struct sockaddr *peer_addr; /* the same, for address checks */
    int is_tls;

    /* set by the handler */
    gw_http_req_cb on_abort; /* the client left before the response ended */
    gw_http_req_cb on_drain; /* output fell under the low watermark after gw_http_output_full */
    void *handler_ud;

    /* set by a handler that wrote its own access line: on_response_done's consumer skips it */
    int access_logged;

    /* response state */
    int status;
    int finished;
    uint64_t bytes_out; /* body bytes, for the access log */
    int64_t end_ns;     /* when the response ended (or was cut), set just before on_response_done */
};

/* Open client connections counted across servers and threads: the API listeners of every worker
 * share one, so server.max_connections bounds the whole process. Changed only by atomic add and
 * subtract, never under a lock. A server takes its pool at creation and keeps it. */
typedef struct gw_http_conn_pool {
    atomic_int open;
} gw_http_conn_pool;

/* Spare body buffers a thread keeps (gw_http_body_done). */
enum { GW_HTTP_SPARE_BODIES = 64 };

/* What the servers of one thread share: a worker's HTTP and HTTPS listeners count refusals into
 * the worker's stats and rate-limit their warnings together, so a worker logs connection_limit
 * and accept_failed at most once a second each. Only that thread touches it (the counter it
 * points at is atomic, for readers elsewhere). */
typedef struct gw_http_thread_state {
    atomic_uint_fast64_t *connections_refused;       /* may be NULL */
    int64_t limit_logged_ns, accept_logged_ns;       /* when each warning was last written */
    uint64_t limit_unlogged, accept_failed_unlogged; /* events since then, not logged */
    /* empty body buffers given back by requests done (gw_http_body_done), for the next */
    struct evbuffer *spare_bodies[GW_HTTP_SPARE_BODIES];
    size_t spare_body_count;
} gw_http_thread_state;

/* Frees the spare body buffers; for a thread state given in gw_http_settings, once every server
 * and request of the thread is gone. */
void gw_http_thread_state_clear(gw_http_thread_state *ts);

typedef struct gw_http_settings {
    size_t max_body_bytes;
    size_t max_header_bytes;
    int keepalive_timeout_ms; /* an idle connection, and the longest gap inside a request */
    int client_timeout_ms;
    int request_timeout_ms; /* a request's headers and whole body, from its first byte; 0: none */
    int max_connections;    /* open connections over the pool; 0: GW_HTTP_DEFAULT_MAX_CONNECTIONS */
    gw_http_conn_pool *pool;            /* NULL: the server counts its connections alone */
    gw_http_thread_state *thread_state; /* NULL: the server keeps its own */
    /* Once per request that got a response status: right after the response ended (the last
     * byte queued, protocol errors included), or, for a response cut short because the client
     * left or the connection failed, when that is noticed (req->finished is 0 then). Not for a
     * connection refused at the cap: it carries no request. ud: the server's ud. May be NULL. */
    void (*on_response_done)(gw_http_req *req, void *ud);
    /* Before anything of a new connection is read: 0 accepts the client's address, a status
     * (403) refuses it, answered in OpenAI's shape and closed. Runs on the listener's thread;
     * ud: the server's ud. May be NULL. */
    int (*on_accept)(const struct sockaddr *peer, void *ud);
} gw_http_settings;

gw_http_server *gw_http_server_new(struct event_base *base, const char *host, int port,
                                   SSL_CTX *tls, const gw_http_settings *settings,
                                   gw_http_req_cb handler, void *ud, char *err, size_t errlen);
/* Fails when another socket holds host:port. The workers bind with SO_REUSEPORT, which would
 * let a second gateway of the same user share the port silently and split its traffic. */
int gw_http_probe_port(const char *host, int port, char *err, size_t errlen);
/* Takes everything but the pool, which stays the one the server was created with. */
void gw_http_server_set_settings(gw_http_server *s, const gw_http_settings *settings);
/* A new TLS context for connections accepted from now on (a reload read the pair again). The
 * caller keeps the context alive while the server may use it. */
void gw_http_server_set_tls(gw_http_server *s, SSL_CTX *tls);
/* Graceful shutdown begins: idle connections close, a response that ends closes its connection,
 * and new connections are still accepted (each answered once, with Connection: close), so a
 * load balancer that has not yet seen readiness drop is served rather than refused. */
void gw_http_server_drain(gw_http_server *s);
/* The drain's end: the listener closes. */
void gw_http_server_stop_accepting(gw_http_server *s);
size_t gw_http_server_connections(const gw_http_server *s);
void gw_http_server_free(gw_http_server *s); /* aborts what is still open */

/* The request's body, now the caller's to free: moved out whole, as a request that outlives its
 * connection needs it, without a copy or a buffer of its own. */
struct evbuffer *gw_http_take_body(gw_http_req *req);

/* A body taken with gw_http_take_body, once its request is done: emptied and kept for a next
 * request of the thread (at most GW_HTTP_SPARE_BODIES), or freed. On the server's thread. */
void gw_http_body_done(gw_http_thread_state *ts, struct evbuffer *body);

/* Case-insensitive lookup; NULL when absent. */
const gw_http_header *gw_http_find_header(const gw_http_req *req, const char *name);

/* Whole responses. Headers in `extra` are written as given. */
void gw_http_respond(gw_http_req *req, int status, const char *content_type, const char *body,
                     size_t len, const gw_http_header *extra, size_t extra_count);
/* Moves the contents of `body` out (no copy). */
void gw_http_respond_buffer(gw_http_req *req, int status, const char *content_type,
                            struct evbuffer *body, const gw_http_header *extra, size_t extra_count);

/* Streamed responses: chunked on HTTP/1.1, close-delimited on HTTP/1.0. */
void gw_http_stream_begin(gw_http_req *req, int status, const char *content_type,
                          const gw_http_header *extra, size_t extra_count);
void gw_http_stream_write(gw_http_req *req, struct evbuffer *data); /* moves data out */
/* The same, written to a plain socket at once rather than at the end of the loop turn: for a
 * producer that sends once per upstream read (the proxy's streams). Costs no allocation while
 * the client keeps up. */
void gw_http_stream_send(gw_http_req *req, struct evbuffer *data);
/* The same two for bytes the caller keeps (a stream's flat frames), each written as one chunk:
 * copied only into the output, and only what the socket does not take at once. */
void gw_http_stream_write_bytes(gw_http_req *req, const char *bytes, size_t len);
void gw_http_stream_send_bytes(gw_http_req *req, const char *bytes, size_t len);
void gw_http_stream_end(gw_http_req *req);
/* True when the client is behind: stop producing until on_drain. */
int gw_http_output_full(const gw_http_req *req);

const char *gw_http_status_text(int status);

#endif
