/* Non-stream chat and completions answers, in vLLM's shape. Printed directly rather than built
 * as json-c objects: the shape is fixed, the only outside string (the model) is pre-escaped, and
 * this is the benchmark's hot path. */
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

void sim_completion_body(sim_worker *w, struct evbuffer *out, const sim_generation *gen) {
    bool chat = gen->api == SIM_API_CHAT;
    char id[64];
    sim_make_id(w, chat ? "chatcmpl-" : "cmpl-", id, sizeof(id));
    const char *finish = gen->length_limited ? "length" : "stop";
    evbuffer_add_printf(out,
                        "{\"id\":\"%s\",\"object\":\"%s\",\"created\":%ld,\"model\":\"%s\","
                        "\"choices\":[",
                        id, chat ? "chat.completion" : "text_completion", (long)time(NULL),
                        gen->model_json);
    for (int i = 0; i < gen->choices; i++) {
        if (chat)
            evbuffer_add_printf(out,
                                "%s{\"index\":%d,\"message\":{\"role\":\"assistant\","
                                "\"reasoning_content\":null,\"content\":\"",
                                i ? "," : "", i);
        else
            evbuffer_add_printf(out, "%s{\"index\":%d,\"text\":\"", i ? "," : "", i);
        sim_text_append(out, gen->tokens);
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
    long completion = (long)gen->tokens * gen->choices;
    evbuffer_add_printf(out,
                        "],\"usage\":{\"prompt_tokens\":%ld,\"total_tokens\":%ld,"
                        "\"completion_tokens\":%ld,\"prompt_tokens_details\":null}%s}",
                        gen->prompt_tokens, gen->prompt_tokens + completion, completion,
                        chat ? ",\"prompt_logprobs\":null" : "");
}
