/* MindIE's native business routes: POST /generate answers TGI style when the body has `inputs`
 * (sim_tgi.c) and vLLM's legacy style when it has `prompt`; POST /generate_stream is TGI style.
 * The legacy style answers {"text":["<prompt> <output>"]}, and streams raw {"text":["<delta>"]}
 * objects each ended by a NUL byte, with no `data:` and no end marker, so the only sign of a
 * complete stream is the clean end of the response. Its health lives on the management port
 * (sim_engine.c); the OpenAI routes are sim_openai.c's. */
#include <stdio.h>
#include <string.h>

#include "sim/sim_internal.h"

static bool legacy_ok(sim_worker *w, json_object *body, const sim_options *opt, sim_generation *gen,
                      sim_problem *p) {
    memset(gen, 0, sizeof(*gen));
    gen->api = SIM_API_COMPLETIONS;
    gen->choices = 1;
    sim_request_default_model(w->server, &gen->model, &gen->model_json);
    json_object *prompt = sim_json_member(body, "prompt");
    if (!json_object_is_type(prompt, json_type_string)) {
        sim_problem_set(p, 422, "prompt", "`prompt` must be a string.");
        return false;
    }
    long words =
        sim_count_words(json_object_get_string(prompt), (size_t)json_object_get_string_len(prompt));
    gen->prompt_tokens = words > 0 ? words : 1;
    json_object *stream = sim_json_member(body, "stream");
    if (!sim_json_is_null(stream) && !json_object_is_type(stream, json_type_boolean)) {
        sim_problem_set(p, 422, "stream", "`stream` must be a boolean.");
        return false;
    }
    gen->stream = stream != NULL && json_object_get_boolean(stream);
    json_object *max = sim_json_member(body, "max_tokens");
    bool limited = !sim_json_is_null(max);
    long max_tokens = limited ? (long)json_object_get_int64(max) : 0;
    if (limited && (!json_object_is_type(max, json_type_int) || max_tokens < 1)) {
        sim_problem_set(p, 422, "max_tokens", "`max_tokens` must be a positive integer.");
        return false;
    }
    return sim_plan_tokens(gen, opt, limited, max_tokens, p);
}

static int legacy_frame(sim_stream *st, struct evbuffer *out, int choice, int step, bool last) {
    (void)choice;
    (void)last;
    evbuffer_add(out, "{\"text\":[\"", 10);
    sim_token_append(out, st->gen.script, step);
    evbuffer_add(out, "\"]}\0", 4);
    return 1;
}

static void legacy_malformed(sim_stream *st, struct evbuffer *out) {
    (void)st;
    evbuffer_add(out, "{\"text\":broken\0", 15);
}

static void legacy_mid_error(sim_stream *st, struct evbuffer *out) {
    /* The stream just ends, as MindIE's failed streams do. */
    (void)st;
    (void)out;
}

static const sim_stream_format legacy_format = {
    .content_type = "application/json",
    .frame = legacy_frame,
    .malformed = legacy_malformed,
    .mid_error = legacy_mid_error,
};

static void legacy_generate(sim_worker *w, struct evhttp_request *req, const sim_options *opt,
                            json_object *body) {
    sim_generation gen;
    sim_problem problem;
    if (!legacy_ok(w, body, opt, &gen, &problem)) {
        sim_reply_problem(w, req, opt->error_shape, &problem);
        return;
    }
    if (sim_replacing_fault(w, req, opt, gen.model, gen.stream)) {
        sim_generation_release(&gen);
        return;
    }
    if (gen.stream) {
        sim_stream *st = sim_stream_new(w, &legacy_format, &gen, opt, gen.tokens);
        if (st == NULL)
            sim_reply_error(w, req, opt->error_shape, 500, NULL, "out of memory");
        else
            sim_stream_run(st, req);
        sim_generation_release(&gen);
        return;
    }
    json_object *prompt = sim_json_member(body, "prompt");
    evbuffer_add(w->scratch, "{\"text\":[\"", 10);
    sim_json_add_escaped(w->scratch, json_object_get_string(prompt),
                         (size_t)json_object_get_string_len(prompt));
    evbuffer_add(w->scratch, " ", 1);
    sim_text_append(w->scratch, gen.script, gen.tokens);
    sim_generation_release(&gen);
    evbuffer_add(w->scratch, "\"]}", 3);
    sim_answer(w, req, opt, gen.model, gen.prompt_tokens, gen.tokens, gen.length_limited);
}

void sim_mindie_route(sim_worker *w, struct evhttp_request *req, const char *path,
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
    bool stream_route = strcmp(path, "/generate_stream") == 0;
    if (stream_route || sim_json_member(body, "inputs") != NULL)
        sim_tgi_handle(w, req, &opt, body, stream_route);
    else if (sim_json_member(body, "prompt") != NULL)
        legacy_generate(w, req, &opt, body);
    else
        sim_reply_error(w, req, opt.error_shape, 422, NULL,
                        "The body needs `inputs` (TGI style) or `prompt` (vLLM style).");
    json_object_put(body);
}
