/* Anthropic's stream: `event: NAME\ndata: {json}\n\n` frames, no [DONE]. message_start (the
 * usage known so far: the input and 1 output token), ping, then per block content_block_start,
 * its deltas (a text_delta per word; a tool_use's input as input_json_delta pieces) and
 * content_block_stop, then message_delta with the stop reason and the output total, and
 * message_stop. One step is one delta; a tool call's first piece also closes the text block and
 * opens the tool_use block. */
#include <stdio.h>
#include <string.h>

#include "sim/sim_internal.h"

static void event(struct evbuffer *out, const char *name) {
    evbuffer_add_printf(out, "event: %s\ndata: ", name);
}

static void begin(sim_stream *st, struct evbuffer *out) {
    const sim_generation *gen = &st->gen;
    event(out, "message_start");
    evbuffer_add_printf(out,
                        "{\"type\":\"message_start\",\"message\":{\"id\":\"%s\",\"type\":"
                        "\"message\",\"role\":\"assistant\",\"model\":\"%s\",\"content\":[],"
                        "\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":"
                        "%ld,\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":%ld,"
                        "\"output_tokens\":1}}}\n\n",
                        st->id, st->model_json, gen->prompt_tokens - gen->cached_tokens,
                        gen->cached_tokens);
    event(out, "ping");
    evbuffer_add_printf(out, "{\"type\":\"ping\"}\n\n");
}

static void block_stop(struct evbuffer *out, int index) {
    event(out, "content_block_stop");
    evbuffer_add_printf(out, "{\"type\":\"content_block_stop\",\"index\":%d}\n\n", index);
}

static int frame(sim_stream *st, struct evbuffer *out, int choice, int step, bool last) {
    (void)choice;
    (void)last;
    const sim_generation *gen = &st->gen;
    int text = gen->tokens;
    if (step < text) {
        if (step == 0) {
            event(out, "content_block_start");
            evbuffer_add_printf(out, "{\"type\":\"content_block_start\",\"index\":0,"
                                     "\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n");
        }
        event(out, "content_block_delta");
        evbuffer_add_printf(out,
                            "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":"
                            "\"text_delta\",\"text\":\"");
        sim_token_append(out, gen->script, step);
        evbuffer_add(out, "\"}}\n\n", 5);
        return 1;
    }
    const sim_tool_call *tool = gen->tool;
    int index = text > 0 ? 1 : 0;
    int piece = step - text;
    if (piece == 0) {
        if (text > 0) block_stop(out, 0);
        event(out, "content_block_start");
        evbuffer_add_printf(out,
                            "{\"type\":\"content_block_start\",\"index\":%d,\"content_block\":{"
                            "\"type\":\"tool_use\",\"id\":\"%s\",\"name\":",
                            index, tool->id);
        sim_json_add_string(out, tool->name, tool->name_len);
        evbuffer_add_printf(out, ",\"input\":{}}}\n\n");
    }
    size_t start, len;
    sim_tool_fragment(tool, piece, &start, &len);
    event(out, "content_block_delta");
    evbuffer_add_printf(out,
                        "{\"type\":\"content_block_delta\",\"index\":%d,\"delta\":{\"type\":"
                        "\"input_json_delta\",\"partial_json\":\"",
                        index);
    sim_json_add_escaped(out, tool->arguments + start, len);
    evbuffer_add(out, "\"}}\n\n", 5);
    return 1;
}

static void finish(sim_stream *st, struct evbuffer *out) {
    const sim_generation *gen = &st->gen;
    if (gen->tool != NULL)
        block_stop(out, gen->tokens > 0 ? 1 : 0);
    else if (gen->tokens > 0)
        block_stop(out, 0);
    event(out, "message_delta");
    evbuffer_add_printf(out,
                        "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"%s\","
                        "\"stop_sequence\":",
                        sim_anthropic_stop_reason(gen));
    if (gen->stop != NULL)
        sim_json_add_string(out, gen->stop, strlen(gen->stop));
    else
        evbuffer_add(out, "null", 4);
    evbuffer_add_printf(out, "},\"usage\":{\"output_tokens\":%ld}}\n\n",
                        sim_generation_completion(gen));
    event(out, "message_stop");
    evbuffer_add_printf(out, "{\"type\":\"message_stop\"}\n\n");
}

static void malformed(sim_stream *st, struct evbuffer *out) {
    (void)st;
    evbuffer_add_printf(out, "event: content_block_delta\ndata: {\"type\":broken\n\n");
}

static void mid_error(sim_stream *st, struct evbuffer *out) {
    (void)st;
    event(out, "error");
    evbuffer_add_printf(out, "{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\","
                             "\"message\":\"Overloaded\"}}\n\n");
}

static const sim_stream_format anthropic_format = {
    .content_type = "text/event-stream; charset=utf-8",
    .begin = begin,
    .frame = frame,
    .finish = finish,
    .malformed = malformed,
    .mid_error = mid_error,
};

void sim_anthropic_stream_start(sim_worker *w, struct evhttp_request *req, sim_generation *gen,
                                const sim_options *opt) {
    int steps = gen->tokens + (gen->tool ? gen->tool->fragments : 0);
    sim_stream *st = sim_stream_new(w, &anthropic_format, gen, opt, steps);
    if (st == NULL) {
        sim_reply_error(w, req, opt->error_shape, 500, NULL, "out of memory");
        return;
    }
    sim_make_id(w, "msg_", st->id, sizeof(st->id));
    sim_stream_run(st, req);
}
