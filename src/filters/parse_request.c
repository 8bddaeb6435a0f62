/* Parses the body strictly and checks the fields the gateway and most engines rely on, so a
 * caller learns what is wrong from us, with the field named, not from an engine's stack trace. */
#include <event2/buffer.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#include "core/json_scan.h"
#include "core/json_strict.h"
#include "filters/request.h"
#include "core/worker-t.h"
#include "filters/filter.h"

typedef enum {
    T_STRING = 1,
    T_BOOL = 2,
    T_INT = 4,
    T_NUMBER = 8, /* int or double */
    T_ARRAY = 16,
    T_OBJECT = 32,
    T_NULL = 64,
} type_mask;

typedef struct field_rule {
    const char *name;
    unsigned types;
    const char *expected; /* for the message */
} field_rule;

/* Types of optional fields callers commonly get wrong. Unknown fields pass through untouched:
 * engines accept extra parameters (vLLM's top_k, min_p, ...). */
static const field_rule common_rules[] = {
    {"stream", T_BOOL | T_NULL, "a boolean"},
    {"stream_options", T_OBJECT | T_NULL, "an object"},
    {"temperature", T_NUMBER | T_NULL, "a number"},
    {"top_p", T_NUMBER | T_NULL, "a number"},
    {"max_tokens", T_INT | T_NULL, "an integer"},
    {"max_completion_tokens", T_INT | T_NULL, "an integer"},
    {"n", T_INT | T_NULL, "an integer"},
    {"seed", T_INT | T_NULL, "an integer"},
    {"presence_penalty", T_NUMBER | T_NULL, "a number"},
    {"frequency_penalty", T_NUMBER | T_NULL, "a number"},
    {"stop", T_STRING | T_ARRAY | T_NULL, "a string or an array of strings"},
    {"user", T_STRING | T_NULL, "a string"},
    {"tools", T_ARRAY | T_NULL, "an array"},
    {"encoding_format", T_STRING | T_NULL, "a string"},
    {"dimensions", T_INT | T_NULL, "an integer"},
    {NULL, 0, NULL},
};

/* As deep as the body may nest: the depth the workers' json-c tokener had. */
#define REQUEST_JSON_DEPTH 128

static unsigned type_of(json_object *v) {
    switch (json_object_get_type(v)) {
    case json_type_null:
        return T_NULL;
    case json_type_boolean:
        return T_BOOL;
    case json_type_int:
        return T_INT | T_NUMBER;
    case json_type_double:
        return T_NUMBER;
    case json_type_string:
        return T_STRING;
    case json_type_array:
        return T_ARRAY;
    case json_type_object:
        return T_OBJECT;
    }
    return 0;
}

static const char *type_name(json_object *v) {
    switch (json_object_get_type(v)) {
    case json_type_null:
        return "null";
    case json_type_boolean:
        return "a boolean";
    case json_type_int:
        return "an integer";
    case json_type_double:
        return "a number";
    case json_type_string:
        return "a string";
    case json_type_array:
        return "an array";
    case json_type_object:
        return "an object";
    }
    return "unknown";
}

static const field_rule *rule_for(const char *key) {
    for (const field_rule *rule = common_rules; rule->name; rule++)
        if (rule->name[0] == key[0] && !strcmp(rule->name, key)) return rule;
    return NULL;
}

static gw_filter_rc bad_field(gw_req *r, const char *param, const char *fmt_expected,
                              json_object *found) {
    if (!found)
        gw_req_fail(r, 400, "invalid_request_error", "missing_required_parameter", param,
                    "'%s' is required: expected %s", param, fmt_expected);
    else
        gw_req_fail(r, 400, "invalid_request_error", "invalid_type", param,
                    "'%s' must be %s, found %s", param, fmt_expected, type_name(found));
    return GW_FILTER_RESPOND;
}

static gw_filter_rc check_messages(gw_req *r, json_object *messages) {
    if (!messages || !json_object_is_type(messages, json_type_array))
        return bad_field(r, "messages", "a non-empty array of messages", messages);
    size_t n = json_object_array_length(messages);
    if (n == 0) {
        gw_req_fail(r, 400, "invalid_request_error", "invalid_value", "messages",
                    "'messages' must hold at least one message");
        return GW_FILTER_RESPOND;
    }
    for (size_t i = 0; i < n; i++) {
        json_object *m = json_object_array_get_idx(messages, i), *role;
        char param[48]; /* written only for the error: snprintf per message cost more than the check
                         */
        if (!json_object_is_type(m, json_type_object)) {
            snprintf(param, sizeof param, "messages[%zu]", i);
            return bad_field(r, param, "an object with a role", m);
        }
        if (!json_object_object_get_ex(m, "role", &role) ||
            !json_object_is_type(role, json_type_string)) {
            snprintf(param, sizeof param, "messages[%zu].role", i);
            return bad_field(r, param, "a string",
                             json_object_object_get_ex(m, "role", &role) ? role : NULL);
        }
    }
    return GW_FILTER_CONTINUE;
}

static gw_filter_rc check_string_or_array(gw_req *r, const char *name, json_object *v) {
    if (v && (json_object_is_type(v, json_type_string) ||
              (json_object_is_type(v, json_type_array) && json_object_array_length(v) > 0)))
        return GW_FILTER_CONTINUE;
    return bad_field(r, name, "a string or a non-empty array", v);
}

/* json-c keeps the last of duplicate keys while an allow-list check upstream might read the
 * first; two "model" members are refused. Only a body whose top-level object repeated a key
 * (the parser counts them for nothing) is scanned for which one. */
static int has_duplicate_model(const gw_req *r, const gw_json_strict_result *parsed) {
    if (!parsed->top_level_repeats) return 0;
    gw_json_scan_result scan;
    return gw_json_scan(r->body, r->body_len, "model", &scan) == 0 && scan.key_count > 1;
}

static gw_filter_rc parse_request(gw_req *r) {
    r->body_len = evbuffer_get_length(r->body_buf);
    r->body = (const char *)evbuffer_pullup(r->body_buf, -1);
    if (r->body_len == 0 || !r->body) {
        gw_req_fail(r, 400, "invalid_request_error", "invalid_json", NULL,
                    "the request body is empty: expected a JSON object");
        return GW_FILTER_RESPOND;
    }
    gw_json_strict_result parsed;
    json_object *root = gw_json_parse_strict(r->body, r->body_len, REQUEST_JSON_DEPTH, &parsed);
    size_t end = parsed.end;
    if (parsed.out_of_memory) {
        gw_req_fail(r, 503, "server_error", "out_of_memory", NULL, "the gateway is out of memory");
        return GW_FILTER_RESPOND;
    }
    if (!root || parsed.error != json_tokener_success) {
        if (root) json_object_put(root);
        gw_req_fail(r, 400, "invalid_request_error", "invalid_json", NULL,
                    "the request body is not valid JSON: %s at byte %zu",
                    parsed.error == json_tokener_continue ? "unexpected end of input"
                                                          : json_tokener_error_desc(parsed.error),
                    end);
        return GW_FILTER_RESPOND;
    }
    r->json = root;
    while (end < r->body_len && strchr(" \t\r\n", r->body[end]))
        end++;
    if (end < r->body_len) {
        gw_req_fail(r, 400, "invalid_request_error", "invalid_json", NULL,
                    "the request body is not valid JSON: unexpected data after the value at "
                    "byte %zu",
                    end);
        return GW_FILTER_RESPOND;
    }
    if (!json_object_is_type(root, json_type_object)) {
        gw_req_fail(r, 400, "invalid_request_error", "invalid_json", NULL,
                    "the request body must be a JSON object, found %s", type_name(root));
        return GW_FILTER_RESPOND;
    }
    if (has_duplicate_model(r, &parsed)) { /* in the body as sent, whatever its dialect */
        gw_req_fail(r, 400, "invalid_request_error", "invalid_value", "model",
                    "the request body names 'model' more than once");
        return GW_FILTER_RESPOND;
    }
    if (r->protocol->to_canonical) { /* another dialect: checked in its terms, then converted */
        gw_error_info err;
        char message[512];
        if (r->protocol->to_canonical(r, &err, message, sizeof message) < 0) {
            gw_req_fail_with(r, &err);
            return GW_FILTER_RESPOND;
        }
        root = r->json;
    }
    /* one pass over the members: a lookup per rule cost ~250 instructions each */
    json_object *model = NULL, *stream = NULL, *stream_options = NULL, *messages = NULL,
                *prompt = NULL, *input = NULL;
    const field_rule *broken = NULL; /* the first rule broken, in the table's order */
    json_object *broken_value = NULL;
    json_object_object_foreach(root, key, value) {
        const field_rule *rule = rule_for(key);
        if (rule && !(type_of(value) & rule->types) && (!broken || rule < broken)) {
            broken = rule;
            broken_value = value;
        }
        if (!strcmp(key, "model"))
            model = value;
        else if (!strcmp(key, "stream"))
            stream = value;
        else if (!strcmp(key, "stream_options"))
            stream_options = value;
        else if (!strcmp(key, "messages"))
            messages = value;
        else if (!strcmp(key, "prompt"))
            prompt = value;
        else if (!strcmp(key, "input"))
            input = value;
    }
    if (!model || !json_object_is_type(model, json_type_string) ||
        json_object_get_string_len(model) == 0)
        return bad_field(r, "model", "a non-empty string", model);
    r->model_name = json_object_get_string(model);
    r->model_name_len = (size_t)json_object_get_string_len(model);
    if (broken) return bad_field(r, broken->name, broken->expected, broken_value);

    if (stream) r->stream = json_object_get_boolean(stream);
    if (stream_options && json_object_is_type(stream_options, json_type_object)) {
        json_object *iu;
        if (json_object_object_get_ex(stream_options, "include_usage", &iu)) {
            if (!json_object_is_type(iu, json_type_boolean))
                return bad_field(r, "stream_options.include_usage", "a boolean", iu);
            r->include_usage = json_object_get_boolean(iu);
        }
        /* metering needs the usage of every stream: ask for it anyway (the engine then sends
         * a usage chunk, which the gateway keeps from a caller that said no) */
        if (r->stream && !r->include_usage) {
            json_object_object_add(stream_options, "include_usage", json_object_new_boolean(1));
            if (gw_req_replace_body(r) < 0) {
                gw_req_fail(r, 503, "server_error", "out_of_memory", NULL,
                            "the gateway is out of memory");
                return GW_FILTER_RESPOND;
            }
        }
    }

    switch (r->api) {
    case GW_API_CHAT:
        return check_messages(r, messages);
    case GW_API_COMPLETIONS:
        return check_string_or_array(r, "prompt", prompt);
    case GW_API_EMBEDDINGS:
        if (r->stream) {
            gw_req_fail(r, 400, "invalid_request_error", "invalid_value", "stream",
                        "embeddings cannot be streamed");
            return GW_FILTER_RESPOND;
        }
        return check_string_or_array(r, "input", input);
    default:
        return GW_FILTER_CONTINUE;
    }
}

const gw_filter_ops gw_filter_parse_request = {
    .name = "parse_request",
    .on_request = parse_request,
};
