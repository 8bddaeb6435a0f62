/* The evhttp callbacks: the /sim/ hooks on any port, then the engine's routes (sim_engine.c).
 * Every engine request goes through the same steps, in this order: count, record, read the
 * x-sim-* headers (over the instance-wide fault), validate the body (a fault simulates an engine
 * failing on a valid request, so a bad body is an error whatever the fault), then fault or
 * answer now, later or as a stream. */
#include <stdio.h>
#include <string.h>

#include "sim/sim_internal.h"

static void reply_text(struct evhttp_request *req, const char *content_type,
                       struct evbuffer *body) {
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", content_type);
    evhttp_send_reply(req, 200, NULL, body);
}

bool sim_replacing_fault(sim_worker *w, struct evhttp_request *req, const sim_options *opt,
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

void sim_answer(sim_worker *w, struct evhttp_request *req, const sim_options *opt, int model,
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

bool sim_request_begin(sim_worker *w, struct evhttp_request *req, sim_options *opt,
                       const char **body, size_t *body_len) {
    sim_count(&w->stats.requests, 1);
    struct evbuffer *input = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(input);
    const char *text = len ? (const char *)evbuffer_pullup(input, -1) : "";
    if (text == NULL) { /* out of memory pulling the body together */
        len = 0;
        text = "";
    }
    sim_last_request_record(w, req, text, len);
    *body = text;
    *body_len = len;
    sim_problem problem;
    if (!sim_options_from_headers(w->server, req, opt, &problem)) {
        sim_reply_problem(w, req, opt->error_shape, &problem);
        return false;
    }
    return true;
}

json_object *sim_request_object(sim_worker *w, const char *body, size_t len, sim_problem *problem) {
    json_object *obj = sim_json_parse(w, body, len, problem);
    if (obj != NULL && !json_object_is_type(obj, json_type_object)) {
        sim_problem_set(problem, 400, NULL, "The request body must be a JSON object.");
        json_object_put(obj);
        return NULL;
    }
    return obj;
}

/* The test hooks under /sim/, on either port. False when path is none of them. */
static bool handle_sim(sim_worker *w, struct evhttp_request *req, const char *path,
                       enum evhttp_cmd_type cmd) {
    const sim_server *s = w->server;
    if (strcmp(path, "/sim/stats") == 0) {
        if (!sim_is_get(cmd)) {
            sim_reply_error(w, req, SIM_SHAPE_OPENAI, 405, NULL, "Method Not Allowed");
            return true;
        }
        sim_stats_body(s, w->scratch);
        reply_text(req, "application/json", w->scratch);
    } else if (strcmp(path, "/sim/last-request") == 0) {
        if (!sim_is_get(cmd)) {
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
        if (!sim_is_get(cmd) && cmd != EVHTTP_REQ_POST) {
            sim_reply_error(w, req, SIM_SHAPE_OPENAI, 405, NULL, "Method Not Allowed");
            return true;
        }
        sim_control_fault(w, req, cmd);
    } else {
        return false;
    }
    return true;
}

const char *sim_request_path(struct evhttp_request *req) {
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
    return path == NULL || path[0] == '\0' ? "/" : path;
}

void sim_handle_control_request(struct evhttp_request *req, void *arg) {
    sim_worker *w = arg;
    evbuffer_drain(w->scratch, evbuffer_get_length(w->scratch));
    if (!handle_sim(w, req, sim_request_path(req), evhttp_request_get_command(req)))
        sim_reply_error(w, req, SIM_SHAPE_OPENAI, 404, NULL, "Not Found");
}

void sim_handle_request(struct evhttp_request *req, void *arg) {
    sim_worker *w = arg;
    const sim_server *s = w->server;
    /* Every answer is built in scratch; start empty whatever an earlier request left. */
    evbuffer_drain(w->scratch, evbuffer_get_length(w->scratch));
    const char *path = sim_request_path(req);
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);

    if (handle_sim(w, req, path, cmd)) return;
    if (atomic_load_explicit(&s->refusing, memory_order_relaxed)) {
        /* A killed engine takes its open connections with it: whatever else arrives on one
         * opened before the refusal is reset. /sim stays reachable to bring the engine back. */
        sim_fault_reset(req);
        return;
    }
    sim_engine_route(w, req, path, cmd);
}
