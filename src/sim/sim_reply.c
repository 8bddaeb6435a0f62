/* Writing answers: JSON bodies (with the body-level faults applied to successes) and error
 * bodies in the shape of the engine being imitated (its mode, or x-sim-error-shape), because
 * gateways must normalize all of them: vLLM >= 0.10.1 / OpenAI, SGLang / older vLLM (flat), TGI,
 * MindIE, Anthropic, Azure. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "sim/sim_internal.h"

void sim_problem_set(sim_problem *p, int status, const char *param, const char *fmt, ...) {
    p->status = status;
    p->param = param;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->message, sizeof(p->message), fmt, ap);
    va_end(ap);
}

typedef struct status_name {
    int status;
    const char *name;
} status_name;

/* The "type" vLLM (>= 0.10.1) and the OpenAI SDK's error classes use for each status. */
static const status_name error_types[] = {
    {400, "BadRequestError"},
    {401, "AuthenticationError"},
    {403, "PermissionDeniedError"},
    {404, "NotFoundError"},
    {405, "MethodNotAllowedError"},
    {408, "RequestTimeoutError"},
    {409, "ConflictError"},
    {413, "RequestEntityTooLargeError"},
    {422, "UnprocessableEntityError"},
    {429, "RateLimitError"},
    {500, "InternalServerError"},
    {501, "NotImplementedError"},
    {502, "BadGatewayError"},
    {503, "ServiceUnavailableError"},
    {504, "GatewayTimeoutError"},
};

/* TGI's error_type vocabulary (router/src/server.rs). */
static const status_name tgi_error_types[] = {
    {400, "validation"},
    {422, "validation"},
    {424, "generation"},
    {429, "overloaded"},
    {500, "incomplete_generation"},
    {503, "unhealthy"},
};

/* MindIE's error_type phrases; the others are HTTP's reason phrases. */
static const status_name mindie_error_types[] = {
    {400, "Bad Request"},       {401, "Unauthorized"},           {403, "Forbidden"},
    {404, "NotFoundError"},     {405, "Method Not Allowed"},     {408, "Request Timeout"},
    {413, "Payload Too Large"}, {422, "Input Validation Error"}, {424, "Generation Error"},
    {429, "Too Many Requests"}, {500, "Incomplete Generation"},  {501, "Not Implemented"},
    {502, "Bad Gateway"},       {503, "Service Unavailable"},    {504, "Gateway Timeout"},
};

/* Anthropic's error types by status. */
static const status_name anthropic_error_types[] = {
    {400, "invalid_request_error"},
    {401, "authentication_error"},
    {403, "permission_error"},
    {404, "not_found_error"},
    {413, "request_too_large"},
    {429, "rate_limit_error"},
    {500, "api_error"},
    {529, "overloaded_error"},
};

static const char *lookup(const status_name *table, size_t count, int status,
                          const char *client_error, const char *server_error) {
    for (size_t i = 0; i < count; i++)
        if (table[i].status == status) return table[i].name;
    return status >= 500 ? server_error : client_error;
}

const char *sim_error_type(int status) {
    return lookup(error_types, sizeof(error_types) / sizeof(error_types[0]), status,
                  "BadRequestError", "InternalServerError");
}

static const char *tgi_error_type(int status) {
    return lookup(tgi_error_types, sizeof(tgi_error_types) / sizeof(tgi_error_types[0]), status,
                  "validation", "incomplete_generation");
}

static const char *mindie_error_type(int status) {
    return lookup(mindie_error_types, sizeof(mindie_error_types) / sizeof(mindie_error_types[0]),
                  status, "Bad Request", "Internal Server Error");
}

static const char *anthropic_error_type(int status) {
    return lookup(anthropic_error_types,
                  sizeof(anthropic_error_types) / sizeof(anthropic_error_types[0]), status,
                  "invalid_request_error", "api_error");
}

void sim_reply_json(struct evhttp_request *req, const sim_options *opt, int status,
                    struct evbuffer *body) {
    struct evkeyvalq *headers = evhttp_request_get_output_headers(req);
    evhttp_add_header(headers, "Content-Type", "application/json");
    size_t len = evbuffer_get_length(body);
    sim_fault fault = status == 200 && opt != NULL ? opt->fault : SIM_FAULT_NONE;
    if (fault == SIM_FAULT_CUT || fault == SIM_FAULT_MALFORMED) {
        struct evbuffer *output = evhttp_request_get_output_buffer(req);
        evbuffer_remove_buffer(body, output, len / 2);
        evbuffer_drain(body, evbuffer_get_length(body));
        if (fault == SIM_FAULT_CUT) {
            /* Promise the whole body, deliver half, then close: a premature EOF. */
            char length[24];
            snprintf(length, sizeof(length), "%zu", len);
            evhttp_add_header(headers, "Content-Length", length);
            evhttp_add_header(headers, "Connection", "close");
        }
        evhttp_send_reply(req, status, NULL, NULL);
        return;
    }
    evhttp_send_reply(req, status, NULL, body);
}

void sim_reply_error(sim_worker *w, struct evhttp_request *req, sim_error_shape shape, int status,
                     const char *param, const char *message) {
    struct evbuffer *out = w->scratch;
    size_t mlen = strlen(message);
    switch (shape) {
    case SIM_SHAPE_EMPTY:
        evhttp_send_reply(req, status, NULL, NULL);
        return;
    case SIM_SHAPE_TGI:
    case SIM_SHAPE_MINDIE:
        evbuffer_add_printf(out, "{\"error\":");
        sim_json_add_string(out, message, mlen);
        evbuffer_add_printf(out, ",\"error_type\":\"%s\"}",
                            shape == SIM_SHAPE_TGI ? tgi_error_type(status)
                                                   : mindie_error_type(status));
        break;
    case SIM_SHAPE_ANTHROPIC:
        evbuffer_add_printf(out, "{\"type\":\"error\",\"error\":{\"type\":\"%s\",\"message\":",
                            anthropic_error_type(status));
        sim_json_add_string(out, message, mlen);
        evbuffer_add(out, "}}", 2);
        break;
    case SIM_SHAPE_AZURE:
        evbuffer_add_printf(out, "{\"error\":{\"code\":\"%d\",\"message\":", status);
        sim_json_add_string(out, message, mlen);
        evbuffer_add(out, "}}", 2);
        break;
    case SIM_SHAPE_SGLANG_NATIVE:
        evbuffer_add_printf(out, "{\"error\":{\"message\":");
        sim_json_add_string(out, message, mlen);
        evbuffer_add(out, "}}", 2);
        break;
    case SIM_SHAPE_FLAT:
    case SIM_SHAPE_OPENAI:
        evbuffer_add_printf(out, shape == SIM_SHAPE_FLAT ? "{\"object\":\"error\",\"message\":"
                                                         : "{\"error\":{\"message\":");
        sim_json_add_string(out, message, mlen);
        evbuffer_add_printf(out, ",\"type\":\"%s\",\"param\":", sim_error_type(status));
        if (param != NULL)
            sim_json_add_string(out, param, strlen(param));
        else
            evbuffer_add(out, "null", 4);
        evbuffer_add_printf(out, ",\"code\":%d}%s", status, shape == SIM_SHAPE_FLAT ? "" : "}");
        break;
    }
    sim_reply_json(req, NULL, status, out);
}

void sim_reply_problem(sim_worker *w, struct evhttp_request *req, sim_error_shape shape,
                       const sim_problem *problem) {
    sim_reply_error(w, req, shape, problem->status, problem->param, problem->message);
}
