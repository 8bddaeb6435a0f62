/* An Anthropic Messages request checked as Anthropic checks it (errors name the field the way
 * its API does: "messages.1.content.0.type: ...") and rebuilt as the canonical OpenAI chat
 * request every engine adapter reads. Values are shared with the parsed body, not copied, so
 * numbers keep the caller's exact text and long texts are not copied (an image is, once, into
 * its data: URL). */
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inbound/anthropic.h"

enum { PATH_CAP = 160 }; /* "messages.<n>.content.<n>.content.<n>.source.media_type" fits */

typedef struct conv {
    gw_error_info *err;
    char *msg;
    size_t cap;
} conv;

/* A 400 in Anthropic's words, "<path>: <text>". The path is also the param; it is kept in msg
 * after the message's NUL, so it lives exactly as long as the message does. */
__attribute__((format(printf, 4, 5))) static int fail(conv *c, const char *code, const char *path,
                                                      const char *fmt, ...) {
    char text[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    gw_error_info *e = c->err;
    e->status = 400;
    e->type = "invalid_request_error";
    e->code = code;
    e->code_json = NULL;
    e->param = NULL;
    if (!c->msg || c->cap == 0) {
        e->message = "invalid request";
        e->message_len = strlen(e->message);
        return -1;
    }
    int n = path ? snprintf(c->msg, c->cap, "%s: %s", path, text)
                 : snprintf(c->msg, c->cap, "%s", text);
    size_t len = n < 0 ? 0 : (size_t)n >= c->cap ? c->cap - 1 : (size_t)n;
    c->msg[len] = '\0';
    e->message = c->msg;
    e->message_len = len;
    if (path) {
        size_t plen = strlen(path);
        if (len + 1 + plen + 1 <= c->cap) {
            memcpy(c->msg + len + 1, path, plen + 1);
            e->param = c->msg + len + 1;
        }
    }
    return -1;
}

static int oom(conv *c) {
    gw_error_info *e = c->err;
    e->status = 500;
    e->type = "server_error";
    e->code = "out_of_memory";
    e->code_json = NULL;
    e->param = NULL;
    e->message = "the gateway is out of memory";
    e->message_len = strlen(e->message);
    return -1;
}

/* Adds val (a new reference) to obj or arr; the reference is dropped when that fails, and a
 * NULL val (a failed allocation) fails too, so callers check one result. */
static int put(json_object *obj, const char *key, json_object *val) {
    if (!val) return -1;
    if (json_object_object_add(obj, key, val) == 0) return 0;
    json_object_put(val);
    return -1;
}

static int push(json_object *arr, json_object *val) {
    if (!val) return -1;
    if (json_object_array_add(arr, val) == 0) return 0;
    json_object_put(val);
    return -1;
}

/* Paths are bounded: a deeper one is cut short, still naming where the error began. (The
 * lengths are checked so the compiler knows the cut is meant.) */
static const char *join(char *buf, const char *path, const char *key) {
    int n = path && *path ? snprintf(buf, PATH_CAP, "%s.%s", path, key)
                          : snprintf(buf, PATH_CAP, "%s", key);
    if (n < 0) buf[0] = '\0';
    return buf;
}

static const char *joinf(char *buf, const char *path, const char *key, size_t i) {
    if (snprintf(buf, PATH_CAP, "%s.%s.%zu", path, key, i) < 0) buf[0] = '\0';
    return buf;
}

typedef enum { K_STRING, K_INT, K_NUMBER, K_BOOL, K_ARRAY, K_OBJECT } kind;

static const char *const kind_text[] = {
    "a valid string",  "a valid integer", "a valid number",
    "a valid boolean", "a valid list",    "a valid dictionary",
};

static int is_kind(json_object *v, kind k) {
    switch (k) {
    case K_STRING:
        return json_object_is_type(v, json_type_string);
    case K_INT:
        return json_object_is_type(v, json_type_int);
    case K_NUMBER:
        return json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_double);
    case K_BOOL:
        return json_object_is_type(v, json_type_boolean);
    case K_ARRAY:
        return json_object_is_type(v, json_type_array);
    case K_OBJECT:
        return json_object_is_type(v, json_type_object);
    }
    return 0;
}

/* obj[key] checked against k: 0 with *out set (NULL when an optional member is absent or null),
 * -1 with the error. path is obj's own path ("" at the top level). */
static int get(conv *c, json_object *obj, const char *path, const char *key, kind k, int required,
               json_object **out) {
    char p[PATH_CAP];
    json_object *v = NULL;
    *out = NULL;
    if (!json_object_object_get_ex(obj, key, &v))
        return required
                   ? fail(c, "missing_required_parameter", join(p, path, key), "Field required")
                   : 0;
    if (!v && !required) return 0; /* null: as absent, lenient with SDKs that send it */
    if (!v || !is_kind(v, k))
        return fail(c, "invalid_type", join(p, path, key), "Input should be %s", kind_text[k]);
    *out = v;
    return 0;
}

static int is_str(json_object *v, const char *s) {
    return v && json_object_is_type(v, json_type_string) && !strcmp(json_object_get_string(v), s);
}

static json_object *str(const char *s) {
    return json_object_new_string(s);
}

static json_object *text_part(json_object *text) {
    return gw_anthropic_in_object(2, "type", str("text"), "text", json_object_get(text));
}

/* The texts of parts joined with "\n", as vLLM joins text parts for a chat template that takes
 * a string: engines see what they would have seen from an OpenAI caller sending parts. One
 * text is shared, not copied. NULL (allocation failure) only. */
static json_object *joined_text(json_object *parts) {
    size_t n = json_object_array_length(parts), total = 0, count = 0;
    json_object *only = NULL;
    for (size_t i = 0; i < n; i++) {
        json_object *t;
        if (!json_object_object_get_ex(json_object_array_get_idx(parts, i), "text", &t)) continue;
        total += (size_t)json_object_get_string_len(t) + (count ? 1 : 0);
        only = t;
        count++;
    }
    if (count == 0) return str("");
    if (count == 1) return json_object_get(only);
    if (total > (size_t)INT32_MAX) return NULL;
    char *buf = malloc(total + 1);
    if (!buf) return NULL;
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        json_object *t;
        if (!json_object_object_get_ex(json_object_array_get_idx(parts, i), "text", &t)) continue;
        if (at) buf[at++] = '\n';
        size_t len = (size_t)json_object_get_string_len(t);
        memcpy(buf + at, json_object_get_string(t), len);
        at += len;
    }
    json_object *s = json_object_new_string_len(buf, (int)at);
    free(buf);
    return s;
}

/* An image block as an OpenAI image_url part: base64 sources become data: URLs. */
static int image_part(conv *c, json_object *b, const char *bpath, json_object **out) {
    char p[PATH_CAP], sp[PATH_CAP];
    json_object *source, *stype, *url = NULL;
    *out = NULL;
    if (get(c, b, bpath, "source", K_OBJECT, 1, &source)) return -1;
    join(sp, bpath, "source");
    if (get(c, source, sp, "type", K_STRING, 1, &stype)) return -1;
    if (is_str(stype, "base64")) {
        json_object *mt, *data;
        if (get(c, source, sp, "media_type", K_STRING, 1, &mt) ||
            get(c, source, sp, "data", K_STRING, 1, &data))
            return -1;
        size_t mlen = (size_t)json_object_get_string_len(mt);
        size_t dlen = (size_t)json_object_get_string_len(data);
        size_t total = 5 + mlen + 8 + dlen; /* "data:" mt ";base64," data */
        if (total > (size_t)INT32_MAX)
            return fail(c, "invalid_value", join(p, sp, "data"), "the image is too large");
        char *buf = malloc(total + 1);
        if (!buf) return oom(c);
        memcpy(buf, "data:", 5);
        memcpy(buf + 5, json_object_get_string(mt), mlen);
        memcpy(buf + 5 + mlen, ";base64,", 8);
        memcpy(buf + 5 + mlen + 8, json_object_get_string(data), dlen);
        url = json_object_new_string_len(buf, (int)total);
        free(buf);
    } else if (is_str(stype, "url")) {
        json_object *u;
        if (get(c, source, sp, "url", K_STRING, 1, &u)) return -1;
        url = json_object_get(u);
    } else {
        return fail(c, "invalid_value", join(p, sp, "type"),
                    "image source type '%.40s' is not supported (expected 'base64' or 'url')",
                    json_object_get_string(stype));
    }
    *out = gw_anthropic_in_object(2, "type", str("image_url"), "image_url",
                                  gw_anthropic_in_object(1, "url", url));
    return *out ? 0 : oom(c);
}

/* A block's type, checked present. */
static int block_type(conv *c, json_object *b, const char *bpath, json_object **type) {
    if (!json_object_is_type(b, json_type_object))
        return fail(c, "invalid_type", bpath, "Input should be a valid dictionary");
    return get(c, b, bpath, "type", K_STRING, 1, type);
}

static int unsupported_block(conv *c, const char *bpath, json_object *type, const char *where) {
    char p[PATH_CAP];
    if (is_str(type, "document"))
        return fail(c, "unsupported_value", join(p, bpath, "type"),
                    "document blocks are not supported by this gateway");
    return fail(c, "invalid_value", join(p, bpath, "type"),
                "content block type '%.40s' is not supported %s", json_object_get_string(type),
                where);
}

/* A text block as a text part into texts, an image block as an image_url part into images
 * (counted in *count); any other type is refused, `where` saying where it stood. */
static int text_or_image(conv *c, json_object *b, const char *bpath, json_object *type,
                         json_object *texts, json_object *images, int *count, const char *where) {
    json_object *t, *img;
    if (is_str(type, "text")) {
        if (get(c, b, bpath, "text", K_STRING, 1, &t)) return -1;
        return push(texts, text_part(t)) ? oom(c) : 0;
    }
    if (is_str(type, "image")) {
        if (image_part(c, b, bpath, &img)) return -1;
        if (push(images, img)) return oom(c);
        (*count)++;
        return 0;
    }
    return unsupported_block(c, bpath, type, where);
}

/* The content of a tool_result: a string, or text and image blocks. The text is the tool
 * message's content; the images, which OpenAI tool messages cannot carry, go to user_parts,
 * the user message that follows the tool messages. */
static int tool_result_text(conv *c, json_object *content, const char *bpath,
                            json_object *user_parts, int *images, json_object **text) {
    char kp[PATH_CAP];
    *text = NULL;
    if (!content) {
        *text = str("");
        return *text ? 0 : oom(c);
    }
    if (json_object_is_type(content, json_type_string)) {
        *text = json_object_get(content);
        return 0;
    }
    if (!json_object_is_type(content, json_type_array))
        return fail(c, "invalid_type", join(kp, bpath, "content"),
                    "Input should be a valid string or list");
    json_object *parts = json_object_new_array();
    if (!parts) return oom(c);
    int rc = 0;
    for (size_t k = 0, n = json_object_array_length(content); k < n && !rc; k++) {
        json_object *cb = json_object_array_get_idx(content, k), *type;
        joinf(kp, bpath, "content", k);
        rc = block_type(c, cb, kp, &type)
                 ? -1
                 : text_or_image(c, cb, kp, type, parts, user_parts, images,
                                 "inside tool_result (expected 'text' or 'image')");
    }
    if (!rc && !(*text = joined_text(parts))) rc = oom(c);
    json_object_put(parts);
    return rc;
}

/* A tool_result block: a {role:"tool"} message into msgs. is_error has no OpenAI counterpart;
 * the result's text (an error message, as tools write it) is what the model reads. */
static int tool_result(conv *c, json_object *msgs, json_object *b, const char *bpath,
                       json_object *user_parts, int *images) {
    json_object *id, *is_error, *content = NULL, *text;
    if (get(c, b, bpath, "tool_use_id", K_STRING, 1, &id) ||
        get(c, b, bpath, "is_error", K_BOOL, 0, &is_error))
        return -1;
    json_object_object_get_ex(b, "content", &content);
    if (tool_result_text(c, content, bpath, user_parts, images, &text)) return -1;
    if (push(msgs, gw_anthropic_in_object(3, "role", str("tool"), "tool_call_id",
                                          json_object_get(id), "content", text)))
        return oom(c);
    return 0;
}

/* A user message's blocks: its tool results first, as {role:"tool"} messages (OpenAI wants
 * them right after the assistant's tool_calls), then one user message with the rest. */
static int user_blocks(conv *c, json_object *msgs, json_object *blocks, const char *mpath) {
    char bp[PATH_CAP], p[PATH_CAP];
    json_object *parts = json_object_new_array();
    int images = 0, rc = 0;
    if (!parts) return oom(c);
    for (size_t j = 0, n = json_object_array_length(blocks); j < n && !rc; j++) {
        json_object *b = json_object_array_get_idx(blocks, j), *type;
        joinf(bp, mpath, "content", j);
        if (block_type(c, b, bp, &type)) {
            rc = -1;
        } else if (is_str(type, "tool_result")) {
            rc = tool_result(c, msgs, b, bp, parts, &images);
        } else if (is_str(type, "thinking") || is_str(type, "redacted_thinking")) {
            continue; /* only an assistant's; engines cannot read them back anyway */
        } else if (is_str(type, "tool_use")) {
            rc = fail(c, "invalid_value", join(p, bp, "type"),
                      "tool_use blocks are only allowed in assistant messages");
        } else {
            rc = text_or_image(c, b, bp, type, parts, parts, &images, "in user messages");
        }
    }
    if (!rc && json_object_array_length(parts) > 0) {
        /* text only: a string, which every engine's chat template reads */
        json_object *content = images ? json_object_get(parts) : joined_text(parts);
        if (push(msgs, gw_anthropic_in_object(2, "role", str("user"), "content", content)))
            rc = oom(c);
    }
    json_object_put(parts);
    return rc;
}

static json_object *tool_call(json_object *id, json_object *name, json_object *input) {
    size_t len = 0;
    const char *args = json_object_to_json_string_length(
        input, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
    json_object *fn =
        gw_anthropic_in_object(2, "name", json_object_get(name), "arguments",
                               args ? json_object_new_string_len(args, (int)len) : NULL);
    return gw_anthropic_in_object(3, "id", json_object_get(id), "type", str("function"), "function",
                                  fn);
}

/* An assistant message's blocks: text as content, tool_use as tool_calls. A message left with
 * neither (only thinking, or an empty prefill) is dropped: an empty assistant turn would only
 * confuse the engine's template. */
static int assistant_blocks(conv *c, json_object *msgs, json_object *blocks, const char *mpath) {
    char bp[PATH_CAP], p[PATH_CAP];
    json_object *parts = json_object_new_array(), *calls = json_object_new_array();
    int rc = parts && calls ? 0 : oom(c);
    for (size_t j = 0, n = json_object_array_length(blocks); j < n && !rc; j++) {
        json_object *b = json_object_array_get_idx(blocks, j), *type, *t, *id, *name, *input;
        joinf(bp, mpath, "content", j);
        if (block_type(c, b, bp, &type)) {
            rc = -1;
        } else if (is_str(type, "text")) {
            rc = get(c, b, bp, "text", K_STRING, 1, &t);
            if (!rc && push(parts, text_part(t))) rc = oom(c);
        } else if (is_str(type, "tool_use")) {
            rc = get(c, b, bp, "id", K_STRING, 1, &id) ||
                 get(c, b, bp, "name", K_STRING, 1, &name) ||
                 get(c, b, bp, "input", K_OBJECT, 1, &input);
            if (rc) rc = -1;
            if (!rc && push(calls, tool_call(id, name, input))) rc = oom(c);
        } else if (is_str(type, "thinking") || is_str(type, "redacted_thinking")) {
            continue; /* signed by Anthropic for Anthropic: meaningless to another engine */
        } else if (is_str(type, "image") || is_str(type, "tool_result")) {
            rc = fail(c, "invalid_value", join(p, bp, "type"),
                      "%s blocks are only allowed in user messages", json_object_get_string(type));
        } else {
            rc = unsupported_block(c, bp, type, "in assistant messages");
        }
    }
    if (!rc && (json_object_array_length(parts) > 0 || json_object_array_length(calls) > 0)) {
        /* "" rather than null beside tool_calls: every engine's template reads a string */
        int ncalls = json_object_array_length(calls) > 0;
        if (push(msgs, gw_anthropic_in_object(3, "role", str("assistant"), "content",
                                              joined_text(parts), ncalls ? "tool_calls" : NULL,
                                              ncalls ? json_object_get(calls) : NULL)))
            rc = oom(c);
    }
    json_object_put(parts);
    json_object_put(calls);
    return rc;
}

static int message(conv *c, json_object *msgs, json_object *m, size_t i, int last) {
    char mp[PATH_CAP], p[PATH_CAP];
    json_object *role, *content;
    snprintf(mp, sizeof mp, "messages.%zu", i);
    if (!json_object_is_type(m, json_type_object))
        return fail(c, "invalid_type", mp, "Input should be a valid dictionary");
    if (get(c, m, mp, "role", K_STRING, 1, &role)) return -1;
    int assistant = is_str(role, "assistant");
    if (!assistant && !is_str(role, "user"))
        return fail(c, "invalid_value", join(p, mp, "role"),
                    "Input should be 'user' or 'assistant'");
    if (!json_object_object_get_ex(m, "content", &content) || !content)
        return fail(c, "missing_required_parameter", join(p, mp, "content"), "Field required");
    int is_string = json_object_is_type(content, json_type_string);
    if (!is_string && !json_object_is_type(content, json_type_array))
        return fail(c, "invalid_type", join(p, mp, "content"),
                    "Input should be a valid string or list");
    size_t len =
        is_string ? (size_t)json_object_get_string_len(content) : json_object_array_length(content);
    if (len == 0) {
        if (assistant && last) return 0; /* an empty prefill: nothing to continue from */
        return fail(c, "invalid_value", mp,
                    "all messages must have non-empty content except for the optional final "
                    "assistant message");
    }
    if (!is_string)
        return assistant ? assistant_blocks(c, msgs, content, mp)
                         : user_blocks(c, msgs, content, mp);
    if (push(msgs, gw_anthropic_in_object(2, "role", json_object_get(role), "content",
                                          json_object_get(content))))
        return oom(c);
    return 0;
}

/* system: a string, or text blocks (Claude Code sends several, with cache_control). */
static int system_prompt(conv *c, json_object *in, json_object *msgs) {
    json_object *sys = NULL, *text = NULL;
    char bp[PATH_CAP], p[PATH_CAP];
    if (!json_object_object_get_ex(in, "system", &sys) || !sys) return 0;
    if (json_object_is_type(sys, json_type_string)) {
        text = json_object_get(sys);
    } else if (json_object_is_type(sys, json_type_array)) {
        json_object *parts = json_object_new_array();
        int rc = parts ? 0 : oom(c);
        for (size_t k = 0, n = json_object_array_length(sys); k < n && !rc; k++) {
            json_object *b = json_object_array_get_idx(sys, k), *type, *t;
            snprintf(bp, sizeof bp, "system.%zu", k);
            if (block_type(c, b, bp, &type))
                rc = -1;
            else if (!is_str(type, "text"))
                rc = fail(c, "invalid_value", join(p, bp, "type"), "Input should be 'text'");
            else if (get(c, b, bp, "text", K_STRING, 1, &t))
                rc = -1;
            else if (push(parts, text_part(t)))
                rc = oom(c);
        }
        if (!rc && !(text = joined_text(parts))) rc = oom(c);
        json_object_put(parts);
        if (rc) return -1;
    } else {
        return fail(c, "invalid_type", "system", "Input should be a valid string or list");
    }
    if (json_object_get_string_len(text) == 0) { /* none: the template's default applies */
        json_object_put(text);
        return 0;
    }
    if (push(msgs, gw_anthropic_in_object(2, "role", str("system"), "content", text)))
        return oom(c);
    return 0;
}

static int tools(conv *c, json_object *in, json_object *out, int *count) {
    char tp[PATH_CAP], p[PATH_CAP];
    json_object *list;
    *count = 0;
    if (get(c, in, "", "tools", K_ARRAY, 0, &list)) return -1;
    if (!list || json_object_array_length(list) == 0) return 0;
    json_object *arr = json_object_new_array();
    int rc = arr ? 0 : oom(c);
    for (size_t k = 0, n = json_object_array_length(list); k < n && !rc; k++) {
        json_object *t = json_object_array_get_idx(list, k), *type, *name, *desc, *schema;
        snprintf(tp, sizeof tp, "tools.%zu", k);
        if (!json_object_is_type(t, json_type_object)) {
            rc = fail(c, "invalid_type", tp, "Input should be a valid dictionary");
        } else if (get(c, t, tp, "type", K_STRING, 0, &type)) {
            rc = -1;
        } else if (type && !is_str(type, "custom")) { /* web_search_..., bash_...: Anthropic's */
            rc = fail(c, "invalid_value", join(p, tp, "type"),
                      "tool type '%.40s' is not supported by this gateway (only client tools "
                      "with an input_schema)",
                      json_object_get_string(type));
        } else if (get(c, t, tp, "name", K_STRING, 1, &name) ||
                   get(c, t, tp, "description", K_STRING, 0, &desc) ||
                   get(c, t, tp, "input_schema", K_OBJECT, 1, &schema)) {
            rc = -1;
        } else {
            json_object *fn = gw_anthropic_in_object(
                3, "name", json_object_get(name), desc ? "description" : NULL,
                desc ? json_object_get(desc) : NULL, "parameters", json_object_get(schema));
            if (push(arr, gw_anthropic_in_object(2, "type", str("function"), "function", fn)))
                rc = oom(c);
        }
    }
    if (rc) {
        json_object_put(arr);
        return -1;
    }
    *count = (int)json_object_array_length(arr);
    return put(out, "tools", arr) ? oom(c) : 0;
}

/* tool_choice, only beside tools: OpenAI refuses a tool_choice without tools, while Anthropic
 * accepts one. */
static int tool_choice(conv *c, json_object *in, json_object *out, int have_tools) {
    json_object *tc, *type, *name, *no_parallel, *choice;
    if (get(c, in, "", "tool_choice", K_OBJECT, 0, &tc)) return -1;
    if (!tc) return 0;
    if (get(c, tc, "tool_choice", "type", K_STRING, 1, &type) ||
        get(c, tc, "tool_choice", "disable_parallel_tool_use", K_BOOL, 0, &no_parallel))
        return -1;
    if (is_str(type, "auto")) {
        choice = str("auto");
    } else if (is_str(type, "any")) {
        choice = str("required");
    } else if (is_str(type, "none")) {
        choice = str("none");
    } else if (is_str(type, "tool")) {
        if (get(c, tc, "tool_choice", "name", K_STRING, 1, &name)) return -1;
        choice = gw_anthropic_in_object(2, "type", str("function"), "function",
                                        gw_anthropic_in_object(1, "name", json_object_get(name)));
    } else {
        return fail(c, "invalid_value", "tool_choice.type",
                    "Input should be 'auto', 'any', 'tool' or 'none'");
    }
    if (!have_tools) {
        json_object_put(choice);
        return 0;
    }
    if (put(out, "tool_choice", choice)) return oom(c);
    if (no_parallel && json_object_get_boolean(no_parallel) &&
        put(out, "parallel_tool_calls", json_object_new_boolean(0)))
        return oom(c);
    return 0;
}

static int convert(conv *c, json_object *in, json_object *out, int *stream) {
    json_object *model, *max_tokens, *messages, *v;
    if (get(c, in, "", "model", K_STRING, 1, &model)) return -1;
    if (json_object_get_string_len(model) == 0)
        return fail(c, "invalid_value", "model", "String should have at least 1 character");
    if (get(c, in, "", "max_tokens", K_INT, 1, &max_tokens)) return -1;
    if (json_object_get_int64(max_tokens) < 1)
        return fail(c, "invalid_value", "max_tokens", "Input should be greater than or equal to 1");
    if (get(c, in, "", "messages", K_ARRAY, 1, &messages)) return -1;
    size_t n = json_object_array_length(messages);
    if (n == 0) return fail(c, "invalid_value", "messages", "at least one message is required");

    if (put(out, "model", json_object_get(model))) return oom(c);
    json_object *msgs = json_object_new_array();
    if (put(out, "messages", msgs)) return oom(c);
    if (system_prompt(c, in, msgs)) return -1;
    for (size_t i = 0; i < n; i++)
        if (message(c, msgs, json_object_array_get_idx(messages, i), i, i + 1 == n)) return -1;
    if (json_object_array_length(msgs) == 0)
        return fail(c, "invalid_value", "messages", "no message has content an engine can read");
    if (put(out, "max_tokens", json_object_get(max_tokens))) return oom(c);

    /* sampling: shared as parsed, so 0.7 stays 0.7, not its nearest double */
    static const struct {
        const char *key;
        kind k;
    } sampling[] = {{"temperature", K_NUMBER}, {"top_p", K_NUMBER}, {"top_k", K_INT}};
    for (size_t k = 0; k < sizeof sampling / sizeof sampling[0]; k++) {
        if (get(c, in, "", sampling[k].key, sampling[k].k, 0, &v)) return -1;
        if (v && put(out, sampling[k].key, json_object_get(v))) return oom(c);
    }

    json_object *stops;
    if (get(c, in, "", "stop_sequences", K_ARRAY, 0, &stops)) return -1;
    if (stops && json_object_array_length(stops) > 0) {
        json_object *stop = json_object_new_array();
        if (put(out, "stop", stop)) return oom(c);
        for (size_t k = 0, ns = json_object_array_length(stops); k < ns; k++) {
            json_object *s = json_object_array_get_idx(stops, k);
            if (!s || !json_object_is_type(s, json_type_string)) {
                char p[PATH_CAP];
                snprintf(p, sizeof p, "stop_sequences.%zu", k);
                return fail(c, "invalid_type", p, "Input should be a valid string");
            }
            if (push(stop, json_object_get(s))) return oom(c);
        }
    }

    if (get(c, in, "", "stream", K_BOOL, 0, &v)) return -1;
    *stream = v && json_object_get_boolean(v);
    if (*stream) {
        /* always: message_delta must carry the usage, whatever the caller asked */
        if (put(out, "stream", json_object_new_boolean(1)) ||
            put(out, "stream_options",
                gw_anthropic_in_object(1, "include_usage", json_object_new_boolean(1))))
            return oom(c);
    }

    int have_tools;
    if (tools(c, in, out, &have_tools) || tool_choice(c, in, out, have_tools)) return -1;

    json_object *meta, *user;
    if (get(c, in, "", "metadata", K_OBJECT, 0, &meta)) return -1;
    if (meta) {
        if (get(c, meta, "metadata", "user_id", K_STRING, 0, &user)) return -1;
        if (user && put(out, "user", json_object_get(user))) return oom(c);
    }
    /* Other members (thinking, service_tier, container, mcp_servers, newer SDK fields) are
     * ignored: they mean nothing to an OpenAI engine, and refusing them would break newer
     * clients for no gain. */
    return 0;
}

int gw_anthropic_in_to_canonical(gw_req *r, gw_error_info *err, char *msg, size_t msg_cap) {
    conv c = {err, msg, msg_cap};
    memset(err, 0, sizeof *err);
    if (!r->json || !json_object_is_type(r->json, json_type_object))
        return fail(&c, "invalid_json", NULL, "the request body must be a JSON object");
    json_object *out = json_object_new_object();
    if (!out) return oom(&c);
    int stream = 0;
    if (convert(&c, r->json, out, &stream)) {
        json_object_put(out);
        return -1;
    }
    size_t len = 0;
    const char *text = json_object_to_json_string_length(
        out, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
    char *body = text ? malloc(len + 1) : NULL;
    if (!body) {
        json_object_put(out);
        return oom(&c);
    }
    memcpy(body, text, len + 1);
    json_object *model = NULL;
    json_object_object_get_ex(out, "model", &model);

    json_object_put(r->json); /* shared members live on in out */
    free(r->canonical_body);
    r->json = out;
    r->canonical_body = body;
    r->body = body;
    r->body_len = len;
    r->api = GW_API_CHAT;
    r->stream = stream;
    r->include_usage = 1;
    r->model_name = json_object_get_string(model);
    r->model_name_len = (size_t)json_object_get_string_len(model);
    return 0;
}
