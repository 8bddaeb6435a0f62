/* A whole Anthropic message as a canonical chat.completion: text blocks join into the content,
 * tool_use blocks become tool_calls, thinking blocks reasoning_content; the stop reason and the
 * usage take OpenAI's names. */
#include <json-c/json.h>
#include <string.h>

#include "core/json_parse.h"
#include "engines/anthropic_wire.h"

static int malformed(gw_engine_io *io, const char *why) {
    io->err = why;
    return -1;
}

static const char *block_string(json_object *block, const char *key) {
    json_object *v;
    if (!json_object_object_get_ex(block, key, &v) || !json_object_is_type(v, json_type_string))
        return NULL;
    return json_object_get_string(v);
}

/* The message's content blocks into the canonical message object. */
static int add_blocks(gw_engine_io *io, json_object *content, json_object *message) {
    gw_strbuf text = {0}, thinking = {0};
    json_object *calls = NULL;
    int has_text = 0, has_thinking = 0, rc = -1;
    size_t n = json_object_array_length(content);
    for (size_t i = 0; i < n; i++) {
        json_object *block = json_object_array_get_idx(content, i), *v;
        const char *type = block_string(block, "type");
        if (!type) {
            rc = malformed(io, "an Anthropic content block has no type");
            goto out;
        }
        if (!strcmp(type, "text") || !strcmp(type, "thinking")) {
            int is_text = type[1] == 'e';
            if (!json_object_object_get_ex(block, type, &v) ||
                !json_object_is_type(v, json_type_string)) {
                rc = malformed(io, "an Anthropic text or thinking block has no text");
                goto out;
            }
            /* blocks join with nothing between them, as their deltas do in a stream */
            gw_strbuf_add(is_text ? &text : &thinking, json_object_get_string(v),
                          (size_t)json_object_get_string_len(v));
            *(is_text ? &has_text : &has_thinking) = 1;
        } else if (!strcmp(type, "tool_use")) {
            json_object *id, *name, *input;
            if (!json_object_object_get_ex(block, "id", &id) ||
                !json_object_is_type(id, json_type_string) ||
                !json_object_object_get_ex(block, "name", &name) ||
                !json_object_is_type(name, json_type_string)) {
                rc = malformed(io, "an Anthropic tool_use block has no id or name");
                goto out;
            }
            gw_strbuf args = {0};
            if (json_object_object_get_ex(block, "input", &input) && input)
                gw_strbuf_add_json(&args, input);
            else
                gw_strbuf_add(&args, "{}", 2);
            json_object *call = json_object_new_object(), *fn = json_object_new_object();
            json_object *arguments =
                args.failed ? NULL
                            : json_object_new_string_len(args.data ? args.data : "", (int)args.len);
            gw_strbuf_free(&args);
            if (!calls) calls = json_object_new_array();
            if (!call || !fn || !arguments || !calls || json_object_array_add(calls, call) < 0) {
                json_object_put(call);
                json_object_put(fn);
                json_object_put(arguments);
                rc = malformed(io, "out of memory");
                goto out;
            }
            json_object_object_add(call, "id", json_object_get(id));
            json_object_object_add(call, "type", json_object_new_string("function"));
            json_object_object_add(call, "function", fn);
            json_object_object_add(fn, "name", json_object_get(name));
            json_object_object_add(fn, "arguments", arguments);
        }
        /* redacted_thinking, server tool blocks and later kinds have no canonical form */
    }
    if (text.failed || thinking.failed) {
        rc = malformed(io, "out of memory");
        goto out;
    }
    json_object_object_add(message, "role", json_object_new_string("assistant"));
    /* OpenAI's content is null when the model only called tools */
    json_object_object_add(
        message, "content",
        has_text ? json_object_new_string_len(text.data ? text.data : "", (int)text.len) : NULL);
    if (calls) {
        json_object_object_add(message, "tool_calls", calls);
        calls = NULL;
    }
    if (has_thinking)
        json_object_object_add(
            message, "reasoning_content",
            json_object_new_string_len(thinking.data ? thinking.data : "", (int)thinking.len));
    rc = 0;
out:
    json_object_put(calls);
    gw_strbuf_free(&text);
    gw_strbuf_free(&thinking);
    return rc;
}

int gw_anthropic_response(gw_engine_io *io, const char *body, size_t len) {
    json_object *root = gw_json_object_only(gw_json_parse(body, len, GW_ANTHROPIC_JSON_DEPTH, 0));
    json_object *v;
    if (!root) return malformed(io, "the Anthropic answer is not a JSON object");
    const char *type = block_string(root, "type");
    if (type && !strcmp(type, "error")) { /* an error, though the status said success */
        int rc = gw_anthropic_fail(io, root, body, len);
        json_object_put(root);
        return rc;
    }
    json_object *content, *message = NULL;
    gw_strbuf out = {0};
    int rc = -1;
    if (!json_object_object_get_ex(root, "content", &content) ||
        !json_object_is_type(content, json_type_array)) {
        rc = malformed(io, "the Anthropic answer has no content array");
        goto out;
    }
    if (!(message = json_object_new_object())) {
        rc = malformed(io, "out of memory");
        goto out;
    }
    if (add_blocks(io, content, message) < 0) goto out;

    gw_usage usage = {0};
    int64_t input_tokens = 0;
    if (json_object_object_get_ex(root, "usage", &v))
        gw_anthropic_usage_read(v, &usage, &input_tokens);
    const char *finish = gw_anthropic_finish_reason(block_string(root, "stop_reason"));

    /* the model value is written empty: the caller's protocol puts the caller's name there */
    json_object *id = NULL;
    json_object_object_get_ex(root, "id", &id);
    size_t model_start = gw_anthropic_write_head(&out, id, "chat.completion");
    gw_strbuf_adds(&out, ",\"choices\":[{\"index\":0,\"message\":");
    gw_strbuf_add_json(&out, message);
    gw_engine_add_finish(&out, finish);
    gw_strbuf_adds(&out, "}]");
    if (usage.known) {
        gw_strbuf_adds(&out, ",\"usage\":");
        gw_anthropic_usage_write(&out, &usage);
    }
    gw_strbuf_adds(&out, "}");
    if (out.failed) {
        rc = malformed(io, "out of memory");
        goto out;
    }
    if (usage.known) io->r->usage = usage;
    rc = gw_emit_response(io, out.data, out.len, model_start, model_start + 2);
out:
    json_object_put(message);
    json_object_put(root);
    gw_strbuf_free(&out);
    return rc;
}
