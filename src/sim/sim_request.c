/* Validation of chat and completions bodies, with vLLM's status codes (400, not 422; 404 for an
 * unknown model; MindIE's handler turns 400 into its 422), reduced to the numbers the answer
 * depends on. Usage is exact by design: prompt_tokens counts the words of every text the request
 * carries, completion tokens the words (and tool-call argument pieces) it generates. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "sim/sim_internal.h"

static long string_words(json_object *s) {
    return sim_count_words(json_object_get_string(s), (size_t)json_object_get_string_len(s));
}

void sim_request_default_model(const sim_server *s, int *model, const char **model_json) {
    *model = sim_model_default(s);
    *model_json = *model == s->wildcard_model ? "sim-model" : s->models[*model].json_name;
}

bool sim_request_model(sim_worker *w, json_object *body, int *model, const char **model_json,
                       sim_problem *problem) {
    const sim_server *s = w->server;
    json_object *name = sim_json_member(body, "model");
    if (sim_json_is_null(name) && s->engine == SIM_ENGINE_MINDIE) {
        /* MindIE checks the name against its modelName: no name is no match. */
        sim_problem_set(problem, 400, "model", "`model` is required.");
        return false;
    }
    if (sim_json_is_null(name)) {
        /* vLLM answers a request without a model with its first served model. */
        sim_request_default_model(s, model, model_json);
        return true;
    }
    if (!json_object_is_type(name, json_type_string)) {
        sim_problem_set(problem, 400, "model", "`model` must be a string.");
        return false;
    }
    const char *text = json_object_get_string(name);
    int len = json_object_get_string_len(name);
    *model = sim_model_find(s, text, (size_t)len);
    if (*model < 0) {
        sim_problem_set(problem, 404, "model", "The model `%.*s` does not exist.",
                        len > 300 ? 300 : len, text);
        return false;
    }
    if (*model == s->wildcard_model) {
        /* Echo what was asked for; sim_model_find bounds len to fit model_echo. */
        sim_json_escape(w->model_echo, text, (size_t)len);
        *model_json = w->model_echo;
    } else {
        *model_json = s->models[*model].json_name;
    }
    return true;
}

/* Counts the words of one message's content: a string, or parts of which the text ones count. */
static bool content_words(json_object *content, long *words, sim_problem *problem) {
    if (sim_json_is_null(content)) return true;
    if (json_object_is_type(content, json_type_string)) {
        *words += string_words(content);
        return true;
    }
    if (!json_object_is_type(content, json_type_array)) {
        sim_problem_set(problem, 400, "messages",
                        "A message's `content` must be a string, an array of parts or null.");
        return false;
    }
    size_t count = json_object_array_length(content);
    for (size_t i = 0; i < count; i++) {
        json_object *part = json_object_array_get_idx(content, i);
        if (!json_object_is_type(part, json_type_object)) {
            sim_problem_set(problem, 400, "messages", "A content part must be an object.");
            return false;
        }
        json_object *type = sim_json_member(part, "type");
        json_object *text = sim_json_member(part, "text");
        if (type != NULL && json_object_is_type(type, json_type_string) &&
            strcmp(json_object_get_string(type), "text") == 0) {
            if (text == NULL || !json_object_is_type(text, json_type_string)) {
                sim_problem_set(problem, 400, "messages", "A text part needs a string `text`.");
                return false;
            }
            *words += string_words(text);
        }
    }
    return true;
}

static bool chat_words(json_object *body, long *words, long *message_count, sim_problem *problem) {
    json_object *messages = sim_json_member(body, "messages");
    if (messages == NULL || !json_object_is_type(messages, json_type_array) ||
        json_object_array_length(messages) == 0) {
        sim_problem_set(problem, 400, "messages", "`messages` must be a non-empty array.");
        return false;
    }
    size_t count = json_object_array_length(messages);
    *message_count = (long)count;
    for (size_t i = 0; i < count; i++) {
        json_object *message = json_object_array_get_idx(messages, i);
        json_object *role = message ? sim_json_member(message, "role") : NULL;
        if (!json_object_is_type(message, json_type_object) || role == NULL ||
            !json_object_is_type(role, json_type_string)) {
            sim_problem_set(problem, 400, "messages",
                            "Each message must be an object with a string `role`.");
            return false;
        }
        if (!content_words(sim_json_member(message, "content"), words, problem)) return false;
    }
    return true;
}

/* A token array: every element an integer. */
static bool is_token_array(json_object *array) {
    if (!json_object_is_type(array, json_type_array) || json_object_array_length(array) == 0)
        return false;
    size_t count = json_object_array_length(array);
    for (size_t i = 0; i < count; i++)
        if (!json_object_is_type(json_object_array_get_idx(array, i), json_type_int)) return false;
    return true;
}

/* `prompt`: a string, strings, one token array or token arrays; each string or array is one
 * prompt, and vLLM answers every prompt with its own choices. */
static bool prompt_words(json_object *body, long *words, int *prompts, sim_problem *problem) {
    json_object *prompt = sim_json_member(body, "prompt");
    *prompts = 1;
    if (prompt != NULL && json_object_is_type(prompt, json_type_string)) {
        *words += string_words(prompt);
        return true;
    }
    if (prompt != NULL && is_token_array(prompt)) {
        *words += (long)json_object_array_length(prompt);
        return true;
    }
    size_t count = prompt != NULL && json_object_is_type(prompt, json_type_array)
                       ? json_object_array_length(prompt)
                       : 0;
    if (count == 0 || count > SIM_MAX_CHOICES) goto invalid;
    for (size_t i = 0; i < count; i++) {
        json_object *item = json_object_array_get_idx(prompt, i);
        if (json_object_is_type(item, json_type_string))
            *words += string_words(item);
        else if (is_token_array(item))
            *words += (long)json_object_array_length(item);
        else
            goto invalid;
    }
    *prompts = (int)count;
    return true;
invalid:
    sim_problem_set(problem, 400, "prompt",
                    "`prompt` must be a string, an array of strings or token arrays (at most %d).",
                    SIM_MAX_CHOICES);
    return false;
}

/* An optional integer field in [min, max]; absent or null leaves *out alone. */
static bool optional_int(json_object *body, const char *key, long min, long max, long *out,
                         bool *given, sim_problem *problem) {
    json_object *v = sim_json_member(body, key);
    if (sim_json_is_null(v)) return true;
    int64_t value = json_object_get_int64(v);
    if (!json_object_is_type(v, json_type_int) || value < min || value > max) {
        sim_problem_set(problem, 400, key, "`%s` must be an integer in [%ld, %ld].", key, min, max);
        return false;
    }
    *out = (long)value;
    if (given != NULL) *given = true;
    return true;
}

static bool optional_bool(json_object *obj, const char *key, bool *out, sim_problem *problem) {
    json_object *v = sim_json_member(obj, key);
    if (sim_json_is_null(v)) return true;
    if (!json_object_is_type(v, json_type_boolean)) {
        sim_problem_set(problem, 400, key, "`%s` must be a boolean.", key);
        return false;
    }
    *out = json_object_get_boolean(v);
    return true;
}

bool sim_generation_script(sim_generation *gen, const sim_options *opt, sim_problem *problem) {
    if (opt->text == NULL || gen->script != NULL) return true;
    gen->script = sim_script_new(opt->text, opt->text_percent, opt->chunk_bytes);
    if (gen->script != NULL) return true;
    sim_problem_set(problem, 500, NULL, "out of memory");
    return false;
}

bool sim_plan_tokens(sim_generation *gen, const sim_options *opt, bool limited, long max_tokens,
                     sim_problem *problem) {
    if (!sim_generation_script(gen, opt, problem)) return false;
    const sim_script *script = gen->script;
    int natural = script != NULL ? sim_script_tokens(script) : opt->output_tokens;
    /* As specified for the simulator: max_tokens is what it generates, and it ends on "length"
     * when that is less than what it would have said unprompted; a script has nothing to say
     * past its end, so there it ends on "stop". */
    if (limited) {
        gen->length_limited = max_tokens < natural;
        gen->tokens = max_tokens > SIM_MAX_OUTPUT_TOKENS ? SIM_MAX_OUTPUT_TOKENS : (int)max_tokens;
        if (script != NULL && gen->tokens > natural) gen->tokens = natural;
    } else {
        gen->tokens = natural;
    }
    /* The output bound is per request, all choices together. */
    if ((long)gen->tokens * gen->choices > SIM_MAX_OUTPUT_TOKENS) {
        gen->tokens = SIM_MAX_OUTPUT_TOKENS / gen->choices;
        gen->length_limited = true;
    }
    /* Cut short by the bound: "length" (a script that ended by itself still stops). */
    if (limited && max_tokens > gen->tokens && (script == NULL || gen->tokens < natural))
        gen->length_limited = true;
    return true;
}

long sim_generation_completion(const sim_generation *gen) {
    long per_choice =
        gen->tokens + (gen->tool != NULL ? gen->tool->fragments : 0) + sim_reasoning_tokens(gen);
    return per_choice * gen->choices;
}

void sim_generation_release(sim_generation *gen) {
    sim_tool_call_free(gen->tool);
    gen->tool = NULL;
    free(gen->stop);
    gen->stop = NULL;
    sim_script_free(gen->script);
    gen->script = NULL;
    sim_script_free(gen->reasoning);
    gen->reasoning = NULL;
}

bool sim_request_generation(sim_worker *w, json_object *body, sim_api api, const sim_options *opt,
                            int forced_model, const char *forced_json, sim_generation *gen,
                            sim_problem *problem) {
    memset(gen, 0, sizeof(*gen));
    gen->api = api;
    if (forced_model >= 0) {
        gen->model = forced_model;
        gen->model_json = forced_json;
    } else if (!sim_request_model(w, body, &gen->model, &gen->model_json, problem)) {
        return false;
    }

    long words = 0;
    int prompts = 1;
    if (api == SIM_API_CHAT ? !chat_words(body, &words, &gen->message_count, problem)
                            : !prompt_words(body, &words, &prompts, problem))
        return false;
    gen->prompt_tokens = words > 0 ? words : 1;

    long max_tokens = 0, n = 1;
    bool limited = false;
    if (!optional_int(body, "max_tokens", 1, LONG_MAX, &max_tokens, &limited, problem) ||
        !optional_int(body, "n", 1, SIM_MAX_CHOICES, &n, NULL, problem))
        return false;
    /* MindIE reads max_tokens only: a max_completion_tokens it never sees limits nothing. */
    if (w->server->engine != SIM_ENGINE_MINDIE &&
        !optional_int(body, "max_completion_tokens", 1, LONG_MAX, &max_tokens, &limited, problem))
        return false;
    if (prompts * n > SIM_MAX_CHOICES) {
        sim_problem_set(problem, 400, "n", "At most %d choices per request.", SIM_MAX_CHOICES);
        return false;
    }
    gen->choices = prompts * (int)n;

    if (!optional_bool(body, "stream", &gen->stream, problem)) return false;
    json_object *stream_options = sim_json_member(body, "stream_options");
    if (!sim_json_is_null(stream_options)) {
        if (!json_object_is_type(stream_options, json_type_object)) {
            sim_problem_set(problem, 400, "stream_options", "`stream_options` must be an object.");
            return false;
        }
        if (!gen->stream) {
            sim_problem_set(problem, 400, "stream_options",
                            "Stream options can only be defined when `stream=True`.");
            return false;
        }
        if (!optional_bool(stream_options, "include_usage", &gen->include_usage, problem))
            return false;
    }
    /* MindIE ignores stream_options: its usage always rides in the finish chunk. */
    if (w->server->engine == SIM_ENGINE_MINDIE) gen->include_usage = false;

    if (!sim_plan_tokens(gen, opt, limited, max_tokens, problem)) return false;
    if (api == SIM_API_CHAT) {
        if (!sim_tools_openai(body, gen->message_count, &gen->tool, problem)) {
            sim_generation_release(gen);
            return false;
        }
        if (gen->tool != NULL) {
            /* A tool call says nothing else: content null, finish_reason "tool_calls". */
            gen->tokens = 0;
            gen->length_limited = false;
            sim_script_free(gen->script);
            gen->script = NULL;
            if ((long)gen->tool->fragments * gen->choices > SIM_MAX_OUTPUT_TOKENS) {
                sim_generation_release(gen);
                sim_problem_set(problem, 400, "n", "Too many tool-call choices.");
                return false;
            }
        }
        if (!sim_script_parts_apply(gen, opt, problem)) {
            sim_generation_release(gen);
            return false;
        }
    }
    return true;
}
