/* SGLang's native POST /generate: {text | input_ids, sampling_params, stream, rid} ->
 * {text, meta_info{id, finish_reason, prompt_tokens, completion_tokens, cached_tokens}}.
 * Streams are `data: {...}` events whose text is CUMULATIVE (a client diffs it against the
 * previous event), finish_reason null until a last event that carries it, then `data: [DONE]`.
 * finish_reason is {"type":"length","length":N}, {"type":"stop","matched":"<stop string>"} (the
 * stop string is cut from the text) or, for a natural end, {"type":"stop","matched":2} (the EOS
 * token id). A request it cannot run is a 400 {"error":{"message"}}, SGLang's native shape. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/sim_internal.h"

enum { SIM_EOS_TOKEN = 2 };

static bool is_number(json_object *v) {
    return v != NULL &&
           (json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_double));
}

static bool request_ok(sim_worker *w, json_object *body, const sim_options *opt,
                       sim_generation *gen, sim_problem *p) {
    memset(gen, 0, sizeof(*gen));
    gen->api = SIM_API_COMPLETIONS;
    gen->choices = 1;
    sim_request_default_model(w->server, &gen->model, &gen->model_json);
    json_object *text = sim_json_member(body, "text");
    json_object *ids = sim_json_member(body, "input_ids");
    bool has_text = !sim_json_is_null(text), has_ids = !sim_json_is_null(ids);
    if (has_text == has_ids) {
        sim_problem_set(p, 400, NULL, "Either text or input_ids should be provided.");
        return false;
    }
    long words = 0;
    if (has_text) {
        if (!json_object_is_type(text, json_type_string)) {
            sim_problem_set(p, 400, NULL, "`text` must be a string (batches are not simulated).");
            return false;
        }
        words =
            sim_count_words(json_object_get_string(text), (size_t)json_object_get_string_len(text));
    } else {
        size_t n = json_object_is_type(ids, json_type_array) ? json_object_array_length(ids) : 0;
        bool valid = n > 0;
        for (size_t i = 0; i < n && valid; i++)
            valid = json_object_is_type(json_object_array_get_idx(ids, i), json_type_int);
        if (!valid) {
            sim_problem_set(p, 400, NULL, "`input_ids` must be a non-empty list of token ids.");
            return false;
        }
        words = (long)n;
    }
    gen->prompt_tokens = words > 0 ? words : 1;

    json_object *stream = sim_json_member(body, "stream");
    if (!sim_json_is_null(stream) && !json_object_is_type(stream, json_type_boolean)) {
        sim_problem_set(p, 400, NULL, "`stream` must be a boolean.");
        return false;
    }
    gen->stream = stream != NULL && json_object_get_boolean(stream);

    json_object *params = sim_json_member(body, "sampling_params");
    if (!sim_json_is_null(params) && !json_object_is_type(params, json_type_object)) {
        sim_problem_set(p, 400, NULL, "`sampling_params` must be an object.");
        return false;
    }
    json_object *temperature = sim_json_member(params, "temperature");
    if (!sim_json_is_null(temperature) &&
        (!is_number(temperature) || json_object_get_double(temperature) < 0)) {
        sim_problem_set(p, 400, NULL, "temperature must be non-negative, got %g.",
                        json_object_get_double(temperature));
        return false;
    }
    json_object *top_p = sim_json_member(params, "top_p");
    double tp = json_object_get_double(top_p);
    if (!sim_json_is_null(top_p) && (!is_number(top_p) || tp <= 0 || tp > 1)) {
        sim_problem_set(p, 400, NULL, "top_p must be in (0, 1], got %g.", tp);
        return false;
    }
    json_object *top_k = sim_json_member(params, "top_k");
    int64_t tk = json_object_get_int64(top_k);
    if (!sim_json_is_null(top_k) &&
        (!json_object_is_type(top_k, json_type_int) || (tk != -1 && tk < 1))) {
        sim_problem_set(p, 400, NULL, "top_k must be -1 (disable), or at least 1, got %lld.",
                        (long long)tk);
        return false;
    }
    json_object *max_new = sim_json_member(params, "max_new_tokens");
    bool limited = !sim_json_is_null(max_new);
    long max_tokens = limited ? (long)json_object_get_int64(max_new) : 0;
    if (limited && (!json_object_is_type(max_new, json_type_int) || max_tokens < 0)) {
        sim_problem_set(p, 400, NULL, "max_new_tokens must be at least 0.");
        return false;
    }
    json_object *stop = sim_json_member(params, "stop");
    if (!sim_json_is_null(stop)) {
        bool valid = json_object_is_type(stop, json_type_string) ||
                     json_object_is_type(stop, json_type_array);
        size_t n = json_object_is_type(stop, json_type_array) ? json_object_array_length(stop) : 0;
        for (size_t i = 0; i < n && valid; i++)
            valid = json_object_is_type(json_object_array_get_idx(stop, i), json_type_string);
        if (!valid) {
            sim_problem_set(p, 400, NULL, "`stop` must be a string or a list of strings.");
            return false;
        }
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
        gen->tokens = at;
        gen->length_limited = false;
    }
    return true;
}

static void add_finish_reason(struct evbuffer *out, const sim_generation *gen) {
    if (gen->stop != NULL) {
        evbuffer_add_printf(out, "{\"type\":\"stop\",\"matched\":");
        sim_json_add_string(out, gen->stop, strlen(gen->stop));
        evbuffer_add(out, "}", 1);
    } else if (gen->length_limited) {
        evbuffer_add_printf(out, "{\"type\":\"length\",\"length\":%d}", gen->tokens);
    } else {
        evbuffer_add_printf(out, "{\"type\":\"stop\",\"matched\":%d}", SIM_EOS_TOKEN);
    }
}

/* One event or answer: the text of tokens [0, tokens) and meta_info. */
static void add_output(struct evbuffer *out, const char *id_json, const sim_generation *gen,
                       int tokens, bool finished) {
    evbuffer_add_printf(out, "{\"text\":\"");
    sim_text_append(out, gen->script, tokens);
    evbuffer_add_printf(out, "\",\"meta_info\":{\"id\":\"%s\",\"finish_reason\":", id_json);
    if (finished)
        add_finish_reason(out, gen);
    else
        evbuffer_add(out, "null", 4);
    evbuffer_add_printf(out,
                        ",\"prompt_tokens\":%ld,\"completion_tokens\":%d,\"cached_tokens\":%ld}}",
                        gen->prompt_tokens, tokens, gen->cached_tokens);
}

/* The stream keeps the escaped id in its prefix. */
static int frame(sim_stream *st, struct evbuffer *out, int choice, int step, bool last) {
    (void)choice;
    (void)last;
    evbuffer_add(out, "data: ", 6);
    add_output(out, st->prefix, &st->gen, step + 1, false);
    evbuffer_add(out, "\n\n", 2);
    return 1;
}

static void finish(sim_stream *st, struct evbuffer *out) {
    evbuffer_add(out, "data: ", 6);
    add_output(out, st->prefix, &st->gen, st->gen.tokens, true);
    evbuffer_add_printf(out, "\n\ndata: [DONE]\n\n");
}

static void malformed(sim_stream *st, struct evbuffer *out) {
    (void)st;
    evbuffer_add_printf(out, "data: {\"text\":broken\n\n");
}

static void mid_error(sim_stream *st, struct evbuffer *out) {
    (void)st;
    evbuffer_add_printf(out, "data: {\"error\":{\"message\":\"simulated engine failure\"}}\n\n"
                             "data: [DONE]\n\n");
}

static const sim_stream_format sglang_format = {
    .content_type = "text/event-stream",
    .frame = frame,
    .finish = finish,
    .malformed = malformed,
    .mid_error = mid_error,
};

/* The request's rid, escaped, or a fresh id. */
static char *make_id(sim_worker *w, json_object *body) {
    json_object *rid = sim_json_member(body, "rid");
    if (rid != NULL && json_object_is_type(rid, json_type_string)) {
        size_t len = (size_t)json_object_get_string_len(rid);
        if (len > SIM_MAX_MODEL_NAME) len = SIM_MAX_MODEL_NAME;
        char *id = malloc(6 * len + 1);
        if (id != NULL) sim_json_escape(id, json_object_get_string(rid), len);
        return id;
    }
    char id[64];
    sim_make_id(w, "", id, sizeof(id));
    return strdup(id);
}

void sim_sglang_generate(sim_worker *w, struct evhttp_request *req, enum evhttp_cmd_type cmd) {
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
    sim_generation gen;
    if (body == NULL || !request_ok(w, body, &opt, &gen, &problem)) {
        json_object_put(body);
        /* SGLang's own shape for what it cannot run, unless a test asked for another. */
        bool native = opt.error_shape == w->server->shape;
        sim_reply_problem(w, req, native ? SIM_SHAPE_SGLANG_NATIVE : opt.error_shape, &problem);
        return;
    }
    char *id = make_id(w, body);
    json_object_put(body);
    if (id == NULL) {
        sim_generation_release(&gen);
        sim_reply_error(w, req, opt.error_shape, 500, NULL, "out of memory");
        return;
    }
    if (sim_replacing_fault(w, req, &opt, gen.model, gen.stream)) {
        free(id);
        sim_generation_release(&gen);
        return;
    }
    if (gen.stream) {
        sim_stream *st = sim_stream_new(w, &sglang_format, &gen, &opt, gen.tokens);
        if (st == NULL) {
            free(id);
            sim_reply_error(w, req, opt.error_shape, 500, NULL, "out of memory");
        } else {
            st->prefix = id;
            st->prefix_len = strlen(id);
            sim_stream_run(st, req);
        }
        sim_generation_release(&gen);
        return;
    }
    add_output(w->scratch, id, &gen, gen.tokens, true);
    free(id);
    sim_generation_release(&gen);
    sim_answer(w, req, &opt, gen.model, gen.prompt_tokens, gen.tokens, gen.length_limited);
}
