/* OpenAI-style stream chunks, in vLLM's order: for chat a role chunk per choice, one chunk per
 * step and choice (a token; or a tool call's header, then its argument pieces), a finish chunk
 * per choice, with include_usage a last chunk with "choices":[] and the usage (every chunk
 * before it carrying "usage":null), and `data: [DONE]`. The variants an adapter must survive:
 * - MindIE repeats delta.role in every chunk, ignores stream_options, and puts finish_reason
 *   and the usage in the chunk of the last token; a failed generation ends as "stop";
 * - TGI writes `data:` with no space, also before [DONE], and fails with a TGI error event;
 * - SGLang's mid-stream error is its flat error wrapped in "error". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sim/sim_internal.h"

static const char done_frame[] = "data: [DONE]\n\n";
static const char tgi_done_frame[] = "data:[DONE]\n\n";

static bool is_mindie(const sim_stream *st) {
    return sim_stream_engine(st) == SIM_ENGINE_MINDIE;
}

static bool is_tgi(const sim_stream *st) {
    return sim_stream_engine(st) == SIM_ENGINE_TGI;
}

static const char *finish_reason(const sim_generation *gen) {
    return gen->tool ? "tool_calls" : gen->length_limited ? "length" : "stop";
}

/* Ends a chunk opened with the prefix: closes the choices array and the object. */
static void close_chunk(const sim_stream *st, struct evbuffer *out) {
    static const char with_usage[] = "],\"usage\":null}\n\n";
    static const char plain[] = "]}\n\n";
    if (st->gen.include_usage)
        evbuffer_add(out, with_usage, sizeof(with_usage) - 1);
    else
        evbuffer_add(out, plain, sizeof(plain) - 1);
}

static void close_with_usage(const sim_stream *st, struct evbuffer *out, long completion) {
    evbuffer_add(out, "],\"usage\":", 10);
    sim_completion_usage(st->base.worker->server, out, st->gen.prompt_tokens, completion, false);
    evbuffer_add(out, "}\n\n", 3);
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

static void begin(sim_stream *st, struct evbuffer *out) {
    if (st->gen.api != SIM_API_CHAT) return;
    for (int c = 0; c < st->gen.choices; c++)
        role_chunk(st, out, c);
}

/* A tool call's delta for step `step` (after its opening brace): the header, then a piece of
 * the arguments; returns its completion tokens. */
static int tool_delta(sim_stream *st, struct evbuffer *out, int step) {
    const sim_tool_call *tool = st->gen.tool;
    if (is_mindie(st)) evbuffer_add_printf(out, "\"role\":\"assistant\",");
    if (step == 0) {
        evbuffer_add_printf(out,
                            "\"tool_calls\":[{\"index\":0,\"id\":\"%s\",\"type\":\"function\","
                            "\"function\":{\"name\":",
                            tool->id);
        sim_json_add_string(out, tool->name, tool->name_len);
        evbuffer_add_printf(out, ",\"arguments\":\"\"}}]");
        return 0;
    }
    size_t start, len;
    sim_tool_fragment(tool, step - 1, &start, &len);
    evbuffer_add_printf(out, "\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"");
    sim_json_add_escaped(out, tool->arguments + start, len);
    evbuffer_add(out, "\"}}]", 4);
    return 1;
}

static int frame(sim_stream *st, struct evbuffer *out, int choice, int step, bool last) {
    const sim_generation *gen = &st->gen;
    char finish[24] = "null";
    if (last) snprintf(finish, sizeof(finish), "\"%s\"", finish_reason(gen));
    evbuffer_add(out, st->prefix, st->prefix_len);
    int tokens = 1, reasoning = sim_reasoning_tokens(gen);
    bool thinking = step < reasoning; /* scripted reasoning comes first */
    if (!thinking) step -= reasoning;
    if (thinking) {
        tokens = sim_reasoning_frame(gen, out, choice, step,
                                     is_mindie(st) ? "\"role\":\"assistant\"," : "", finish);
    } else if (gen->tool != NULL) {
        evbuffer_add_printf(out, "{\"index\":%d,\"delta\":{", choice);
        tokens = tool_delta(st, out, step);
        evbuffer_add_printf(out, "},\"logprobs\":null,\"finish_reason\":%s}", finish);
    } else if (gen->script != NULL) {
        /* A scripted piece may need escaping, so it is written apart. */
        if (gen->api == SIM_API_CHAT)
            evbuffer_add_printf(out, "{\"index\":%d,\"delta\":{%s\"content\":\"", choice,
                                is_mindie(st) ? "\"role\":\"assistant\"," : "");
        else
            evbuffer_add_printf(out, "{\"index\":%d,\"text\":\"", choice);
        sim_token_append(out, gen->script, step);
        evbuffer_add_printf(out,
                            gen->api == SIM_API_CHAT
                                ? "\"},\"logprobs\":null,\"finish_reason\":%s}"
                                : "\",\"logprobs\":null,\"finish_reason\":%s,\"stop_reason\":null}",
                            finish);
    } else {
        /* One snprintf per token: this is the benchmark's hot path (the words need no escaping). */
        size_t len;
        const char *text = sim_token_text(NULL, step, &len);
        char buf[256];
        int n = gen->api == SIM_API_CHAT
                    ? snprintf(buf, sizeof(buf),
                               "{\"index\":%d,\"delta\":{%s\"content\":\"%s\"},\"logprobs\":null,"
                               "\"finish_reason\":%s}",
                               choice, is_mindie(st) ? "\"role\":\"assistant\"," : "", text, finish)
                    : snprintf(buf, sizeof(buf),
                               "{\"index\":%d,\"text\":\"%s\",\"logprobs\":null,"
                               "\"finish_reason\":%s,\"stop_reason\":null}",
                               choice, text, finish);
        evbuffer_add(out, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
    }
    /* MindIE: the usage rides in the chunk that finishes (the last choice's). */
    if (last && choice == gen->choices - 1)
        close_with_usage(st, out, sim_generation_completion(gen));
    else
        close_chunk(st, out);
    return tokens;
}

static void finish_chunk(const sim_stream *st, struct evbuffer *out, int choice) {
    const char *reason = finish_reason(&st->gen);
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

static void add_done(const sim_stream *st, struct evbuffer *out) {
    if (is_tgi(st))
        evbuffer_add(out, tgi_done_frame, sizeof(tgi_done_frame) - 1);
    else
        evbuffer_add(out, done_frame, sizeof(done_frame) - 1);
}

static void finish(sim_stream *st, struct evbuffer *out) {
    for (int c = 0; c < st->gen.choices; c++)
        finish_chunk(st, out, c);
    if (st->gen.include_usage) {
        evbuffer_add(out, st->prefix, st->prefix_len);
        close_with_usage(st, out, sim_generation_completion(&st->gen));
    }
    add_done(st, out);
}

static void mindie_finish(sim_stream *st, struct evbuffer *out) {
    add_done(st, out);
}

static void malformed(sim_stream *st, struct evbuffer *out) {
    if (is_tgi(st))
        evbuffer_add_printf(out, "data:{\"id\":broken\n\n");
    else
        evbuffer_add_printf(out, "data: {\"id\":broken\n\n");
}

static void mid_error(sim_stream *st, struct evbuffer *out) {
    switch (sim_stream_engine(st)) {
    case SIM_ENGINE_TGI:
        evbuffer_add_printf(
            out, "data:{\"error\":\"simulated engine failure\",\"error_type\":\"generation\"}\n\n");
        return; /* TGI ends a failed stream without [DONE] */
    case SIM_ENGINE_SGLANG:
        evbuffer_add_printf(out, "data: {\"error\":{\"object\":\"error\",\"message\":\"simulated "
                                 "engine failure\",\"type\":\"InternalServerError\","
                                 "\"param\":null,\"code\":500}}\n\n");
        break;
    default:
        evbuffer_add_printf(out, "data: {\"error\":{\"message\":\"simulated engine failure\","
                                 "\"type\":\"InternalServerError\",\"param\":null,"
                                 "\"code\":500}}\n\n");
        break;
    }
    add_done(st, out);
}

/* MindIE reports an engine failure as an ordinary "stop" with what it produced, and the stream
 * just ends: the failure is invisible, which is what an adapter must live with. */
static void mindie_mid_error(sim_stream *st, struct evbuffer *out) {
    evbuffer_add(out, st->prefix, st->prefix_len);
    if (st->gen.api == SIM_API_CHAT)
        evbuffer_add_printf(out, "{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},"
                                 "\"logprobs\":null,\"finish_reason\":\"stop\"}");
    else
        evbuffer_add_printf(out, "{\"index\":0,\"text\":\"\",\"logprobs\":null,"
                                 "\"finish_reason\":\"stop\",\"stop_reason\":null}");
    close_with_usage(st, out, st->produced);
}

static const sim_stream_format vllm_format = {
    .content_type = "text/event-stream; charset=utf-8",
    .begin = begin,
    .frame = frame,
    .finish = finish,
    .malformed = malformed,
    .mid_error = mid_error,
};

static const sim_stream_format tgi_format = {
    .content_type = "text/event-stream",
    .begin = begin,
    .frame = frame,
    .finish = finish,
    .malformed = malformed,
    .mid_error = mid_error,
};

static const sim_stream_format mindie_format = {
    .content_type = "text/event-stream; charset=utf-8",
    .finish_in_last = true,
    .frame = frame,
    .finish = mindie_finish,
    .malformed = malformed,
    .mid_error = mindie_mid_error,
};

void sim_openai_stream_start(sim_worker *w, struct evhttp_request *req, sim_generation *gen,
                             const sim_options *opt) {
    sim_engine engine = w->server->engine;
    const sim_stream_format *fmt = engine == SIM_ENGINE_MINDIE ? &mindie_format
                                   : engine == SIM_ENGINE_TGI  ? &tgi_format
                                                               : &vllm_format;
    int steps = sim_reasoning_tokens(gen) + (gen->tool ? 1 + gen->tool->fragments : gen->tokens);
    sim_stream *st = sim_stream_new(w, fmt, gen, opt, steps);
    char id[64];
    sim_make_id(w, gen->api == SIM_API_CHAT ? "chatcmpl-" : "cmpl-", id, sizeof(id));
    const char *object = gen->api == SIM_API_CHAT ? "chat.completion.chunk" : "text_completion";
    size_t cap = (st ? strlen(st->model_json) : 0) + 160;
    char *prefix = st ? malloc(cap) : NULL;
    if (prefix == NULL) {
        sim_stream_discard(st);
        sim_reply_error(w, req, opt->error_shape, 500, NULL, "out of memory");
        return;
    }
    int n = snprintf(prefix, cap,
                     "%s{\"id\":\"%s\",\"object\":\"%s\",\"created\":%ld,\"model\":\"%s\","
                     "\"choices\":[",
                     engine == SIM_ENGINE_TGI ? "data:" : "data: ", id, object, (long)time(NULL),
                     st->model_json);
    st->prefix = prefix;
    st->prefix_len = (size_t)n < cap ? (size_t)n : cap - 1;
    sim_stream_run(st, req);
}
