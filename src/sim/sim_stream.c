/* Streaming answers: the pacing and the faults every engine's stream shares; the frames are the
 * format's (sim_stream_format: OpenAI chunks, Anthropic events, TGI and SGLang events, MindIE's
 * NUL-ended objects). A stream is `begin`, then `steps` steps of one frame per choice, then
 * `finish`.
 *
 * Timing and memory: step k is due first_token_ms + k * inter_token_ms after the request, on the
 * worker's timer; with no inter-token delay, steps are written back to back in batches of about
 * SIM_STREAM_BATCH bytes. Either way nothing more is produced until evhttp reports the previous
 * batch written (the drain callback), so a slow or stalled reader holds at most one batch,
 * however long the output.
 *
 * Faults: cut:N and reset:N stop after N step frames, with a clean close or a TCP RST; stall
 * sends the head and then nothing; malformed adds a broken frame after the first step frame and
 * mid-error the engine's failure after it, and ends. */
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

/* The faults that end the stream early after fault_arg step frames. */
static bool stops_early(sim_fault fault) {
    return fault == SIM_FAULT_CUT || fault == SIM_FAULT_RESET_AFTER;
}

/* Writes the frames of the next step into out. */
static step_result write_step(sim_stream *st, struct evbuffer *out) {
    const sim_stream_format *fmt = st->fmt;
    sim_fault fault = st->opt.fault;
    if (st->step == 0 && fmt->begin != NULL) fmt->begin(st, out);
    if (stops_early(fault) && st->token_chunks >= st->opt.fault_arg) return STEP_CUT;
    if (st->step < st->steps) {
        /* A stream that stops early or fails must not look finished. */
        bool last = fmt->finish_in_last && st->step == st->steps - 1 && !stops_early(fault) &&
                    fault != SIM_FAULT_MID_ERROR;
        for (int c = 0; c < st->gen.choices; c++) {
            st->produced += fmt->frame(st, out, c, st->step, last);
            st->token_chunks++;
            if (stops_early(fault) && st->token_chunks >= st->opt.fault_arg) return STEP_CUT;
            if (st->token_chunks == 1 && fault == SIM_FAULT_MALFORMED) fmt->malformed(st, out);
            if (st->token_chunks == 1 && fault == SIM_FAULT_MID_ERROR) {
                fmt->mid_error(st, out);
                return STEP_END;
            }
        }
        if (++st->step < st->steps) return STEP_MORE;
    }
    /* A cut that asks for more chunks than there are still never finishes the stream. */
    if (stops_early(fault)) return STEP_CUT;
    if (fmt->finish != NULL) fmt->finish(st, out);
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
        long completion = sim_generation_completion(&st->gen);
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
    sim_generation_release(&st->gen);
    free(st->model_json);
    free(st->prefix);
    free(st);
}

static const sim_inflight_ops stream_ops = {.on_timer = on_timer, .destroy = stream_destroy};

sim_stream *sim_stream_new(sim_worker *w, const sim_stream_format *fmt, sim_generation *gen,
                           const sim_options *opt, int steps) {
    sim_stream *st = calloc(1, sizeof(*st));
    /* The echoed model may live in the worker's echo buffer, which the next request reuses. */
    char *model_json = st ? strdup(gen->model_json ? gen->model_json : "") : NULL;
    if (model_json == NULL) {
        free(st);
        return NULL;
    }
    st->fmt = fmt;
    st->model_json = model_json;
    st->gen = *gen;
    st->gen.model_json = model_json;
    gen->tool = NULL;
    gen->stop = NULL;
    gen->script = NULL;
    gen->reasoning = NULL;
    st->opt = *opt;
    st->steps = steps;
    st->base.worker = w;
    return st;
}

void sim_stream_discard(sim_stream *st) {
    if (st != NULL) stream_destroy(&st->base);
}

void sim_stream_run(sim_stream *st, struct evhttp_request *req) {
    sim_worker *w = st->base.worker;
    struct evkeyvalq *headers = evhttp_request_get_output_headers(req);
    evhttp_add_header(headers, "Content-Type", st->fmt->content_type);
    evhttp_add_header(headers, "Cache-Control", "no-cache");
    evhttp_add_header(headers, "X-Accel-Buffering", "no");
    /* Headers now, as vLLM (Starlette) does; the first token after first_token_ms. Once
     * evhttp writes, it watches the socket itself, so no watch_client here. */
    sim_inflight_begin(&st->base, &stream_ops, w, req, st->gen.model, false);
    sim_count(&w->stats.streams_started, 1);
    evhttp_send_reply_start(req, 200, NULL);
    /* stall: the head and then silence, until the client leaves (or sim_stop). */
    if (st->opt.fault != SIM_FAULT_STALL) sim_inflight_arm(&st->base, st->opt.first_token_ms);
}
