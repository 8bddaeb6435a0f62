/* The Anthropic Messages API (POST /v1/messages, GET /v1/models): its headers, its strict body
 * validation (unknown top-level fields are refused, as Anthropic does), its answer and usage.
 *
 * Usage: the prompt is the words of every text (system, text and thinking blocks, tool results);
 * from 8 words on, 4 of them are read from the simulated prompt cache, and as with Anthropic
 * input_tokens then excludes them: input_tokens + cache_read_input_tokens +
 * cache_creation_input_tokens = the whole prompt. output_tokens counts the text words and the
 * tool-call input pieces a stream sends.
 *
 * Length: max_tokens is required and usually large, so the answer is the natural length
 * (x-sim-output-tokens / --output-tokens) when max_tokens allows it ("end_turn"), else
 * max_tokens words ("max_tokens"). A stop sequence equal to a generated word ends the text
 * before it ("stop_sequence"). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sim/sim_internal.h"

enum {
    SIM_CACHE_MIN_PROMPT = 8, /* prompts of this many words or more hit the cache */
    SIM_CACHE_READ = 4,       /* and read this many of them from it */
    SIM_TOOL_TEXT_WORDS = 3,  /* the text said before a tool_use block */
};

static bool is_string(json_object *v) {
    return v != NULL && json_object_is_type(v, json_type_string);
}

static bool equals(json_object *v, const char *s) {
    return is_string(v) && strcmp(json_object_get_string(v), s) == 0;
}

static long words_of(json_object *s) {
    return sim_count_words(json_object_get_string(s), (size_t)json_object_get_string_len(s));
}

static bool is_number(json_object *v) {
    return v != NULL &&
           (json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_double));
}

const char *sim_anthropic_stop_reason(const sim_generation *gen) {
    if (gen->tool != NULL) return "tool_use";
    if (gen->stop != NULL) return "stop_sequence";
    return gen->length_limited ? "max_tokens" : "end_turn";
}

/* An image source: base64 with a media type Anthropic accepts, or a URL. */
static bool image_ok(json_object *block, size_t i, size_t j, sim_problem *p) {
    json_object *source = sim_json_member(block, "source");
    json_object *type = sim_json_member(source, "type");
    if (equals(type, "base64")) {
        json_object *media = sim_json_member(source, "media_type");
        static const char *const types[] = {"image/jpeg", "image/png", "image/gif", "image/webp"};
        bool known = false;
        for (size_t k = 0; k < 4 && !known; k++)
            known = equals(media, types[k]);
        if (!known) {
            sim_problem_set(p, 400, NULL,
                            "messages.%zu.content.%zu.source.media_type: Input should be "
                            "'image/jpeg', 'image/png', 'image/gif' or 'image/webp'",
                            i, j);
            return false;
        }
        if (!is_string(sim_json_member(source, "data"))) {
            sim_problem_set(p, 400, NULL, "messages.%zu.content.%zu.source.data: Field required", i,
                            j);
            return false;
        }
        return true;
    }
    if (equals(type, "url") && is_string(sim_json_member(source, "url"))) return true;
    sim_problem_set(p, 400, NULL,
                    "messages.%zu.content.%zu.source: Input should be a base64 or url image "
                    "source",
                    i, j);
    return false;
}

/* The content of a tool_result: absent, a string, or text and image blocks. */
static bool tool_result_ok(json_object *block, size_t i, size_t j, long *words, sim_problem *p) {
    if (!is_string(sim_json_member(block, "tool_use_id"))) {
        sim_problem_set(p, 400, NULL, "messages.%zu.content.%zu.tool_use_id: Field required", i, j);
        return false;
    }
    json_object *is_error = sim_json_member(block, "is_error");
    if (is_error != NULL && !json_object_is_type(is_error, json_type_boolean)) {
        sim_problem_set(p, 400, NULL,
                        "messages.%zu.content.%zu.is_error: Input should be a valid boolean", i, j);
        return false;
    }
    json_object *content = sim_json_member(block, "content");
    if (content == NULL) return true;
    if (is_string(content)) {
        *words += words_of(content);
        return true;
    }
    size_t n =
        json_object_is_type(content, json_type_array) ? json_object_array_length(content) : 0;
    if (!json_object_is_type(content, json_type_array)) goto invalid;
    for (size_t k = 0; k < n; k++) {
        json_object *part = json_object_array_get_idx(content, k);
        json_object *type = sim_json_member(part, "type");
        if (equals(type, "text") && is_string(sim_json_member(part, "text")))
            *words += words_of(sim_json_member(part, "text"));
        else if (equals(type, "image")) {
            if (!image_ok(part, i, j, p)) return false;
        } else
            goto invalid;
    }
    return true;
invalid:
    sim_problem_set(p, 400, NULL,
                    "messages.%zu.content.%zu.content: Input should be a valid string or a list "
                    "of text and image blocks",
                    i, j);
    return false;
}

/* One content block of message i; a user's tool_result sets *tool_result. */
static bool block_ok(json_object *block, bool user, size_t i, size_t j, long *words,
                     bool *tool_result, sim_problem *p) {
    json_object *type = sim_json_member(block, "type");
    if (!json_object_is_type(block, json_type_object) || !is_string(type)) {
        sim_problem_set(p, 400, NULL, "messages.%zu.content.%zu.type: Field required", i, j);
        return false;
    }
    const char *t = json_object_get_string(type);
    const char *field = NULL; /* a required string field missing */
    bool wrong_role = false;
    if (strcmp(t, "text") == 0) {
        json_object *text = sim_json_member(block, "text");
        if (!is_string(text)) field = "text";
        if (field == NULL) *words += words_of(text);
    } else if (strcmp(t, "image") == 0) {
        wrong_role = !user;
        if (!wrong_role && !image_ok(block, i, j, p)) return false;
    } else if (strcmp(t, "tool_use") == 0) {
        wrong_role = user;
        json_object *input = sim_json_member(block, "input");
        if (!is_string(sim_json_member(block, "id")))
            field = "id";
        else if (!is_string(sim_json_member(block, "name")))
            field = "name";
        else if (input == NULL || !json_object_is_type(input, json_type_object))
            field = "input";
    } else if (strcmp(t, "tool_result") == 0) {
        wrong_role = !user;
        if (!wrong_role && !tool_result_ok(block, i, j, words, p)) return false;
        *tool_result = true;
    } else if (strcmp(t, "thinking") == 0) {
        wrong_role = user;
        json_object *thinking = sim_json_member(block, "thinking");
        if (!is_string(thinking))
            field = "thinking";
        else if (!is_string(sim_json_member(block, "signature")))
            field = "signature";
        if (field == NULL) *words += words_of(thinking);
    } else if (strcmp(t, "redacted_thinking") == 0) {
        wrong_role = user;
        if (!is_string(sim_json_member(block, "data"))) field = "data";
    } else {
        sim_problem_set(p, 400, NULL,
                        "messages.%zu.content.%zu: Input tag '%.64s' found using 'type' does not "
                        "match any of the expected tags: 'text', 'image', 'tool_use', "
                        "'tool_result', 'thinking', 'redacted_thinking'",
                        i, j, t);
        return false;
    }
    if (wrong_role) {
        sim_problem_set(p, 400, NULL,
                        "messages.%zu.content.%zu: `%s` blocks are not allowed in %s messages", i,
                        j, t, user ? "user" : "assistant");
        return false;
    }
    if (field != NULL) {
        sim_problem_set(p, 400, NULL, "messages.%zu.content.%zu.%s: Field required", i, j, field);
        return false;
    }
    return true;
}

/* Validates messages; *tool_due when the last one is a user turn without a tool_result. */
static bool messages_ok(json_object *messages, long *words, bool *tool_due, sim_problem *p) {
    if (messages == NULL || !json_object_is_type(messages, json_type_array)) {
        sim_problem_set(p, 400, NULL, "messages: Field required");
        return false;
    }
    size_t count = json_object_array_length(messages);
    if (count == 0) {
        sim_problem_set(p, 400, NULL, "messages: at least one message is required");
        return false;
    }
    for (size_t i = 0; i < count; i++) {
        json_object *message = json_object_array_get_idx(messages, i);
        json_object *role = sim_json_member(message, "role");
        bool user = equals(role, "user");
        if (!user && !equals(role, "assistant")) {
            sim_problem_set(p, 400, NULL,
                            "messages.%zu.role: Input should be 'user' or 'assistant'", i);
            return false;
        }
        if (i == 0 && !user) {
            sim_problem_set(p, 400, NULL, "messages: first message must use the \"user\" role");
            return false;
        }
        json_object *content = sim_json_member(message, "content");
        bool tool_result = false;
        if (is_string(content)) {
            *words += words_of(content);
        } else if (content != NULL && json_object_is_type(content, json_type_array) &&
                   json_object_array_length(content) > 0) {
            size_t n = json_object_array_length(content);
            for (size_t j = 0; j < n; j++)
                if (!block_ok(json_object_array_get_idx(content, j), user, i, j, words,
                              &tool_result, p))
                    return false;
        } else {
            sim_problem_set(p, 400, NULL,
                            "messages.%zu.content: Input should be a valid string or a non-empty "
                            "list of content blocks",
                            i);
            return false;
        }
        if (i == count - 1) *tool_due = user && !tool_result;
    }
    return true;
}

static bool system_ok(json_object *system, long *words, sim_problem *p) {
    if (system == NULL) return true;
    if (is_string(system)) {
        *words += words_of(system);
        return true;
    }
    size_t n = json_object_is_type(system, json_type_array) ? json_object_array_length(system) : 0;
    for (size_t i = 0; i < n; i++) {
        json_object *block = json_object_array_get_idx(system, i);
        json_object *text = sim_json_member(block, "text");
        if (!equals(sim_json_member(block, "type"), "text") || !is_string(text)) {
            sim_problem_set(p, 400, NULL, "system.%zu: Input should be a text block", i);
            return false;
        }
        *words += words_of(text);
    }
    if (!json_object_is_type(system, json_type_array)) {
        sim_problem_set(p, 400, NULL, "system: Input should be a valid string or list");
        return false;
    }
    return true;
}

static bool tools_ok(json_object *tools, sim_problem *p) {
    if (tools == NULL) return true;
    if (!json_object_is_type(tools, json_type_array)) {
        sim_problem_set(p, 400, NULL, "tools: Input should be a valid list");
        return false;
    }
    size_t n = json_object_array_length(tools);
    for (size_t i = 0; i < n; i++) {
        json_object *tool = json_object_array_get_idx(tools, i);
        json_object *name = sim_json_member(tool, "name");
        json_object *type = sim_json_member(tool, "type");
        json_object *schema = sim_json_member(tool, "input_schema");
        if (!is_string(name) || json_object_get_string_len(name) == 0) {
            sim_problem_set(p, 400, NULL, "tools.%zu.name: Field required", i);
            return false;
        }
        /* Client tools need a schema; Anthropic's server tools (typed) bring their own. */
        bool custom = type == NULL || equals(type, "custom");
        if (custom && (schema == NULL || !json_object_is_type(schema, json_type_object))) {
            sim_problem_set(p, 400, NULL, "tools.%zu.input_schema: Field required", i);
            return false;
        }
    }
    return true;
}

/* A number field within [min, max]; absent is fine. */
static bool number_ok(json_object *body, const char *key, double min, double max, sim_problem *p) {
    json_object *v = sim_json_member(body, key);
    if (v == NULL) return true;
    double x = json_object_get_double(v);
    if (!is_number(v) || x < min || x > max) {
        sim_problem_set(p, 400, NULL, "%s: Input should be a number between %g and %g", key, min,
                        max);
        return false;
    }
    return true;
}

static const char *const known_fields[] = {
    "model",       "messages", "max_tokens", "system",       "stop_sequences",
    "temperature", "top_p",    "top_k",      "stream",       "tools",
    "tool_choice", "metadata", "thinking",   "service_tier",
};

static bool fields_ok(json_object *body, sim_problem *p) {
    json_object_object_foreach(body, key, value) {
        (void)value;
        bool known = false;
        for (size_t i = 0; i < sizeof(known_fields) / sizeof(known_fields[0]) && !known; i++)
            known = strcmp(key, known_fields[i]) == 0;
        if (!known) {
            sim_problem_set(p, 400, NULL, "%.128s: Extra inputs are not permitted", key);
            return false;
        }
    }
    return true;
}

static bool model_ok(sim_worker *w, json_object *body, sim_generation *gen, sim_problem *p) {
    const sim_server *s = w->server;
    json_object *model = sim_json_member(body, "model");
    if (!is_string(model)) {
        sim_problem_set(p, 400, NULL, "model: Field required");
        return false;
    }
    const char *name = json_object_get_string(model);
    int len = json_object_get_string_len(model);
    gen->model = sim_model_find(s, name, (size_t)len);
    if (gen->model < 0) {
        sim_problem_set(p, 404, NULL, "model: %.*s", len > 300 ? 300 : len, name);
        return false;
    }
    if (gen->model == s->wildcard_model) {
        sim_json_escape(w->model_echo, name, (size_t)len);
        gen->model_json = w->model_echo;
    } else {
        gen->model_json = s->models[gen->model].json_name;
    }
    return true;
}

static bool request_ok(sim_worker *w, json_object *body, const sim_options *opt,
                       sim_generation *gen, sim_problem *p) {
    memset(gen, 0, sizeof(*gen));
    gen->api = SIM_API_CHAT;
    gen->choices = 1;
    if (!fields_ok(body, p) || !model_ok(w, body, gen, p)) return false;
    json_object *max_tokens = sim_json_member(body, "max_tokens");
    if (max_tokens == NULL || !json_object_is_type(max_tokens, json_type_int)) {
        sim_problem_set(p, 400, NULL, "max_tokens: Field required");
        return false;
    }
    int64_t max = json_object_get_int64(max_tokens);
    if (max < 1) {
        sim_problem_set(p, 400, NULL, "max_tokens: Input should be greater than or equal to 1");
        return false;
    }
    long words = 0;
    bool tool_due = false;
    json_object *messages = sim_json_member(body, "messages");
    if (!messages_ok(messages, &words, &tool_due, p) ||
        !system_ok(sim_json_member(body, "system"), &words, p))
        return false;
    gen->message_count = (long)json_object_array_length(messages);

    json_object *stops = sim_json_member(body, "stop_sequences");
    if (stops != NULL) {
        size_t n =
            json_object_is_type(stops, json_type_array) ? json_object_array_length(stops) : 0;
        bool valid = json_object_is_type(stops, json_type_array);
        for (size_t i = 0; i < n && valid; i++)
            valid = is_string(json_object_array_get_idx(stops, i));
        if (!valid) {
            sim_problem_set(p, 400, NULL, "stop_sequences: Input should be a list of strings");
            return false;
        }
    }
    if (!number_ok(body, "temperature", 0, 1, p) || !number_ok(body, "top_p", 0, 1, p))
        return false;
    json_object *top_k = sim_json_member(body, "top_k");
    if (top_k != NULL &&
        (!json_object_is_type(top_k, json_type_int) || json_object_get_int64(top_k) < 0)) {
        sim_problem_set(p, 400, NULL, "top_k: Input should be a non-negative integer");
        return false;
    }
    json_object *stream = sim_json_member(body, "stream");
    if (stream != NULL && !json_object_is_type(stream, json_type_boolean)) {
        sim_problem_set(p, 400, NULL, "stream: Input should be a valid boolean");
        return false;
    }
    gen->stream = stream != NULL && json_object_get_boolean(stream);
    json_object *metadata = sim_json_member(body, "metadata");
    json_object *user_id = sim_json_member(metadata, "user_id");
    if (metadata != NULL && (!json_object_is_type(metadata, json_type_object) ||
                             (!sim_json_is_null(user_id) && !is_string(user_id)))) {
        sim_problem_set(p, 400, NULL, "metadata: Input should be {\"user_id\": string}");
        return false;
    }
    json_object *choice = sim_json_member(body, "tool_choice");
    if (choice != NULL && !json_object_is_type(choice, json_type_object)) {
        sim_problem_set(p, 400, NULL, "tool_choice: Input should be a valid dictionary");
        return false;
    }
    if (!tools_ok(sim_json_member(body, "tools"), p)) return false;

    gen->prompt_tokens = words > 0 ? words : 1;
    gen->cached_tokens = gen->prompt_tokens >= SIM_CACHE_MIN_PROMPT ? SIM_CACHE_READ : 0;
    if (!sim_tools_anthropic(body, gen->message_count, tool_due, &gen->tool, p)) return false;
    /* A tool call's short preface stays the vocabulary's: a script scripts text answers only. */
    if (gen->tool == NULL && !sim_generation_script(gen, opt, p)) return false;
    int natural = gen->script != NULL ? sim_script_tokens(gen->script) : opt->output_tokens;
    gen->tokens = max < natural ? (int)max : natural;
    gen->length_limited = max < natural;
    if (gen->tool != NULL) {
        if (gen->tokens > SIM_TOOL_TEXT_WORDS) gen->tokens = SIM_TOOL_TEXT_WORDS;
        gen->length_limited = false;
        return true;
    }
    json_object *matched = NULL;
    int at = sim_text_stop_index(stops, gen->script, gen->tokens, &matched);
    if (at >= 0) {
        gen->stop = strdup(json_object_get_string(matched));
        if (gen->stop == NULL) {
            sim_generation_release(gen);
            sim_problem_set(p, 500, NULL, "out of memory");
            return false;
        }
        gen->tokens = at;
        gen->length_limited = false;
    }
    return true;
}

static void message_body(sim_worker *w, struct evbuffer *out, const sim_generation *gen) {
    char id[64];
    sim_make_id(w, "msg_", id, sizeof(id));
    evbuffer_add_printf(out,
                        "{\"id\":\"%s\",\"type\":\"message\",\"role\":\"assistant\","
                        "\"model\":\"%s\",\"content\":[",
                        id, gen->model_json);
    if (gen->tokens > 0) {
        evbuffer_add_printf(out, "{\"type\":\"text\",\"text\":\"");
        sim_text_append(out, gen->script, gen->tokens);
        evbuffer_add(out, "\"}", 2);
    }
    if (gen->tool != NULL) {
        evbuffer_add_printf(out, "%s{\"type\":\"tool_use\",\"id\":\"%s\",\"name\":",
                            gen->tokens > 0 ? "," : "", gen->tool->id);
        sim_json_add_string(out, gen->tool->name, gen->tool->name_len);
        evbuffer_add_printf(out, ",\"input\":");
        evbuffer_add(out, gen->tool->arguments, gen->tool->arguments_len);
        evbuffer_add(out, "}", 1);
    }
    evbuffer_add_printf(
        out, "],\"stop_reason\":\"%s\",\"stop_sequence\":", sim_anthropic_stop_reason(gen));
    if (gen->stop != NULL)
        sim_json_add_string(out, gen->stop, strlen(gen->stop));
    else
        evbuffer_add(out, "null", 4);
    evbuffer_add_printf(out,
                        ",\"usage\":{\"input_tokens\":%ld,\"cache_creation_input_tokens\":0,"
                        "\"cache_read_input_tokens\":%ld,\"output_tokens\":%ld}}",
                        gen->prompt_tokens - gen->cached_tokens, gen->cached_tokens,
                        sim_generation_completion(gen));
}

static void models_body(const sim_server *s, struct evbuffer *out) {
    char created[32];
    time_t t = (time_t)s->created;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(created, sizeof(created), "%Y-%m-%dT%H:%M:%SZ", &tm);
    evbuffer_add_printf(out, "{\"data\":[");
    const char *first = NULL, *last = NULL;
    for (int i = 0; i < s->model_count; i++) {
        if (i == s->wildcard_model) continue;
        const char *name = s->models[i].json_name;
        evbuffer_add_printf(out,
                            "%s{\"type\":\"model\",\"id\":\"%s\",\"display_name\":\"%s\","
                            "\"created_at\":\"%s\"}",
                            first ? "," : "", name, name, created);
        if (first == NULL) first = name;
        last = name;
    }
    evbuffer_add_printf(out, "],\"has_more\":false,\"first_id\":");
    if (first != NULL)
        evbuffer_add_printf(out, "\"%s\",\"last_id\":\"%s\"}", first, last);
    else
        evbuffer_add_printf(out, "null,\"last_id\":null}");
}

/* Anthropic's own checks, before the body: a key (any) and the API version. */
static bool headers_ok(sim_worker *w, struct evhttp_request *req, const sim_options *opt) {
    struct evkeyvalq *headers = evhttp_request_get_input_headers(req);
    const char *key = evhttp_find_header(headers, "x-api-key");
    if (key == NULL || key[0] == '\0') {
        sim_reply_error(w, req, opt->error_shape, 401, NULL, "x-api-key header is required");
        return false;
    }
    if (evhttp_find_header(headers, "anthropic-version") == NULL) {
        sim_reply_error(w, req, opt->error_shape, 400, NULL,
                        "anthropic-version: header is required");
        return false;
    }
    return true;
}

void sim_anthropic_route(sim_worker *w, struct evhttp_request *req, const char *path,
                         enum evhttp_cmd_type cmd) {
    sim_options opt;
    const char *text;
    size_t len;
    if (!sim_request_begin(w, req, &opt, &text, &len)) return;
    char request_id[64];
    sim_make_id(w, "req_", request_id, sizeof(request_id));
    evhttp_add_header(evhttp_request_get_output_headers(req), "request-id", request_id);
    bool models = strcmp(path, "/v1/models") == 0;
    if (!models) sim_count(&w->stats.chat, 1);
    if (models ? !sim_is_get(cmd) : cmd != EVHTTP_REQ_POST) {
        sim_reply_error(w, req, opt.error_shape, 405, NULL, "Method Not Allowed");
        return;
    }
    if (!headers_ok(w, req, &opt)) return;
    if (models) {
        if (sim_replacing_fault(w, req, &opt, -1, false)) return;
        models_body(w->server, w->scratch);
        sim_answer(w, req, &opt, -1, 0, 0, false);
        return;
    }
    sim_problem problem;
    json_object *body = sim_request_object(w, text, len, &problem);
    sim_generation gen;
    if (body == NULL || !request_ok(w, body, &opt, &gen, &problem)) {
        json_object_put(body);
        sim_reply_problem(w, req, opt.error_shape, &problem);
        return;
    }
    json_object_put(body);
    if (sim_replacing_fault(w, req, &opt, gen.model, gen.stream)) {
        sim_generation_release(&gen);
        return;
    }
    if (gen.stream) {
        sim_anthropic_stream_start(w, req, &gen, &opt);
        sim_generation_release(&gen);
        return;
    }
    message_body(w, w->scratch, &gen);
    long completion = sim_generation_completion(&gen);
    sim_generation_release(&gen);
    sim_answer(w, req, &opt, gen.model, gen.prompt_tokens, completion, gen.length_limited);
}
