/* Streaming answers (SSE) in vLLM's frame order: for chat a role chunk per choice, then one
 * chunk per token and choice, a finish chunk per choice, with include_usage a last chunk with
 * "choices":[] and the usage, and `data: [DONE]`.
 *
 * Timing and memory: step k (token k of every choice) is due first_token_ms + k *
 * inter_token_ms after the request, on the worker's timer; with no inter-token delay, steps are
 * written back to back in batches of about SIM_STREAM_BATCH bytes. Either way nothing more is
 * produced until evhttp reports the previous batch written (the drain callback), so a slow or
 * stalled reader holds at most one batch, however long the output.
 *
 * Faults: cut:N and reset:N stop after N token chunks, with a clean close or a TCP RST; stall
 * sends the head and then nothing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/bufferevent.h>

#include "sim/sim_internal.h"

enum {
    SIM_STREAM_BATCH = 64 * 1024,
    /* reset:N waits (1 ms a poll) for the N chunks to leave before the RST, which would discard
     * them; a reader that has taken none of them in this long is not what the fault tests. */
    SIM_RESET_WAIT_MS = 5000,
};

typedef enum { STEP_MORE, STEP_END, STEP_CUT } step_result;

typedef struct sim_stream {
    sim_inflight base;
    sim_generation gen;
    sim_options opt;
    char *prefix; /* `data: {"id":...,"model":...,"choices":[`, shared by every chunk */
    size_t prefix_len;
    int step;          /* the next token index */
    long token_chunks; /* token chunks written, for the cut and after-first-token faults */
    bool draining;     /* a batch is in evhttp's output; wait for it to be written */
    bool tick_due;     /* the next step's time has come */
    bool closing;      /* cut, reset:N: close once the last batch is written */
    int reset_waits;   /* reset:N: polls spent waiting for the chunks to be sent */
} sim_stream;

static const char done_frame[] = "data: [DONE]\n\n";
static const char broken_frame[] = "data: {\"id\":broken\n\n";
static const char mid_error_frame[] =
    "data: {\"error\":{\"message\":\"simulated engine failure\",\"type\":\"InternalServerError\","
    "\"param\":null,\"code\":500}}\n\n";

/* Ends a chunk opened with the prefix: closes the choices array and the object. */
static void close_chunk(const sim_stream *st, struct evbuffer *out) {
    static const char with_usage[] = "],\"usage\":null}\n\n";
    static const char plain[] = "]}\n\n";
    if (st->gen.include_usage)
        evbuffer_add(out, with_usage, sizeof(with_usage) - 1);
    else
        evbuffer_add(out, plain, sizeof(plain) - 1);
}

static void role_chunk(const sim_stream *st, struct evbuffer *out, int choice) {
    char buf[160];
    int n = snprintf(buf, sizeof(buf),
                     "{\"index\":%d,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},"
                     "\"logprobs\":null,\"finish_reason\":null}",
                     choice);
    evbuffer_add(out, st->prefix, st->prefix_len);
    evbuffer_add(out, buf, (size_t)n);
    close_chunk(st, out);
}

static void token_chunk(const sim_stream *st, struct evbuffer *out, int choice, int token) {
    size_t len;
    const char *text = sim_token_text(token, &len);
    char buf[192];
    int n = st->gen.api == SIM_API_CHAT
                ? snprintf(buf, sizeof(buf),
                           "{\"index\":%d,\"delta\":{\"content\":\"%s\"},\"logprobs\":null,"
                           "\"finish_reason\":null}",
                           choice, text)
                : snprintf(buf, sizeof(buf),
                           "{\"index\":%d,\"text\":\"%s\",\"logprobs\":null,"
                           "\"finish_reason\":null,\"stop_reason\":null}",
                           choice, text);
    evbuffer_add(out, st->prefix, st->prefix_len);
    evbuffer_add(out, buf, (size_t)n);
    close_chunk(st, out);
}

static void finish_chunk(const sim_stream *st, struct evbuffer *out, int choice) {
    const char *reason = st->gen.length_limited ? "length" : "stop";
    char buf[160];
    int n = st->gen.api == SIM_API_CHAT ? snprintf(buf, sizeof(buf),
                                                   "{\"index\":%d,\"delta\":{},\"logprobs\":null,"
                                                   "\"finish_reason\":\"%s\",\"stop_reason\":null}",
                                                   choice, reason)
                                        : snprintf(buf, sizeof(buf),
                                                   "{\"index\":%d,\"text\":\"\",\"logprobs\":null,"
                                                   "\"finish_reason\":\"%s\",\"stop_reason\":null}",
                                                   choice, reason);
    evbuffer_add(out, st->prefix, st->prefix_len);
    evbuffer_add(out, buf, (size_t)n);
    close_chunk(st, out);
}

static void usage_chunk(const sim_stream *st, struct evbuffer *out) {
    long completion = (long)st->gen.tokens * st->gen.choices;
    evbuffer_add(out, st->prefix, st->prefix_len);
    evbuffer_add_printf(out,
                        "],\"usage\":{\"prompt_tokens\":%ld,\"total_tokens\":%ld,"
                        "\"completion_tokens\":%ld}}\n\n",
                        st->gen.prompt_tokens, st->gen.prompt_tokens + completion, completion);
}

/* The faults that end the stream early after fault_arg token chunks. */
static bool stops_early(sim_fault fault) {
    return fault == SIM_FAULT_CUT || fault == SIM_FAULT_RESET_AFTER;
}

/* Writes the frames of the next step into out. */
static step_result write_step(sim_stream *st, struct evbuffer *out) {
    const sim_generation *gen = &st->gen;
    sim_fault fault = st->opt.fault;
    if (st->step == 0 && gen->api == SIM_API_CHAT)
        for (int c = 0; c < gen->choices; c++)
            role_chunk(st, out, c);
    if (stops_early(fault) && st->token_chunks >= st->opt.fault_arg) return STEP_CUT;
    for (int c = 0; c < gen->choices; c++) {
        token_chunk(st, out, c, st->step);
        st->token_chunks++;
        if (stops_early(fault) && st->token_chunks >= st->opt.fault_arg) return STEP_CUT;
        if (st->token_chunks == 1 && fault == SIM_FAULT_MALFORMED)
            evbuffer_add(out, broken_frame, sizeof(broken_frame) - 1);
        if (st->token_chunks == 1 && fault == SIM_FAULT_MID_ERROR) {
            evbuffer_add(out, mid_error_frame, sizeof(mid_error_frame) - 1);
            evbuffer_add(out, done_frame, sizeof(done_frame) - 1);
            return STEP_END;
        }
    }
    if (++st->step < gen->tokens) return STEP_MORE;
    /* A cut that asks for more chunks than there are still never finishes the stream. */
    if (stops_early(fault)) return STEP_CUT;
    for (int c = 0; c < gen->choices; c++)
        finish_chunk(st, out, c);
    if (gen->include_usage) usage_chunk(st, out);
    evbuffer_add(out, done_frame, sizeof(done_frame) - 1);
    return STEP_END;
}

static void stream_pump(sim_stream *st);

static void on_drained(struct evhttp_connection *conn, void *arg) {
    sim_stream *st = arg;
    st->draining = false;
    if (st->closing && st->opt.fault == SIM_FAULT_RESET_AFTER && st->opt.inter_token_ms > 0) {
        /* The engine dies generating the next token: the RST comes when that token is due.
         * The gap also lets a client read the chunks before the reset (libuv reports an RST
         * that arrives with unread data as a clean end). */
        sim_inflight_arm(&st->base, st->opt.inter_token_ms);
        return;
    }
    if (st->closing) {
        /* Not from inside evhttp's write callback: close on the next loop turn. */
        event_active(&st->base.timer, EV_TIMEOUT, 1);
        return;
    }
    stream_pump(st);
}

static void on_timer(sim_inflight *fl) {
    sim_stream *st = (sim_stream *)fl;
    if (st->closing && st->opt.fault == SIM_FAULT_RESET_AFTER) {
        if (sim_connection_unsent(fl->conn) > 0 && st->reset_waits++ < SIM_RESET_WAIT_MS) {
            sim_inflight_arm(fl, 1);
            return;
        }
        sim_inflight_reset(fl);
        return;
    }
    if (st->closing) {
        sim_inflight_close(fl);
        return;
    }
    st->tick_due = true;
    stream_pump(st);
}

static void stream_pump(sim_stream *st) {
    if (st->draining || !st->tick_due) return;
    sim_worker *w = st->base.worker;
    struct evhttp_request *req = st->base.req;
    if (evhttp_request_get_connection(req) == NULL) {
        /* evhttp detached the request from a failed connection without calling our close
         * callback (it always does call it; this is the belt to those braces). The connection
         * is gone: touch neither it nor the request's writes, just free. */
        sim_count(&w->stats.streams_cancelled, 1);
        sim_inflight_forget(&st->base);
        evhttp_request_free(req);
        return;
    }
    struct evbuffer *out = w->scratch;
    step_result result;
    do {
        result = write_step(st, out);
    } while (result == STEP_MORE && st->opt.inter_token_ms == 0 &&
             evbuffer_get_length(out) < SIM_STREAM_BATCH);

    if (result == STEP_END) {
        long completion = (long)st->gen.tokens * st->gen.choices;
        bool success = st->opt.fault == SIM_FAULT_NONE || st->opt.fault == SIM_FAULT_MALFORMED;
        int model = st->base.model;
        long prompt = st->gen.prompt_tokens;
        bool length = st->gen.length_limited;
        sim_inflight_end(&st->base);
        sim_count(&w->stats.streams_completed, 1);
        if (success) sim_stats_success(w, model, prompt, completion, length);
        evhttp_send_reply_chunk(req, out);
        evhttp_send_reply_end(req);
        return;
    }
    if (result == STEP_CUT) {
        st->closing = true;
    } else if (st->opt.inter_token_ms > 0) {
        st->tick_due = false;
        sim_inflight_arm(&st->base, st->opt.inter_token_ms);
    }
    if (evbuffer_get_length(out) == 0) {
        /* Only a cut before anything was written: nothing to wait for. */
        on_drained(evhttp_request_get_connection(req), st);
        return;
    }
    st->draining = true;
    evhttp_send_reply_chunk_with_cb(req, out, on_drained, st);
}

static void stream_destroy(sim_inflight *fl) {
    sim_stream *st = (sim_stream *)fl;
    free(st->prefix);
    free(st);
}

static const sim_inflight_ops stream_ops = {.on_timer = on_timer, .destroy = stream_destroy};

void sim_stream_start(sim_worker *w, struct evhttp_request *req, const sim_generation *gen,
                      const sim_options *opt) {
    sim_stream *st = calloc(1, sizeof(*st));
    char id[64];
    sim_make_id(w, gen->api == SIM_API_CHAT ? "chatcmpl-" : "cmpl-", id, sizeof(id));
    const char *object = gen->api == SIM_API_CHAT ? "chat.completion.chunk" : "text_completion";
    size_t cap = strlen(gen->model_json) + 160;
    char *prefix = st ? malloc(cap) : NULL;
    if (prefix == NULL) {
        free(st);
        sim_reply_error(w, req, opt->error_shape, 500, NULL, "out of memory");
        return;
    }
    int n = snprintf(prefix, cap,
                     "data: {\"id\":\"%s\",\"object\":\"%s\",\"created\":%ld,\"model\":\"%s\","
                     "\"choices\":[",
                     id, object, (long)time(NULL), gen->model_json);
    st->prefix = prefix;
    st->prefix_len = (size_t)n < cap ? (size_t)n : cap - 1;
    st->gen = *gen;
    st->gen.model_json = NULL; /* may point into the worker's echo buffer; the prefix has it */
    st->opt = *opt;

    struct evkeyvalq *headers = evhttp_request_get_output_headers(req);
    evhttp_add_header(headers, "Content-Type", "text/event-stream; charset=utf-8");
    evhttp_add_header(headers, "Cache-Control", "no-cache");
    evhttp_add_header(headers, "X-Accel-Buffering", "no");
    /* Headers now, as vLLM (Starlette) does; the first token after first_token_ms. Once
     * evhttp writes, it watches the socket itself, so no watch_client here. */
    sim_inflight_begin(&st->base, &stream_ops, w, req, gen->model, false);
    sim_count(&w->stats.streams_started, 1);
    evhttp_send_reply_start(req, 200, NULL);
    /* stall: the head and then silence, until the client leaves (or sim_stop). */
    if (opt->fault != SIM_FAULT_STALL) sim_inflight_arm(&st->base, opt->first_token_ms);
}
