#include "core/http_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/listener.h>
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
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/http_date.h"
#include "core/openai_error.h"

/* Output above HIGH tells the producer to pause; the write callback wakes it under LOW. */
enum { OUTPUT_HIGH_WATER = 64 * 1024, OUTPUT_LOW_WATER = 16 * 1024 };
/* Pipelined bytes read while a request is being handled are capped; past that reading stops. */
enum { PIPELINE_INPUT_CAP = 64 * 1024 };

typedef enum { CONN_READING, CONN_HANDLING, CONN_CLOSING } conn_state;

typedef struct header_offsets {
    size_t name_off, name_len, value_off, value_len;
} header_offsets;

struct gw_http_conn {
    gw_http_server *server;
    gw_http_conn *prev, *next;
    struct bufferevent *bev;
    http_parser parser;
    gw_http_req req;
    conn_state state;
    int busy;      /* inside a callback of ours: freeing must wait for its end */
    int want_free; /* close once the output has flushed */
    int dead;      /* the socket failed: free at the end of the current frame */
    int drain_wanted;

    /* the raw URL and headers of the current request, copied in as they arrive */
    char *hbuf;
    size_t hlen, hcap;
    size_t url_off, url_len;
    header_offsets hoff[GW_HTTP_MAX_HEADERS];
    size_t hcount;
    int in_header_field;
    int headers_done; /* later header callbacks are chunked trailers: ignored */
    int error_status; /* set by a parser callback to stop with this answer */
    const char *error_message;
    int message_complete;
    char peer[64];
};

struct gw_http_server {
    struct event_base *base;
    struct evconnlistener *listener;
    SSL_CTX *tls;
    gw_http_settings settings;
    gw_http_req_cb handler;
    void *ud;
    gw_http_conn *conns;
    size_t conn_count;
    int draining;
};

static void conn_free(gw_http_conn *c);
static void conn_parse(gw_http_conn *c);

/* Called as a frame of ours ends: frees the connection if it was due to go meanwhile. */
static void conn_release(gw_http_conn *c) {
    if (c->busy) return;
    if (c->dead || (c->want_free && evbuffer_get_length(bufferevent_get_output(c->bev)) == 0))
        conn_free(c);
}
static void conn_request_done(gw_http_conn *c);

/* ---------- parser callbacks: copy the request in, bounded ---------- */

static int hbuf_append(gw_http_conn *c, const char *at, size_t len) {
    if (c->hlen + len > c->server->settings.max_header_bytes) {
        c->error_status = 431;
        c->error_message = "request headers are larger than the limit";
        return -1;
    }
    if (c->hlen + len > c->hcap) {
        size_t cap = c->hcap ? c->hcap : 2048;
        while (cap < c->hlen + len)
            cap *= 2;
        char *nbuf = realloc(c->hbuf, cap);
        if (!nbuf) {
            c->error_status = 500;
            c->error_message = "out of memory";
            return -1;
        }
        c->hbuf = nbuf;
        c->hcap = cap;
    }
    memcpy(c->hbuf + c->hlen, at, len);
    c->hlen += len;
    return 0;
}

static int on_message_begin(http_parser *p) {
    gw_http_conn *c = p->data;
    c->hlen = c->url_len = c->hcount = 0;
    c->in_header_field = 0;
    c->headers_done = 0;
    c->req.start_ns = gw_now_ns();
    return 0;
}

static int on_url(http_parser *p, const char *at, size_t len) {
    gw_http_conn *c = p->data;
    if (c->url_len == 0) c->url_off = c->hlen;
    c->url_len += len;
    return hbuf_append(c, at, len);
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
        c->hoff[c->hcount++] = (header_offsets){.name_off = c->hlen};
        c->in_header_field = 1;
    }
    c->hoff[c->hcount - 1].name_len += len;
    return hbuf_append(c, at, len);
}

static int on_header_value(http_parser *p, const char *at, size_t len) {
    gw_http_conn *c = p->data;
    if (c->headers_done) return 0;
    header_offsets *h = &c->hoff[c->hcount - 1];
    if (c->in_header_field) {
        c->in_header_field = 0;
        h->value_off = c->hlen;
    }
    h->value_len += len;
    return hbuf_append(c, at, len);
}

static int on_headers_complete(http_parser *p) {
    gw_http_conn *c = p->data;
    gw_http_req *r = &c->req;
    c->headers_done = 1;
    for (size_t i = 0; i < c->hcount; i++) {
        r->headers[i] = (gw_http_header){.name = c->hbuf + c->hoff[i].name_off,
                                         .name_len = c->hoff[i].name_len,
                                         .value = c->hbuf + c->hoff[i].value_off,
                                         .value_len = c->hoff[i].value_len};
    }
    r->header_count = c->hcount;
    const char *url = c->hbuf + c->url_off;
    const char *q = memchr(url, '?', c->url_len);
    r->path = url;
    r->path_len = q ? (size_t)(q - url) : c->url_len;
    r->query = q ? q + 1 : NULL;
    r->query_len = q ? c->url_len - r->path_len - 1 : 0;
    r->method = p->method;
    r->method_name = http_method_str(p->method);
    r->http_minor = p->http_minor;

    uint64_t max_body = c->server->settings.max_body_bytes;
    if (p->content_length != ULLONG_MAX && p->content_length > max_body) {
        c->error_status = 413;
        c->error_message = "request body is larger than the limit";
        return -1;
    }
    const gw_http_header *expect = gw_http_find_header(r, "expect");
    if (expect && expect->value_len == 12 && !strncasecmp(expect->value, "100-continue", 12))
        bufferevent_write(c->bev, "HTTP/1.1 100 Continue\r\n\r\n", 25);
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t len) {
    gw_http_conn *c = p->data;
    if (evbuffer_get_length(c->req.body) + len > c->server->settings.max_body_bytes) {
        c->error_status = 413;
        c->error_message = "request body is larger than the limit";
        return -1;
    }
    return evbuffer_add(c->req.body, at, len);
}

static int on_message_complete(http_parser *p) {
    gw_http_conn *c = p->data;
    c->message_complete = 1;
    c->req.keep_alive = http_should_keep_alive(p) && !c->server->draining;
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

/* content_length < 0: a streamed body (chunked on HTTP/1.1, close-delimited on 1.0). */
static void write_head(gw_http_req *r, int status, const char *content_type,
                       long long content_length, const gw_http_header *extra, size_t extra_count) {
    gw_http_conn *c = r->conn;
    char head[4096];
    if (content_length < 0 && r->http_minor == 0) r->keep_alive = 0;
    if (c->server->draining) r->keep_alive = 0;
    int n = snprintf(head, sizeof head, "HTTP/1.1 %d %s\r\nDate: %s\r\n", status,
                     gw_http_status_text(status), gw_http_date());
    if (content_type)
        n += snprintf(head + n, sizeof head - (size_t)n, "Content-Type: %s\r\n", content_type);
    if (content_length >= 0)
        n +=
            snprintf(head + n, sizeof head - (size_t)n, "Content-Length: %lld\r\n", content_length);
    else if (r->http_minor > 0)
        n += snprintf(head + n, sizeof head - (size_t)n, "Transfer-Encoding: chunked\r\n");
    for (size_t i = 0; i < extra_count; i++) {
        size_t need = extra[i].name_len + extra[i].value_len + 4;
        if ((size_t)n + need + 64 >= sizeof head) break; /* bounded: drop what does not fit */
        memcpy(head + n, extra[i].name, extra[i].name_len);
        n += (int)extra[i].name_len;
        head[n++] = ':';
        head[n++] = ' ';
        memcpy(head + n, extra[i].value, extra[i].value_len);
        n += (int)extra[i].value_len;
        head[n++] = '\r';
        head[n++] = '\n';
    }
    if (!r->keep_alive)
        n += snprintf(head + n, sizeof head - (size_t)n, "Connection: close\r\n");
    else if (r->http_minor == 0)
        n += snprintf(head + n, sizeof head - (size_t)n, "Connection: keep-alive\r\n");
    n += snprintf(head + n, sizeof head - (size_t)n, "\r\n");
    bufferevent_write(c->bev, head, (size_t)n);
    r->status = status;
}

void gw_http_respond_buffer(gw_http_req *r, int status, const char *content_type,
                            struct evbuffer *body, const gw_http_header *extra,
                            size_t extra_count) {
    if (r->finished) return;
    size_t len = body ? evbuffer_get_length(body) : 0;
    write_head(r, status, content_type, (long long)len, extra, extra_count);
    if (len && r->method != HTTP_HEAD)
        bufferevent_write_buffer(r->conn->bev, body);
    else if (body)
        evbuffer_drain(body, len);
    r->bytes_out += len;
    r->finished = 1;
    conn_request_done(r->conn);
}

void gw_http_respond(gw_http_req *r, int status, const char *content_type, const char *body,
                     size_t len, const gw_http_header *extra, size_t extra_count) {
    if (r->finished) return;
    write_head(r, status, content_type, (long long)len, extra, extra_count);
    if (len && r->method != HTTP_HEAD) bufferevent_write(r->conn->bev, body, len);
    r->bytes_out += len;
    r->finished = 1;
    conn_request_done(r->conn);
}

void gw_http_stream_begin(gw_http_req *r, int status, const char *content_type,
                          const gw_http_header *extra, size_t extra_count) {
    write_head(r, status, content_type, -1, extra, extra_count);
}

void gw_http_stream_write(gw_http_req *r, struct evbuffer *data) {
    size_t len = evbuffer_get_length(data);
    if (!len || r->finished) return;
    struct evbuffer *out = bufferevent_get_output(r->conn->bev);
    if (r->http_minor > 0) {
        char size_line[24];
        int n = snprintf(size_line, sizeof size_line, "%zx\r\n", len);
        evbuffer_add(out, size_line, (size_t)n);
        evbuffer_add_buffer(out, data);
        evbuffer_add(out, "\r\n", 2);
    } else {
        evbuffer_add_buffer(out, data);
    }
    r->bytes_out += len;
}

void gw_http_stream_end(gw_http_req *r) {
    if (r->finished) return;
    if (r->http_minor > 0) bufferevent_write(r->conn->bev, "0\r\n\r\n", 5);
    r->finished = 1;
    conn_request_done(r->conn);
}

int gw_http_output_full(const gw_http_req *r) {
    gw_http_conn *c = r->conn;
    if (evbuffer_get_length(bufferevent_get_output(c->bev)) <= OUTPUT_HIGH_WATER) return 0;
    c->drain_wanted = 1;
    return 1;
}

const gw_http_header *gw_http_find_header(const gw_http_req *r, const char *name) {
    size_t len = strlen(name);
    for (size_t i = 0; i < r->header_count; i++)
        if (r->headers[i].name_len == len && !strncasecmp(r->headers[i].name, name, len))
            return &r->headers[i];
    return NULL;
}

/* A protocol-level error before any handler ran: JSON in OpenAI's shape, then close. */
static void respond_protocol_error(gw_http_conn *c, int status, const char *message) {
    struct evbuffer *body = evbuffer_new();
    gw_openai_error(body, message, "invalid_request_error",
                    status == 413   ? "request_too_large"
                    : status == 431 ? "headers_too_large"
                                    : "malformed_request",
                    NULL);
    c->req.keep_alive = 0;
    if (!c->req.path) c->req.http_minor = 1;
    c->state = CONN_HANDLING;
    gw_http_respond_buffer(&c->req, status, "application/json", body, NULL, 0);
    evbuffer_free(body);
}

/* ---------- connection lifecycle ---------- */

static void set_read_timeout(gw_http_conn *c, int ms) {
    struct timeval rt = {ms / 1000, (ms % 1000) * 1000};
    int wms = c->server->settings.client_timeout_ms;
    struct timeval wt = {wms / 1000, (wms % 1000) * 1000};
    bufferevent_set_timeouts(c->bev, ms > 0 ? &rt : NULL, &wt);
}

static void conn_reset_request(gw_http_conn *c) {
    struct evbuffer *body = c->req.body;
    evbuffer_drain(body, evbuffer_get_length(body));
    c->req = (gw_http_req){.conn = c, .body = body, .peer = c->peer, .is_tls = c->req.is_tls};
    c->message_complete = 0;
    c->drain_wanted = 0;
    c->hlen = c->hcount = c->url_len = 0;
}

static void conn_close_when_flushed(gw_http_conn *c) {
    c->state = CONN_CLOSING;
    c->want_free = 1;
    bufferevent_disable(c->bev, EV_READ);
    bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);
    conn_release(c);
}

static void conn_request_done(gw_http_conn *c) {
    /* draining: a response that began before shutdown still ends its connection */
    if (!c->req.keep_alive || c->server->draining) {
        conn_close_when_flushed(c);
        return;
    }
    conn_reset_request(c);
    http_parser_pause(&c->parser, 0);
    c->state = CONN_READING;
    set_read_timeout(c, c->server->settings.keepalive_timeout_ms);
    bufferevent_enable(c->bev, EV_READ);
    if (!c->busy) {
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

static void conn_parse(gw_http_conn *c) {
    struct evbuffer *in = bufferevent_get_input(c->bev);
    while (c->state == CONN_READING && evbuffer_get_length(in) > 0) {
        struct evbuffer_iovec v;
        if (evbuffer_peek(in, -1, NULL, &v, 1) < 1) break;
        size_t n = http_parser_execute(&c->parser, &parser_settings, v.iov_base, v.iov_len);
        evbuffer_drain(in, n);
        enum http_errno err = HTTP_PARSER_ERRNO(&c->parser);
        if (c->error_status) {
            respond_protocol_error(c, c->error_status, c->error_message);
            return;
        }
        if (c->message_complete) {
            conn_dispatch(c);
            continue; /* a synchronous answer with keep-alive goes on to the next request */
        }
        if (err != HPE_OK) {
            char msg[160];
            snprintf(msg, sizeof msg, "malformed HTTP request: %s", http_errno_description(err));
            respond_protocol_error(c, 400, msg);
            return;
        }
    }
    if (c->state == CONN_HANDLING && evbuffer_get_length(in) > PIPELINE_INPUT_CAP)
        bufferevent_disable(c->bev, EV_READ);
}

static void read_cb(struct bufferevent *bev, void *arg) {
    gw_http_conn *c = arg;
    c->busy++;
    if (c->state == CONN_READING) conn_parse(c);
    c->busy--;
    (void)bev;
    conn_release(c);
}

static void write_cb(struct bufferevent *bev, void *arg) {
    gw_http_conn *c = arg;
    c->busy++;
    if (c->state == CONN_HANDLING && c->drain_wanted && c->req.on_drain) {
        c->drain_wanted = 0;
        c->req.on_drain(&c->req, c->req.handler_ud);
    }
    c->busy--;
    (void)bev;
    conn_release(c);
}

static void event_cb(struct bufferevent *bev, short what, void *arg) {
    gw_http_conn *c = arg;
    (void)bev;
    if (what & BEV_EVENT_CONNECTED) return;
    /* EOF, an error or a timeout: the client is gone or stuck. A handler still working on its
     * request hears of it at once so it can cancel the upstream transfer. */
    if (c->state == CONN_HANDLING && !c->req.finished && c->req.on_abort) {
        gw_http_req_cb on_abort = c->req.on_abort;
        c->req.on_abort = NULL;
        c->busy++;
        on_abort(&c->req, c->req.handler_ud);
        c->busy--;
    }
    c->req.finished = 1; /* nothing more is written to a dead socket */
    c->dead = 1;
    conn_release(c);
}

static void conn_free(gw_http_conn *c) {
    gw_http_server *s = c->server;
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    s->conn_count--;
    if (c->bev) {
        SSL *ssl = bufferevent_openssl_get_ssl(c->bev);
        if (ssl) SSL_set_shutdown(ssl, SSL_RECEIVED_SHUTDOWN); /* no blocking close_notify */
        bufferevent_free(c->bev);
    }
    evbuffer_free(c->req.body);
    free(c->hbuf);
    free(c);
}

static void format_peer(const struct sockaddr *sa, char *out, size_t outlen) {
    char host[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
        port = ntohs(in->sin_port);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
        port = ntohs(in6->sin6_port);
    }
    snprintf(out, outlen, "%s:%d", host, port);
}

static void accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen,
                      void *arg) {
    gw_http_server *s = arg;
    (void)l;
    (void)salen;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one); /* stream tokens now, not later */
    gw_http_conn *c = calloc(1, sizeof *c);
    if (!c) {
        evutil_closesocket(fd);
        return;
    }
    c->server = s;
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
    } else {
        c->bev = bufferevent_socket_new(s->base, fd, BEV_OPT_CLOSE_ON_FREE);
    }
    c->req.body = evbuffer_new();
    if (!c->bev || !c->req.body) {
        if (c->bev)
            bufferevent_free(c->bev);
        else
            evutil_closesocket(fd);
        if (c->req.body) evbuffer_free(c->req.body);
        free(c);
        return;
    }
    format_peer(sa, c->peer, sizeof c->peer);
    c->req.conn = c;
    c->req.peer = c->peer;
    c->req.is_tls = s->tls != NULL;
    http_parser_init(&c->parser, HTTP_REQUEST);
    c->parser.data = c;
    c->next = s->conns;
    if (s->conns) s->conns->prev = c;
    s->conns = c;
    s->conn_count++;
    bufferevent_setcb(c->bev, read_cb, write_cb, event_cb, c);
    bufferevent_setwatermark(c->bev, EV_WRITE, OUTPUT_LOW_WATER, 0);
    set_read_timeout(c, s->settings.keepalive_timeout_ms);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
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
        if (rc < 0)
            snprintf(err, errlen, "cannot listen on %s:%d: %s%s", host, port, strerror(errno),
                     errno == EADDRINUSE ? " (is another aigw running?)" : "");
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
    if (!s) {
        freeaddrinfo(ai);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->base = base;
    s->tls = tls;
    s->settings = *settings;
    s->handler = handler;
    s->ud = ud;
    /* SO_REUSEPORT: every worker binds the same port and the kernel spreads connections. */
    s->listener = evconnlistener_new_bind(base, accept_cb, s,
                                          LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE |
                                              LEV_OPT_REUSEABLE_PORT | LEV_OPT_CLOSE_ON_EXEC,
                                          1024, ai->ai_addr, (int)ai->ai_addrlen);
    freeaddrinfo(ai);
    if (!s->listener) {
        snprintf(err, errlen, "cannot listen on %s:%d: %s", host, port, strerror(errno));
        free(s);
        return NULL;
    }
    return s;
}

void gw_http_server_set_settings(gw_http_server *s, const gw_http_settings *settings) {
    s->settings = *settings;
}

void gw_http_server_drain(gw_http_server *s) {
    s->draining = 1;
    if (s->listener) {
        evconnlistener_free(s->listener);
        s->listener = NULL;
    }
    for (gw_http_conn *c = s->conns, *next; c; c = next) {
        next = c->next;
        if (c->state == CONN_READING && c->hlen == 0 && !c->busy) conn_free(c); /* idle */
    }
}

size_t gw_http_server_connections(const gw_http_server *s) {
    return s->conn_count;
}

void gw_http_server_free(gw_http_server *s) {
    if (!s) return;
    if (s->listener) evconnlistener_free(s->listener);
    while (s->conns) {
        gw_http_conn *c = s->conns;
        if (c->state == CONN_HANDLING && !c->req.finished && c->req.on_abort)
            c->req.on_abort(&c->req, c->req.handler_ud);
        conn_free(c);
    }
    free(s);
}
