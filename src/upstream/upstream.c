#include "upstream/upstream.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/clock.h"
#include "core/http_server.h"
#include "core/forwarding.h"
#include "core/log.h"
#include "core/openai_error.h"
#include "core/request.h"
#include "core/sse.h"
#include "core/worker-t.h"
#include "engines/engine.h"
#include "filters/filter.h"
#include "upstream/curl_multi.h"

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
    /* set when we stop the transfer ourselves; the message is what the caller may see (no
     * channel, no address), the detail goes to the log */
    int fail_status;
    const char *fail_code;
    char fail_message[256];
    char fail_detail[CURL_ERROR_SIZE + 128];
    /* a buffered response, held once and contiguous: sized from Content-Length when sent */
    char *body;
    size_t body_len, body_cap;
    struct evbuffer *out; /* translated stream output on its way to the client */
    gw_sse_parser sse;
    struct event *timer; /* first-byte, then idle-gap deadline */
    char curl_error[CURL_ERROR_SIZE];
};

/* `message` is for the caller and names nothing internal; `detail` (printf) is for the log. */
static void set_failure(gw_upstream *up, int status, const char *code, const char *message,
                        const char *detail_fmt, ...) __attribute__((format(printf, 5, 6)));

static void set_failure(gw_upstream *up, int status, const char *code, const char *message,
                        const char *detail_fmt, ...) {
    if (up->fail_status) return; /* the first cause is the one worth reporting */
    up->fail_status = status;
    up->fail_code = code;
    snprintf(up->fail_message, sizeof up->fail_message, "%s (request id %s)", message, up->r->id);
    va_list ap;
    va_start(ap, detail_fmt);
    vsnprintf(up->fail_detail, sizeof up->fail_detail, detail_fmt, ap);
    va_end(ap);
}

/* The operator's side of a failure: which channel and address, and what curl or the engine
 * said. Callers only see the request id, which leads here. */
static void log_failure(const gw_upstream *up) {
    const gw_req *r = up->r;
    char detail[sizeof up->fail_detail * 2], url[512];
    gw_json_escape(detail, sizeof detail, up->fail_detail, strlen(up->fail_detail));
    const char *u = r->channel->url[r->api];
    gw_json_escape(url, sizeof url, u, strlen(u));
    gw_log_warn("upstream_failed",
                "\"request_id\":\"%s\",\"channel\":\"%s\",\"url\":\"%s\",\"status\":%d,"
                "\"code\":\"%s\",\"detail\":\"%s\"",
                r->id, r->channel->name, url, up->fail_status, up->fail_code, detail);
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
        set_failure(up, 502, "response_filter", "a response filter rejected the stream",
                    "a response filter rejected a stream event");
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
                    "the upstream sent a malformed stream event",
                    "malformed stream event (%s): %.*s", err ? err : "invalid",
                    (int)(len < 200 ? len : 200), data);
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

/* Grows the buffered body to hold `need` bytes; doubling, capped by max_response_bytes. */
static int reserve_body(gw_upstream *up, size_t need) {
    if (need <= up->body_cap) return 0;
    size_t cap = up->body_cap ? up->body_cap : 16 * 1024;
    while (cap < need)
        cap *= 2;
    if (cap > up->r->cfg->max_response_bytes) cap = up->r->cfg->max_response_bytes;
    if (cap < need) return -1;
    char *grown = realloc(up->body, cap);
    if (!grown) return -1;
    up->body = grown;
    up->body_cap = cap;
    return 0;
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
        gw_sse_init(&up->sse, r->cfg->max_event_bytes, on_sse_event, up);
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
        curl_off_t length = -1;
        curl_easy_getinfo(up->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &length);
        if (length > 0 && (size_t)length <= r->cfg->max_response_bytes)
            reserve_body(up, (size_t)length);
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
        if (up->body_len + len > r->cfg->max_response_bytes) {
            set_failure(up, 502, "upstream_response_too_large",
                        "the upstream response is larger than the gateway accepts",
                        "response over server.max_response_bytes (%zu)",
                        r->cfg->max_response_bytes);
            return 0;
        }
        if (reserve_body(up, up->body_len + len) < 0) {
            set_failure(up, 502, "upstream_response_too_large",
                        "the gateway could not hold the upstream response", "out of memory");
            return 0;
        }
        memcpy(up->body + up->body_len, ptr, len);
        up->body_len += len;
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
                    "the upstream sent a stream event larger than the gateway accepts",
                    "stream event over server.max_event_bytes (%zu)", r->cfg->max_event_bytes);
    flush_stream(up);
    return rc ? 0 : len;
}

static void describe_curl_failure(gw_upstream *up, CURLcode result) {
    const gw_channel *ch = up->r->channel;
    const char *detail = up->curl_error[0] ? up->curl_error : curl_easy_strerror(result);
    char message[160];
    switch (result) {
    case CURLE_OPERATION_TIMEDOUT:
        if (!up->got_first_byte && up->r->t_first_byte == 0) {
            int connecting = 0;
            curl_off_t connect_us = 0;
            curl_easy_getinfo(up->easy, CURLINFO_CONNECT_TIME_T, &connect_us);
            connecting = connect_us == 0;
            snprintf(message, sizeof message, "the upstream did not %s within %s (%d ms)",
                     connecting ? "accept the connection" : "answer",
                     connecting ? "timeouts.connect_ms" : "timeouts.total_ms",
                     connecting ? ch->timeouts.connect_ms : ch->timeouts.total_ms);
        } else {
            snprintf(message, sizeof message,
                     "the upstream response exceeded timeouts.total_ms (%d ms)",
                     ch->timeouts.total_ms);
        }
        set_failure(up, 504, "upstream_timeout", message, "%s", detail);
        break;
    default:
        if (up->mode == MODE_STREAM)
            set_failure(up, 502, "upstream_stream_cut",
                        "the upstream connection broke before the stream was complete", "%s",
                        detail);
        else if (up->got_first_byte)
            set_failure(up, 502, "upstream_unreachable",
                        "the upstream connection broke before the response was complete", "%s",
                        detail);
        else
            set_failure(up, 502, "upstream_unreachable", "the upstream could not be reached", "%s",
                        detail);
    }
}

/* After the first byte the status line is gone: a failure becomes an error event the client's
 * SDK raises, followed by [DONE], never a silent end. */
static void end_stream(gw_upstream *up) {
    gw_req *r = up->r;
    if (up->fail_status) {
        evbuffer_add(up->out, "data: ", 6);
        gw_openai_error(up->out, up->fail_message,
                        gw_openai_error_type_for(up->fail_status, up->fail_code), up->fail_code,
                        NULL);
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

/* An engine's 404 on an inference path means it does not serve the name it was sent (or the
 * channel's base_url is wrong): the gateway's configuration, not the caller, is at fault. Said
 * so, without the upstream's own wording, which would read like the gateway's model_not_found. */
static void respond_upstream_not_found(gw_upstream *up) {
    gw_req *r = up->r;
    set_failure(up, 502, "upstream_model_not_found", "the model's upstream refused it", "%s",
                "upstream answered 404");
    snprintf(up->fail_detail, sizeof up->fail_detail, "upstream answered 404 for model '%s': %.*s",
             r->model->upstream_model, (int)(up->body_len < 300 ? up->body_len : 300),
             up->body ? up->body : "");
    log_failure(up);
    gw_req_fail(r, 502, "server_error", "upstream_model_not_found", "model",
                "The model `%s` is configured on this gateway, but its upstream does not serve it "
                "(request id %s); the gateway's operator must fix the model mapping.",
                r->model->name, r->id);
}

/* Answers with the buffered body and ends the request, on every path. */
static void respond_buffered(gw_upstream *up) {
    gw_req *r = up->r;
    const gw_engine_ops *engine = r->channel->engine;
    const char *body = up->body ? up->body : "";
    size_t len = up->body_len;
    struct evbuffer *out = evbuffer_new();
    int status = up->status;
    if (!out) {
        gw_req_fail(r, 503, "server_error", NULL, NULL, "out of memory");
        return;
    }
    if (status >= 200 && status < 300) {
        const char *err = NULL;
        if (engine->translate_response(r, body, len, out, &err) < 0) {
            evbuffer_free(out);
            set_failure(up, 502, "upstream_malformed_response",
                        "the upstream returned a malformed response", "malformed JSON (%s): %.*s",
                        err ? err : "invalid", (int)(len < 200 ? len : 200), body);
            log_failure(up);
            gw_req_fail(r, 502, "server_error", "upstream_malformed_response", NULL, "%s",
                        up->fail_message);
            return;
        }
        r->error_code = NULL;
    } else if (status == 404) {
        evbuffer_free(out);
        respond_upstream_not_found(up);
        return;
    } else {
        engine->normalize_error(status, body, len, out);
        if (status < 400) status = 502; /* a redirect or an odd 1xx is no answer for a client */
        r->error_code = "upstream_error";
        gw_log_debug("upstream_error_status", "\"request_id\":\"%s\",\"status\":%d", r->id,
                     up->status);
    }
    /* the translation is the one copy; the engine's bytes go before the answer is sent */
    free(up->body);
    up->body = NULL;
    up->body_len = up->body_cap = 0;
    if (gw_chain_response_chunk(r, out, 1) < 0) {
        evbuffer_free(out);
        gw_req_fail(r, 502, "server_error", "response_filter", NULL,
                    "a response filter rejected the response (request id %s)", r->id);
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
    /* a transfer that ended before any body byte: a clean end still relays (an empty body), a
     * timeout after the head does not commit the client's head for an answer that never came */
    if (up->easy && up->mode == MODE_UNDECIDED && result == CURLE_OK && !up->fail_status)
        begin_relay(up);
    if (result != CURLE_OK) describe_curl_failure(up, result); /* reads timings off the handle */
    detach_transfer(up);
    if (up->fail_status) {
        atomic_fetch_add_explicit(&r->worker->stats.upstream_errors, 1, memory_order_relaxed);
        log_failure(up);
    }
    gw_log_debug("upstream_done",
                 "\"request_id\":\"%s\",\"channel\":\"%s\",\"status\":%d,\"mode\":\"%s\","
                 "\"curl_result\":%d,\"client_present\":%s",
                 r->id, r->channel->name, up->status,
                 up->mode == MODE_STREAM   ? "stream"
                 : up->mode == MODE_BUFFER ? "buffer"
                                           : "none",
                 (int)result, r->http ? "true" : "false");
    if (!r->http) {
        gw_req_finish(r);
        return;
    }
    if (up->mode == MODE_STREAM) {
        if (!up->fail_status) {
            if (gw_sse_finish(&up->sse) == 0) flush_stream(up);
            if (!up->done_marker_seen && r->channel->engine->stream_has_done_marker) {
                set_failure(up, 502, "upstream_stream_cut",
                            "the upstream ended the stream before it was complete",
                            "stream ended without its terminal event");
                log_failure(up);
            }
        }
        end_stream(up);
        gw_req_finish(r);
    } else if (up->fail_status) {
        gw_req_fail(r, up->fail_status, gw_openai_error_type_for(up->fail_status, up->fail_code),
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
    char message[160];
    if (!up->got_first_byte) {
        snprintf(message, sizeof message,
                 "the upstream sent no response within timeouts.first_byte_ms (%d ms)",
                 t->first_byte_ms);
        set_failure(up, 504, "upstream_timeout", message, "no response head after %d ms",
                    t->first_byte_ms);
    } else {
        snprintf(message, sizeof message, "the upstream sent nothing for timeouts.idle_ms (%d ms)",
                 t->idle_ms);
        set_failure(up, 504, "upstream_timeout", message, "silent for %d ms", t->idle_ms);
    }
    complete(up, CURLE_OK);
}

static int forward_matches(const gw_channel *ch, const gw_http_header *h) {
    for (size_t j = 0; j < ch->forward_header_count; j++) {
        const char *pat = ch->forward_headers[j];
        size_t plen = strlen(pat);
        int prefix = plen && pat[plen - 1] == '*';
        if (prefix ? h->name_len >= plen - 1 && !strncasecmp(h->name, pat, plen - 1)
                   : h->name_len == plen && !strncasecmp(h->name, pat, plen))
            return 1;
    }
    return 0;
}

/* Copies the channel's fixed headers and adds the client headers the channel forwards, whole
 * (their size is already bounded by server.max_header_bytes). NULL when out of memory. */
static struct curl_slist *forwarded_headers(gw_req *r) {
    const gw_channel *ch = r->channel;
    struct curl_slist *list = NULL, *next;
    for (const struct curl_slist *h = ch->headers; h; h = h->next) {
        if (!(next = curl_slist_append(list, h->data))) goto oom;
        list = next;
    }
    for (size_t i = 0; i < r->http->header_count; i++) {
        const gw_http_header *h = &r->http->headers[i];
        if (gw_header_never_forwarded(h->name, h->name_len) || !forward_matches(ch, h)) continue;
        size_t need = h->name_len + 2 + h->value_len + 1;
        char small[512], *line = need <= sizeof small ? small : malloc(need);
        if (!line) goto oom;
        memcpy(line, h->name, h->name_len);
        memcpy(line + h->name_len, ": ", 2);
        memcpy(line + h->name_len + 2, h->value, h->value_len);
        line[need - 1] = '\0';
        next = curl_slist_append(list, line);
        if (line != small) free(line);
        if (!next) goto oom;
        list = next;
    }
    return list;
oom:
    curl_slist_free_all(list);
    return NULL;
}

void gw_upstream_start(gw_req *r) {
    gw_upstream *up = calloc(1, sizeof *up);
    if (!up) {
        gw_req_fail(r, 503, "server_error", NULL, NULL, "out of memory");
        return;
    }
    r->upstream = up;
    up->r = r;
    up->out = evbuffer_new();
    up->timer = evtimer_new(r->worker->base, on_timer, up);
    const gw_channel *ch = r->channel;
    const char *body = NULL, *err = NULL;
    size_t body_len = 0;
    if (!up->out || !up->timer) {
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
    if (ch->forward_header_count && !(up->headers = forwarded_headers(r))) {
        gw_req_fail(r, 503, "server_error", NULL, NULL, "out of memory");
        return;
    }
    gw_log_debug("upstream_start",
                 "\"request_id\":\"%s\",\"channel\":\"%s\",\"api\":%d,\"stream\":%s,"
                 "\"body_bytes\":%zu",
                 r->id, ch->name, (int)r->api, r->stream ? "true" : "false", body_len);
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

int gw_upstream_shutdown(gw_req *r) {
    gw_upstream *up = r->upstream;
    evtimer_del(up->timer);
    detach_transfer(up);
    set_failure(up, 503, "server_shutdown", "the gateway is shutting down; retry the request",
                "cut at the drain deadline");
    log_failure(up);
    if (!r->http) {
        gw_req_finish(r);
    } else if (up->mode == MODE_STREAM) {
        end_stream(up);
        gw_req_finish(r);
    } else {
        gw_req_fail(r, 503, "server_error", "server_shutdown", NULL, "%s", up->fail_message);
    }
    return 1;
}

void gw_upstream_free(gw_req *r) {
    gw_upstream *up = r->upstream;
    if (!up) return;
    r->upstream = NULL;
    detach_transfer(up);
    if (up->timer) event_free(up->timer);
    free(up->body);
    if (up->out) evbuffer_free(up->out);
    if (up->mode == MODE_STREAM) gw_sse_free(&up->sse);
    curl_slist_free_all(up->headers);
    free(up->owned_body);
    free(up);
}
