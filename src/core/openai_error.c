#include "core/openai_error.h"

#include <event2/buffer.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#include "core/log.h"

/* Escaped piece by piece: a message of any length is written whole. */
static void add_json_string(struct evbuffer *out, const char *s, size_t len) {
    char esc[1024];
    evbuffer_add(out, "\"", 1);
    for (size_t done = 0; done < len;) {
        size_t piece = len - done < 160 ? len - done : 160; /* 160 * 6 < sizeof esc */
        size_t n = gw_json_escape(esc, sizeof esc, s + done, piece);
        evbuffer_add(out, esc, n);
        done += piece;
    }
    evbuffer_add(out, "\"", 1);
}

/* code_json, when set, is written as it is (a number an engine sent stays a number). */
static void write_error(struct evbuffer *out, const char *message, const char *type,
                        const char *code, const char *code_json, const char *param) {
    evbuffer_add(out, "{\"error\":{\"message\":", 20);
    add_json_string(out, message, strlen(message));
    evbuffer_add(out, ",\"type\":", 8);
    add_json_string(out, type, strlen(type));
    evbuffer_add(out, ",\"param\":", 9);
    if (param)
        add_json_string(out, param, strlen(param));
    else
        evbuffer_add(out, "null", 4);
    evbuffer_add(out, ",\"code\":", 8);
    if (code_json)
        evbuffer_add(out, code_json, strlen(code_json));
    else if (code)
        add_json_string(out, code, strlen(code));
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

/* Writes a JSON member value (string as is, anything else as its JSON text) or null. */
static const char *member_string(json_object *obj, const char *key, char *buf, size_t buflen) {
    json_object *v;
    if (!obj || !json_object_object_get_ex(obj, key, &v) || json_object_is_type(v, json_type_null))
        return NULL;
    if (json_object_is_type(v, json_type_string)) return json_object_get_string(v);
    snprintf(buf, buflen, "%s", json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN));
    return buf;
}

void gw_openai_normalize_error(int status, const char *body, size_t len, struct evbuffer *out) {
    json_object *root = NULL;
    if (len) {
        json_tokener *tok = json_tokener_new();
        if (tok) {
            root = json_tokener_parse_ex(tok, body, (int)(len > 1 << 20 ? 1 << 20 : len));
            json_tokener_free(tok);
        }
    }
    char msgbuf[512], typebuf[128], parambuf[128];
    const char *message = NULL, *type = NULL, *param = NULL;
    json_object *code = NULL; /* kept as the engine typed it: a number stays a number */
    json_object *err = NULL;
    if (root && json_object_is_type(root, json_type_object) &&
        json_object_object_get_ex(root, "error", &err)) {
        if (json_object_is_type(err, json_type_object)) { /* OpenAI, vLLM >= 0.10.1 */
            message = member_string(err, "message", msgbuf, sizeof msgbuf);
            type = member_string(err, "type", typebuf, sizeof typebuf);
            json_object_object_get_ex(err, "code", &code);
            param = member_string(err, "param", parambuf, sizeof parambuf);
        } else { /* TGI and MindIE: {"error":"...","error_type":"..."} */
            message = member_string(root, "error", msgbuf, sizeof msgbuf);
            type = member_string(root, "error_type", typebuf, sizeof typebuf);
        }
    } else if (root && json_object_is_type(root, json_type_object)) {
        /* SGLang and vLLM < 0.10.1: flat {"object":"error","message",...}; Anthropic nests
         * under "error" too, handled above; anything else: take what is there. */
        message = member_string(root, "message", msgbuf, sizeof msgbuf);
        if (!message) message = member_string(root, "detail", msgbuf, sizeof msgbuf);
        type = member_string(root, "type", typebuf, sizeof typebuf);
        json_object_object_get_ex(root, "code", &code);
        param = member_string(root, "param", parambuf, sizeof parambuf);
    }
    char fallback[512];
    if (!message) {
        if (len && !root) { /* a text body: keep its start, it is often the only clue */
            size_t n = len < 300 ? len : 300;
            snprintf(fallback, sizeof fallback, "upstream returned HTTP %d: %.*s", status, (int)n,
                     body);
        } else {
            snprintf(fallback, sizeof fallback, "upstream returned HTTP %d with no error message",
                     status);
        }
        message = fallback;
    }
    if (!type || !*type) type = gw_openai_error_type(status);
    const char *code_string = NULL, *code_json = NULL;
    if (code && json_object_is_type(code, json_type_string))
        code_string = json_object_get_string(code);
    else if (code && (json_object_is_type(code, json_type_int) ||
                      json_object_is_type(code, json_type_double) ||
                      json_object_is_type(code, json_type_boolean)))
        code_json = json_object_to_json_string_ext(code, JSON_C_TO_STRING_PLAIN);
    write_error(out, message, type, code_string, code_json, param);
    if (root) json_object_put(root);
}
