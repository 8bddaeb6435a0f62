/* The last step of the chain: pick a channel, run an attempt there, and answer the client with
 * what it brings: the stream as it comes, or the whole answer, or the failure in OpenAI's
 * shape. The attempt never writes to the client; this filter does, so that the decision to
 * try another channel can be made here while nothing has been committed. */
#include <event2/buffer.h>
#include <string.h>

#include "core/clock.h"
#include "core/http_server.h"
#include "core/log.h"
#include "core/openai_error.h"
#include "filters/filter.h"
#include "filters/request.h"
#include "route/route.h"
#include "upstream/attempt.h"

static int sink_stream_begin(gw_req *r, gw_attempt *a);
static int sink_stream_data(gw_req *r, struct evbuffer *data);
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

static int sink_stream_begin(gw_req *r, gw_attempt *a) {
    (void)a;
    if (!r->http) return -1;
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
    return 0;
}

static int sink_stream_data(gw_req *r, struct evbuffer *data) {
    if (!r->http) return 0;
    if (gw_chain_response_chunk(r, data, 0) < 0) return -1;
    r->bytes_out += evbuffer_get_length(data);
    gw_http_stream_write(r->http, data);
    return 0;
}

static int sink_client_full(gw_req *r) {
    return r->http && gw_http_output_full(r->http);
}

/* After the first byte the status line is gone: a failure becomes an error event the client's
 * SDK raises, followed by [DONE], never a silent end. */
static void end_stream(gw_req *r, gw_attempt *a) {
    struct evbuffer *tail = evbuffer_new();
    if (tail && a->fail_status) {
        evbuffer_add(tail, "data: ", 6);
        gw_openai_error(tail, a->fail_message,
                        gw_openai_error_type_for(a->fail_status, a->fail_code), a->fail_code, NULL);
        evbuffer_add(tail, "\n\ndata: [DONE]\n\n", 16);
        r->error_code = a->fail_code;
    }
    if (tail) {
        if (evbuffer_get_length(tail)) sink_stream_data(r, tail);
        gw_chain_response_chunk(r, tail, 1);
        evbuffer_free(tail);
    }
    gw_http_req *http = r->http;
    r->http = NULL;
    http->on_abort = http->on_drain = NULL;
    gw_http_stream_end(http);
    gw_req_finish(r);
}

/* A whole answer: the engine's (translated, or its error normalized) with its status. */
static void respond_answer(gw_req *r, gw_attempt *a) {
    int status = a->status;
    if (status >= 300) {
        if (status < 400) status = 502; /* a redirect or an odd 1xx is no answer for a client */
        r->error_code = "upstream_error";
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
    gw_http_header h[] = {gw_req_id_header(r)};
    gw_http_req *http = r->http;
    r->http = NULL;
    http->on_abort = http->on_drain = NULL;
    gw_http_respond_buffer(http, status, "application/json", a->answer, h, 1);
    gw_req_finish(r);
}

static void sink_done(gw_req *r, gw_attempt *a) {
    if (!r->http) {
        gw_req_finish(r); /* the client left: nothing to answer */
    } else if (a->committed) {
        end_stream(r, a);
    } else if (a->fail_status) {
        gw_req_fail(r, a->fail_status, gw_openai_error_type_for(a->fail_status, a->fail_code),
                    a->fail_code, NULL, "%s", a->fail_message);
    } else {
        respond_answer(r, a);
    }
}

static gw_filter_rc proxy_request(gw_req *r) {
    r->channel = gw_route_pick(r);
    if (gw_log_enabled(GW_LOG_DEBUG)) {
        char channel[256] = "";
        if (r->channel)
            gw_json_escape(channel, sizeof channel, r->channel->name, strlen(r->channel->name));
        gw_log(GW_LOG_DEBUG, "route", "\"request_id\":\"%s\",\"model\":%.*s,\"channel\":\"%s\"",
               r->id, (int)r->model->name_json_len, r->model->name_json, channel);
    }
    if (!r->channel) {
        gw_req_fail(r, 503, "server_error", "no_channel", NULL,
                    "no channel is available for model `%s`", r->model->name);
        return GW_FILTER_RESPOND;
    }
    /* the attempt may end (and the request with it) inside this call: touch r no more */
    gw_attempt *a = gw_attempt_start(r, r->channel, &proxy_sink);
    if (!a) {
        gw_req_fail(r, 503, "server_error", "out_of_memory", NULL, "the gateway is out of memory");
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
    gw_attempt_free(r->attempt); /* a client that left mid-transfer cancels it here */
    r->attempt = NULL;
}

const gw_filter_ops gw_filter_proxy = {
    .name = "proxy",
    .on_request = proxy_request,
    .on_done = proxy_done,
    .on_shutdown = proxy_shutdown,
};
