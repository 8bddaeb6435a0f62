/* Errors in Anthropic's shape, {"type":"error","error":{"type","message"}}, which the Anthropic
 * SDKs parse, whatever the failure was in the gateway's (OpenAI's) vocabulary. */
#include <event2/buffer.h>
#include <string.h>

#include "core/json_string.h"
#include "inbound/anthropic.h"

/* Anthropic's own table (docs "Errors"): other 4xx are invalid_request_error, other 5xx
 * api_error. 503 is the gateway's "no healthy upstream": overloaded, so clients back off and
 * retry as they do on 529. */
static const char *type_by_status(int status) {
    switch (status) {
    case 400:
    case 422:
        return "invalid_request_error";
    case 401:
        return "authentication_error";
    case 402:
        return "billing_error";
    case 403:
        return "permission_error";
    case 404:
        return "not_found_error";
    case 413:
        return "request_too_large";
    case 429:
        return "rate_limit_error";
    case 503:
    case 529:
        return "overloaded_error";
    case 504:
        return "timeout_error";
    default:
        return NULL;
    }
}

/* The OpenAI types the gateway and engines use, for errors whose status says nothing (a
 * mid-stream error arrives under the stream's 200). */
static const char *type_by_openai_type(const char *t) {
    static const struct {
        const char *openai, *anthropic;
    } map[] = {
        {"invalid_request_error", "invalid_request_error"},
        {"authentication_error", "authentication_error"},
        {"invalid_api_key", "authentication_error"},
        {"permission_error", "permission_error"},
        {"not_found_error", "not_found_error"},
        {"model_not_found", "not_found_error"},
        {"rate_limit_exceeded", "rate_limit_error"},
        {"rate_limit_error", "rate_limit_error"},
        {"insufficient_quota", "rate_limit_error"},
        {"overloaded_error", "overloaded_error"},
        {"timeout_error", "timeout_error"},
    };
    if (!t) return NULL;
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (!strcmp(t, map[i].openai)) return map[i].anthropic;
    return NULL;
}

const char *gw_anthropic_in_error_type(int status, const char *openai_type) {
    const char *t = type_by_status(status);
    if (t) return t;
    const char *by_type = type_by_openai_type(openai_type);
    if (status >= 400 && status < 500) return "invalid_request_error";
    if (status >= 500 && status < 600) {
        /* a 500 the gateway knows to be a timeout or an overload says so */
        if (by_type && (!strcmp(by_type, "timeout_error") || !strcmp(by_type, "overloaded_error")))
            return by_type;
        return "api_error";
    }
    return by_type ? by_type : "api_error";
}

static const char *default_message(const char *type) {
    if (!strcmp(type, "overloaded_error")) return "Overloaded";
    if (!strcmp(type, "rate_limit_error")) return "Rate limited";
    if (!strcmp(type, "timeout_error")) return "Request timed out";
    if (!strcmp(type, "not_found_error")) return "Not found";
    if (!strcmp(type, "invalid_request_error")) return "Invalid request";
    return "Internal server error";
}

void gw_anthropic_in_error_json(struct evbuffer *out, const gw_error_info *e) {
    const char *type = gw_anthropic_in_error_type(e->status, e->type);
    const char *message = e->message;
    size_t len = e->message_len;
    if (!message || len == 0) {
        message = default_message(type);
        len = strlen(message);
    }
    GW_ANTHROPIC_IN_ADD(out, "{\"type\":\"error\",\"error\":{\"type\":");
    gw_evbuffer_add_json_string(out, type, strlen(type));
    GW_ANTHROPIC_IN_ADD(out, ",\"message\":");
    gw_evbuffer_add_json_string(out, message, len);
    GW_ANTHROPIC_IN_ADD(out, "}}");
}

/* The message is kept as given: it is complete, and the request id travels in a header. */
void gw_anthropic_in_error_body(const gw_req *r, const gw_error_info *e, struct evbuffer *out) {
    (void)r;
    gw_anthropic_in_error_json(out, e);
}
