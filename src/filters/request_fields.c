/* The request's own fields and their checks, read from the json-c tree (request_fields.h). */
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "filters/request_fields.h"

#define RULE(name, types, expected)                                                                \
    { name, sizeof name - 1, types, expected }

const gw_field_rule gw_request_rules[] = {
    RULE("stream", GW_JSON_BOOL | GW_JSON_NULL, "a boolean"),
    RULE("stream_options", GW_JSON_OBJECT | GW_JSON_NULL, "an object"),
    RULE("temperature", GW_JSON_NUMBER | GW_JSON_NULL, "a number"),
    RULE("top_p", GW_JSON_NUMBER | GW_JSON_NULL, "a number"),
    RULE("max_tokens", GW_JSON_INT | GW_JSON_NULL, "an integer"),
    RULE("max_completion_tokens", GW_JSON_INT | GW_JSON_NULL, "an integer"),
    RULE("n", GW_JSON_INT | GW_JSON_NULL, "an integer"),
    RULE("seed", GW_JSON_INT | GW_JSON_NULL, "an integer"),
    RULE("presence_penalty", GW_JSON_NUMBER | GW_JSON_NULL, "a number"),
    RULE("frequency_penalty", GW_JSON_NUMBER | GW_JSON_NULL, "a number"),
    RULE("stop", GW_JSON_STRING | GW_JSON_ARRAY | GW_JSON_NULL, "a string or an array of strings"),
    RULE("user", GW_JSON_STRING | GW_JSON_NULL, "a string"),
    RULE("tools", GW_JSON_ARRAY | GW_JSON_NULL, "an array"),
    RULE("encoding_format", GW_JSON_STRING | GW_JSON_NULL, "a string"),
    RULE("dimensions", GW_JSON_INT | GW_JSON_NULL, "an integer"),
    {NULL, 0, 0, NULL},
};

static unsigned type_of(json_object *v) {
    switch (json_object_get_type(v)) {
    case json_type_null:
        return GW_JSON_NULL;
    case json_type_boolean:
        return GW_JSON_BOOL;
    case json_type_int:
        return GW_JSON_INT | GW_JSON_NUMBER;
    case json_type_double:
        return GW_JSON_NUMBER;
    case json_type_string:
        return GW_JSON_STRING;
    case json_type_array:
        return GW_JSON_ARRAY;
    case json_type_object:
        return GW_JSON_OBJECT;
    }
    return 0;
}

const char *gw_json_type_name(json_object *v) {
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

static const gw_field_rule *rule_for(const char *key) {
    for (const gw_field_rule *rule = gw_request_rules; rule->name; rule++)
        if (rule->name[0] == key[0] && !strcmp(rule->name, key)) return rule;
    return NULL;
}

static int fail(gw_field_error *err, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(gw_field_error *err, const char *code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    err->code = code;
    return -1;
}

static int bad_field(gw_field_error *err, const char *param, const char *expected,
                     json_object *found) {
    snprintf(err->param, sizeof err->param, "%s", param);
    if (!found)
        return fail(err, "missing_required_parameter", "'%s' is required: expected %s", param,
                    expected);
    return fail(err, "invalid_type", "'%s' must be %s, found %s", param, expected,
                gw_json_type_name(found));
}

static int check_messages(json_object *messages, gw_field_error *err) {
    if (!messages || !json_object_is_type(messages, json_type_array))
        return bad_field(err, "messages", "a non-empty array of messages", messages);
    size_t n = json_object_array_length(messages);
    if (n == 0) {
        snprintf(err->param, sizeof err->param, "messages");
        return fail(err, "invalid_value", "'messages' must hold at least one message");
    }
    for (size_t i = 0; i < n; i++) {
        json_object *m = json_object_array_get_idx(messages, i), *role;
        char param[48]; /* written only for the error: snprintf per message cost more than the check
                         */
        if (!json_object_is_type(m, json_type_object)) {
            snprintf(param, sizeof param, "messages[%zu]", i);
            return bad_field(err, param, "an object with a role", m);
        }
        if (!json_object_object_get_ex(m, "role", &role) ||
            !json_object_is_type(role, json_type_string)) {
            snprintf(param, sizeof param, "messages[%zu].role", i);
            return bad_field(err, param, "a string",
                             json_object_object_get_ex(m, "role", &role) ? role : NULL);
        }
    }
    return 0;
}

static int check_string_or_array(const char *name, json_object *v, gw_field_error *err) {
    if (v && (json_object_is_type(v, json_type_string) ||
              (json_object_is_type(v, json_type_array) && json_object_array_length(v) > 0)))
        return 0;
    return bad_field(err, name, "a string or a non-empty array", v);
}

int gw_request_fields_from_tree(json_object *root, gw_api_kind api, gw_request_fields *out,
                                gw_field_error *err) {
    memset(out, 0, sizeof *out);
    err->code = NULL;
    err->param[0] = err->message[0] = '\0';
    /* one pass over the members: a lookup per rule cost ~250 instructions each */
    json_object *model = NULL, *stream = NULL, *stream_options = NULL, *messages = NULL,
                *prompt = NULL, *input = NULL;
    const gw_field_rule *broken = NULL; /* the first rule broken, in the table's order */
    json_object *broken_value = NULL;
    json_object_object_foreach(root, key, value) {
        const gw_field_rule *rule = rule_for(key);
        if (rule && !(type_of(value) & rule->types) && (!broken || rule < broken)) {
            broken = rule;
            broken_value = value;
        }
        if (!strcmp(key, "model"))
            model = value;
        else if (!strcmp(key, "stream"))
            stream = value;
        else if (!strcmp(key, "stream_options")) {
            stream_options = value;
            out->members |= GW_BODY_HAS_STREAM_OPTIONS;
        } else if (!strcmp(key, "messages"))
            messages = value;
        else if (!strcmp(key, "prompt"))
            prompt = value;
        else if (!strcmp(key, "input"))
            input = value;
        else if (!strcmp(key, "max_tokens"))
            out->members |= GW_BODY_HAS_MAX_TOKENS;
        else if (!strcmp(key, "max_completion_tokens"))
            out->members |= GW_BODY_HAS_MAX_COMPLETION_TOKENS;
    }
    if (!model || !json_object_is_type(model, json_type_string) ||
        json_object_get_string_len(model) == 0)
        return bad_field(err, "model", "a non-empty string", model);
    out->model = json_object_get_string(model);
    out->model_len = (size_t)json_object_get_string_len(model);
    if (broken) return bad_field(err, broken->name, broken->expected, broken_value);

    if (stream) out->stream = json_object_get_boolean(stream);
    if (stream_options && json_object_is_type(stream_options, json_type_object)) {
        json_object *iu;
        if (json_object_object_get_ex(stream_options, "include_usage", &iu)) {
            if (!json_object_is_type(iu, json_type_boolean))
                return bad_field(err, "stream_options.include_usage", "a boolean", iu);
            out->include_usage = json_object_get_boolean(iu);
        }
        out->add_include_usage = out->stream && !out->include_usage;
    }

    switch (api) {
    case GW_API_CHAT:
        return check_messages(messages, err);
    case GW_API_COMPLETIONS:
        return check_string_or_array("prompt", prompt, err);
    case GW_API_EMBEDDINGS:
        if (out->stream) {
            snprintf(err->param, sizeof err->param, "stream");
            return fail(err, "invalid_value", "embeddings cannot be streamed");
        }
        return check_string_or_array("input", input, err);
    default:
        return 0;
    }
}
