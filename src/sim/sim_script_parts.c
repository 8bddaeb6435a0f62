/* The parts of a chat answer a test scripts besides its text (x-sim-text, sim_text.c), so a
 * gateway test can make the "model" think and call tools with exactly the bytes it needs:
 * - x-sim-reasoning: TEXT, reasoning said before the answer: streamed first, as
 *   delta.reasoning_content pieces (a word each, or x-sim-chunk-bytes bytes), and in a whole
 *   answer as message.reasoning_content;
 * - x-sim-tool-args: JSON, the arguments of the tool call (when the request gets one) in place
 *   of the schema's placeholders, streamed in x-sim-chunk-bytes pieces when that is given.
 * Both are encoded as x-sim-text is (x-sim-text-encoding: percent); OpenAI-style modes, chat. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/sim_internal.h"

bool sim_script_parts_from_headers(struct evhttp_request *req, sim_options *opt,
                                   sim_problem *problem) {
    struct evkeyvalq *headers = evhttp_request_get_input_headers(req);
    int tokens;
    opt->reasoning = evhttp_find_header(headers, "x-sim-reasoning");
    opt->tool_args = evhttp_find_header(headers, "x-sim-tool-args");
    if (opt->reasoning != NULL &&
        !sim_script_check("x-sim-reasoning", opt->reasoning, opt->text_percent, opt->chunk_bytes,
                          &tokens, problem))
        return false;
    return opt->tool_args == NULL || sim_script_check("x-sim-tool-args", opt->tool_args,
                                                      opt->text_percent, 0, &tokens, problem);
}

static bool out_of_memory(sim_problem *problem) {
    sim_problem_set(problem, 500, NULL, "out of memory");
    return false;
}

bool sim_script_parts_apply(sim_generation *gen, const sim_options *opt, sim_problem *problem) {
    if (gen->api != SIM_API_CHAT) return true;
    if (opt->reasoning != NULL && gen->reasoning == NULL) {
        gen->reasoning = sim_script_new(opt->reasoning, opt->text_percent, opt->chunk_bytes);
        if (gen->reasoning == NULL) return out_of_memory(problem);
    }
    if (opt->tool_args != NULL && gen->tool != NULL) {
        sim_script *decoded = sim_script_new(opt->tool_args, opt->text_percent, 0);
        size_t len = 0;
        const char *text = decoded != NULL ? sim_script_text(decoded, &len) : NULL;
        char *copy = text != NULL ? malloc(len + 1) : NULL;
        if (copy != NULL) {
            memcpy(copy, text, len);
            copy[len] = '\0';
        }
        sim_script_free(decoded);
        if (copy == NULL) return out_of_memory(problem);
        sim_tool_call_arguments(gen->tool, copy, len, opt->chunk_bytes);
    }
    return true;
}

int sim_reasoning_tokens(const sim_generation *gen) {
    return gen->reasoning != NULL ? sim_script_tokens(gen->reasoning) : 0;
}

int sim_reasoning_frame(const sim_generation *gen, struct evbuffer *out, int choice, int step,
                        const char *delta_prefix, const char *finish) {
    evbuffer_add_printf(out, "{\"index\":%d,\"delta\":{%s\"reasoning_content\":\"", choice,
                        delta_prefix);
    sim_token_append(out, gen->reasoning, step);
    evbuffer_add_printf(out, "\"},\"logprobs\":null,\"finish_reason\":%s}", finish);
    return 1;
}

void sim_reasoning_member(const sim_generation *gen, struct evbuffer *out) {
    if (gen->reasoning == NULL) {
        evbuffer_add_printf(out, "\"reasoning_content\":null");
        return;
    }
    evbuffer_add_printf(out, "\"reasoning_content\":\"");
    sim_text_append(out, gen->reasoning, sim_script_tokens(gen->reasoning));
    evbuffer_add(out, "\"", 1);
}
