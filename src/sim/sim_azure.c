/* Azure OpenAI: POST /openai/deployments/{deployment}/chat/completions (also /completions,
 * /embeddings) with ?api-version=... and an api-key header. The deployment plays the model's
 * role: the body's model is ignored and the answer names the deployment, whatever it is called
 * (a deployment is the operator's name, not one the simulator could know); it is counted under
 * the served model of that name, else the first one. A missing api-version is Azure's 404
 * "Resource not found", a missing key its 401. The bodies are OpenAI's, the errors
 * {"error":{"code","message"}}. */
#include <stdlib.h>
#include <string.h>

#include <sys/queue.h>

#include <event2/keyvalq_struct.h>

#include "sim/sim_internal.h"

/* The operation after the deployment; false when it is none Azure serves here. */
static bool operation(const char *rest, sim_api *api) {
    if (strcmp(rest, "/chat/completions") == 0)
        *api = SIM_API_CHAT;
    else if (strcmp(rest, "/completions") == 0)
        *api = SIM_API_COMPLETIONS;
    else if (strcmp(rest, "/embeddings") == 0)
        *api = SIM_API_EMBEDDINGS;
    else
        return false;
    return true;
}

static bool has_api_version(struct evhttp_request *req) {
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *query = uri ? evhttp_uri_get_query(uri) : NULL;
    if (query == NULL) return false;
    struct evkeyvalq params;
    TAILQ_INIT(&params);
    if (evhttp_parse_query_str(query, &params) != 0) return false;
    const char *version = evhttp_find_header(&params, "api-version");
    bool found = version != NULL && version[0] != '\0';
    evhttp_clear_headers(&params);
    return found;
}

void sim_azure_route(sim_worker *w, struct evhttp_request *req, const char *path,
                     enum evhttp_cmd_type cmd) {
    const sim_server *s = w->server;
    sim_options opt;
    const char *text;
    size_t len;
    if (!sim_request_begin(w, req, &opt, &text, &len)) return;
    const char *name = path + sizeof(SIM_AZURE_DEPLOYMENTS) - 1;
    const char *slash = strchr(name, '/');
    sim_api api;
    if (slash == NULL || slash == name || !operation(slash, &api) || !has_api_version(req)) {
        sim_reply_error(w, req, opt.error_shape, 404, NULL, "Resource not found");
        return;
    }
    const char *key = evhttp_find_header(evhttp_request_get_input_headers(req), "api-key");
    if (key == NULL || key[0] == '\0') {
        sim_reply_error(w, req, opt.error_shape, 401, NULL,
                        "Access denied due to invalid subscription key or wrong API endpoint. "
                        "Make sure to provide a valid key for an active subscription and use a "
                        "correct regional API endpoint for your resource.");
        return;
    }
    sim_count(api == SIM_API_CHAT          ? &w->stats.chat
              : api == SIM_API_COMPLETIONS ? &w->stats.completions
                                           : &w->stats.embeddings,
              1);
    if (cmd != EVHTTP_REQ_POST) {
        sim_reply_error(w, req, opt.error_shape, 405, NULL, "Method Not Allowed");
        return;
    }
    size_t decoded_len = 0;
    char *raw = strndup(name, (size_t)(slash - name));
    char *deployment = raw ? evhttp_uridecode(raw, 0, &decoded_len) : NULL;
    free(raw);
    if (deployment == NULL || decoded_len > SIM_MAX_MODEL_NAME) {
        free(deployment);
        sim_reply_error(w, req, opt.error_shape, 404, NULL, "Resource not found");
        return;
    }
    int model = sim_model_find(s, deployment, decoded_len);
    if (model < 0) model = sim_model_default(s);
    sim_json_escape(w->model_echo, deployment, decoded_len);
    free(deployment);
    sim_openai_handle(w, req, api, &opt, text, len, model, w->model_echo);
}
