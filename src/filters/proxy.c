/* The last step of the chain: pick a channel, run an attempt there, and answer the client with
 * what it brings: the stream as it comes, or the whole answer, or the failure in OpenAI's
 * shape. The attempt never writes to the client; this filter does, so that the decision to
 * try another channel can be made here while nothing has been committed. */
#include <event2/buffer.h>
#include <stdio.h>
#include <string.h>

#include "core/clock.h"
#include "core/config.h"
#include "core/http_server.h"
#include "core/log.h"
#include "core/request_json.h"
#include "core/strbuf.h"
#include "filters/filter.h"
#include "filters/meter.h"
#include "filters/request.h"
#include "meter/metering-t.h"
#include "core/worker-t.h"
#include "route/route.h"
#include "route/rules.h"
#include "upstream/attempt.h"

static int sink_stream_begin(gw_req *r, gw_attempt *a);
static int sink_stream_data(gw_req *r, const char *data, size_t len);
static int sink_client_full(gw_req *r);
static void sink_done(gw_req *r, gw_attempt *a);

static const gw_attempt_sink proxy_sink = {
    .stream_begin = sink_stream_begin,
    .stream_data = sink_stream_data,
    .client_full = sink_client_full,
    .done = sink_done,
};

static void on_client_drain(gw_http_req *http, void *ud) {
    gw_req *r = ud;
    (void)http;
    gw_attempt_resume(r->attempt);
}

static int events_need_buffer(const gw_req *r);

static int sink_stream_begin(gw_req *r, gw_attempt *a) {
    if (!r->http) return -1;
    a->events_via_out = events_need_buffer(r); /* once a stream: r->cfg stays */
    /* no cache or proxy buffering between the engine's tokens and the caller */
    gw_http_header h[2 + GW_REQ_HEADERS_MAX] = {
        {.name = "Cache-Control", .value = "no-cache", .name_len = 13, .value_len = 8},
        {.name = "X-Accel-Buffering", .value = "no", .name_len = 17, .value_len = 2},
    };
    size_t n = 2 + gw_req_headers(r, h + 2);
    r->status = 200;
    r->t_first_byte = gw_now_ns();
    r->http->on_drain = on_client_drain;
    gw_http_stream_begin(r->http, 200, "text/event-stream; charset=utf-8", h, n);
    return 0;
}

/* "host:port" of an endpoint's URL, for the request log. */
static void endpoint_host(const char *url, char *out, size_t cap) {
    const char *p = strstr(url, "://");
    p = p ? p + 3 : url;
    size_t n = strcspn(p, "/?#");
    if (n >= cap) n = cap - 1;
    memcpy(out, p, n);
    out[n] = '\0';
}

/* The request log's entry for an attempt that ended (once each, also when the client left). */
static void log_attempt(gw_req *r, const gw_attempt *a) {
    if (r->attempts_logged >= r->attempt_count || r->attempts_logged >= GW_MAX_ATTEMPTS) return;
    gw_req_attempt *l = &r->attempts[r->attempts_logged++];
    l->target = a->target;
    endpoint_host(a->endpoint->base_url, l->endpoint, sizeof l->endpoint);
    l->status = a->status;
    l->fail_code = a->fail_status || a->fail_kind == GW_FAIL_STATUS
                       ? (a->fail_code ? a->fail_code : "upstream_error")
                       : NULL;
    l->t_start = a->t_start;
    l->t_head = a->t_head;
    l->t_end = a->t_end ? a->t_end : gw_now_ns();
}

/* Whether a stream's events must pass through an evbuffer: the meter captures them, or a filter
 * of the chain reads or rewrites response chunks. Neither is the usual case, where the frames go
 * from the attempt's flat buffer to the socket without a copy. Decided once a stream (the loop cost
 * ~55 instructions an event). */
static int events_need_buffer(const gw_req *r) {
    if (gw_meter_captures_streams(r)) return 1;
    for (size_t i = 0; i < r->cfg->chain_len; i++)
        if (r->cfg->chain[i].ops->on_response_chunk) return 1;
    return 0;
}

/* sent at once, but for the stream's last bytes: queued for the loop turn's end, they leave in
 * one write with the chunked terminator end_stream adds next */
static int last_bytes(const gw_req *r) {
    return r->attempt && r->attempt->stream_done;
}

/* The events through the attempt's (otherwise idle) evbuffer, for the capture and the chain. */
static int send_buffered(gw_req *r, const char *data, size_t len) {
    struct evbuffer *chunk = r->attempt ? r->attempt->io.out : NULL;
    if (!chunk || evbuffer_add(chunk, data, len) < 0) return -1;
    gw_meter_capture_response(r, chunk, 0);
    if (gw_chain_response_chunk(r, chunk, 0) < 0) {
        evbuffer_drain(chunk, evbuffer_get_length(chunk));
        return -1;
    }
    r->bytes_out += evbuffer_get_length(chunk);
    if (last_bytes(r))
        gw_http_stream_write(r->http, chunk);
    else
        gw_http_stream_send(r->http, chunk);
    evbuffer_drain(chunk, evbuffer_get_length(chunk)); /* moved out already; never kept */
    return 0;
}

static int sink_stream_data(gw_req *r, const char *data, size_t len) {
    if (!r->http || !len) return 0;
    int64_t now = gw_now_ns(); /* the pause the caller saw between two events */
    if (r->stream_events) {
        int64_t gap = now - r->t_last_event;
        if (gap > r->max_gap_ns) r->max_gap_ns = gap;
        gw_meter_observe_gap(r, gap);
    }
    r->t_last_event = now;
    r->stream_events++;
    if (r->attempt && r->attempt->events_via_out) return send_buffered(r, data, len);
    r->bytes_out += len;
    if (last_bytes(r))
        gw_http_stream_write_bytes(r->http, data, len);
    else
        gw_http_stream_send_bytes(r->http, data, len);
    return 0;
}

static int sink_client_full(gw_req *r) {
    return r->http && gw_http_output_full(r->http);
}

/* After the first byte the status line is gone: a failure becomes an error event the client's
 * SDK raises, followed by [DONE], never a silent end. */
static void end_stream(gw_req *r, gw_attempt *a) {
    gw_strbuf *tail = &a->io.frames; /* the attempt's own: what a failure left is dropped */
    gw_strbuf_reset(tail);
    if (a->fail_status) {
        r->protocol->stream_error(r, &a->error, tail);
        r->error_code = a->fail_code;
        if (!tail->failed) sink_stream_data(r, tail->data, tail->len);
        gw_strbuf_reset(tail);
    }
    struct evbuffer *eos = a->io.out; /* empty: the chain's end of the stream carries no bytes */
    if (eos) {
        evbuffer_drain(eos, evbuffer_get_length(eos));
        gw_chain_response_chunk(r, eos, 1);
    }
    gw_http_req *http = r->http;
    r->http = NULL;
    http->on_abort = http->on_drain = NULL;
    gw_http_stream_end(http);
    gw_req_finish(r);
}

/* A whole answer: the engine's, translated, or its error normalized, in the caller's dialect. */
static void respond_answer(gw_req *r, gw_attempt *a) {
    int status = a->status;
    if (a->fail_kind == GW_FAIL_STATUS) {
        status = a->error.status;
        if (status < 400) status = 502; /* a redirect or an odd 1xx is no answer for a client */
        r->error_code = "upstream_error";
        if (!a->answer && !(a->answer = evbuffer_new())) {
            gw_req_fail(r, 503, "server_error", "out_of_memory", NULL,
                        "the gateway is out of memory");
            return;
        }
        r->protocol->error_body(r, &a->error, a->answer);
    } else {
        r->error_code = NULL;
    }
    if (gw_chain_response_chunk(r, a->answer, 1) < 0) {
        gw_req_fail(r, 502, "server_error", "response_filter", NULL,
                    "a response filter rejected the response (request id %s)", r->id);
        return;
    }
    r->status = status;
    r->t_first_byte = r->t_first_byte ? r->t_first_byte : gw_now_ns();
    r->bytes_out = evbuffer_get_length(a->answer);
    gw_meter_capture_response(r, a->answer, 1);
    gw_http_header h[GW_REQ_HEADERS_MAX];
    size_t n = gw_req_headers(r, h);
    gw_http_req *http = r->http;
    r->http = NULL;
    http->on_abort = http->on_drain = NULL;
    gw_http_respond_buffer(http, status, "application/json", a->answer, h, n);
    gw_req_finish(r);
}

/* Whether the failure of an attempt may be tried again elsewhere: only while nothing reached
 * the client, within the model's attempts and deadline, and for the causes it lists. A 4xx other
 * than 429 is the caller's doing: another channel would say the same. */
static int may_fail_over(const gw_req *r, const gw_attempt *a) {
    const gw_failover *f = &r->model->failover;
    if (a->committed || !r->http || r->attempt_count >= (size_t)f->attempts ||
        r->attempt_count >= GW_MAX_ATTEMPTS)
        return 0;
    if (r->deadline_ns && gw_now_ns() >= r->deadline_ns) return 0;
    switch (a->fail_kind) {
    case GW_FAIL_CONNECT:
    case GW_FAIL_BROKEN:
        return (f->on & GW_FAILOVER_ON_CONNECT) != 0;
    case GW_FAIL_TIMEOUT:
        return !a->deadline_armed && (f->on & GW_FAILOVER_ON_TIMEOUT);
    case GW_FAIL_STATUS: /* the engine's status, or the one its error event stands for */
        if (a->error.status == 429) return (f->on & GW_FAILOVER_ON_429) != 0;
        return a->error.status >= 500 && (f->on & GW_FAILOVER_ON_5XX);
    default:
        return 0;
    }
}

/* x-aigw-attempts: the count, at most GW_MAX_ATTEMPTS, in decimal */
static void attempts_text(gw_req *r) {
    _Static_assert(GW_MAX_ATTEMPTS < 100, "two digits");
    char *t = r->attempts_text;
    size_t n = r->attempt_count;
    if (n >= 10) *t++ = (char)('0' + n / 10);
    *t++ = (char)('0' + n % 10);
    *t = '\0';
}

/* Starts the request's next attempt on a channel and endpoint it has not tried; -1 when there
 * is none. The attempt may end inside this call (and fail over again, bounded by attempts). */
static int start_next_attempt(gw_req *r) {
    gw_route_choice choice;
    if (gw_route_next(r->group, r->tried, r->attempt_count, gw_now_ns(), &choice) < 0) return -1;
    gw_attempt_free(r->attempt); /* the one that failed: its outcome was used */
    r->attempt = NULL;
    r->target = choice.target;
    r->channel = choice.target->channel;
    r->tried[r->attempt_count++] = choice.endpoint;
    attempts_text(r); /* by hand: snprintf cost ~650 instructions a request */
    if (gw_log_enabled(GW_LOG_DEBUG)) {
        char channel[256], url[512];
        gw_json_escape(channel, sizeof channel, r->channel->name, strlen(r->channel->name));
        gw_json_escape(url, sizeof url, choice.endpoint->base_url,
                       strlen(choice.endpoint->base_url));
        gw_log(GW_LOG_DEBUG, "route",
               "\"request_id\":\"%s\",\"model\":%.*s,\"channel\":\"%s\",\"endpoint\":\"%s\","
               "\"tier\":%d,\"attempt\":%zu",
               r->id, (int)r->model->name_json_len, r->model->name_json, channel, url,
               choice.target->tier, r->attempt_count);
    }
    if (!gw_attempt_start(r, choice.target, choice.endpoint, &proxy_sink)) {
        const gw_channel *ch = choice.target->channel; /* the place route took goes back */
        if (ch->source) atomic_fetch_sub_explicit(&ch->source->in_flight, 1, memory_order_relaxed);
        gw_req_fail(r, 503, "server_error", "out_of_memory", NULL, "the gateway is out of memory");
    }
    return 0;
}

static void sink_done(gw_req *r, gw_attempt *a) {
    log_attempt(r, a);
    if (!r->http) {
        gw_req_finish(r); /* the client left: nothing to answer */
    } else if (a->committed) {
        end_stream(r, a);
    } else if ((a->fail_status || a->fail_kind == GW_FAIL_STATUS) && may_fail_over(r, a) &&
               start_next_attempt(r) == 0) {
        return; /* the next attempt answers */
    } else if (a->fail_status) {
        gw_req_fail_with(r, &a->error);
    } else {
        respond_answer(r, a);
    }
}

static const char *header_of(void *ud, const char *name, size_t *len) {
    const gw_http_header *h = gw_http_find_header(ud, name);
    if (!h) return NULL;
    *len = h->value_len;
    return h->value;
}

/* The model's rules in order: the first that holds picks its targets, else the model's own. */
static void choose_group(gw_req *r) {
    const gw_model *m = r->model;
    r->group = &m->targets;
    r->rule = -1;
    if (!m->rule_count) return;
    gw_rule_input in = {.header = header_of,
                        .header_ud = r->http,
                        .body = gw_req_json(r),
                        .api_is_chat = r->api == GW_API_CHAT};
    int rule = gw_rules_first_match(m->rules, &in, r->worker->rules_scratch);
    if (in.regex_errors)
        gw_log_warn("rule_regex_limit", "\"request_id\":\"%s\",\"cut_short\":%u", r->id,
                    in.regex_errors);
    if (rule < 0) return;
    r->rule = rule;
    r->group = &m->rule_groups[gw_rules_targets_index(m->rules, (size_t)rule)];
    gw_log_debug("rule_matched", "\"request_id\":\"%s\",\"rule\":%d,\"prompt_tokens\":%zu", r->id,
                 rule, in.prompt_tokens_known ? in.prompt_tokens : 0);
}

static gw_filter_rc proxy_request(gw_req *r) {
    choose_group(r);
    gw_meter_capture_request(r); /* the body as it goes upstream: after the guards */
    if (r->model->failover.deadline_ms)
        r->deadline_ns = r->t_start + (int64_t)r->model->failover.deadline_ms * 1000000;
    /* the attempt may end (and the request with it) inside this call: touch r no more */
    if (start_next_attempt(r) < 0) {
        int full = 0;
        for (size_t i = 0; i < r->group->count && !full; i++)
            full = gw_channel_full(r->group->targets[i].channel);
        if (full)
            gw_req_fail(r, 503, "server_error", "channel_saturated", NULL,
                        "every channel of model `%s` has as many requests in flight as it "
                        "allows; retry shortly (request id %s)",
                        r->model->name, r->id);
        else
            gw_req_fail(r, 503, "server_error", "no_channel", NULL,
                        "no channel is available for model `%s` (request id %s)", r->model->name,
                        r->id);
        return GW_FILTER_RESPOND;
    }
    return GW_FILTER_PAUSE;
}

/* Registered before the attempt starts, so a request that ends inside gw_attempt_start still
 * frees it: see proxy_done. */
static int proxy_shutdown(gw_req *r) {
    gw_attempt *a = r->attempt;
    if (!a || a->finished) return 0;
    gw_attempt_cancel(a, 503, "server_shutdown", "the gateway is shutting down; retry the request",
                      "cut at the drain deadline");
    sink_done(r, a);
    return 1;
}

static void proxy_done(gw_req *r) {
    if (r->attempt) log_attempt(r, r->attempt); /* the client left mid-transfer */
    gw_attempt_free(r->attempt); /* a client that left mid-transfer cancels it here */
    r->attempt = NULL;
}

const gw_filter_ops gw_filter_proxy = {
    .name = "proxy",
    .on_request = proxy_request,
    .on_done = proxy_done,
    .on_shutdown = proxy_shutdown,
};
