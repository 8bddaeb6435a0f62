/* The evhttp callbacks: route by path and method, and run a /v1 request through the same
 * order every time: count, record, read the x-sim-* headers (over the instance-wide fault),
 * validate the body (a fault simulates an engine failing on a valid request, so a bad body is a
 * 400 whatever the fault), then fault or answer now, later or as a stream. */
#include <stdio.h>
#include <string.h>

#include "sim/sim_internal.h"

static void reply_text(struct evhttp_request *req, const char *content_type,
                       struct evbuffer *body) {
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", content_type);
    evhttp_send_reply(req, 200, NULL, body);
}

static bool is_get(enum evhttp_cmd_type cmd) {
    return cmd == EVHTTP_REQ_GET || cmd == EVHTTP_REQ_HEAD;
}

/* The faults that replace the answer entirely (and any body already built in scratch). True
 * when the request was taken care of. */
static bool replacing_fault(sim_worker *w, struct evhttp_request *req, const sim_options *opt,
                            int model, bool stream) {
    char message[64];
    switch (opt->fault) {
    case SIM_FAULT_STATUS:
        evbuffer_drain(w->scratch, evbuffer_get_length(w->scratch));
        snprintf(message, sizeof(message), "Simulated failure (status %d).", opt->fault_arg);
        sim_reply_error(w, req, opt->error_shape, opt->fault_arg, NULL, message);
        return true;
    case SIM_FAULT_RESET_AFTER:
        if (stream) return false; /* the stream resets after its chunks */
        sim_fault_reset(req);
        return true;
    case SIM_FAULT_RESET:
        sim_fault_reset(req);
        return true;
    case SIM_FAULT_HANG:
        sim_hang(w, req, model);
        return true;
    default:
        return false;
    }
}

/* Answers a finished JSON body (in w->scratch) now or after the first-token delay. */
static void answer(sim_worker *w, struct evhttp_request *req, const sim_options *opt, int model,
                   long prompt_tokens, long completion_tokens, bool length_limited) {
    if (opt->fault == SIM_FAULT_MID_ERROR) {
        /* Without a stream to break, a mid-generation engine failure is a 500. */
        evbuffer_drain(w->scratch, evbuffer_get_length(w->scratch));
        sim_reply_error(w, req, opt->error_shape, 500, NULL, "simulated engine failure");
        return;
    }
    if (opt->fault == SIM_FAULT_STALL) {
        /* The head at once, promising this body, which never follows. */
        size_t length = evbuffer_get_length(w->scratch);
        evbuffer_drain(w->scratch, length);
        sim_stall(w, req, model, length);
        return;
    }
    if (opt->first_token_ms > 0) {
        sim_delayed_reply(w, req, opt, opt->first_token_ms, w->scratch, model, prompt_tokens,
                          completion_tokens, length_limited);
        return;
    }
    if (model >= 0) sim_stats_success(w, model, prompt_tokens, completion_tokens, length_limited);
    sim_reply_json(req, opt, 200, w->scratch);
}

static void handle_generation(sim_worker *w, struct evhttp_request *req, sim_api api,
                              json_object *body, const sim_options *opt) {
    sim_generation gen;
    sim_problem problem;
    if (!sim_request_generation(w, body, api, opt, &gen, &problem)) {
        sim_reply_problem(w, req, opt->error_shape, &problem);
        return;
    }
    if (replacing_fault(w, req, opt, gen.model, gen.stream)) return;
    if (gen.stream) {
        sim_stream_start(w, req, &gen, opt);
        return;
    }
    sim_completion_body(w, w->scratch, &gen);
    answer(w, req, opt, gen.model, gen.prompt_tokens, (long)gen.tokens * gen.choices,
           gen.length_limited);
}

static void handle_embeddings(sim_worker *w, struct evhttp_request *req, json_object *body,
                              const sim_options *opt) {
    sim_problem problem;
    int model;
    const char *model_json;
    long prompt_tokens = 0;
    if (!sim_request_model(w, body, &model, &model_json, &problem) ||
        !sim_embeddings_body(w, body, model_json, w->scratch, &prompt_tokens, &problem)) {
        sim_reply_problem(w, req, opt->error_shape, &problem);
        return;
    }
    if (replacing_fault(w, req, opt, model, false)) return;
    answer(w, req, opt, model, prompt_tokens, 0, false);
}

static void handle_v1(sim_worker *w, struct evhttp_request *req, const char *path,
                      enum evhttp_cmd_type cmd) {
    sim_count(&w->stats.requests, 1);
    struct evbuffer *input = evhttp_request_get_input_buffer(req);
    size_t body_len = evbuffer_get_length(input);
    const char *body_text = body_len ? (const char *)evbuffer_pullup(input, -1) : "";
    if (body_text == NULL) { /* out of memory pulling the body together */
        body_len = 0;
        body_text = "";
    }
    sim_last_request_record(w, req, path, body_text, body_len);

    sim_options opt;
    sim_problem problem;
    if (!sim_options_from_headers(w->server, req, &opt, &problem)) {
        sim_reply_problem(w, req, opt.error_shape, &problem);
        return;
    }
    sim_api api;
    if (strcmp(path, "/v1/chat/completions") == 0) {
        api = SIM_API_CHAT;
        sim_count(&w->stats.chat, 1);
    } else if (strcmp(path, "/v1/completions") == 0) {
        api = SIM_API_COMPLETIONS;
        sim_count(&w->stats.completions, 1);
    } else if (strcmp(path, "/v1/embeddings") == 0) {
        api = SIM_API_EMBEDDINGS;
        sim_count(&w->stats.embeddings, 1);
    } else if (strcmp(path, "/v1/models") == 0) {
        api = SIM_API_MODELS;
    } else {
        sim_reply_error(w, req, opt.error_shape, 404, NULL, "Not Found");
        return;
    }
    if (api == SIM_API_MODELS ? !is_get(cmd) : cmd != EVHTTP_REQ_POST) {
        sim_reply_error(w, req, opt.error_shape, 405, NULL, "Method Not Allowed");
        return;
    }
    if (api == SIM_API_MODELS) {
        if (replacing_fault(w, req, &opt, -1, false)) return;
        sim_models_body(w->server, w->scratch);
        answer(w, req, &opt, -1, 0, 0, false);
        return;
    }

    json_object *body = sim_json_parse(w, body_text, body_len, &problem);
    if (body != NULL && !json_object_is_type(body, json_type_object))
        sim_problem_set(&problem, 400, NULL, "The request body must be a JSON object.");
    if (body == NULL || !json_object_is_type(body, json_type_object)) {
        json_object_put(body);
        sim_reply_problem(w, req, opt.error_shape, &problem);
        return;
    }
    if (api == SIM_API_EMBEDDINGS)
        handle_embeddings(w, req, body, &opt);
    else
        handle_generation(w, req, api, body, &opt);
    json_object_put(body);
}

/* The test hooks under /sim/, on either port. False when path is none of them. */
static bool handle_sim(sim_worker *w, struct evhttp_request *req, const char *path,
                       enum evhttp_cmd_type cmd) {
    const sim_server *s = w->server;
    if (strcmp(path, "/sim/stats") == 0) {
        if (!is_get(cmd)) {
            sim_reply_error(w, req, SIM_SHAPE_OPENAI, 405, NULL, "Method Not Allowed");
            return true;
        }
        sim_stats_body(s, w->scratch);
        reply_text(req, "application/json", w->scratch);
    } else if (strcmp(path, "/sim/last-request") == 0) {
        if (!is_get(cmd)) {
            sim_reply_error(w, req, SIM_SHAPE_OPENAI, 405, NULL, "Method Not Allowed");
            return true;
        }
        sim_last_request_body(s, w->scratch);
        reply_text(req, "application/json", w->scratch);
    } else if (strcmp(path, "/sim/reset") == 0) {
        if (cmd != EVHTTP_REQ_POST) {
            sim_reply_error(w, req, SIM_SHAPE_OPENAI, 405, NULL, "Method Not Allowed");
            return true;
        }
        sim_control_reset(w, req);
    } else if (strcmp(path, "/sim/fault") == 0) {
        if (!is_get(cmd) && cmd != EVHTTP_REQ_POST) {
            sim_reply_error(w, req, SIM_SHAPE_OPENAI, 405, NULL, "Method Not Allowed");
            return true;
        }
        sim_control_fault(w, req, cmd);
    } else {
        return false;
    }
    return true;
}

static const char *request_path(struct evhttp_request *req) {
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
    return path == NULL || path[0] == '\0' ? "/" : path;
}

void sim_handle_control_request(struct evhttp_request *req, void *arg) {
    sim_worker *w = arg;
    evbuffer_drain(w->scratch, evbuffer_get_length(w->scratch));
    if (!handle_sim(w, req, request_path(req), evhttp_request_get_command(req)))
        sim_reply_error(w, req, SIM_SHAPE_OPENAI, 404, NULL, "Not Found");
}

void sim_handle_request(struct evhttp_request *req, void *arg) {
    sim_worker *w = arg;
    const sim_server *s = w->server;
    /* Every answer is built in scratch; start empty whatever an earlier request left. */
    evbuffer_drain(w->scratch, evbuffer_get_length(w->scratch));
    const char *path = request_path(req);
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);

    if (handle_sim(w, req, path, cmd)) return;
    if (atomic_load_explicit(&s->refusing, memory_order_relaxed)) {
        /* A killed engine takes its open connections with it: whatever else arrives on one
         * opened before the refusal is reset. /sim stays reachable to bring the engine back. */
        sim_fault_reset(req);
        return;
    }
    if (strncmp(path, "/v1/", 4) == 0) {
        handle_v1(w, req, path, cmd);
    } else if (strcmp(path, "/health") == 0) {
        if (is_get(cmd))
            evhttp_send_reply(req, 200, NULL, NULL);
        else
            sim_reply_error(w, req, SIM_SHAPE_OPENAI, 405, NULL, "Method Not Allowed");
    } else if (strcmp(path, "/metrics") == 0) {
        if (!is_get(cmd)) {
            sim_reply_error(w, req, SIM_SHAPE_OPENAI, 405, NULL, "Method Not Allowed");
            return;
        }
        sim_metrics_body(s, w->scratch);
        reply_text(req, "text/plain; version=0.0.4; charset=utf-8", w->scratch);
    } else {
        sim_reply_error(w, req, SIM_SHAPE_OPENAI, 404, NULL, "Not Found");
    }
}
