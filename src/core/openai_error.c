#include "core/openai_error.h"

#include <event2/buffer.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json_string.h"

/* code_json, when set, is written as it is (a number an engine sent stays a number). */
static void write_error(struct evbuffer *out, const char *message, const char *type,
                        const char *code, const char *code_json, const char *param) {
    evbuffer_add(out, "{\"error\":{\"message\":", 20);
    gw_evbuffer_add_json_string(out, message, strlen(message));
    evbuffer_add(out, ",\"type\":", 8);
    gw_evbuffer_add_json_string(out, type, strlen(type));
    evbuffer_add(out, ",\"param\":", 9);
    if (param)
        gw_evbuffer_add_json_string(out, param, strlen(param));
    else
        evbuffer_add(out, "null", 4);
    evbuffer_add(out, ",\"code\":", 8);
    if (code_json)
        evbuffer_add(out, code_json, strlen(code_json));
    else if (code)
        gw_evbuffer_add_json_string(out, code, strlen(code));
    else
        evbuffer_add(out, "null", 4);
    evbuffer_add(out, "}}", 2);
}

void gw_openai_error(struct evbuffer *out, const char *message, const char *type, const char *code,
                     const char *param) {
    write_error(out, message, type, code, NULL, param);
}

const char *gw_openai_error_type(int status) {
    switch (status) {
    case 400:
    case 404:
    case 405:
    case 409:
    case 413:
    case 415:
    case 422:
        return "invalid_request_error";
    case 401:
        return "authentication_error";
    case 403:
        return "permission_error";
    case 429:
        return "rate_limit_exceeded";
    case 503:
    case 529:
        return "overloaded_error";
    default:
        return status >= 500 ? "server_error" : "invalid_request_error";
    }
}

const char *gw_openai_error_type_for(int status, const char *code) {
    if (code && !strcmp(code, "upstream_timeout")) return "timeout_error";
    return gw_openai_error_type(status);
}

void gw_openai_error_write(struct evbuffer *out, const gw_error_info *e) {
    char small[512];
    const char *message = e->message ? e->message : "";
    size_t len = e->message ? e->message_len : 0;
    /* write_error wants a C string: messages are bounded by their producers, copy when short */
    if (len < sizeof small) {
        memcpy(small, message, len);
        small[len] = '\0';
        write_error(out, small, e->type ? e->type : gw_openai_error_type(e->status), e->code,
                    e->code_json, e->param);
        return;
    }
    char *copy = strndup(message, len);
    write_error(out, copy ? copy : "error", e->type ? e->type : gw_openai_error_type(e->status),
                e->code, e->code_json, e->param);
    free(copy);
}
