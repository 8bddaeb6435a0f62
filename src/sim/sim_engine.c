/* Engine modes: which routes each imitated engine serves and how its health endpoints answer.
 * The default (openai) and vllm serve what the simulator always served; the other modes serve
 * their engine's routes only, so a gateway that calls the wrong one gets that engine's 404, and
 * their unknown paths are recorded (GET /sim/last-request) to show what was called. */
#include <string.h>
#include <strings.h>

#include "sim/sim_internal.h"

static const char *const engine_names[] = {
    [SIM_ENGINE_OPENAI] = "openai", [SIM_ENGINE_VLLM] = "vllm",
    [SIM_ENGINE_SGLANG] = "sglang", [SIM_ENGINE_MINDIE] = "mindie",
    [SIM_ENGINE_TGI] = "tgi",       [SIM_ENGINE_ANTHROPIC] = "anthropic",
    [SIM_ENGINE_AZURE] = "azure",
};

bool sim_engine_parse(const char *name, sim_engine *engine) {
    if (name == NULL || name[0] == '\0') {
        *engine = SIM_ENGINE_OPENAI;
        return true;
    }
    for (size_t i = 0; i < sizeof(engine_names) / sizeof(engine_names[0]); i++) {
        if (strcasecmp(name, engine_names[i]) == 0) {
            *engine = (sim_engine)i;
            return true;
        }
    }
    return false;
}

sim_error_shape sim_engine_shape(sim_engine engine) {
    switch (engine) {
    case SIM_ENGINE_SGLANG:
        return SIM_SHAPE_FLAT;
    case SIM_ENGINE_MINDIE:
        return SIM_SHAPE_MINDIE;
    case SIM_ENGINE_TGI:
        return SIM_SHAPE_TGI;
    case SIM_ENGINE_ANTHROPIC:
        return SIM_SHAPE_ANTHROPIC;
    case SIM_ENGINE_AZURE:
        return SIM_SHAPE_AZURE;
    case SIM_ENGINE_OPENAI:
    case SIM_ENGINE_VLLM:
        break;
    }
    return SIM_SHAPE_OPENAI;
}

bool sim_instance_faulty(const sim_server *s) {
    sim_instance_setting setting;
    sim_instance_load(s, &setting);
    return setting.fault != SIM_FAULT_NONE;
}

/* A path the engine does not serve: recorded like any call, then its 404. */
static void unknown_route(sim_worker *w, struct evhttp_request *req) {
    sim_options opt;
    const char *body;
    size_t len;
    if (!sim_request_begin(w, req, &opt, &body, &len)) return;
    bool azure = w->server->engine == SIM_ENGINE_AZURE;
    sim_reply_error(w, req, opt.error_shape, 404, NULL, azure ? "Resource not found" : "Not Found");
}

/* 200 with an empty body; `faulty_body` (NULL = empty) with a 503 under an instance fault
 * when the engine's health reflects its failures. */
static void health(sim_worker *w, struct evhttp_request *req, enum evhttp_cmd_type cmd,
                   bool reflects_faults, const char *faulty_body) {
    const sim_server *s = w->server;
    if (!sim_is_get(cmd)) {
        sim_reply_error(w, req, s->shape, 405, NULL, "Method Not Allowed");
        return;
    }
    if (reflects_faults && sim_instance_faulty(s)) {
        if (faulty_body != NULL) {
            evbuffer_add(w->scratch, faulty_body, strlen(faulty_body));
            evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                              "application/json");
        }
        evhttp_send_reply(req, 503, NULL, faulty_body ? w->scratch : NULL);
        return;
    }
    evhttp_send_reply(req, 200, NULL, NULL);
}

static void metrics(sim_worker *w, struct evhttp_request *req, enum evhttp_cmd_type cmd) {
    if (!sim_is_get(cmd)) {
        sim_reply_error(w, req, w->server->shape, 405, NULL, "Method Not Allowed");
        return;
    }
    sim_metrics_body(w->server, w->scratch);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "text/plain; version=0.0.4; charset=utf-8");
    evhttp_send_reply(req, 200, NULL, w->scratch);
}

/* openai and vllm: exactly the routes the simulator always had. */
static void route_vllm(sim_worker *w, struct evhttp_request *req, const char *path,
                       enum evhttp_cmd_type cmd) {
    if (strncmp(path, "/v1/", 4) == 0)
        sim_openai_v1(w, req, path, cmd);
    else if (strcmp(path, "/health") == 0)
        health(w, req, cmd, false, NULL);
    else if (strcmp(path, "/metrics") == 0)
        metrics(w, req, cmd);
    else
        sim_reply_error(w, req, SIM_SHAPE_OPENAI, 404, NULL, "Not Found");
}

static void route_sglang(sim_worker *w, struct evhttp_request *req, const char *path,
                         enum evhttp_cmd_type cmd) {
    if (strncmp(path, "/v1/", 4) == 0)
        sim_openai_v1(w, req, path, cmd);
    else if (strcmp(path, "/generate") == 0)
        sim_sglang_generate(w, req, cmd);
    else if (strcmp(path, "/health") == 0)
        health(w, req, cmd, false, NULL);
    else if (strcmp(path, "/health_generate") == 0)
        health(w, req, cmd, true, NULL); /* it runs a generation, which the fault breaks */
    else if (strcmp(path, "/metrics") == 0)
        metrics(w, req, cmd);
    else
        unknown_route(w, req);
}

static void route_tgi(sim_worker *w, struct evhttp_request *req, const char *path,
                      enum evhttp_cmd_type cmd) {
    if (strcmp(path, "/generate") == 0 || strcmp(path, "/generate_stream") == 0)
        sim_tgi_route(w, req, path, cmd);
    else if (strcmp(path, "/v1/chat/completions") == 0 || strcmp(path, "/v1/completions") == 0 ||
             strcmp(path, "/v1/models") == 0)
        sim_openai_v1(w, req, path, cmd);
    else if (strcmp(path, "/health") == 0)
        health(w, req, cmd, true, "{\"error\":\"unhealthy\",\"error_type\":\"healthcheck\"}");
    else if (strcmp(path, "/info") == 0 && sim_is_get(cmd))
        sim_tgi_info(w, req);
    else if (strcmp(path, "/metrics") == 0)
        metrics(w, req, cmd);
    else
        unknown_route(w, req);
}

static void route_mindie(sim_worker *w, struct evhttp_request *req, const char *path,
                         enum evhttp_cmd_type cmd) {
    /* No /health here: MindIE serves it on the management port only. */
    if (strcmp(path, "/v1/chat/completions") == 0 || strcmp(path, "/v1/completions") == 0 ||
        strcmp(path, "/v1/models") == 0)
        sim_openai_v1(w, req, path, cmd);
    else if (strcmp(path, "/generate") == 0 || strcmp(path, "/generate_stream") == 0)
        sim_mindie_route(w, req, path, cmd);
    else
        unknown_route(w, req);
}

static void route_anthropic(sim_worker *w, struct evhttp_request *req, const char *path,
                            enum evhttp_cmd_type cmd) {
    if (strcmp(path, "/v1/messages") == 0 || strcmp(path, "/v1/models") == 0)
        sim_anthropic_route(w, req, path, cmd);
    else
        unknown_route(w, req);
}

void sim_engine_route(sim_worker *w, struct evhttp_request *req, const char *path,
                      enum evhttp_cmd_type cmd) {
    switch (w->server->engine) {
    case SIM_ENGINE_OPENAI:
    case SIM_ENGINE_VLLM:
        route_vllm(w, req, path, cmd);
        break;
    case SIM_ENGINE_SGLANG:
        route_sglang(w, req, path, cmd);
        break;
    case SIM_ENGINE_TGI:
        route_tgi(w, req, path, cmd);
        break;
    case SIM_ENGINE_MINDIE:
        route_mindie(w, req, path, cmd);
        break;
    case SIM_ENGINE_ANTHROPIC:
        route_anthropic(w, req, path, cmd);
        break;
    case SIM_ENGINE_AZURE:
        if (strncmp(path, SIM_AZURE_DEPLOYMENTS, sizeof(SIM_AZURE_DEPLOYMENTS) - 1) == 0)
            sim_azure_route(w, req, path, cmd);
        else
            unknown_route(w, req);
        break;
    }
}

void sim_handle_management_request(struct evhttp_request *req, void *arg) {
    sim_worker *w = arg;
    evbuffer_drain(w->scratch, evbuffer_get_length(w->scratch));
    const char *path = sim_request_path(req);
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
    /* An unhealthy MindIE answers 503 without a body; "live" only says the process runs, so
     * it stays 200 whatever the fault. */
    if (strcmp(path, "/health") == 0 || strcmp(path, "/v2/health/ready") == 0)
        health(w, req, cmd, true, NULL);
    else if (strcmp(path, "/v2/health/live") == 0)
        health(w, req, cmd, false, NULL);
    else
        sim_reply_error(w, req, SIM_SHAPE_MINDIE, 404, NULL, "Not Found");
}
