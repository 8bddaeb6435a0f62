/* The canonical (OpenAI) chat request rebuilt as an Anthropic Messages body. Anthropic differs
 * in shape more than in meaning: the system prompt is a top-level member, roles must alternate
 * (tool results are user turns), tool calls and results are content blocks, max_tokens is
 * required and temperature stops at 1. What cannot be expressed is a 400 naming the field, not
 * a silent change of meaning; OpenAI-only tuning (seed, penalties, logprobs, response_format)
 * is dropped, as a provider without the feature would ignore it. */
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#include "core/json_parse.h"
#include "engines/anthropic_wire.h"

typedef struct conv {
    json_object *messages;     /* Anthropic's, built */
    json_object *last_content; /* the content array of its last message */
    const char *last_role;
    gw_strbuf system;
    int status;
    const char *err;
} conv;

static int fail(conv *c, int status, const char *err) {
    c->status = status;
    c->err = err;
    return -1;
}

static int oom(conv *c) {
    return fail(c, 500, "out of memory converting the request for the Anthropic engine");
}

static json_object *member(json_object *obj, const char *key) {
    json_object *v = NULL;
    if (!obj || !json_object_is_type(obj, json_type_object) ||
        !json_object_object_get_ex(obj, key, &v) || json_object_is_type(v, json_type_null))
        return NULL;
    return v;
}

static const char *string_member(json_object *obj, const char *key) {
    json_object *v = member(obj, key);
    return v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

static int is_number(json_object *v) {
    return json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_double);
}

/* Adds key: value to obj, taking the reference to value (NULL value: out of memory). */
static int put(conv *c, json_object *obj, const char *key, json_object *value) {
    if (!value || json_object_object_add(obj, key, value) < 0) {
        json_object_put(value);
        return oom(c);
    }
    return 0;
}

/* The same value in the new body: shared, not copied (bodies of images can be large). */
static int put_shared(conv *c, json_object *obj, const char *key, json_object *value) {
    return put(c, obj, key, json_object_get(value));
}

static json_object *new_string(const char *s, size_t len) {
    return json_object_new_string_len(s, (int)len);
}

/* Appends a block to the turn of `role`: to the last message when it has that role (Anthropic
 * wants user and assistant to alternate, so consecutive turns of one role become one message),
 * else to a new message. A turn that ends up with no block never appears. */
static int push_block(conv *c, const char *role, json_object *block) {
    if (!block) return oom(c);
    if (!c->last_role || strcmp(c->last_role, role)) {
        json_object *msg = json_object_new_object(), *content = json_object_new_array();
        if (!msg || !content || put(c, msg, "role", json_object_new_string(role)) < 0) {
            json_object_put(msg);
            json_object_put(content);
            json_object_put(block);
            return oom(c);
        }
        if (put(c, msg, "content", content) < 0 || json_object_array_add(c->messages, msg) < 0) {
            json_object_put(msg);
            json_object_put(block);
            return oom(c);
        }
        c->last_content = content;
        c->last_role = role;
    }
    if (json_object_array_add(c->last_content, block) < 0) {
        json_object_put(block);
        return oom(c);
    }
    return 0;
}

/* NULL when out of memory. */
static json_object *text_block(json_object *text) {
    json_object *b = json_object_new_object(), *type = json_object_new_string("text");
    if (!b || !type || json_object_object_add(b, "type", type) < 0) {
        json_object_put(b);
        json_object_put(type);
        return NULL;
    }
    if (json_object_object_add(b, "text", json_object_get(text)) < 0) {
        json_object_put(text);
        json_object_put(b);
        return NULL;
    }
    return b;
}

/* An image_url part as an image block: a data: URL carries the bytes (base64 source), an
 * http(s) URL is fetched by Anthropic (url source). */
static json_object *image_block(conv *c, json_object *part) {
    json_object *image_url = member(part, "image_url");
    const char *url = NULL;
    if (image_url && json_object_is_type(image_url, json_type_string))
        url = json_object_get_string(image_url); /* a shorthand some clients write */
    else
        url = string_member(image_url, "url");
    if (!url) {
        fail(c, 400, "an image_url content part needs image_url.url");
        return NULL;
    }
    json_object *source = json_object_new_object();
    if (!source) {
        oom(c);
        return NULL;
    }
    if (!strncmp(url, "data:", 5)) {
        const char *comma = strchr(url, ',');
        const char *semi = strchr(url, ';');
        /* data:<media type>[;params];base64,<data>: Anthropic takes base64 only */
        if (!comma || !semi || semi > comma || comma - url < 12 ||
            strncmp(comma - 7, ";base64", 7) || semi == url + 5 || !comma[1]) {
            json_object_put(source);
            fail(c, 400,
                 "an image data: URL must be data:<media type>;base64,<data> for the Anthropic "
                 "engine");
            return NULL;
        }
        if (put(c, source, "type", json_object_new_string("base64")) < 0 ||
            put(c, source, "media_type", new_string(url + 5, (size_t)(semi - url - 5))) < 0 ||
            put(c, source, "data", json_object_new_string(comma + 1)) < 0) {
            json_object_put(source);
            return NULL;
        }
    } else if (!strncmp(url, "https://", 8) || !strncmp(url, "http://", 7)) {
        if (put(c, source, "type", json_object_new_string("url")) < 0 ||
            put(c, source, "url", json_object_new_string(url)) < 0) {
            json_object_put(source);
            return NULL;
        }
    } else {
        json_object_put(source);
        fail(c, 400, "an image URL must be a data: URL or an http(s) URL");
        return NULL;
    }
    json_object *b = json_object_new_object();
    if (!b || put(c, b, "type", json_object_new_string("image")) < 0) {
        json_object_put(b);
        json_object_put(source);
        oom(c);
        return NULL;
    }
    if (put(c, b, "source", source) < 0) { /* put released source */
        json_object_put(b);
        return NULL;
    }
    return b;
}

/* The blocks of a user, assistant or tool content (a string or parts), each passed to `sink`:
 * pushed to a turn, or added to a tool_result's content. Empty texts are left out: Anthropic
 * rejects empty text blocks, and an assistant turn with tool calls often has content "". */
typedef int (*block_sink)(conv *c, void *ud, json_object *block);

static int content_blocks(conv *c, json_object *content, block_sink sink, void *ud) {
    if (!content) return 0;
    if (json_object_is_type(content, json_type_string)) {
        if (!json_object_get_string_len(content)) return 0;
        return sink(c, ud, text_block(content));
    }
    if (!json_object_is_type(content, json_type_array))
        return fail(c, 400, "a message's content must be a string, an array of parts or null");
    size_t n = json_object_array_length(content);
    for (size_t i = 0; i < n; i++) {
        json_object *part = json_object_array_get_idx(content, i);
        const char *type = string_member(part, "type");
        if (!type) return fail(c, 400, "a content part needs a type");
        json_object *block;
        if (!strcmp(type, "text") || !strcmp(type, "refusal")) {
            json_object *text = member(part, type); /* "text" or "refusal" holds the words */
            if (!text || !json_object_is_type(text, json_type_string))
                return fail(c, 400, "a text content part needs a string text");
            if (!json_object_get_string_len(text)) continue;
            block = text_block(text);
        } else if (!strcmp(type, "image_url")) {
            if (!(block = image_block(c, part))) return -1;
        } else {
            return fail(c, 400,
                        "a content part type other than text and image_url (input_audio, "
                        "file) is not supported by this model's engine");
        }
        if (sink(c, ud, block) < 0) return -1;
    }
    return 0;
}

static int sink_turn(conv *c, void *role, json_object *block) {
    return push_block(c, role, block);
}

static int sink_array(conv *c, void *array, json_object *block) {
    if (!block || json_object_array_add(array, block) < 0) {
        json_object_put(block);
        return oom(c);
    }
    return 0;
}

/* System and developer messages, wherever they stand, join into the top-level system prompt. */
static int add_system(conv *c, json_object *content) {
    if (!content) return 0;
    if (json_object_is_type(content, json_type_string)) {
        if (!json_object_get_string_len(content)) return 0;
        if (c->system.len) gw_strbuf_add(&c->system, "\n\n", 2);
        gw_strbuf_add(&c->system, json_object_get_string(content),
                      (size_t)json_object_get_string_len(content));
        return c->system.failed ? oom(c) : 0;
    }
    if (!json_object_is_type(content, json_type_array))
        return fail(c, 400, "a system message's content must be a string or an array of parts");
    size_t n = json_object_array_length(content);
    for (size_t i = 0; i < n; i++) {
        json_object *part = json_object_array_get_idx(content, i);
        const char *type = string_member(part, "type");
        json_object *text = member(part, "text");
        if (!type || strcmp(type, "text") || !text || !json_object_is_type(text, json_type_string))
            return fail(c, 400, "a system message's content parts must be text");
        if (add_system(c, text) < 0) return -1;
    }
    return 0;
}

/* An OpenAI tool call as a tool_use block; its arguments, a JSON text, become the input object
 * Anthropic wants. */
static json_object *tool_use_block(conv *c, json_object *call) {
    const char *type = string_member(call, "type");
    json_object *fn = member(call, "function");
    json_object *id = member(call, "id"), *name = member(fn, "name");
    if (type && strcmp(type, "function")) {
        fail(c, 400, "only function tool calls are supported by this model's engine");
        return NULL;
    }
    if (!id || !json_object_is_type(id, json_type_string) || !name ||
        !json_object_is_type(name, json_type_string)) {
        fail(c, 400, "an assistant tool call needs an id and a function.name");
        return NULL;
    }
    json_object *arguments = member(fn, "arguments"), *input = NULL;
    if (!arguments) {
        input = json_object_new_object();
    } else if (json_object_is_type(arguments, json_type_object)) {
        input = json_object_get(arguments); /* some clients send the object itself */
    } else if (json_object_is_type(arguments, json_type_string)) {
        const char *text = json_object_get_string(arguments);
        size_t len = (size_t)json_object_get_string_len(arguments);
        size_t skip = strspn(text, " \t\r\n");
        /* a tool without parameters often gets "" from the model: that is no arguments */
        input = skip == len
                    ? json_object_new_object()
                    : gw_json_object_only(gw_json_parse(text, len, GW_ANTHROPIC_JSON_DEPTH, 0));
        if (!input && skip != len) {
            fail(c, 400,
                 "an assistant tool call's function.arguments is not a JSON object (Anthropic "
                 "needs the tool input as an object)");
            return NULL;
        }
    } else {
        fail(c, 400, "an assistant tool call's function.arguments must be a string");
        return NULL;
    }
    json_object *b = input ? json_object_new_object() : NULL;
    if (!b || put(c, b, "type", json_object_new_string("tool_use")) < 0 ||
        put_shared(c, b, "id", id) < 0 || put_shared(c, b, "name", name) < 0) {
        json_object_put(b);
        json_object_put(input);
        oom(c);
        return NULL;
    }
    if (put(c, b, "input", input) < 0) { /* put released input */
        json_object_put(b);
        return NULL;
    }
    return b;
}

static int add_assistant(conv *c, json_object *msg) {
    if (content_blocks(c, member(msg, "content"), sink_turn, "assistant") < 0) return -1;
    json_object *calls = member(msg, "tool_calls");
    if (!calls) return 0;
    if (!json_object_is_type(calls, json_type_array))
        return fail(c, 400, "an assistant message's tool_calls must be an array");
    size_t n = json_object_array_length(calls);
    for (size_t i = 0; i < n; i++) {
        json_object *block = tool_use_block(c, json_object_array_get_idx(calls, i));
        if (!block || push_block(c, "assistant", block) < 0) return -1;
    }
    return 0;
}

/* A tool message is a tool_result block in a user turn; consecutive ones share that turn. */
static int add_tool_result(conv *c, json_object *msg) {
    json_object *id = member(msg, "tool_call_id");
    if (!id || !json_object_is_type(id, json_type_string))
        return fail(c, 400, "a tool message needs a tool_call_id");
    json_object *b = json_object_new_object();
    if (!b || put(c, b, "type", json_object_new_string("tool_result")) < 0 ||
        put_shared(c, b, "tool_use_id", id) < 0) {
        json_object_put(b);
        return oom(c);
    }
    json_object *content = member(msg, "content");
    if (content && json_object_is_type(content, json_type_string)) {
        /* an empty result is left out: content is optional in a tool_result */
        if (json_object_get_string_len(content) && put_shared(c, b, "content", content) < 0) {
            json_object_put(b);
            return -1;
        }
    } else if (content) {
        json_object *blocks = json_object_new_array();
        if (!blocks || put(c, b, "content", blocks) < 0) {
            json_object_put(b);
            return oom(c);
        }
        if (content_blocks(c, content, sink_array, blocks) < 0) {
            json_object_put(b);
            return -1;
        }
        if (!json_object_array_length(blocks)) json_object_object_del(b, "content");
    }
    return push_block(c, "user", b);
}

static int add_messages(conv *c, json_object *messages) {
    if (!messages || !json_object_is_type(messages, json_type_array))
        return fail(c, 400, "messages must be an array");
    size_t n = json_object_array_length(messages);
    for (size_t i = 0; i < n; i++) {
        json_object *msg = json_object_array_get_idx(messages, i);
        const char *role = string_member(msg, "role");
        if (!role) return fail(c, 400, "every message needs a role");
        int rc;
        if (!strcmp(role, "system") || !strcmp(role, "developer"))
            rc = add_system(c, member(msg, "content"));
        else if (!strcmp(role, "user"))
            rc = content_blocks(c, member(msg, "content"), sink_turn, "user");
        else if (!strcmp(role, "assistant"))
            rc = add_assistant(c, msg);
        else if (!strcmp(role, "tool"))
            rc = add_tool_result(c, msg);
        else
            rc = fail(c, 400,
                      "a message role must be system, developer, user, assistant or tool (the "
                      "legacy function role is not supported by this model's engine)");
        if (rc < 0) return -1;
    }
    if (!json_object_array_length(c->messages))
        return fail(c, 400, "the request has no user or assistant message with content");
    return 0;
}

static int add_tools(conv *c, json_object *body, json_object *tools) {
    if (!json_object_is_type(tools, json_type_array)) return fail(c, 400, "tools must be an array");
    json_object *out = json_object_new_array();
    if (!out || put(c, body, "tools", out) < 0) return oom(c);
    size_t n = json_object_array_length(tools);
    for (size_t i = 0; i < n; i++) {
        json_object *tool = json_object_array_get_idx(tools, i);
        const char *type = string_member(tool, "type");
        json_object *fn = member(tool, "function");
        json_object *name = member(fn, "name");
        if (!type || strcmp(type, "function"))
            return fail(c, 400, "only function tools are supported by this model's engine");
        if (!name || !json_object_is_type(name, json_type_string))
            return fail(c, 400, "a function tool needs a function.name");
        json_object *t = json_object_new_object(), *v;
        if (!t || json_object_array_add(out, t) < 0) {
            json_object_put(t);
            return oom(c);
        }
        if (put_shared(c, t, "name", name) < 0) return -1;
        if ((v = member(fn, "description")) && put_shared(c, t, "description", v) < 0) return -1;
        if ((v = member(fn, "parameters"))) {
            if (!json_object_is_type(v, json_type_object))
                return fail(c, 400, "a function tool's parameters must be a JSON Schema object");
            if (put_shared(c, t, "input_schema", v) < 0) return -1;
        } else {
            /* Anthropic requires a schema; a tool without parameters takes an empty object */
            json_object *schema = json_object_new_object();
            if (!schema || put(c, t, "input_schema", schema) < 0 ||
                put(c, schema, "type", json_object_new_string("object")) < 0)
                return oom(c);
        }
    }
    return 0;
}

static int add_tool_choice(conv *c, json_object *body, json_object *choice, int no_parallel) {
    const char *type = NULL, *name = NULL;
    if (!choice || (json_object_is_type(choice, json_type_string) &&
                    !strcmp(json_object_get_string(choice), "auto"))) {
        type = "auto";
    } else if (json_object_is_type(choice, json_type_string)) {
        const char *s = json_object_get_string(choice);
        if (!strcmp(s, "required"))
            type = "any";
        else if (!strcmp(s, "none"))
            type = "none";
    } else if (json_object_is_type(choice, json_type_object)) {
        const char *t = string_member(choice, "type");
        name = string_member(member(choice, "function"), "name");
        if (t && !strcmp(t, "function") && name) type = "tool";
    }
    if (!type)
        return fail(c, 400,
                    "tool_choice must be \"auto\", \"required\", \"none\" or "
                    "{\"type\":\"function\",\"function\":{\"name\":...}} for this model's engine");
    if (!choice && !no_parallel) return 0; /* Anthropic's default is auto too */
    json_object *out = json_object_new_object();
    if (!out || put(c, body, "tool_choice", out) < 0) return oom(c);
    if (put(c, out, "type", json_object_new_string(type)) < 0) return -1;
    if (name && put(c, out, "name", json_object_new_string(name)) < 0) return -1;
    /* "none" calls no tool at all, and Anthropic's none takes no other member */
    if (no_parallel && strcmp(type, "none") &&
        put(c, out, "disable_parallel_tool_use", json_object_new_boolean(1)) < 0)
        return -1;
    return 0;
}

static int add_max_tokens(conv *c, json_object *body, json_object *req, int64_t fallback) {
    /* max_completion_tokens is OpenAI's current name; max_tokens the deprecated one */
    json_object *v = member(req, "max_completion_tokens");
    if (!v) v = member(req, "max_tokens");
    int64_t n = fallback;
    if (v) {
        if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 1)
            return fail(c, 400, "max_tokens and max_completion_tokens must be positive integers");
        n = json_object_get_int64(v);
    }
    return put(c, body, "max_tokens", json_object_new_int64(n));
}

static int add_sampling(conv *c, json_object *body, json_object *req) {
    json_object *v;
    if ((v = member(req, "temperature"))) {
        if (!is_number(v)) return fail(c, 400, "temperature must be a number");
        /* OpenAI's range is 0..2, Anthropic's 0..1: the nearest value Anthropic takes */
        if (json_object_get_double(v) > 1.0) {
            if (put(c, body, "temperature", json_object_new_double(1.0)) < 0) return -1;
        } else if (put_shared(c, body, "temperature", v) < 0) {
            return -1;
        }
    }
    if ((v = member(req, "top_p"))) {
        if (!is_number(v)) return fail(c, 400, "top_p must be a number");
        if (put_shared(c, body, "top_p", v) < 0) return -1;
    }
    if ((v = member(req, "top_k"))) {
        if (!json_object_is_type(v, json_type_int)) return fail(c, 400, "top_k must be an integer");
        if (put_shared(c, body, "top_k", v) < 0) return -1;
    }
    if ((v = member(req, "stop"))) {
        json_object *seqs;
        if (json_object_is_type(v, json_type_string)) {
            if (!(seqs = json_object_new_array()) || put(c, body, "stop_sequences", seqs) < 0 ||
                json_object_array_add(seqs, json_object_get(v)) < 0)
                return oom(c);
        } else if (json_object_is_type(v, json_type_array)) {
            size_t n = json_object_array_length(v);
            for (size_t i = 0; i < n; i++)
                if (!json_object_is_type(json_object_array_get_idx(v, i), json_type_string))
                    return fail(c, 400, "stop must be a string or an array of strings");
            if (n && put_shared(c, body, "stop_sequences", v) < 0) return -1;
        } else {
            return fail(c, 400, "stop must be a string or an array of strings");
        }
    }
    return 0;
}

static int build(conv *c, const gw_anthropic_conf *conf, json_object *req, json_object *body,
                 const char *model, size_t model_len, int stream) {
    json_object *v;
    if (!json_object_is_type(req, json_type_object))
        return fail(c, 400, "the request body must be a JSON object");
    if ((v = member(req, "n")) &&
        (!is_number(v) || json_object_get_int64(v) != 1 || json_object_get_double(v) != 1.0))
        return fail(c, 400, "n > 1 is not supported by this model's engine");
    if (put(c, body, "model", new_string(model, model_len)) < 0) return -1;
    if (add_max_tokens(c, body, req, conf->default_max_tokens) < 0) return -1;
    if (!(c->messages = json_object_new_array())) return oom(c);
    if (add_messages(c, member(req, "messages")) < 0) return -1;
    if (c->system.len && put(c, body, "system", new_string(c->system.data, c->system.len)) < 0)
        return -1;
    if (put_shared(c, body, "messages", c->messages) < 0) return -1;
    if (add_sampling(c, body, req) < 0) return -1;
    const char *user = string_member(req, "user");
    if (user && *user) {
        json_object *metadata = json_object_new_object();
        if (!metadata || put(c, body, "metadata", metadata) < 0 ||
            put(c, metadata, "user_id", json_object_new_string(user)) < 0)
            return oom(c);
    }
    json_object *tools = member(req, "tools");
    /* tool_choice without tools means nothing to Anthropic (and it rejects it): dropped */
    if (tools &&
        (!json_object_is_type(tools, json_type_array) || json_object_array_length(tools) > 0)) {
        if (add_tools(c, body, tools) < 0) return -1;
        json_object *parallel = member(req, "parallel_tool_calls");
        int no_parallel = parallel && json_object_is_type(parallel, json_type_boolean) &&
                          !json_object_get_boolean(parallel);
        if (add_tool_choice(c, body, member(req, "tool_choice"), no_parallel) < 0) return -1;
    }
    /* OpenAI has no "thinking": a caller who writes it means Anthropic's extended thinking */
    if ((v = member(req, "thinking")) && json_object_is_type(v, json_type_object) &&
        put_shared(c, body, "thinking", v) < 0)
        return -1;
    if (stream && put(c, body, "stream", json_object_new_boolean(1)) < 0) return -1;
    return 0;
}

int gw_anthropic_request(const gw_anthropic_conf *conf, json_object *req, const char *model,
                         size_t model_len, int stream, char **body, size_t *body_len, int *status,
                         const char **err) {
    conv c = {0};
    json_object *out = json_object_new_object();
    int rc = out ? build(&c, conf, req, out, model, model_len, stream) : oom(&c);
    json_object_put(c.messages);
    gw_strbuf_free(&c.system);
    if (rc == 0) {
        size_t len = 0;
        const char *text = json_object_to_json_string_length(
            out, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
        char *copy = text ? malloc(len + 1) : NULL;
        if (copy) {
            memcpy(copy, text, len + 1);
            *body = copy;
            *body_len = len;
        } else {
            rc = oom(&c);
        }
    }
    json_object_put(out);
    if (rc < 0) {
        *status = c.status;
        *err = c.err;
    }
    return rc;
}
