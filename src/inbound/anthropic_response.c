/* A whole canonical chat.completion written as an Anthropic message. Only choices[0] is read:
 * Anthropic has no n. */
#include <event2/buffer.h>
#include <json-c/json.h>
#include <string.h>

#include "core/json_parse.h"
#include "inbound/anthropic.h"

static int push(json_object *arr, json_object *val) {
    if (!val) return -1;
    if (json_object_array_add(arr, val) == 0) return 0;
    json_object_put(val);
    return -1;
}

static json_object *str(const char *s) {
    return json_object_new_string(s);
}

/* tool_calls as tool_use blocks. Arguments that are not a JSON object cannot be an Anthropic
 * input, and silently replacing them would run the tool with other arguments: the answer is
 * refused as malformed. Empty arguments (a tool without parameters, on some engines) are {}. */
static int tool_uses(gw_req *r, json_object *calls, json_object *content, json_tokener *tok,
                     const char **err) {
    for (size_t i = 0, n = json_object_array_length(calls); i < n; i++) {
        json_object *call = json_object_array_get_idx(calls, i);
        json_object *fn = gw_anthropic_in_member(call, "function", json_type_object);
        json_object *name = gw_anthropic_in_text(fn, "name");
        json_object *id = gw_anthropic_in_text(call, "id");
        json_object *args = gw_anthropic_in_member(fn, "arguments", json_type_string);
        if (!name) {
            *err = "a tool call of the engine's answer has no function name";
            return -1;
        }
        const char *a = args ? json_object_get_string(args) : "";
        size_t alen = args ? (size_t)json_object_get_string_len(args) : 0;
        while (alen && strchr(" \t\r\n", a[alen - 1]))
            alen--;
        json_object *input =
            alen ? gw_json_object_only(gw_json_parse_with(tok, a, alen)) : json_object_new_object();
        if (!input) {
            *err = "the arguments of a tool call of the engine's answer are not a JSON object";
            return -1;
        }
        char idbuf[80];
        json_object *idv = id ? json_object_get(id) : NULL;
        if (!idv) { /* some engines send none; the client must have one to answer with */
            gw_anthropic_in_tool_id(idbuf, sizeof idbuf, r, i);
            idv = json_object_new_string(idbuf);
        }
        if (push(content, gw_anthropic_in_object(4, "type", str("tool_use"), "id", idv, "name",
                                                 json_object_get(name), "input", input))) {
            *err = "out of memory";
            return -1;
        }
    }
    return 0;
}

static json_object *usage_object(const gw_anthropic_in_usage *a) {
    return gw_anthropic_in_object(
        4, "input_tokens", json_object_new_int64(a->input_tokens), "output_tokens",
        json_object_new_int64(a->output_tokens), "cache_creation_input_tokens",
        json_object_new_int64(a->cache_creation_input_tokens), "cache_read_input_tokens",
        json_object_new_int64(a->cache_read_input_tokens));
}

/* The content blocks: thinking (reasoning), text, then tool_use, the order Anthropic uses. */
static json_object *content_blocks(gw_req *r, json_object *message, json_tokener *tok,
                                   const char **err) {
    json_object *content = json_object_new_array();
    if (!content) goto nomem;
    json_object *reasoning = gw_anthropic_in_text(message, "reasoning_content");
    if (!reasoning) reasoning = gw_anthropic_in_text(message, "reasoning");
    /* no signature: it is Anthropic's own, and there is none to give */
    if (reasoning &&
        push(content, gw_anthropic_in_object(3, "type", str("thinking"), "thinking",
                                             json_object_get(reasoning), "signature", str(""))))
        goto nomem;
    json_object *text = gw_anthropic_in_text(message, "content");
    /* OpenAI's refusal is the answer's text */
    if (!text) text = gw_anthropic_in_text(message, "refusal");
    if (text && push(content,
                     gw_anthropic_in_object(2, "type", str("text"), "text", json_object_get(text))))
        goto nomem;
    json_object *calls = gw_anthropic_in_member(message, "tool_calls", json_type_array);
    if (calls && tool_uses(r, calls, content, tok, err)) {
        json_object_put(content);
        return NULL;
    }
    return content;
nomem:
    json_object_put(content);
    *err = "out of memory";
    return NULL;
}

static json_object *message_of(gw_req *r, json_object *root, json_tokener *tok, const char **err) {
    json_object *choices = gw_anthropic_in_member(root, "choices", json_type_array);
    json_object *choice = choices && json_object_array_length(choices) > 0
                              ? json_object_array_get_idx(choices, 0)
                              : NULL;
    json_object *message = gw_anthropic_in_member(choice, "message", json_type_object);
    if (!message) {
        *err = "the engine's answer has no choices[0].message";
        return NULL;
    }
    json_object *content = content_blocks(r, message, tok, err);
    if (!content) return NULL;

    json_object *finish = gw_anthropic_in_member(choice, "finish_reason", json_type_string);
    /* vLLM: the matched stop */
    json_object *stop_string = gw_anthropic_in_text(choice, "stop_reason");
    json_object *calls = gw_anthropic_in_member(message, "tool_calls", json_type_array);
    const char *reason = gw_anthropic_in_stop_reason(finish ? json_object_get_string(finish) : NULL,
                                                     calls && json_object_array_length(calls) > 0,
                                                     stop_string != NULL);

    char id[256];
    size_t id_len = gw_anthropic_in_message_id(id, sizeof id, r, root);
    size_t model_len;
    const char *model = gw_anthropic_in_model_name(r, &model_len);
    gw_usage seen;
    int has_usage =
        gw_anthropic_in_read_usage(gw_anthropic_in_member(root, "usage", json_type_object), &seen);
    gw_anthropic_in_usage a;
    gw_anthropic_in_usage_of(r, has_usage ? &seen : NULL, &a);

    json_object *msg = gw_anthropic_in_object(
        6, "id", json_object_new_string_len(id, (int)id_len), "type", str("message"), "role",
        str("assistant"), "model", json_object_new_string_len(model, (int)model_len), "content",
        content, "stop_reason", str(reason));
    /* stop_sequence is null (json-c's NULL) unless a stop string ended the turn: added apart */
    json_object *stop = strcmp(reason, "stop_sequence") ? NULL : json_object_get(stop_string);
    if (msg && json_object_object_add(msg, "stop_sequence", stop)) {
        json_object_put(stop);
        json_object_put(msg);
        msg = NULL;
    } else if (!msg) {
        json_object_put(stop);
    }
    json_object *usage = msg ? usage_object(&a) : NULL;
    if (msg && (!usage || json_object_object_add(msg, "usage", usage))) {
        json_object_put(usage);
        json_object_put(msg);
        msg = NULL;
    }
    if (!msg) *err = "out of memory";
    return msg;
}

int gw_anthropic_in_response(gw_req *r, const gw_chunk *c, struct evbuffer *out, const char **err) {
    json_tokener *tok = gw_json_tokener_new(GW_ANTHROPIC_IN_JSON_DEPTH, JSON_TOKENER_STRICT);
    if (!tok) {
        *err = "out of memory";
        return -1;
    }
    int rc = -1;
    json_object *root = gw_json_object_only(gw_json_parse_with(tok, c->json, c->len)), *msg = NULL;
    if (!root) {
        *err = "the engine's answer is not a JSON object";
    } else if ((msg = message_of(r, root, tok, err))) {
        size_t len = 0;
        const char *s = json_object_to_json_string_length(
            msg, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
        if (s && evbuffer_add(out, s, len) == 0)
            rc = 0;
        else
            *err = "out of memory";
    }
    json_object_put(msg);
    json_object_put(root);
    json_tokener_free(tok);
    return rc;
}
