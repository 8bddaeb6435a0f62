/* The OpenAI-compatible routes (chat, completions, embeddings, models) of every OpenAI-style
 * mode. The modes differ in small ways an adapter must cope with: SGLang's errors are flat,
 * MindIE and TGI call a request they cannot run a 422 (vLLM and OpenAI say 400), MindIE checks
 * the model name and reads no max_completion_tokens, TGI serves one model whatever the body
 * names, and Azure names the model in the path (sim_azure.c). */
#include <string.h>

#include "sim/sim_internal.h"

/* A request that parses but cannot be run: MindIE and TGI answer 422 where vLLM says 400. */
static int validation_status(const sim_server *s, int status) {
    bool unprocessable = s->engine == SIM_ENGINE_MINDIE || s->engine == SIM_ENGINE_TGI;
    return unprocessable && status == 400 ? 422 : status;
}

static void handle_embeddings(sim_worker *w, struct evhttp_request *req, json_object *body,
                              const sim_options *opt, int forced_model, const char *forced_json) {
    sim_problem problem;
    int model = forced_model;
    const char *model_json = forced_json;
    long prompt_tokens = 0;
    if ((forced_model < 0 && !sim_request_model(w, body, &model, &model_json, &problem)) ||
        !sim_embeddings_body(w, body, model_json, w->scratch, &prompt_tokens, &problem)) {
        problem.status = validation_status(w->server, problem.status);
        evbuffer_drain(w->scratch, evbuffer_get_length(w->scratch));
        sim_reply_problem(w, req, opt->error_shape, &problem);
        return;
    }
    if (sim_replacing_fault(w, req, opt, model, false)) return;
    sim_answer(w, req, opt, model, prompt_tokens, 0, false);
}

static void handle_generation(sim_worker *w, struct evhttp_request *req, sim_api api,
                              json_object *body, const sim_options *opt, int forced_model,
                              const char *forced_json) {
    sim_generation gen;
    sim_problem problem;
    if (!sim_request_generation(w, body, api, opt, forced_model, forced_json, &gen, &problem)) {
        problem.status = validation_status(w->server, problem.status);
        sim_reply_problem(w, req, opt->error_shape, &problem);
        return;
    }
    if (sim_replacing_fault(w, req, opt, gen.model, gen.stream)) {
        sim_generation_release(&gen);
        return;
    }
    if (gen.stream) {
        sim_openai_stream_start(w, req, &gen, opt);
        sim_generation_release(&gen);
        return;
    }
    sim_completion_body(w, w->scratch, &gen);
    long completion = sim_generation_completion(&gen);
    sim_generation_release(&gen);
    sim_answer(w, req, opt, gen.model, gen.prompt_tokens, completion, gen.length_limited);
}

void sim_openai_handle(sim_worker *w, struct evhttp_request *req, sim_api api,
                       const sim_options *opt, const char *body_text, size_t body_len,
                       int forced_model, const char *forced_json) {
    sim_problem problem;
    json_object *body = sim_request_object(w, body_text, body_len, &problem);
    if (body == NULL) {
        sim_reply_problem(w, req, opt->error_shape, &problem);
        return;
    }
    if (api == SIM_API_EMBEDDINGS)
        handle_embeddings(w, req, body, opt, forced_model, forced_json);
    else
        handle_generation(w, req, api, body, opt, forced_model, forced_json);
    json_object_put(body);
}

void sim_openai_v1(sim_worker *w, struct evhttp_request *req, const char *path,
                   enum evhttp_cmd_type cmd) {
    sim_options opt;
    const char *body;
    size_t body_len;
    if (!sim_request_begin(w, req, &opt, &body, &body_len)) return;
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
    if (api == SIM_API_MODELS ? !sim_is_get(cmd) : cmd != EVHTTP_REQ_POST) {
        sim_reply_error(w, req, opt.error_shape, 405, NULL, "Method Not Allowed");
        return;
    }
    if (api == SIM_API_MODELS) {
        if (sim_replacing_fault(w, req, &opt, -1, false)) return;
        sim_models_body(w->server, w->scratch);
        sim_answer(w, req, &opt, -1, 0, 0, false);
        return;
    }
    int forced = -1;
    const char *forced_json = NULL;
    /* TGI serves one model and answers in its name whatever the body says. */
    if (w->server->engine == SIM_ENGINE_TGI)
        sim_request_default_model(w->server, &forced, &forced_json);
    sim_openai_handle(w, req, api, &opt, body, body_len, forced, forced_json);
}
