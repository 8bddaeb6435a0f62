/* The Anthropic Messages protocol's table and the helpers its files share. */
#include "inbound/anthropic.h"

#include <json-c/json.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "inbound/protocol.h"

const gw_protocol_ops gw_protocol_anthropic = {
    .name = "anthropic",
    .to_canonical = gw_anthropic_in_to_canonical,
    .response = gw_anthropic_in_response,
    .stream_chunk = gw_anthropic_in_stream_chunk,
    .stream_end = gw_anthropic_in_stream_end,
    .error_body = gw_anthropic_in_error_body,
    .stream_error = gw_anthropic_in_stream_error,
    .free_state = gw_anthropic_in_free_state,
};

json_object *gw_anthropic_in_member(json_object *obj, const char *key, json_type type) {
    json_object *v;
    if (!obj || !json_object_object_get_ex(obj, key, &v) || !json_object_is_type(v, type))
        return NULL;
    return v;
}

json_object *gw_anthropic_in_text(json_object *obj, const char *key) {
    json_object *v = gw_anthropic_in_member(obj, key, json_type_string);
    return v && json_object_get_string_len(v) > 0 ? v : NULL;
}

size_t gw_anthropic_in_message_id(char *buf, size_t cap, const gw_req *r, json_object *root) {
    if (cap == 0) return 0;
    json_object *id = gw_anthropic_in_member(root, "id", json_type_string);
    const char *engine_id = id ? json_object_get_string(id) : NULL;
    size_t engine_id_len = id ? (size_t)json_object_get_string_len(id) : 0;
    if (!engine_id || engine_id_len == 0) {
        engine_id = r->id;
        engine_id_len =
            r->id_len && r->id_len < sizeof r->id ? r->id_len : strnlen(r->id, sizeof r->id);
    }
    const char *prefix = engine_id_len >= 4 && !memcmp(engine_id, "msg_", 4) ? "" : "msg_";
    int n = snprintf(buf, cap, "%s%.*s", prefix,
                     (int)(engine_id_len > INT_MAX ? INT_MAX : engine_id_len), engine_id);
    if (n < 0) {
        buf[0] = '\0';
        return 0;
    }
    return (size_t)n < cap ? (size_t)n : cap - 1;
}

void gw_anthropic_in_tool_id(char *buf, size_t cap, const gw_req *r, size_t n) {
    snprintf(buf, cap, "toolu_%.40s_%zu", r->id, n);
}

const char *gw_anthropic_in_model_name(const gw_req *r, size_t *len) {
    if (r->model && r->model->name) {
        *len = r->model->name_len ? r->model->name_len : strlen(r->model->name);
        return r->model->name;
    }
    if (r->model_name) { /* no model resolved (a test, an early error): the caller's words */
        *len = r->model_name_len;
        return r->model_name;
    }
    *len = 0;
    return "";
}

static int64_t member_int(json_object *obj, const char *key) {
    json_object *v;
    if (!json_object_object_get_ex(obj, key, &v)) return 0;
    if (!json_object_is_type(v, json_type_int) && !json_object_is_type(v, json_type_double))
        return 0;
    int64_t n = json_object_get_int64(v);
    return n > 0 ? n : 0;
}

int gw_anthropic_in_read_usage(json_object *v, gw_usage *u) {
    if (!v || !json_object_is_type(v, json_type_object)) return 0;
    memset(u, 0, sizeof *u);
    u->prompt_tokens = member_int(v, "prompt_tokens");
    u->completion_tokens = member_int(v, "completion_tokens");
    json_object *details;
    if (json_object_object_get_ex(v, "prompt_tokens_details", &details) &&
        json_object_is_type(details, json_type_object))
        u->cached_tokens = member_int(details, "cached_tokens");
    if (json_object_object_get_ex(v, "completion_tokens_details", &details) &&
        json_object_is_type(details, json_type_object))
        u->reasoning_tokens = member_int(details, "reasoning_tokens");
    u->known = 1;
    return 1;
}

void gw_anthropic_in_usage_of(const gw_req *r, const gw_usage *seen, gw_anthropic_in_usage *a) {
    const gw_usage *u = seen ? seen : (r->usage.known ? &r->usage : NULL);
    memset(a, 0, sizeof *a);
    if (!u) return;
    int64_t creation =
        u->cache_creation_tokens ? u->cache_creation_tokens : r->usage.cache_creation_tokens;
    if (creation < 0) creation = 0;
    int64_t cached = u->cached_tokens > 0 ? u->cached_tokens : 0;
    int64_t input = u->prompt_tokens - cached - creation;
    a->input_tokens = input > 0 ? input : 0; /* an engine's odd counts never go negative */
    a->output_tokens = u->completion_tokens > 0 ? u->completion_tokens : 0;
    a->cache_read_input_tokens = cached;
    a->cache_creation_input_tokens = creation;
}

const char *gw_anthropic_in_stop_reason(const char *finish_reason, int has_tool_calls,
                                        int has_stop_string) {
    if (!finish_reason || !strcmp(finish_reason, "stop")) {
        if (has_tool_calls) return "tool_use";
        return has_stop_string ? "stop_sequence" : "end_turn";
    }
    if (!strcmp(finish_reason, "length")) return "max_tokens";
    if (!strcmp(finish_reason, "tool_calls") || !strcmp(finish_reason, "function_call"))
        return "tool_use";
    if (!strcmp(finish_reason, "content_filter")) return "refusal";
    return "end_turn"; /* abort, error, eos_token...: the turn ended, nothing better to say */
}

json_object *gw_anthropic_in_object(int n, ...) {
    va_list ap;
    va_start(ap, n);
    json_object *o = json_object_new_object();
    int ok = o != NULL;
    for (int i = 0; i < n; i++) {
        const char *k = va_arg(ap, const char *);
        json_object *v = va_arg(ap, json_object *);
        if (!k) continue;
        if (ok && v && json_object_object_add(o, k, v) == 0) continue;
        ok = 0;
        json_object_put(v);
    }
    va_end(ap);
    if (ok) return o;
    json_object_put(o);
    return NULL;
}
