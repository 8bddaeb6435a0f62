/* Non-stream chat and completions answers, in vLLM's shape (every OpenAI-style mode). Printed
 * directly rather than built as json-c objects: the shape is fixed, the outside strings (the
 * model, a tool's name) are escaped once, and this is the benchmark's hot path. */
#include <stdio.h>
#include <time.h>

#include "sim/sim_internal.h"

void sim_make_id(sim_worker *w, const char *prefix, char *buf, size_t buflen) {
    /* xorshift64*: ids only need to differ, and the state is the worker's own. */
    uint64_t x = w->id_state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    w->id_state = x;
    uint64_t a = x * 0x2545F4914F6CDD1DULL;
    uint64_t b = (a ^ (a >> 29)) * 0xBF58476D1CE4E5B9ULL;
    snprintf(buf, buflen, "%s%016llx%016llx", prefix, (unsigned long long)a, (unsigned long long)b);
}

void sim_completion_usage(const sim_server *s, struct evbuffer *out, long prompt_tokens,
                          long completion_tokens, bool details) {
    evbuffer_add_printf(out,
                        "{\"prompt_tokens\":%ld,\"total_tokens\":%ld,\"completion_tokens\":%ld",
                        prompt_tokens, prompt_tokens + completion_tokens, completion_tokens);
    if (s->engine == SIM_ENGINE_VLLM)
        /* vLLM with --enable-prompt-tokens-details; the simulator caches nothing. */
        evbuffer_add_printf(out, ",\"prompt_tokens_details\":{\"cached_tokens\":0}}");
    else if (details)
        evbuffer_add_printf(out, ",\"prompt_tokens_details\":null}");
    else
        evbuffer_add(out, "}", 1);
}

static void tool_calls(struct evbuffer *out, const sim_tool_call *tool) {
    evbuffer_add_printf(out,
                        "[{\"id\":\"%s\",\"type\":\"function\",\"function\":{\"name\":", tool->id);
    sim_json_add_string(out, tool->name, tool->name_len);
    evbuffer_add_printf(out, ",\"arguments\":");
    sim_json_add_string(out, tool->arguments, tool->arguments_len);
    evbuffer_add(out, "}}]", 3);
}

void sim_completion_body(sim_worker *w, struct evbuffer *out, const sim_generation *gen) {
    bool chat = gen->api == SIM_API_CHAT;
    char id[64];
    sim_make_id(w, chat ? "chatcmpl-" : "cmpl-", id, sizeof(id));
    const char *finish = gen->tool ? "tool_calls" : gen->length_limited ? "length" : "stop";
    evbuffer_add_printf(out,
                        "{\"id\":\"%s\",\"object\":\"%s\",\"created\":%ld,\"model\":\"%s\","
                        "\"choices\":[",
                        id, chat ? "chat.completion" : "text_completion", (long)time(NULL),
                        gen->model_json);
    for (int i = 0; i < gen->choices; i++) {
        if (chat && gen->tool != NULL) {
            evbuffer_add_printf(out, "%s{\"index\":%d,\"message\":{\"role\":\"assistant\",",
                                i ? "," : "", i);
            sim_reasoning_member(gen, out);
            evbuffer_add_printf(out, ",\"content\":null,\"tool_calls\":");
            tool_calls(out, gen->tool);
            evbuffer_add_printf(out,
                                "},\"logprobs\":null,\"finish_reason\":\"%s\","
                                "\"stop_reason\":null}",
                                finish);
            continue;
        }
        if (chat) {
            evbuffer_add_printf(out, "%s{\"index\":%d,\"message\":{\"role\":\"assistant\",",
                                i ? "," : "", i);
            sim_reasoning_member(gen, out);
            evbuffer_add_printf(out, ",\"content\":\"");
        } else
            evbuffer_add_printf(out, "%s{\"index\":%d,\"text\":\"", i ? "," : "", i);
        sim_text_append(out, gen->script, gen->tokens);
        if (chat)
            evbuffer_add_printf(out,
                                "\",\"tool_calls\":[]},\"logprobs\":null,"
                                "\"finish_reason\":\"%s\",\"stop_reason\":null}",
                                finish);
        else
            evbuffer_add_printf(out,
                                "\",\"logprobs\":null,\"finish_reason\":\"%s\","
                                "\"stop_reason\":null,\"prompt_logprobs\":null}",
                                finish);
    }
    evbuffer_add(out, "],\"usage\":", 10);
    sim_completion_usage(w->server, out, gen->prompt_tokens, sim_generation_completion(gen), true);
    if (chat) evbuffer_add_printf(out, ",\"prompt_logprobs\":null");
    evbuffer_add(out, "}", 1);
}
