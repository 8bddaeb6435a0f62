#include "filters/request_text.h"

#include <json-c/json.h>

static int visit(json_object *parent, const char *key, size_t index, json_object *v,
                 int (*fn)(void *, gw_req_text *, const char *, size_t), void *ctx) {
    if (!json_object_is_type(v, json_type_string)) return 0;
    gw_req_text at = {.parent = parent, .key = key, .index = index};
    return fn(ctx, &at, json_object_get_string(v), (size_t)json_object_get_string_len(v));
}

int gw_req_texts(json_object *root, int (*fn)(void *, gw_req_text *, const char *, size_t),
                 void *ctx) {
    json_object *messages, *prompt;
    int rc = 0;
    if (json_object_object_get_ex(root, "messages", &messages) &&
        json_object_is_type(messages, json_type_array)) {
        for (size_t i = 0; rc == 0 && i < json_object_array_length(messages); i++) {
            json_object *m = json_object_array_get_idx(messages, i), *content;
            if (!json_object_object_get_ex(m, "content", &content)) continue;
            if (json_object_is_type(content, json_type_array)) {
                for (size_t k = 0; rc == 0 && k < json_object_array_length(content); k++) {
                    json_object *part = json_object_array_get_idx(content, k), *text;
                    if (json_object_object_get_ex(part, "text", &text))
                        rc = visit(part, "text", 0, text, fn, ctx);
                }
            } else {
                rc = visit(m, "content", 0, content, fn, ctx);
            }
        }
    }
    if (rc == 0 && json_object_object_get_ex(root, "prompt", &prompt)) {
        if (json_object_is_type(prompt, json_type_array)) {
            for (size_t k = 0; rc == 0 && k < json_object_array_length(prompt); k++)
                rc = visit(prompt, NULL, k, json_object_array_get_idx(prompt, k), fn, ctx);
        } else {
            rc = visit(root, "prompt", 0, prompt, fn, ctx);
        }
    }
    return rc;
}

int gw_req_text_replace(gw_req_text *at, const char *text, size_t len) {
    json_object *next = json_object_new_string_len(text, (int)len);
    if (!next) return -1;
    if (at->key)
        json_object_object_add(at->parent, at->key, next);
    else
        json_object_array_put_idx(at->parent, at->index, next);
    at->replaced = 1;
    return 0;
}
