#include "upstream/upstream.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/clock.h"
#include "core/http_server.h"
#include "core/openai_error.h"
#include "core/request.h"
#include "core/sse.h"
#include "core/worker-t.h"
#include "engines/engine.h"
#include "filters/filter.h"
#include "upstream/curl_multi.h"

enum { MAX_STREAM_EVENT = 8 * 1024 * 1024 };

typedef enum { MODE_UNDECIDED, MODE_STREAM, MODE_BUFFER } relay_mode;

struct gw_upstream {
    gw_req *r;
    CURL *easy;
    struct curl_slist *headers; /* per request only when headers are forwarded */
    char *owned_body;
    relay_mode mode;
    int status;
    int paused;           /* curl holds data until the client drains */
    int done_marker_seen; /* [DONE] (or the adapter's end) reached */
    int got_first_byte;
    /* set when we stop the transfer ourselves */
    int fail_status;
    const char *fail_code;
    char fail_message[256];
    struct evbuffer *body; /* a buffered response */
    struct evbuffer *out;  /* translated stream output on its way to the client */
    gw_sse_parser sse;
    struct event *timer; /* first-byte, then idle-gap deadline */
    char curl_error[CURL_ERROR_SIZE];
};

static void set_failure(gw_upstream *up, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void set_failure(gw_upstream *up, int status, const char *code, const char *fmt, ...) {
    if (up->fail_status) return; /* the first cause is the one worth reporting */
    up->fail_status = status;
    up->fail_code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(up->fail_message, sizeof up->fail_message, fmt, ap);
    va_end(ap);
}

static void arm_timer(gw_upstream *up, int ms) {
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    evtimer_add(up->timer, &tv);
}

static void detach_transfer(gw_upstream *up) {
    if (!up->easy) return;
    gw_curl_multi *m = up->r->worker->curl;
    curl_multi_remove_handle(gw_curl_multi_handle(m), up->easy);
    gw_curl_easy_put(m, up->easy);
    up->easy = NULL;
}

static void flush_stream(gw_upstream *up) {
    gw_req *r = up->r;
    if (!r->http || evbuffer_get_length(up->out) == 0) return;
    if (gw_chain_response_chunk(r, up->out, 0) < 0) {
        set_failure(up, 502, "response_filter", "a response filter rejected the stream");
        return;
    }
    r->bytes_out += evbuffer_get_length(up->out);
    gw_http_stream_write(r->http, up->out);
}

static int on_sse_event(void *ud, const char *event, size_t event_len, const char *data,
                        size_t len) {
    gw_upstream *up = ud;
    (void)event;
    (void)event_len;
    if (up->done_marker_seen) return 0;
    int done = 0;
    const char *err = NULL;
    if (up->r->channel->engine->translate_event(up->r, data, len, up->out, &done, &err) < 0) {
        set_failure(up, 502, "upstream_malformed_event",
                    "the upstream sent a malformed stream event (%s)", err ? err : "invalid");
        return 1;
    }
    if (done) up->done_marker_seen = 1;
    return 0;
}

static void on_client_drain(gw_http_req *http, void *ud) {
    gw_req *r = ud;
    (void)http;
    gw_upstream *up = r->upstream;
    if (!up || !up->paused || !up->easy) return;
    up->paused = 0;
    arm_timer(up, r->channel->timeouts.idle_ms);
    curl_easy_pause(up->easy, CURLPAUSE_CONT); /* may deliver held data right here */
}

static void begin_relay(gw_upstream *up) {
    gw_req *r = up->r;
    long status = 0;
    char *content_type = NULL;
    curl_easy_getinfo(up->easy, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(up->easy, CURLINFO_CONTENT_TYPE, &content_type);
    up->status = (int)status;
    if (r->stream && status >= 200 && status < 300 && content_type &&
        !strncasecmp(content_type, "text/event-stream", 17)) {
        up->mode = MODE_STREAM;
        gw_sse_init(&up->sse, MAX_STREAM_EVENT, on_sse_event, up);
        /* no cache or proxy buffering between the engine's tokens and the caller */
        gw_http_header h[] = {
            {.name = "Cache-Control", .value = "no-cache", .name_len = 13, .value_len = 8},
            {.name = "X-Accel-Buffering", .value = "no", .name_len = 17, .value_len = 2},
            gw_req_id_header(r),
        };
        r->status = 200;
        r->t_first_byte = gw_now_ns();
        r->http->on_drain = on_client_drain;
        gw_http_stream_begin(r->http, 200, "text/event-stream; charset=utf-8", h, 3);
    } else {
        up->mode = MODE_BUFFER;
    }
}

static size_t on_header(char *ptr, size_t size, size_t nmemb, void *ud) {
    gw_upstream *up = ud;
    (void)ptr;
    if (!up->got_first_byte) {
        up->got_first_byte = 1;
        arm_timer(up, up->r->channel->timeouts.idle_ms);
    }
    return size * nmemb;
}

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *ud) {
    gw_upstream *up = ud;
    gw_req *r = up->r;
    size_t len = size * nmemb;
    if (!r->http) return 0;
    if (up->mode == MODE_UNDECIDED) begin_relay(up);
    if (up->mode == MODE_BUFFER) {
        if (evbuffer_get_length(up->body) + len > r->cfg->max_response_bytes) {
            set_failure(up, 502, "upstream_response_too_large",
                        "the upstream response is larger than server.max_response_bytes (%zu)",
                        r->cfg->max_response_bytes);
            return 0;
        }
        evbuffer_add(up->body, ptr, len);
        arm_timer(up, r->channel->timeouts.idle_ms);
        return len;
    }
    if (gw_http_output_full(r->http)) {
        /* a slow client: curl keeps this data and stops reading the upstream socket */
        up->paused = 1;
        evtimer_del(up->timer);
        return CURL_WRITEFUNC_PAUSE;
    }
    arm_timer(up, r->channel->timeouts.idle_ms);
    int rc = gw_sse_feed(&up->sse, ptr, len);
    if (rc < 0)
        set_failure(up, 502, "upstream_event_too_large",
                    "the upstream sent a stream event larger than %d bytes", MAX_STREAM_EVENT);
    flush_stream(up);
    return rc ? 0 : len;
}

static void describe_curl_failure(gw_upstream *up, CURLcode result) {
    const gw_channel *ch = up->r->channel;
    const char *detail = up->curl_error[0] ? up->curl_error : curl_easy_strerror(result);
    switch (result) {
    case CURLE_OPERATION_TIMEDOUT:
        if (!up->got_first_byte && up->r->t_first_byte == 0)
            set_failure(up, 504, "upstream_timeout", "the upstream of channel '%s' timed out: %s",
                        ch->name, detail);
        else
            set_failure(up, 504, "upstream_timeout",
                        "the upstream of channel '%s' exceeded timeouts.total_ms (%d ms)", ch->name,
                        ch->timeouts.total_ms);
        break;
    default:
        set_failure(up, 502, "upstream_unreachable", "the upstream of channel '%s' failed: %s",
                    ch->name, detail);
    }
}

/* After the first byte the status line is gone: a failure becomes an error event the client's
 * SDK raises, followed by [DONE], never a silent end. */
static void end_stream(gw_upstream *up) {
    gw_req *r = up->r;
    if (up->fail_status) {
        evbuffer_add(up->out, "data: ", 6);
        gw_openai_error(up->out, up->fail_message, gw_openai_error_type(up->fail_status),
                        up->fail_code, NULL);
        evbuffer_add(up->out, "\n\ndata: [DONE]\n\n", 16);
        r->error_code = up->fail_code;
    }
    flush_stream(up);
    gw_chain_response_chunk(r, up->out, 1);
    gw_http_req *http = r->http;
    r->http = NULL;
    http->on_abort = http->on_drain = NULL;
    gw_http_stream_end(http);
}

/* Answers with the buffered body and ends the request, on every path. */
static void respond_buffered(gw_upstream *up) {
    gw_req *r = up->r;
    const gw_engine_ops *engine = r->channel->engine;
    size_t len = evbuffer_get_length(up->body);
    const char *body = (const char *)evbuffer_pullup(up->body, -1);
    struct evbuffer *out = evbuffer_new();
    int status = up->status;
    if (status >= 200 && status < 300) {
        const char *err = NULL;
        if (engine->translate_response(r, body ? body : "", len, out, &err) < 0) {
            evbuffer_free(out);
            gw_req_fail(r, 502, "server_error", "upstream_malformed_response", NULL,
                        "the upstream of channel '%s' returned malformed JSON (%s)",
                        r->channel->name, err ? err : "invalid");
            return;
        }
        r->error_code = NULL;
    } else {
        engine->normalize_error(status, body ? body : "", len, out);
        if (status < 400) status = 502; /* a redirect or an odd 1xx is no answer for a client */
        r->error_code = "upstream_error";
    }
    if (gw_chain_response_chunk(r, out, 1) < 0) {
        evbuffer_free(out);
        gw_req_fail(r, 502, "server_error", "response_filter", NULL,
                    "a response filter rejected the response");
        return;
    }
    r->status = status;
    r->t_first_byte = r->t_first_byte ? r->t_first_byte : gw_now_ns();
    r->bytes_out = evbuffer_get_length(out);
    gw_http_header h[] = {gw_req_id_header(r)};
    gw_http_req *http = r->http;
    r->http = NULL;
    http->on_abort = http->on_drain = NULL;
    gw_http_respond_buffer(http, status, "application/json", out, h, 1);
    evbuffer_free(out);
    gw_req_finish(r);
}

static void complete(gw_upstream *up, CURLcode result) {
    gw_req *r = up->r;
    evtimer_del(up->timer);
    if (up->easy && up->mode == MODE_UNDECIDED && result == CURLE_OK) begin_relay(up);
    detach_transfer(up);
    if (result != CURLE_OK) describe_curl_failure(up, result);
    if (up->fail_status)
        atomic_fetch_add_explicit(&r->worker->stats.upstream_errors, 1, memory_order_relaxed);
    if (!r->http) {
        gw_req_finish(r);
        return;
    }
    if (up->mode == MODE_STREAM) {
        if (!up->fail_status) {
            if (gw_sse_finish(&up->sse) == 0) flush_stream(up);
            if (!up->done_marker_seen && r->channel->engine->stream_has_done_marker)
                set_failure(up, 502, "upstream_stream_cut",
                            "the upstream ended the stream before it was complete");
        }
        end_stream(up);
        gw_req_finish(r);
    } else if (up->fail_status) {
        gw_req_fail(r, up->fail_status, up->fail_status == 504 ? "timeout_error" : "server_error",
                    up->fail_code, NULL, "%s", up->fail_message);
    } else {
        respond_buffered(up);
    }
}

void gw_upstream_on_curl_done(CURL *easy, CURLcode result) {
    gw_upstream *up = NULL;
    curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&up);
    complete(up, result);
}

static void on_timer(evutil_socket_t fd, short what, void *arg) {
    gw_upstream *up = arg;
    const gw_timeouts *t = &up->r->channel->timeouts;
    (void)fd;
    (void)what;
    if (!up->got_first_byte)
        set_failure(up, 504, "upstream_timeout",
                    "the upstream of channel '%s' sent no response within timeouts.first_byte_ms "
                    "(%d ms)",
                    up->r->channel->name, t->first_byte_ms);
    else
        set_failure(up, 504, "upstream_timeout",
                    "the upstream of channel '%s' sent nothing for timeouts.idle_ms (%d ms)",
                    up->r->channel->name, t->idle_ms);
    complete(up, CURLE_OK);
}

/* Copies the channel's fixed headers and adds the client headers the channel forwards. */
static struct curl_slist *forwarded_headers(gw_req *r) {
    const gw_channel *ch = r->channel;
    struct curl_slist *list = NULL;
    for (const struct curl_slist *h = ch->headers; h; h = h->next)
        list = curl_slist_append(list, h->data);
    for (size_t i = 0; i < r->http->header_count; i++) {
        const gw_http_header *h = &r->http->headers[i];
        for (size_t j = 0; j < ch->forward_header_count; j++) {
            const char *pat = ch->forward_headers[j];
            size_t plen = strlen(pat);
            int prefix = plen && pat[plen - 1] == '*';
            if (prefix ? h->name_len >= plen - 1 && !strncasecmp(h->name, pat, plen - 1)
                       : h->name_len == plen && !strncasecmp(h->name, pat, plen)) {
                char line[1024];
                int n = snprintf(line, sizeof line, "%.*s: %.*s", (int)h->name_len, h->name,
                                 (int)h->value_len, h->value);
                if (n > 0 && (size_t)n < sizeof line) list = curl_slist_append(list, line);
                break;
            }
        }
    }
    return list;
}

void gw_upstream_start(gw_req *r) {
    gw_upstream *up = calloc(1, sizeof *up);
    if (!up) {
        gw_req_fail(r, 503, "server_error", NULL, NULL, "out of memory");
        return;
    }
    r->upstream = up;
    up->r = r;
    up->body = evbuffer_new();
    up->out = evbuffer_new();
    up->timer = evtimer_new(r->worker->base, on_timer, up);
    const gw_channel *ch = r->channel;
    const char *body = NULL, *err = NULL;
    size_t body_len = 0;
    if (!up->body || !up->out || !up->timer) {
        gw_req_fail(r, 503, "server_error", NULL, NULL, "out of memory");
        return;
    }
    if (!ch->url[r->api]) {
        gw_req_fail(r, 503, "server_error", "channel_unavailable", NULL,
                    "channel '%s' has no usable base_url", ch->name);
        return;
    }
    if (ch->engine->build_request(r, &body, &body_len, &up->owned_body, &err) < 0) {
        gw_req_fail(r, 500, "server_error", NULL, NULL, "cannot build the upstream request: %s",
                    err);
        return;
    }
    up->easy = gw_curl_easy_get(r->worker->curl);
    if (!up->easy) {
        gw_req_fail(r, 503, "server_error", NULL, NULL, "out of memory");
        return;
    }
    if (ch->forward_header_count) up->headers = forwarded_headers(r);
    CURL *e = up->easy;
    curl_easy_setopt(e, CURLOPT_URL, ch->url[r->api]);
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, body); /* not copied: r keeps it alive */
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, up->headers ? up->headers : ch->headers);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, up);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, up);
    curl_easy_setopt(e, CURLOPT_PRIVATE, up);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, up->curl_error);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)ch->timeouts.connect_ms);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)ch->timeouts.total_ms);
    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    arm_timer(up, ch->timeouts.first_byte_ms);
    CURLMcode mc = curl_multi_add_handle(gw_curl_multi_handle(r->worker->curl), e);
    if (mc != CURLM_OK) {
        gw_curl_easy_put(r->worker->curl, e);
        up->easy = NULL;
        gw_req_fail(r, 503, "server_error", NULL, NULL, "cannot start the upstream transfer: %s",
                    curl_multi_strerror(mc));
    }
}

void gw_upstream_free(gw_req *r) {
    gw_upstream *up = r->upstream;
    if (!up) return;
    r->upstream = NULL;
    detach_transfer(up);
    if (up->timer) event_free(up->timer);
    if (up->body) evbuffer_free(up->body);
    if (up->out) evbuffer_free(up->out);
    if (up->mode == MODE_STREAM) gw_sse_free(&up->sse);
    curl_slist_free_all(up->headers);
    free(up->owned_body);
    free(up);
}
