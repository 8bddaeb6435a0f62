/* HTTP/1.1 server on bufferevents (plain or TLS) with http-parser doing the parsing.
 * Why not evhttp: it answers an over-long body or a malformed request with its own HTML page
 * (callers must get OpenAI-shaped JSON), gives no backpressure on chunked replies and does not
 * report a client that leaves while the request waits; this layer does all three, and bounds
 * every buffer. One request per connection at a time; pipelined bytes wait in the input. */
#ifndef AIGW_CORE_HTTP_SERVER_H
#define AIGW_CORE_HTTP_SERVER_H

#include <stddef.h>
#include <stdint.h>

struct event_base;
struct evbuffer;
typedef struct ssl_ctx_st SSL_CTX;

enum { GW_HTTP_MAX_HEADERS = 100 };

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
    gw_http_header headers[GW_HTTP_MAX_HEADERS];
    size_t header_count;
    struct evbuffer *body;
    int http_minor;
    int keep_alive;
    int64_t start_ns;
    const char *peer; /* client address, for logs */
    int is_tls;

    /* set by the handler */
    gw_http_req_cb on_abort; /* the client left before the response ended */
    gw_http_req_cb on_drain; /* output fell under the low watermark after gw_http_output_full */
    void *handler_ud;

    /* response state */
    int status;
    int finished;
    uint64_t bytes_out; /* body bytes, for the access log */
};

typedef struct gw_http_settings {
    size_t max_body_bytes;
    size_t max_header_bytes;
    int keepalive_timeout_ms;
    int client_timeout_ms;
} gw_http_settings;

gw_http_server *gw_http_server_new(struct event_base *base, const char *host, int port,
                                   SSL_CTX *tls, const gw_http_settings *settings,
                                   gw_http_req_cb handler, void *ud, char *err, size_t errlen);
/* Fails when another socket holds host:port. The workers bind with SO_REUSEPORT, which would
 * let a second gateway of the same user share the port silently and split its traffic. */
int gw_http_probe_port(const char *host, int port, char *err, size_t errlen);
void gw_http_server_set_settings(gw_http_server *s, const gw_http_settings *settings);
/* Graceful shutdown: stop accepting, close idle connections, close the others once their
 * response ends. */
void gw_http_server_drain(gw_http_server *s);
size_t gw_http_server_connections(const gw_http_server *s);
void gw_http_server_free(gw_http_server *s); /* aborts what is still open */

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
void gw_http_stream_end(gw_http_req *req);
/* True when the client is behind: stop producing until on_drain. */
int gw_http_output_full(const gw_http_req *req);

const char *gw_http_status_text(int status);

#endif
