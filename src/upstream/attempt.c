#include "upstream/attempt.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/block_cache.h"
#include "core/clock.h"
#include "core/forwarding.h"
#include "core/http_server.h"
#include "core/log.h"
#include "core/strbuf.h"
#include "core/openai_error.h"
#include "core/worker-t.h"
#include "engines/engine.h"
#include "upstream/endpoints.h"
#include "upstream/h1_address.h"
#include "upstream/channel_pools.h"

/* `message` is for the caller and names nothing internal; `detail` (printf) is for the log. */
static void set_failure(gw_attempt *a, int status, gw_fail_kind kind, const char *code,
                        const char *message, const char *detail_fmt, ...)
    __attribute__((format(printf, 6, 7)));

static void set_failure(gw_attempt *a, int status, gw_fail_kind kind, const char *code,
                        const char *message, const char *detail_fmt, ...) {
    if (a->fail_status) return; /* the first cause is the one worth reporting */
    a->fail_status = status;
    a->fail_kind = kind;
    a->fail_code = code;
    snprintf(a->fail_message, sizeof a->fail_message, "%s (request id %s)", message, a->r->id);
    a->error = (gw_error_info){.status = status,
                               .type = gw_openai_error_type_for(status, code),
                               .code = code,
                               .message = a->fail_message,
                               .message_len = strlen(a->fail_message)};
    va_list ap;
    va_start(ap, detail_fmt);
    vsnprintf(a->fail_detail, sizeof a->fail_detail, detail_fmt, ap);
    va_end(ap);
}

void gw_attempt_log_failure(const gw_attempt *a) {
    const gw_req *r = a->r;
    char detail[sizeof a->fail_detail * 2], url[512], channel[256];
    gw_json_escape(detail, sizeof detail, a->fail_detail, strlen(a->fail_detail));
    const char *u = a->url;
    gw_json_escape(url, sizeof url, u, strlen(u));
    gw_json_escape(channel, sizeof channel, a->channel->name, strlen(a->channel->name));
    gw_log_warn("upstream_failed",
                "\"request_id\":\"%s\",\"channel\":\"%s\",\"url\":\"%s\",\"status\":%d,"
                "\"code\":\"%s\",\"detail\":\"%s\"",
                r->id, channel, url, a->fail_status, a->fail_code, detail);
}

/* A timer never runs past the request's failover deadline, nor past timeouts.total_ms on the
 * own client (curl keeps that one itself). */
static void arm_timer(gw_attempt *a, int ms) {
    int64_t now = gw_now_ns();
    a->deadline_armed = a->total_armed = 0;
    if (a->r->deadline_ns) {
        int64_t left_ms = (a->r->deadline_ns - now) / 1000000;
        if (left_ms < ms) {
            ms = left_ms > 0 ? (int)left_ms : 0;
            a->deadline_armed = 1;
        }
    }
    if (a->total_deadline_ns) {
        int64_t left_ms = (a->total_deadline_ns - now + 999999) / 1000000;
        if (left_ms < ms) {
            ms = left_ms > 0 ? (int)left_ms : 0;
            a->total_armed = 1;
            a->deadline_armed = 0;
        }
    }
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    a->timer_due_ns = now + (int64_t)ms * 1000000; /* libevent's cached time is not later */
    evtimer_add(&a->timer, &tv);
}

static void disarm_timer(gw_attempt *a) {
    a->timer_due_ns = 0;
    evtimer_del(&a->timer);
}

/* The first timer of an attempt: first_byte_ms, or idle_ms when that comes sooner, so the
 * stream's first data finds it due before its idle deadline and leaves it armed (on_timer arms
 * what is left of the first-byte wait when it fires before the first byte). */
static void arm_first_timer(gw_attempt *a) {
    const gw_timeouts *t = &a->channel->timeouts;
    arm_timer(a, t->idle_ms < t->first_byte_ms ? t->idle_ms : t->first_byte_ms);
    a->first_byte_due_ns = a->timer_due_ns + (int64_t)(t->first_byte_ms - t->idle_ms) * 1000000;
    if (t->idle_ms >= t->first_byte_ms || a->deadline_armed || a->total_armed)
        a->first_byte_due_ns = 0; /* what is armed is the first-byte wait, or ends before it */
}

/* A piece of the body came: idle_ms starts again. The timer is not moved (an evtimer_add per
 * read, with the base's lock and a heap update): on_timer re-arms it for what is left. */
static __attribute__((noinline)) void arm_idle(gw_attempt *a) {
    a->idle_armed = 1;
    int64_t idle_ns = (int64_t)a->channel->timeouts.idle_ms * 1000000;
    if (a->timer_due_ns && a->timer_due_ns <= a->last_data_ns + idle_ns) return;
    arm_timer(a, a->channel->timeouts.idle_ms);
}

/* Apart from arm_idle, so that the per-read part stays inline in its callers. */
static inline void note_data(gw_attempt *a) {
    a->last_data_ns = gw_now_ns();
    if (!a->idle_armed) arm_idle(a);
}

static void detach_transfer(gw_attempt *a) {
    gw_channel_pools *pools = a->r->worker->pools;
    if (a->h1_running) {
        gw_h1_cancel(&a->h1); /* nothing if it has ended */
        gw_channel_pools_h1_end(pools, a->channel);
        a->h1_running = 0;
    }
    if (!a->easy) return;
    gw_channel_pools_remove(pools, a->channel, a->easy);
    gw_channel_pools_easy_put(pools, a->easy);
    a->easy = NULL;
}

/* A stream's frames live from the upstream read that brought their events to the flush that
 * sends them, inside one call on the worker's thread: so one buffer per worker serves every
 * stream of it (w->spare_frames). The attempt borrows it as it translates (io.frames) and gives
 * it back after the flush: a stream costs no allocation for its frames (a buffer of its own cost
 * one, and a read's burst of events a few more to grow it) and holds no memory between reads.
 * Frames written when the worker's buffer is out (the sink's error event) go into memory of the
 * attempt's own, kept by the worker at the next return or freed with the attempt. */

/* What the worker keeps of the buffer's memory: a usual read's frames fit; the memory a larger
 * burst needed is given back. */
enum { FRAMES_KEEP_BYTES = 16 * 1024 };

static void frames_borrow(gw_attempt *a) {
    gw_strbuf *spare = &a->r->worker->spare_frames;
    if (a->io.frames.data || !spare->data) return;
    a->io.frames = *spare;
    *spare = (gw_strbuf){0};
}

/* The frames are sent, or dropped: their memory goes back to the worker, or is freed. */
static void frames_return(gw_attempt *a) {
    gw_strbuf *frames = &a->io.frames, *spare = &a->r->worker->spare_frames;
    if (!frames->data) {
        gw_strbuf_reset(frames); /* a failed first allocation is reported once */
        return;
    }
    if (spare->data || frames->cap > FRAMES_KEEP_BYTES) {
        gw_strbuf_free(frames);
        return;
    }
    *spare = *gw_strbuf_reset(frames);
    *frames = (gw_strbuf){0};
}

/* Hands translated stream bytes to the sink. The first ones commit the client's head: only
 * now, so a stream that fails before its first event can still be answered (or retried) whole.
 * The frames' memory goes back to the thread whatever happens. */
static void flush_stream(gw_attempt *a) {
    gw_req *r = a->r;
    gw_strbuf *frames = &a->io.frames;
    int rc = 0;
    if (frames->failed) {
        set_failure(a, 503, GW_FAIL_LOCAL, "out_of_memory", "the gateway is out of memory",
                    "out of memory writing the stream's frames");
    } else if (r->http && frames->len > 0) {
        if (!a->committed) {
            a->committed = 1;
            if (a->sink->stream_begin(r, a) < 0) {
                set_failure(a, 499, GW_FAIL_LOCAL, "client_closed", "the client left",
                            "the client left before the stream began");
                frames_return(a);
                return;
            }
            if (a->events_via_out && !a->io.out && !(a->io.out = evbuffer_new())) {
                set_failure(a, 503, GW_FAIL_LOCAL, "out_of_memory", "the gateway is out of memory",
                            "out of memory for the stream's events");
                frames_return(a);
                return;
            }
        }
        rc = a->sink->stream_data(r, frames->data, frames->len); /* sent, or copied */
    }
    frames_return(a);
    if (rc < 0)
        set_failure(a, 502, GW_FAIL_LOCAL, "response_filter",
                    "a response filter rejected the stream",
                    "a response filter rejected a stream event");
}

/* The engine reported an error inside its answer (an error event, or an error body under a
 * 2xx): the caller gets it as the engine said it; failover treats it like an error status. */
static void set_engine_failure(gw_attempt *a, const char *where) {
    if (a->fail_status) return;
    gw_error_info *e = &a->io.error;
    size_t len =
        e->message_len < sizeof a->error_text - 1 ? e->message_len : sizeof a->error_text - 1;
    memcpy(a->error_text, e->message, len);
    a->error_text[len] = '\0';
    a->error = *e;
    a->error.message = a->error_text;
    a->error.message_len = len;
    if (a->error.status < 400) a->error.status = 502;
    a->fail_status = a->error.status;
    a->fail_kind = GW_FAIL_STATUS;
    a->fail_code = "upstream_error";
    snprintf(a->fail_message, sizeof a->fail_message, "%.200s", a->error_text);
    snprintf(a->fail_detail, sizeof a->fail_detail, "the engine reported an error %s: %.300s",
             where, a->error_text);
}

/* A response guard ended the answer (a blocked word in the model's text): the gateway's own
 * decision, in the guard's words; no other channel is tried and the engine is not blamed. */
static void set_guard_failure(gw_attempt *a) {
    if (a->fail_status) return;
    set_engine_failure(a, "(a response guard stopped it)");
    a->fail_kind = GW_FAIL_LOCAL;
    a->fail_code = a->error.code ? a->error.code : "response_blocked";
}

static int on_sse_event(void *ud, const char *event, size_t event_len, const char *data,
                        size_t len) {
    gw_attempt *a = ud;
    if (a->stream_done) return 0;
    frames_borrow(a); /* given back by the flush after this read */
    int rc = a->channel->engine->stream_event(&a->io, event, event_len, data, len);
    if (a->io.blocked) {
        set_guard_failure(a);
        return 1;
    }
    switch (rc) {
    case GW_EVENT_CONTINUE:
        return 0;
    case GW_EVENT_END:
        a->stream_done = 1;
        return 0;
    case GW_EVENT_ERROR:
        set_engine_failure(a, "in its stream");
        return 1;
    default:
        set_failure(a, 502, GW_FAIL_MALFORMED, "upstream_malformed_event",
                    "the upstream sent a malformed stream event",
                    "malformed stream event (%s): %.*s", a->io.err ? a->io.err : "invalid",
                    (int)(len < 200 ? len : 200), data);
        return 1;
    }
}

void gw_attempt_resume(gw_attempt *a) {
    if (!a || !a->paused || (!a->easy && !a->h1_running)) return;
    a->paused = 0;
    a->idle_armed = 0;
    note_data(a); /* idle_ms from now */
    if (a->h1_running)
        gw_h1_resume(&a->h1);
    else
        curl_easy_pause(a->easy, CURLPAUSE_CONT); /* may deliver held data right here */
}

/* A buffered answer lives from its first byte to its translation, as a rule within one read:
 * so the worker keeps one answer's memory for the next (w->spare_body), which took a 16 KB
 * allocation and its free per request. More than BODY_KEEP_BYTES is given back. */
enum { BODY_KEEP_BYTES = 64 * 1024 };

static void body_release(gw_attempt *a) {
    gw_worker *w = a->r->worker;
    if (a->body && !w->spare_body && a->body_cap <= BODY_KEEP_BYTES) {
        w->spare_body = a->body;
        w->spare_body_cap = a->body_cap;
    } else {
        free(a->body);
    }
    a->body = NULL;
    a->body_len = a->body_cap = 0;
}

/* Grows the buffered body to hold `need` bytes; doubling, capped by max_response_bytes. */
static int reserve_body(gw_attempt *a, size_t need) {
    if (need <= a->body_cap) return 0;
    gw_worker *w = a->r->worker;
    if (!a->body && w->spare_body && need <= w->spare_body_cap) {
        a->body = w->spare_body;
        a->body_cap = w->spare_body_cap;
        w->spare_body = NULL;
        return 0;
    }
    size_t cap = a->body_cap ? a->body_cap : 16 * 1024;
    while (cap < need)
        cap *= 2;
    if (cap > a->r->cfg->max_response_bytes) cap = a->r->cfg->max_response_bytes;
    if (cap < need) return -1;
    char *grown = realloc(a->body, cap);
    if (!grown) return -1;
    a->body = grown;
    a->body_cap = cap;
    return 0;
}

/* On the first body byte: a 2xx event stream to a streaming request is relayed event by event,
 * anything else is buffered and answered whole. */
static void begin_relay(gw_attempt *a, int status, const char *content_type, int64_t length) {
    gw_req *r = a->r;
    a->status = status;
    if (r->stream && status >= 200 && status < 300 && content_type &&
        !strncasecmp(content_type, "text/event-stream", 17)) {
        size_t state_size = a->channel->engine->stream_state_size;
        if (state_size <= sizeof a->state_room) /* every adapter's, so far */
            a->io.state = state_size ? memset(a->state_room, 0, state_size) : NULL;
        else
            a->io.state = calloc(1, state_size);
        if (state_size && !a->io.state) {
            set_failure(a, 503, GW_FAIL_LOCAL, "out_of_memory", "the gateway is out of memory",
                        "out of memory");
            return;
        }
        a->mode = GW_RELAY_STREAM;
        gw_sse_init(&a->sse, r->cfg->max_event_bytes, on_sse_event, a);
    } else {
        a->mode = GW_RELAY_BUFFER;
        if (length > 0 && (uint64_t)length <= r->cfg->max_response_bytes)
            reserve_body(a, (size_t)length);
    }
}

static void begin_relay_curl(gw_attempt *a) {
    long status = 0;
    char *content_type = NULL;
    curl_off_t length = -1;
    curl_easy_getinfo(a->easy, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(a->easy, CURLINFO_CONTENT_TYPE, &content_type);
    curl_easy_getinfo(a->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &length);
    begin_relay(a, (int)status, content_type, (int64_t)length);
}

static void begin_relay_h1(gw_attempt *a) {
    begin_relay(a, a->status, a->h1_content_type, a->h1_content_length);
}

static void head_came(gw_attempt *a) {
    if (!a->got_head) { /* engines send their head before prefill: first_byte_ms still runs */
        a->got_head = 1;
        a->t_head = gw_now_ns();
    }
}

static size_t on_header(char *ptr, size_t size, size_t nmemb, void *ud) {
    (void)ptr;
    head_came(ud);
    return size * nmemb;
}

/* A slow client: the transfer stops reading the upstream until gw_attempt_resume. */
static int client_behind(gw_attempt *a) {
    if (a->mode != GW_RELAY_STREAM || !a->committed || !a->sink->client_full(a->r)) return 0;
    a->paused = 1;
    a->idle_armed = 0;
    disarm_timer(a);
    return 1;
}

/* A piece of the answer's body, the relay decided: 0 taken, -1 the attempt has failed (its
 * cause set). */
static int take_body(gw_attempt *a, const char *ptr, size_t len) {
    gw_req *r = a->r;
    if (a->mode == GW_RELAY_BUFFER) {
        if (a->body_len + len > r->cfg->max_response_bytes) {
            set_failure(a, 502, GW_FAIL_MALFORMED, "upstream_response_too_large",
                        "the upstream response is larger than the gateway accepts",
                        "response over server.max_response_bytes (%zu)",
                        r->cfg->max_response_bytes);
            return -1;
        }
        if (reserve_body(a, a->body_len + len) < 0) {
            set_failure(a, 502, GW_FAIL_LOCAL, "upstream_response_too_large",
                        "the gateway could not hold the upstream response", "out of memory");
            return -1;
        }
        memcpy(a->body + a->body_len, ptr, len);
        a->body_len += len;
        note_data(a);
        return 0;
    }
    note_data(a);
    int rc = gw_sse_feed(&a->sse, ptr, len);
    if (rc < 0)
        set_failure(a, 502, GW_FAIL_MALFORMED, "upstream_event_too_large",
                    "the upstream sent a stream event larger than the gateway accepts",
                    "stream event over server.max_event_bytes (%zu)", r->cfg->max_event_bytes);
    flush_stream(a);
    return rc || a->fail_status ? -1 : 0;
}

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *ud) {
    gw_attempt *a = ud;
    size_t len = size * nmemb;
    if (!a->r->http) return 0;
    if (a->mode == GW_RELAY_UNDECIDED) begin_relay_curl(a); /* the first body byte */
    if (a->fail_status) return 0;
    if (client_behind(a)) return CURL_WRITEFUNC_PAUSE; /* curl keeps this data */
    return take_body(a, ptr, len) < 0 ? 0 : len;
}

/* The own client's handler (upstream/h1_client.h). */
static void h1_head(void *ud, int status, const char *content_type, int64_t content_length) {
    gw_attempt *a = ud;
    head_came(a);
    a->status = status;
    size_t len = strlen(content_type);
    if (len >= sizeof a->h1_content_type) len = sizeof a->h1_content_type - 1;
    memcpy(a->h1_content_type, content_type, len);
    a->h1_content_type[len] = '\0';
    a->h1_content_length = content_length;
}

static int h1_body(void *ud, const char *data, size_t len) {
    gw_attempt *a = ud;
    if (!a->r->http) return -1;
    if (a->mode == GW_RELAY_UNDECIDED) begin_relay_h1(a); /* the first body byte */
    if (a->fail_status) return -1;
    return take_body(a, data, len);
}

static int h1_full(void *ud) {
    gw_attempt *a = ud;
    return client_behind(a);
}

/* The connection failed or broke: what that means depends on how far the answer had come. */
static void set_transfer_failure(gw_attempt *a, const char *detail) {
    if (a->mode == GW_RELAY_STREAM)
        set_failure(a, 502, GW_FAIL_BROKEN, "upstream_stream_cut",
                    "the upstream connection broke before the stream was complete", "%s", detail);
    else if (a->got_head)
        set_failure(a, 502, GW_FAIL_BROKEN, "upstream_unreachable",
                    "the upstream connection broke before the response was complete", "%s", detail);
    else
        set_failure(a, 502, GW_FAIL_CONNECT, "upstream_unreachable",
                    "the upstream could not be reached", "%s", detail);
}

static void describe_curl_failure(gw_attempt *a, CURLcode result) {
    const gw_channel *ch = a->channel;
    const char *detail = a->curl_error[0] ? a->curl_error : curl_easy_strerror(result);
    char message[160];
    switch (result) {
    case CURLE_OPERATION_TIMEDOUT:
        if (!a->got_head) {
            curl_off_t connect_us = 0;
            curl_easy_getinfo(a->easy, CURLINFO_CONNECT_TIME_T, &connect_us);
            int connecting = connect_us == 0;
            snprintf(message, sizeof message, "the upstream did not %s within %s (%d ms)",
                     connecting ? "accept the connection" : "answer",
                     connecting ? "timeouts.connect_ms" : "timeouts.total_ms",
                     connecting ? ch->timeouts.connect_ms : ch->timeouts.total_ms);
        } else {
            snprintf(message, sizeof message,
                     "the upstream response exceeded timeouts.total_ms (%d ms)",
                     ch->timeouts.total_ms);
        }
        set_failure(a, 504, GW_FAIL_TIMEOUT, "upstream_timeout", message, "%s", detail);
        break;
    default:
        set_transfer_failure(a, detail);
    }
}

static void describe_h1_failure(gw_attempt *a, gw_h1_result result, const char *detail) {
    char message[160];
    switch (result) {
    case GW_H1_CONNECT_TIMEOUT:
        snprintf(message, sizeof message,
                 "the upstream did not accept the connection within timeouts.connect_ms (%d ms)",
                 a->channel->timeouts.connect_ms);
        set_failure(a, 504, GW_FAIL_TIMEOUT, "upstream_timeout", message, "%s", detail);
        break;
    case GW_H1_STOPPED: /* the body handler said why, unless the client left */
        set_failure(a, 499, GW_FAIL_LOCAL, "client_closed", "the client left", "%s", detail);
        break;
    default:
        set_transfer_failure(a, detail);
    }
}

/* A whole answer: a 2xx translated for the caller, an error of any shape normalized; an
 * engine's 404 on an inference path means it does not serve the name it was sent (or the
 * channel's base_url is wrong): the gateway's mapping is at fault, said without the engine's
 * wording, which would read like the gateway's own model_not_found. */
static void finish_buffered(gw_attempt *a) {
    gw_req *r = a->r;
    const gw_engine_ops *engine = a->channel->engine;
    const char *body = a->body ? a->body : "";
    if (a->status >= 200 && a->status < 300) {
        if (!a->io.out && !(a->io.out = evbuffer_new())) {
            set_failure(a, 503, GW_FAIL_LOCAL, "out_of_memory", "the gateway is out of memory",
                        "out of memory for the answer");
            return;
        }
        int rc = engine->response(&a->io, body, a->body_len);
        a->answer = a->io.out; /* the translation went straight into the answer */
        a->io.out = NULL;
        if (a->io.blocked)
            set_guard_failure(a);
        else if (rc == GW_EVENT_ERROR)
            set_engine_failure(a, "in its answer");
        else if (rc < 0)
            set_failure(a, 502, GW_FAIL_MALFORMED, "upstream_malformed_response",
                        "the upstream returned a malformed response", "malformed answer (%s): %.*s",
                        a->io.err ? a->io.err : "invalid",
                        (int)(a->body_len < 200 ? a->body_len : 200), body);
    } else if (a->status == 404) {
        char message[200];
        snprintf(message, sizeof message,
                 "The model `%s` is configured on this gateway, but its upstream does not serve "
                 "it; the gateway's operator must fix the model mapping",
                 r->model->name);
        set_failure(a, 502, GW_FAIL_STATUS, "upstream_model_not_found", message,
                    "upstream answered 404 for model '%s': %.*s", a->target->upstream_model,
                    (int)(a->body_len < 300 ? a->body_len : 300), body);
    } else {
        engine->error(a->status, body, a->body_len, &a->error, a->error_text, sizeof a->error_text);
        if (a->error.status < 400) a->error.status = a->status >= 400 ? a->status : 502;
        a->fail_kind = GW_FAIL_STATUS; /* an answer to relay, but one failover may retry */
        gw_log_debug("upstream_error_status", "\"request_id\":\"%s\",\"status\":%d", r->id,
                     a->status);
    }
    body_release(a); /* the translation was the one copy */
}

static void end_in_flight(gw_attempt *a) {
    if (!a->in_flight) return;
    a->in_flight = 0;
    atomic_fetch_sub_explicit(&a->endpoint->in_flight, 1, memory_order_relaxed);
    if (a->channel->source)
        atomic_fetch_sub_explicit(&a->channel->source->in_flight, 1, memory_order_relaxed);
}

/* Passive health: what the engine did tells whether the endpoint can serve. An engine that
 * answered, even with a 4xx, is up; 429 is load, not sickness. The gateway's own failures and a
 * client that left say nothing about it. */
static void report_health(gw_attempt *a) {
    int failed;
    switch (a->fail_kind) {
    case GW_FAIL_NONE:
        failed = 0;
        break;
    case GW_FAIL_STATUS:
        failed = a->status >= 500;
        break;
    case GW_FAIL_LOCAL:
        return;
    default:
        failed = 1;
    }
    if (!a->r->http && !a->fail_status) return; /* the client left: the transfer was cut */
    gw_endpoint_report(a->endpoint, &a->channel->health, a->channel->name, failed,
                       a->fail_code ? a->fail_code : "upstream_error", gw_now_ns());
}

/* The attempt ends: its transfer is let go, the answer or the failure goes to the sink. A
 * transport's failure is described before. */
static void finish(gw_attempt *a) {
    gw_req *r = a->r;
    if (a->finished) return;
    a->finished = 1;
    a->t_end = gw_now_ns();
    disarm_timer(a);
    detach_transfer(a);
    end_in_flight(a);
    if (r->http && !a->fail_status) {
        if (a->mode == GW_RELAY_STREAM) {
            if (gw_sse_finish(&a->sse) == 0) flush_stream(a);
            frames_borrow(a);
            if (!a->fail_status && !a->stream_done && a->channel->engine->stream_end(&a->io) == 0)
                a->stream_done = 1; /* an engine that ends streams by closing them (TGI) */
            if (a->io.blocked) set_guard_failure(a);
            flush_stream(a);
            if (!a->fail_status && !a->stream_done)
                set_failure(a, 502, a->committed ? GW_FAIL_BROKEN : GW_FAIL_CONNECT,
                            "upstream_stream_cut",
                            "the upstream ended the stream before it was complete",
                            "stream ended without its terminal event");
        } else {
            finish_buffered(a);
        }
    }
    if (a->fail_status) {
        atomic_fetch_add_explicit(&r->worker->stats.upstream_errors, 1, memory_order_relaxed);
        gw_attempt_log_failure(a);
    }
    report_health(a);
    gw_log_debug("upstream_done",
                 "\"request_id\":\"%s\",\"status\":%d,\"mode\":\"%s\",\"client\":\"%s\","
                 "\"transport_result\":%d,\"client_present\":%s",
                 r->id, a->status,
                 a->mode == GW_RELAY_STREAM   ? "stream"
                 : a->mode == GW_RELAY_BUFFER ? "buffer"
                                              : "none",
                 a->via_h1 ? "own" : "curl", a->transport_result, r->http ? "true" : "false");
    a->sink->done(r, a);
}

void gw_attempt_on_curl_done(CURL *easy, CURLcode result) {
    gw_attempt *a = NULL;
    curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&a);
    if (a->finished) return;
    a->transport_result = (int)result;
    /* a transfer that ended before any body byte: a clean end still relays (an empty body), a
     * timeout after the head does not make an answer of one that never came */
    if (a->mode == GW_RELAY_UNDECIDED && result == CURLE_OK && !a->fail_status) begin_relay_curl(a);
    if (result != CURLE_OK) describe_curl_failure(a, result); /* reads timings off the handle */
    finish(a);
}

static void h1_done(void *ud, gw_h1_result result, const char *detail) {
    gw_attempt *a = ud;
    if (a->finished) return;
    a->transport_result = (int)result;
    if (result == GW_H1_OK) {
        if (a->mode == GW_RELAY_UNDECIDED && !a->fail_status) begin_relay_h1(a);
    } else {
        describe_h1_failure(a, result, detail);
    }
    finish(a);
}

static const gw_h1_handler h1_handler = {
    .head = h1_head, .body = h1_body, .full = h1_full, .done = h1_done};

static void on_timer(evutil_socket_t fd, short what, void *arg) {
    gw_attempt *a = arg;
    const gw_timeouts *t = &a->channel->timeouts;
    (void)fd;
    (void)what;
    a->timer_due_ns = 0;
    if (!a->deadline_armed && !a->total_armed && a->idle_armed) { /* data came since: the rest */
        int64_t left_ns = a->last_data_ns + (int64_t)t->idle_ms * 1000000 - gw_now_ns();
        if (left_ns > 0) {
            arm_timer(a, (int)((left_ns + 999999) / 1000000));
            return;
        }
    } else if (!a->deadline_armed && !a->total_armed && a->mode == GW_RELAY_UNDECIDED &&
               a->first_byte_due_ns) { /* armed for idle_ms: the first-byte wait goes on */
        int64_t left_ns = a->first_byte_due_ns - gw_now_ns();
        a->first_byte_due_ns = 0;
        if (left_ns > 0) {
            arm_timer(a, (int)((left_ns + 999999) / 1000000));
            return;
        }
    }
    char message[160];
    if (a->deadline_armed) {
        snprintf(message, sizeof message, "the model's failover.deadline_ms (%d ms) passed",
                 a->r->model->failover.deadline_ms);
        set_failure(a, 504, GW_FAIL_TIMEOUT, "upstream_timeout", message,
                    "the request's deadline passed during this attempt");
    } else if (a->total_armed) { /* as curl words its own total timeout */
        snprintf(message, sizeof message,
                 a->got_head ? "the upstream response exceeded timeouts.total_ms (%d ms)"
                             : "the upstream did not answer within timeouts.total_ms (%d ms)",
                 t->total_ms);
        set_failure(a, 504, GW_FAIL_TIMEOUT, "upstream_timeout", message,
                    "timeouts.total_ms (%d ms) passed", t->total_ms);
    } else if (a->mode == GW_RELAY_UNDECIDED) {
        snprintf(message, sizeof message,
                 "the upstream sent no response within timeouts.first_byte_ms (%d ms)",
                 t->first_byte_ms);
        set_failure(a, 504, GW_FAIL_TIMEOUT, "upstream_timeout", message,
                    "no response %s after %d ms", a->got_head ? "body" : "head", t->first_byte_ms);
    } else {
        snprintf(message, sizeof message, "the upstream sent nothing for timeouts.idle_ms (%d ms)",
                 t->idle_ms);
        set_failure(a, 504, GW_FAIL_TIMEOUT, "upstream_timeout", message, "silent for %d ms",
                    t->idle_ms);
    }
    finish(a);
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

/* The channel's fixed headers, then the client headers the channel forwards, whole (their size
 * is already bounded by server.max_header_bytes), as one list curl and the own client both read:
 * the nodes and the forwarded lines in one block, the channel's lines not copied (they live as
 * long as the channel). The block is the attempt's header_room when it fits (a usual request
 * forwards a header or two), else one allocation. NULL with *oom 0 when no client header is
 * forwarded: the channel's list serves as it is. */
static struct curl_slist *forwarded_headers(gw_attempt *a, gw_req *r, const gw_channel *ch,
                                            int *oom) {
    _Static_assert(GW_HTTP_MAX_HEADERS <= 256, "a header's index fits a byte");
    uint8_t picked[GW_HTTP_MAX_HEADERS];
    size_t count =
        r->http->header_count < GW_HTTP_MAX_HEADERS ? r->http->header_count : GW_HTTP_MAX_HEADERS;
    size_t forwarded = 0, channel_lines = 0, text = 0;
    *oom = 0;
    for (size_t i = 0; i < count; i++) {
        const gw_http_header *h = &r->http->headers[i];
        if (gw_header_never_forwarded(h->name, h->name_len) || !forward_matches(ch, h)) continue;
        /* the engine's parent span is the gateway's: trace_node says so */
        if (h->name_len == 11 && !strncasecmp(h->name, "traceparent", 11)) continue;
        picked[forwarded++] = (uint8_t)i;
        text += h->name_len + 2 + h->value_len + 1;
    }
    if (!forwarded) return NULL;
    for (const struct curl_slist *h = ch->headers; h; h = h->next)
        channel_lines++;
    size_t nodes = channel_lines + forwarded, size = nodes * sizeof(struct curl_slist) + text;
    struct curl_slist *list =
        size <= sizeof a->header_room ? (struct curl_slist *)a->header_room : malloc(size);
    if (!list) {
        *oom = 1;
        return NULL;
    }
    struct curl_slist *node = list;
    for (const struct curl_slist *h = ch->headers; h; h = h->next, node++)
        *node = (struct curl_slist){.data = h->data, .next = node + 1};
    char *line = (char *)(list + nodes);
    for (size_t k = 0; k < forwarded; k++, node++) {
        const gw_http_header *h = &r->http->headers[picked[k]];
        *node = (struct curl_slist){.data = line, .next = node + 1};
        memcpy(line, h->name, h->name_len);
        memcpy(line + h->name_len, ": ", 2);
        memcpy(line + h->name_len + 2, h->value, h->value_len);
        line += h->name_len + 2 + h->value_len;
        *line++ = '\0';
    }
    node[-1].next = NULL;
    return list;
}

/* A start that fails before the transfer: the outcome goes to the sink at once. */
static gw_attempt *fail_start(gw_attempt *a, int status, const char *code, const char *message,
                              const char *detail) {
    end_in_flight(a);
    set_failure(a, status, GW_FAIL_LOCAL, code, message, "%s", detail);
    a->finished = 1;
    a->t_end = gw_now_ns();
    gw_attempt_log_failure(a);
    a->sink->done(a->r, a);
    return a;
}

/* The request on the own HTTP/1.1 client: the base URL's address and path are the endpoint's,
 * parsed once; the adapter's path follows (a->url holds the whole URL for the log). */
static gw_attempt *start_h1(gw_attempt *a, const gw_engine_call *call, size_t base_len) {
    gw_req *r = a->r;
    const gw_channel *ch = a->channel;
    gw_h1_idle *idle = gw_channel_pools_h1_begin(r->worker->pools, ch);
    if (!idle)
        return fail_start(a, 503, "out_of_memory", "the gateway is out of memory", "out of memory");
    a->h1_running = 1; /* counted in the pool: detach_transfer ends it */
    a->via_h1 = 1;
    a->h1_content_length = -1;
    a->h1_req = (gw_h1_request){.to = a->endpoint->h1,
                                .path = a->url + base_len,
                                .headers = &a->trace_node,
                                .body = call->body,
                                .body_len = call->body_len,
                                .connect_timeout_ms = ch->timeouts.connect_ms};
    a->total_deadline_ns = a->t_start + (int64_t)ch->timeouts.total_ms * 1000000;
    arm_first_timer(a);
    char detail[192];
    if (gw_h1_start(&a->h1, idle, &a->h1_req, &h1_handler, a, detail, sizeof detail) < 0) {
        /* no connection to be had: the endpoint's failure, as a refused connect is */
        a->transport_result = GW_H1_CONNECT_FAILED;
        set_transfer_failure(a, detail);
        finish(a); /* the outcome goes to the sink now, as a failed start's does */
    }
    return a;
}

static gw_attempt *start_curl(gw_attempt *a, const gw_engine_call *call) {
    gw_req *r = a->r;
    const gw_channel *ch = a->channel;
    CURL *e = gw_channel_pools_easy_get(r->worker->pools);
    if (!e)
        return fail_start(a, 503, "out_of_memory", "the gateway is out of memory", "out of memory");
    curl_easy_setopt(e, CURLOPT_URL, a->url);
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, call->body); /* not copied: r or a keeps it alive */
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)call->body_len);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, &a->trace_node);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, a);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, a);
    curl_easy_setopt(e, CURLOPT_PRIVATE, a);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, a->curl_error);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)ch->timeouts.connect_ms);
    long total_ms = ch->timeouts.total_ms;
    if (r->deadline_ns) { /* never past the request's deadline; the timer says which one hit */
        int64_t left_ms = (r->deadline_ns - a->t_start) / 1000000 + 1000;
        if (left_ms < total_ms) total_ms = left_ms > 1 ? (long)left_ms : 1;
    }
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, total_ms);
    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    arm_first_timer(a);
    CURLMcode mc = gw_channel_pools_add(r->worker->pools, ch, e);
    if (mc != CURLM_OK) {
        gw_channel_pools_easy_put(r->worker->pools, e);
        return fail_start(a, 503, "upstream_request_failed",
                          "the gateway could not start the upstream transfer",
                          curl_multi_strerror(mc));
    }
    a->easy = e;
    return a;
}

gw_attempt *gw_attempt_start(gw_req *r, const gw_target *target, gw_endpoint *endpoint,
                             const gw_attempt_sink *sink) {
    /* a block of ~7 KB misses glibc's tcache: the worker keeps ended attempts' blocks */
    gw_attempt *a = gw_block_cache_take(&r->worker->free_attempts, sizeof *a);
    if (!a) return NULL;
    memset(a, 0, offsetof(gw_attempt, url));
    evtimer_assign(&a->timer, r->worker->base, on_timer, a); /* first: free deletes it */
    a->fail_message[0] = a->fail_detail[0] = a->error_text[0] = a->curl_error[0] = '\0';
    a->h1_content_type[0] = a->url[0] = '\0';
    r->attempt = a; /* the request frees it, also when it ends inside this call */
    const gw_channel *ch = target->channel;
    a->r = r;
    a->channel = ch;
    a->target = target;
    a->endpoint = endpoint;
    a->in_flight = 1;
    atomic_fetch_add_explicit(&endpoint->in_flight, 1, memory_order_relaxed);
    /* DNS may drop the endpoint meanwhile: it lives until this attempt lets go */
    atomic_fetch_add_explicit(&endpoint->refs, 1, memory_order_relaxed);
    a->sink = sink;
    a->t_start = gw_now_ns();
    /* io.out, a whole answer's translation (or a stream's events on their way through the
     * chain), is made when one of those begins: most streams never need it */
    a->io.r = r; /* the rest is zeroed */
    a->io.target = target;
    r->usage = (gw_usage){0}; /* what this attempt's engine reports */
    gw_engine_call call = {0};
    const char *err = NULL;
    int status = 500;
    if (ch->engine->prepare(r, target, &call, &status, &err) < 0) {
        a->owned_body = call.owned_body;
        if (status == 400) return fail_start(a, 400, "unsupported_by_engine", err, err);
        return fail_start(a, status, "upstream_request_failed",
                          "the gateway could not build the upstream request", err);
    }
    a->owned_body = call.owned_body;
    size_t base_len = strlen(endpoint->base_url), path_len = strlen(call.path);
    while (base_len && endpoint->base_url[base_len - 1] == '/')
        base_len--;
    if (base_len + path_len >= sizeof a->url)
        return fail_start(a, 500, "upstream_request_failed",
                          "the gateway could not build the upstream request",
                          "the upstream URL is too long");
    memcpy(a->url, endpoint->base_url, base_len);
    memcpy(a->url + base_len, call.path, path_len + 1);
    int oom = 0;
    if (ch->forward_header_count && !(a->headers = forwarded_headers(a, r, ch, &oom)) && oom)
        return fail_start(a, 503, "out_of_memory", "the gateway is out of memory", "out of memory");
    if (gw_log_enabled(GW_LOG_DEBUG)) {
        char channel[256];
        gw_json_escape(channel, sizeof channel, ch->name, strlen(ch->name));
        gw_log(GW_LOG_DEBUG, "upstream_start",
               "\"request_id\":\"%s\",\"channel\":\"%s\",\"api\":%d,\"stream\":%s,"
               "\"body_bytes\":%zu,\"client\":\"%s\"",
               r->id, channel, (int)r->api, r->stream ? "true" : "false", call.body_len,
               endpoint->h1 && !ch->curl_only ? "own" : "curl");
    }
    memcpy(a->trace_line, "traceparent: ", 13); /* room: 16 + GW_TRACEPARENT_LEN */
    gw_trace_header_value(&r->trace, a->trace_line + 13);
    a->trace_node.data = a->trace_line;
    a->trace_node.next = a->headers ? a->headers : ch->headers;
    if (endpoint->h1 && !ch->curl_only) return start_h1(a, &call, base_len);
    return start_curl(a, &call);
}

void gw_attempt_cancel(gw_attempt *a, int status, const char *code, const char *message,
                       const char *detail) {
    if (!a || a->finished) return;
    a->finished = 1;
    a->t_end = gw_now_ns();
    disarm_timer(a);
    detach_transfer(a);
    end_in_flight(a);
    set_failure(a, status, GW_FAIL_LOCAL, code, message, "%s", detail);
    gw_attempt_log_failure(a);
}

void gw_attempt_free(gw_attempt *a) {
    if (!a) return;
    detach_transfer(a);
    end_in_flight(a);
    gw_endpoint_release(a->endpoint);
    if (a->timer_due_ns) event_del(&a->timer); /* mostly ended already: the del cost ~80 */
    if (a->answer) evbuffer_free(a->answer);
    if (a->mode == GW_RELAY_STREAM) gw_sse_free(&a->sse);
    if (a->io.state) {
        if (a->channel->engine->stream_free) a->channel->engine->stream_free(a->io.state);
        if (a->io.state != (void *)a->state_room) free(a->io.state);
    }
    if (a->io.out) evbuffer_free(a->io.out);
    gw_strbuf_free(&a->io.frames);
    body_release(a);
    if (a->headers != (struct curl_slist *)a->header_room) free(a->headers);
    free(a->owned_body);
    gw_block_cache_put(&a->r->worker->free_attempts, a, sizeof *a);
}
