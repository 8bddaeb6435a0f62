/* TGI's native API: POST /generate, POST /generate_stream, GET /info; and MindIE's TGI-style
 * /generate and /generate_stream, which differ in their details and framing.
 *
 * TGI: a request it cannot run is a 422 "Input validation error: ..." (temperature must be
 * strictly positive, top_p in (0, 1), at most 4 stop sequences, inputs + max_new_tokens within
 * the model's 8192 tokens, no decoder_input_details while streaming). The stream writes
 * `data:{...}` with no space and no [DONE]; each event is a token (index from 1, as TGI counts),
 * the last one also carries generated_text and details. A stop sequence stays in the text, as
 * TGI leaves it, and counts as a generated token.
 *
 * MindIE: `data: {...}` with a space, tokens without index and with null logprob and special,
 * details {prompt_tokens, finish_reason, generated_tokens, seed}; a failed stream just ends. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/sim_internal.h"

enum { SIM_TGI_MAX_STOP = 4 };

typedef struct tgi_request {
    bool details;
    bool decoder_input_details;
    json_object *inputs;
} tgi_request;

static bool is_tgi(const sim_server *s) {
    return s->engine == SIM_ENGINE_TGI;
}

static bool is_number(json_object *v) {
    return v != NULL &&
           (json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_double));
}

/* A validation problem: TGI prefixes its messages; both engines answer 422. */
static bool invalid(const sim_server *s, sim_problem *p, const char *message) {
    sim_problem_set(p, 422, NULL, "%s%s", is_tgi(s) ? "Input validation error: " : "", message);
    return false;
}

/* An optional number in (min, max) (each bound open unless *_closed); null is absent. */
static bool number_in(const sim_server *s, json_object *params, const char *key, double min,
                      bool min_closed, double max, const char *message, sim_problem *p) {
    json_object *v = sim_json_member(params, key);
    if (sim_json_is_null(v)) return true;
    double x = json_object_get_double(v);
    if (!is_number(v) || x < min || (!min_closed && x == min) || x >= max)
        return invalid(s, p, message);
    return true;
}

static bool optional_bool(const sim_server *s, json_object *params, const char *key, bool *out,
                          sim_problem *p) {
    json_object *v = sim_json_member(params, key);
    if (sim_json_is_null(v)) return true;
    if (!json_object_is_type(v, json_type_boolean)) {
        char message[96];
        snprintf(message, sizeof(message), "`%s` must be a boolean", key);
        return invalid(s, p, message);
    }
    if (out != NULL) *out = json_object_get_boolean(v);
    return true;
}

static bool request_ok(sim_worker *w, json_object *body, const sim_options *opt, bool stream,
                       sim_generation *gen, tgi_request *r, sim_problem *p) {
    const sim_server *s = w->server;
    memset(gen, 0, sizeof(*gen));
    memset(r, 0, sizeof(*r));
    gen->api = SIM_API_COMPLETIONS;
    gen->choices = 1;
    gen->stream = stream;
    sim_request_default_model(s, &gen->model, &gen->model_json);
    r->inputs = sim_json_member(body, "inputs");
    if (r->inputs == NULL || !json_object_is_type(r->inputs, json_type_string))
        return invalid(s, p, "`inputs` must be a string");
    long words = sim_count_words(json_object_get_string(r->inputs),
                                 (size_t)json_object_get_string_len(r->inputs));
    if (words == 0) return invalid(s, p, "`inputs` cannot be empty");
    gen->prompt_tokens = words;

    json_object *params = sim_json_member(body, "parameters");
    if (!sim_json_is_null(params) && !json_object_is_type(params, json_type_object))
        return invalid(s, p, "`parameters` must be an object");
    /* TGI refuses a zero temperature (greedy is do_sample false); MindIE takes it. */
    bool temperature_ok = is_tgi(s) ? number_in(s, params, "temperature", 0, false, 1e9,
                                                "`temperature` must be strictly positive", p)
                                    : number_in(s, params, "temperature", 0, true, 1e9,
                                                "`temperature` must be non-negative", p);
    if (!temperature_ok ||
        !number_in(s, params, "top_p", 0, false, 1, "`top_p` must be > 0.0 and < 1.0", p) ||
        !number_in(s, params, "typical_p", 0, false, 1, "`typical_p` must be > 0.0 and < 1.0", p) ||
        !number_in(s, params, "repetition_penalty", 0, false, 1e9,
                   "`repetition_penalty` must be strictly positive", p) ||
        !optional_bool(s, params, "details", &r->details, p) ||
        !optional_bool(s, params, "decoder_input_details", &r->decoder_input_details, p) ||
        !optional_bool(s, params, "do_sample", NULL, p) ||
        !optional_bool(s, params, "return_full_text", NULL, p) ||
        !optional_bool(s, params, "watermark", NULL, p))
        return false;
    json_object *top_k = sim_json_member(params, "top_k");
    if (!sim_json_is_null(top_k) &&
        (!json_object_is_type(top_k, json_type_int) || json_object_get_int64(top_k) <= 0))
        return invalid(s, p, "`top_k` must be strictly positive");
    json_object *seed = sim_json_member(params, "seed");
    if (!sim_json_is_null(seed)) {
        if (!json_object_is_type(seed, json_type_int) || json_object_get_int64(seed) < 0)
            return invalid(s, p, "`seed` must be a non-negative integer");
        gen->seed = (long)json_object_get_int64(seed);
        gen->has_seed = true;
    }
    json_object *max_new = sim_json_member(params, "max_new_tokens");
    bool limited = !sim_json_is_null(max_new);
    long max_tokens = limited ? (long)json_object_get_int64(max_new) : 0;
    if (limited && (!json_object_is_type(max_new, json_type_int) || max_tokens <= 0))
        return invalid(s, p, "`max_new_tokens` must be strictly positive");
    json_object *stop = sim_json_member(params, "stop");
    if (!sim_json_is_null(stop)) {
        bool valid = json_object_is_type(stop, json_type_array);
        size_t n = valid ? json_object_array_length(stop) : 0;
        for (size_t i = 0; i < n && valid; i++)
            valid = json_object_is_type(json_object_array_get_idx(stop, i), json_type_string);
        if (!valid) return invalid(s, p, "`stop` must be an array of strings");
        if (n > SIM_TGI_MAX_STOP) {
            char message[96];
            snprintf(message, sizeof(message),
                     "`stop` supports up to %d stop sequences. Given: %zu", SIM_TGI_MAX_STOP, n);
            return invalid(s, p, message);
        }
    }
    if (stream && r->decoder_input_details)
        return invalid(s, p,
                       "`decoder_input_details` == true is not supported when streaming tokens");
    long planned = limited ? max_tokens : opt->text != NULL ? opt->text_tokens : opt->output_tokens;
    if (is_tgi(s) && words + planned > SIM_MAX_MODEL_LEN) {
        char message[160];
        snprintf(message, sizeof(message),
                 "`inputs` tokens + `max_new_tokens` must be <= %d. Given: %ld `inputs` tokens "
                 "and %ld `max_new_tokens`",
                 SIM_MAX_MODEL_LEN, words, planned);
        return invalid(s, p, message);
    }
    if (!sim_plan_tokens(gen, opt, limited, max_tokens, p)) return false;
    json_object *matched = NULL;
    int at = sim_text_stop_index(stop, gen->script, gen->tokens, &matched);
    if (at >= 0) {
        gen->stop = strdup(json_object_get_string(matched));
        if (gen->stop == NULL) {
            sim_generation_release(gen);
            sim_problem_set(p, 500, NULL, "out of memory");
            return false;
        }
        gen->tokens = at + 1; /* TGI keeps the stop sequence in the text */
        gen->length_limited = false;
    }
    return true;
}

static const char *finish_reason(const sim_generation *gen) {
    if (gen->stop != NULL) return "stop_sequence";
    return gen->length_limited ? "length" : "eos_token";
}

static void add_seed(struct evbuffer *out, const sim_generation *gen) {
    if (gen->has_seed)
        evbuffer_add_printf(out, "%ld", gen->seed);
    else
        evbuffer_add(out, "null", 4);
}

static uint64_t word_hash(const char *s, size_t len) {
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

/* One prefill entry per prompt word: TGI's decoder_input_details. */
static void add_prefill(struct evbuffer *out, json_object *inputs) {
    const char *s = json_object_get_string(inputs);
    size_t len = (size_t)json_object_get_string_len(inputs);
    evbuffer_add(out, "[", 1);
    int index = 0;
    for (size_t i = 0; i < len;) {
        while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r' ||
                           s[i] == '\f' || s[i] == '\v'))
            i++;
        size_t start = i;
        while (i < len && !(s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r' ||
                            s[i] == '\f' || s[i] == '\v'))
            i++;
        if (i == start) break;
        evbuffer_add_printf(out, "%s{\"id\":%d,\"text\":", index ? "," : "",
                            (int)(word_hash(s + start, i - start) % 32000));
        sim_json_add_string(out, s + start, i - start);
        /* TGI has no logprob for the first prompt token. */
        if (index == 0)
            evbuffer_add_printf(out, ",\"logprob\":null}");
        else
            evbuffer_add_printf(out, ",\"logprob\":%g}", sim_token_logprob(index));
        index++;
    }
    evbuffer_add(out, "]", 1);
}

static void add_token(struct evbuffer *out, const sim_script *script, int k, bool mindie) {
    evbuffer_add_printf(out, "{\"id\":%d,\"text\":\"", sim_token_id(script, k));
    sim_token_append(out, script, k);
    if (mindie)
        evbuffer_add_printf(out, "\",\"logprob\":null,\"special\":null}");
    else
        evbuffer_add_printf(out, "\",\"logprob\":%g,\"special\":false}", sim_token_logprob(k));
}

static void generate_body(const sim_server *s, struct evbuffer *out, const sim_generation *gen,
                          const tgi_request *r) {
    evbuffer_add_printf(out, "{\"generated_text\":\"");
    sim_text_append(out, gen->script, gen->tokens);
    evbuffer_add(out, "\"", 1);
    if (!r->details) {
        evbuffer_add(out, "}", 1);
        return;
    }
    if (!is_tgi(s)) {
        evbuffer_add_printf(out,
                            ",\"details\":{\"prompt_tokens\":%ld,\"finish_reason\":\"%s\","
                            "\"generated_tokens\":%d,\"seed\":",
                            gen->prompt_tokens, finish_reason(gen), gen->tokens);
        add_seed(out, gen);
        evbuffer_add(out, "}}", 2);
        return;
    }
    evbuffer_add_printf(out,
                        ",\"details\":{\"finish_reason\":\"%s\",\"generated_tokens\":%d,"
                        "\"seed\":",
                        finish_reason(gen), gen->tokens);
    add_seed(out, gen);
    evbuffer_add_printf(out, ",\"prefill\":");
    if (r->decoder_input_details)
        add_prefill(out, r->inputs);
    else
        evbuffer_add(out, "[]", 2);
    evbuffer_add_printf(out, ",\"tokens\":[");
    for (int k = 0; k < gen->tokens; k++) {
        if (k > 0) evbuffer_add(out, ",", 1);
        add_token(out, gen->script, k, false);
    }
    evbuffer_add(out, "]}}", 3);
}

static int frame(sim_stream *st, struct evbuffer *out, int choice, int step, bool last) {
    (void)choice;
    const sim_generation *gen = &st->gen;
    bool mindie = sim_stream_engine(st) == SIM_ENGINE_MINDIE;
    if (mindie)
        evbuffer_add_printf(out, "data: {\"token\":");
    else
        evbuffer_add_printf(out, "data:{\"index\":%d,\"token\":", step + 1);
    add_token(out, gen->script, step, mindie);
    if (!last) {
        evbuffer_add_printf(out, ",\"generated_text\":null,\"details\":null}\n\n");
        return 1;
    }
    evbuffer_add_printf(out, ",\"generated_text\":\"");
    sim_text_append(out, gen->script, gen->tokens);
    if (mindie)
        evbuffer_add_printf(out,
                            "\",\"details\":{\"prompt_tokens\":%ld,\"finish_reason\":\"%s\","
                            "\"generated_tokens\":%d,\"seed\":",
                            gen->prompt_tokens, finish_reason(gen), gen->tokens);
    else
        evbuffer_add_printf(out,
                            "\",\"details\":{\"finish_reason\":\"%s\",\"generated_tokens\":%d,"
                            "\"seed\":",
                            finish_reason(gen), gen->tokens);
    add_seed(out, gen);
    if (mindie)
        evbuffer_add(out, "}}\n\n", 4);
    else
        evbuffer_add_printf(out, ",\"input_length\":%ld}}\n\n", gen->prompt_tokens);
    return 1;
}

static void malformed(sim_stream *st, struct evbuffer *out) {
    if (sim_stream_engine(st) == SIM_ENGINE_MINDIE)
        evbuffer_add_printf(out, "data: {\"token\":broken\n\n");
    else
        evbuffer_add_printf(out, "data:{\"index\":broken\n\n");
}

static void mid_error(sim_stream *st, struct evbuffer *out) {
    if (sim_stream_engine(st) == SIM_ENGINE_MINDIE) return; /* MindIE's failed stream just ends */
    evbuffer_add_printf(
        out, "data:{\"error\":\"simulated engine failure\",\"error_type\":\"generation\"}\n\n");
}

static const sim_stream_format tgi_format = {
    .content_type = "text/event-stream",
    .finish_in_last = true,
    .frame = frame,
    .malformed = malformed,
    .mid_error = mid_error,
};

void sim_tgi_handle(sim_worker *w, struct evhttp_request *req, const sim_options *opt,
                    json_object *body, bool stream) {
    sim_generation gen;
    tgi_request r;
    sim_problem problem;
    if (!request_ok(w, body, opt, stream, &gen, &r, &problem)) {
        sim_reply_problem(w, req, opt->error_shape, &problem);
        return;
    }
    if (sim_replacing_fault(w, req, opt, gen.model, stream)) {
        sim_generation_release(&gen);
        return;
    }
    if (stream) {
        sim_stream *st = sim_stream_new(w, &tgi_format, &gen, opt, gen.tokens);
        if (st == NULL)
            sim_reply_error(w, req, opt->error_shape, 500, NULL, "out of memory");
        else
            sim_stream_run(st, req);
        sim_generation_release(&gen);
        return;
    }
    generate_body(w->server, w->scratch, &gen, &r);
    sim_generation_release(&gen);
    sim_answer(w, req, opt, gen.model, gen.prompt_tokens, gen.tokens, gen.length_limited);
}

void sim_tgi_route(sim_worker *w, struct evhttp_request *req, const char *path,
                   enum evhttp_cmd_type cmd) {
    sim_options opt;
    const char *text;
    size_t len;
    if (!sim_request_begin(w, req, &opt, &text, &len)) return;
    sim_count(&w->stats.completions, 1);
    if (cmd != EVHTTP_REQ_POST) {
        sim_reply_error(w, req, opt.error_shape, 405, NULL, "Method Not Allowed");
        return;
    }
    sim_problem problem;
    json_object *body = sim_request_object(w, text, len, &problem);
    if (body == NULL) {
        sim_reply_problem(w, req, opt.error_shape, &problem);
        return;
    }
    sim_tgi_handle(w, req, &opt, body, strcmp(path, "/generate_stream") == 0);
    json_object_put(body);
}

void sim_tgi_info(sim_worker *w, struct evhttp_request *req) {
    const sim_server *s = w->server;
    int model;
    const char *model_json;
    sim_request_default_model(s, &model, &model_json);
    evbuffer_add_printf(w->scratch,
                        "{\"model_id\":\"%s\",\"model_sha\":null,\"model_pipeline_tag\":"
                        "\"text-generation\",\"max_concurrent_requests\":128,\"max_best_of\":2,"
                        "\"max_stop_sequences\":%d,\"max_input_tokens\":%d,\"max_total_tokens\":%d,"
                        "\"validation_workers\":2,\"max_client_batch_size\":4,\"router\":"
                        "\"text-generation-router\",\"version\":\"3.3.4\",\"sha\":null,"
                        "\"docker_label\":null}",
                        model_json, SIM_TGI_MAX_STOP, SIM_MAX_MODEL_LEN - 1, SIM_MAX_MODEL_LEN);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
    evhttp_send_reply(req, 200, NULL, w->scratch);
}
