/* Chat templates (see chat_template.h): built-ins, template files, and the rendering of a
 * canonical `messages` array into one prompt. */
#include "engines/chat_template.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --- built-ins --- */

#define CHATML_TURN(role) "<|im_start|>" role "\n"
#define LLAMA3_TURN(role) "<|start_header_id|>" role "<|end_header_id|>\n\n"

static const gw_chat_template chatml = {
    .name = "chatml",
    .bos = "",
    .prefix = {CHATML_TURN("system"), CHATML_TURN("user"), CHATML_TURN("assistant"),
               CHATML_TURN("tool")},
    .suffix = {"<|im_end|>\n", "<|im_end|>\n", "<|im_end|>\n", "<|im_end|>\n"},
    .generation_prompt = CHATML_TURN("assistant"),
    .stops = {"<|im_end|>"},
    .stop_count = 1,
};

static const gw_chat_template qwen = {
    .name = "qwen",
    .bos = "",
    .prefix = {CHATML_TURN("system"), CHATML_TURN("user"), CHATML_TURN("assistant"),
               CHATML_TURN("tool")},
    .suffix = {"<|im_end|>\n", "<|im_end|>\n", "<|im_end|>\n", "<|im_end|>\n"},
    .generation_prompt = CHATML_TURN("assistant"),
    .default_system = "You are a helpful assistant.",
    .stops = {"<|im_end|>"},
    .stop_count = 1,
};

/* Meta's template trims each content; tool results go to the "ipython" role (Llama 3.1+). */
static const gw_chat_template llama3 = {
    .name = "llama-3",
    .bos = "<|begin_of_text|>",
    .prefix = {LLAMA3_TURN("system"), LLAMA3_TURN("user"), LLAMA3_TURN("assistant"),
               LLAMA3_TURN("ipython")},
    .suffix = {"<|eot_id|>", "<|eot_id|>", "<|eot_id|>", "<|eot_id|>"},
    .generation_prompt = LLAMA3_TURN("assistant"),
    .stops = {"<|eot_id|>"},
    .stop_count = 1,
    .trim = 1,
};

static const gw_chat_template *const builtins[] = {&chatml, &llama3, &qwen, NULL};

const char *gw_chat_template_builtin_names(void) {
    return "chatml, llama-3, qwen";
}

const gw_chat_template *gw_chat_template_builtin(const char *name) {
    for (size_t i = 0; name && builtins[i]; i++)
        if (!strcmp(builtins[i]->name, name)) return builtins[i];
    return NULL;
}

/* --- template files --- */

/* Template files are a few hundred bytes; the ceiling only stops a wrong path (a log, a model
 * file) from being read whole. */
#define TEMPLATE_FILE_MAX (64 * 1024)

typedef struct file_parse {
    const char *path;
    int line;
    char *err;
    size_t err_cap;
} file_parse;

static int file_error(file_parse *p, const char *what, const char *detail) {
    snprintf(p->err, p->err_cap, "chat template file '%s', line %d: %s%s", p->path, p->line, what,
             detail ? detail : "");
    return -1;
}

static int is_blank(char c) {
    return c == ' ' || c == '\t' || c == '\r';
}

/* The value [s, s+len) with its escapes decoded, into the arena. */
static const char *unescape(file_parse *p, gw_arena *arena, const char *s, size_t len) {
    char *out = gw_arena_alloc(arena, len + 1), *o = out;
    for (size_t i = 0; i < len; i++) {
        if (s[i] != '\\') {
            *o++ = s[i];
            continue;
        }
        if (++i == len) {
            file_error(p, "a value ends with a lone backslash (write \\\\ for a backslash)", NULL);
            return NULL;
        }
        switch (s[i]) {
        case 'n':
            *o++ = '\n';
            break;
        case 't':
            *o++ = '\t';
            break;
        case 'r':
            *o++ = '\r';
            break;
        case '"':
            *o++ = '"';
            break;
        case '\\':
            *o++ = '\\';
            break;
        default: {
            char esc[3] = {'\\', s[i], 0};
            file_error(p, "unknown escape ", esc);
            snprintf(p->err + strlen(p->err), p->err_cap - strlen(p->err),
                     " (the escapes are \\n \\t \\r \\\" and \\\\)");
            return NULL;
        }
        }
    }
    *o = '\0';
    return out;
}

/* A value as written after the colon (blanks around it already removed). */
static const char *parse_value(file_parse *p, gw_arena *arena, const char *s, size_t len) {
    if (len && s[0] == '"') {
        size_t i = 1;
        while (i < len && s[i] != '"')
            i += s[i] == '\\' ? 2 : 1;
        if (i >= len) {
            file_error(p, "a quoted value has no closing quote", NULL);
            return NULL;
        }
        if (i != len - 1) {
            file_error(p, "text after a quoted value's closing quote", NULL);
            return NULL;
        }
        return unescape(p, arena, s + 1, len - 2);
    }
    return unescape(p, arena, s, len);
}

static const char *const file_keys =
    "bos, system_prefix, system_suffix, user_prefix, user_suffix, assistant_prefix, "
    "assistant_suffix, tool_prefix, tool_suffix, generation_prompt, default_system, stop, trim";

/* The slot a key fills, or NULL for stop, trim and unknown keys. */
static const char **key_slot(gw_chat_template *t, const char *key, size_t len) {
    static const char *const roles[GW_ROLE_COUNT] = {"system", "user", "assistant", "tool"};
    for (int r = 0; r < GW_ROLE_COUNT; r++) {
        size_t rl = strlen(roles[r]);
        if (len == rl + 7 && !memcmp(key, roles[r], rl) && !memcmp(key + rl, "_prefix", 7))
            return &t->prefix[r];
        if (len == rl + 7 && !memcmp(key, roles[r], rl) && !memcmp(key + rl, "_suffix", 7))
            return &t->suffix[r];
    }
    if (len == 3 && !memcmp(key, "bos", 3)) return &t->bos;
    if (len == 17 && !memcmp(key, "generation_prompt", 17)) return &t->generation_prompt;
    if (len == 14 && !memcmp(key, "default_system", 14)) return &t->default_system;
    return NULL;
}

static int parse_line(file_parse *p, gw_arena *arena, gw_chat_template *t, const char *s,
                      size_t len) {
    while (len && is_blank(*s))
        s++, len--;
    while (len && is_blank(s[len - 1]))
        len--;
    if (!len || *s == '#') return 0;
    const char *colon = memchr(s, ':', len);
    if (!colon) return file_error(p, "expected 'key: value'", NULL);
    size_t key_len = (size_t)(colon - s);
    while (key_len && is_blank(s[key_len - 1]))
        key_len--;
    const char *v = colon + 1;
    size_t vlen = len - (size_t)(v - s);
    while (vlen && is_blank(*v))
        v++, vlen--;
    char key[32];
    snprintf(key, sizeof key, "%.*s", (int)(key_len < 31 ? key_len : 31), s);

    if (key_len == 4 && !memcmp(s, "stop", 4)) {
        const char *stop = parse_value(p, arena, v, vlen);
        if (!stop) return -1;
        if (!*stop) return file_error(p, "a stop string cannot be empty", NULL);
        if (t->stop_count == GW_CHAT_TEMPLATE_MAX_STOPS)
            return file_error(p, "more than 4 stop strings", NULL);
        t->stops[t->stop_count++] = stop;
        return 0;
    }
    if (key_len == 4 && !memcmp(s, "trim", 4)) {
        if (vlen == 4 && !memcmp(v, "true", 4))
            t->trim = 1;
        else if (vlen == 5 && !memcmp(v, "false", 5))
            t->trim = 0;
        else
            return file_error(p, "trim takes true or false", NULL);
        return 0;
    }
    const char **slot = key_slot(t, s, key_len);
    if (!slot) {
        file_error(p, "unknown key '", key);
        snprintf(p->err + strlen(p->err), p->err_cap - strlen(p->err), "' (the keys are %s)",
                 file_keys);
        return -1;
    }
    if (*slot) return file_error(p, "a second value for ", key);
    return (*slot = parse_value(p, arena, v, vlen)) ? 0 : -1;
}

static const gw_chat_template *parse_file(const char *path, const char *text, size_t len,
                                          gw_arena *arena, char *err, size_t err_cap) {
    gw_chat_template *t = gw_arena_alloc(arena, sizeof *t);
    file_parse p = {path, 0, err, err_cap};
    for (size_t at = 0; at < len;) {
        const char *nl = memchr(text + at, '\n', len - at);
        size_t line_len = nl ? (size_t)(nl - (text + at)) : len - at;
        p.line++;
        if (memchr(text + at, '\0', line_len)) {
            file_error(&p, "a NUL byte (is this a text file?)", NULL);
            return NULL;
        }
        if (parse_line(&p, arena, t, text + at, line_len) < 0) return NULL;
        at += line_len + 1;
    }
    p.line = 0;
    if (!t->prefix[GW_ROLE_USER] || !t->prefix[GW_ROLE_ASSISTANT]) {
        snprintf(err, err_cap,
                 "chat template file '%s' needs user_prefix and assistant_prefix (write \"\" for "
                 "an empty one)",
                 path);
        return NULL;
    }
    t->name = gw_arena_strdup(arena, path);
    for (int r = 0; r < GW_ROLE_COUNT; r++) {
        if (!t->suffix[r] && !t->prefix[r] && r == GW_ROLE_TOOL) {
            /* no tool role in the model's format: a tool result reads as a user turn */
            t->prefix[r] = t->prefix[GW_ROLE_USER];
            t->suffix[r] = t->suffix[GW_ROLE_USER];
        }
        if (!t->prefix[r]) t->prefix[r] = "";
        if (!t->suffix[r]) t->suffix[r] = "";
    }
    if (!t->bos) t->bos = "";
    if (!t->generation_prompt) t->generation_prompt = t->prefix[GW_ROLE_ASSISTANT];
    if (t->default_system && !*t->default_system) t->default_system = NULL;
    return t;
}

const gw_chat_template *gw_chat_template_load(const char *value, gw_arena *arena, char *err,
                                              size_t err_cap) {
    if (!value || !*value) {
        snprintf(err, err_cap,
                 "chat_template is empty: name a built-in template (%s) or a template file",
                 gw_chat_template_builtin_names());
        return NULL;
    }
    const gw_chat_template *t = gw_chat_template_builtin(value);
    if (t) return t;
    FILE *f = fopen(value, "rb");
    if (!f) {
        int e = errno;
        if (e == ENOENT && !strchr(value, '/'))
            snprintf(err, err_cap,
                     "unknown chat_template '%s': the built-ins are %s; any other value is the "
                     "path of a template file, and '%s' cannot be opened: %s",
                     value, gw_chat_template_builtin_names(), value, strerror(e));
        else
            snprintf(err, err_cap, "chat_template file '%s' cannot be opened: %s", value,
                     strerror(e));
        return NULL;
    }
    char *text = malloc(TEMPLATE_FILE_MAX + 1);
    if (!text) {
        fclose(f);
        snprintf(err, err_cap, "out of memory reading chat_template file '%s'", value);
        return NULL;
    }
    size_t len = fread(text, 1, TEMPLATE_FILE_MAX + 1, f);
    int read_errno = ferror(f) ? errno : 0;
    fclose(f);
    if (read_errno) {
        snprintf(err, err_cap, "chat_template file '%s' cannot be read: %s", value,
                 strerror(read_errno));
        t = NULL;
    } else if (len > TEMPLATE_FILE_MAX) {
        snprintf(err, err_cap,
                 "chat_template file '%s' is over %d KiB: is it really a template file?", value,
                 TEMPLATE_FILE_MAX / 1024);
        t = NULL;
    } else {
        t = parse_file(value, text, len, arena, err, err_cap);
    }
    free(text);
    return t;
}

/* --- rendering --- */

static void put(gw_strbuf *out, int json_escape, const char *s, size_t len) {
    if (json_escape)
        gw_strbuf_add_json_escaped(out, s, len);
    else
        gw_strbuf_add(out, s, len);
}

static void puts_(gw_strbuf *out, int json_escape, const char *s) {
    put(out, json_escape, s, strlen(s));
}

static int role_of(const char *role) {
    if (!strcmp(role, "user")) return GW_ROLE_USER;
    if (!strcmp(role, "assistant")) return GW_ROLE_ASSISTANT;
    if (!strcmp(role, "system") || !strcmp(role, "developer")) return GW_ROLE_SYSTEM;
    if (!strcmp(role, "tool") || !strcmp(role, "function")) return GW_ROLE_TOOL;
    return -1;
}

static int is_image_part(const char *type) {
    return !strcmp(type, "image_url") || !strcmp(type, "image") || !strcmp(type, "input_image");
}

/* A message's content as text into scratch. Text parts are joined with "\n", as vLLM does when
 * it flattens parts for a text-only template. */
static int content_text(json_object *content, const char *image_error, gw_strbuf *scratch,
                        const char **err) {
    if (!content || json_object_is_type(content, json_type_null)) return 0;
    if (json_object_is_type(content, json_type_string)) {
        gw_strbuf_add(scratch, json_object_get_string(content),
                      (size_t)json_object_get_string_len(content));
        return 0;
    }
    if (!json_object_is_type(content, json_type_array)) {
        *err = "a message's content must be a string or an array of content parts";
        return -1;
    }
    int written = 0;
    for (size_t i = 0, n = json_object_array_length(content); i < n; i++) {
        json_object *part = json_object_array_get_idx(content, i), *type, *text;
        if (!json_object_is_type(part, json_type_object) ||
            !json_object_object_get_ex(part, "type", &type) ||
            !json_object_is_type(type, json_type_string)) {
            *err = "a content part must be an object with a type";
            return -1;
        }
        const char *ty = json_object_get_string(type);
        const char *field = !strcmp(ty, "text")      ? "text"
                            : !strcmp(ty, "refusal") ? "refusal"
                                                     : NULL;
        if (!field) {
            *err = is_image_part(ty) ? image_error
                                     : "only text content parts can be rendered by a text chat "
                                       "template (audio, file and other parts cannot)";
            return -1;
        }
        if (!json_object_object_get_ex(part, field, &text) ||
            !json_object_is_type(text, json_type_string)) {
            *err = "a text content part needs its text as a string";
            return -1;
        }
        if (written++) gw_strbuf_add(scratch, "\n", 1);
        gw_strbuf_add(scratch, json_object_get_string(text),
                      (size_t)json_object_get_string_len(text));
    }
    return 0;
}

/* Tools: these protocols take text and give text, so the adapters refuse a request that offers
 * `tools` (the caller would wait for tool_calls that cannot come back, and take plain text for
 * "the model chose not to call one"). A conversation that used tools before (a tool result, an
 * assistant turn with tool_calls) is still only text, though, and the model can read it: tool
 * results render as the template's tool turn, and an assistant's tool_calls as the JSON of
 * each call's function ({"name","arguments"}), one per line after its content. */
static int tool_calls_text(json_object *message, gw_strbuf *scratch, const char **err) {
    json_object *calls;
    if (!json_object_object_get_ex(message, "tool_calls", &calls) ||
        json_object_is_type(calls, json_type_null))
        return 0;
    if (!json_object_is_type(calls, json_type_array)) {
        *err = "an assistant message's tool_calls must be an array";
        return -1;
    }
    for (size_t i = 0, n = json_object_array_length(calls); i < n; i++) {
        json_object *call = json_object_array_get_idx(calls, i), *fn;
        if (!json_object_is_type(call, json_type_object) ||
            !json_object_object_get_ex(call, "function", &fn) ||
            !json_object_is_type(fn, json_type_object)) {
            *err = "a tool call must be an object with a function";
            return -1;
        }
        size_t len = 0;
        const char *json = json_object_to_json_string_length(
            fn, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
        if (!json) {
            scratch->failed = 1;
            return 0;
        }
        if (scratch->len) gw_strbuf_add(scratch, "\n", 1);
        gw_strbuf_add(scratch, json, len);
    }
    return 0;
}

static int is_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static int render_messages(const gw_chat_template *t, json_object *messages, int json_escape,
                           const char *image_error, gw_strbuf *out, gw_strbuf *scratch,
                           const char **err) {
    size_t n = json_object_array_length(messages);
    for (size_t i = 0; i < n; i++) {
        json_object *m = json_object_array_get_idx(messages, i), *role, *content = NULL;
        if (!json_object_is_type(m, json_type_object) ||
            !json_object_object_get_ex(m, "role", &role) ||
            !json_object_is_type(role, json_type_string)) {
            *err = "each message must be an object with a role";
            return -1;
        }
        int r = role_of(json_object_get_string(role));
        if (r < 0) {
            *err = "a message has a role a chat template cannot render (expected system, "
                   "developer, user, assistant or tool)";
            return -1;
        }
        if (i == 0 && r != GW_ROLE_SYSTEM && t->default_system) {
            puts_(out, json_escape, t->prefix[GW_ROLE_SYSTEM]);
            puts_(out, json_escape, t->default_system);
            puts_(out, json_escape, t->suffix[GW_ROLE_SYSTEM]);
        }
        scratch->len = 0;
        json_object_object_get_ex(m, "content", &content);
        if (content_text(content, image_error, scratch, err) < 0) return -1;
        if (r == GW_ROLE_ASSISTANT && tool_calls_text(m, scratch, err) < 0) return -1;
        if (scratch->failed) return 0; /* out of room: the caller sees out->failed */
        const char *s = scratch->data ? scratch->data : "";
        size_t len = scratch->len;
        if (t->trim) {
            while (len && is_space(*s))
                s++, len--;
            while (len && is_space(s[len - 1]))
                len--;
        }
        puts_(out, json_escape, t->prefix[r]);
        put(out, json_escape, s, len);
        puts_(out, json_escape, t->suffix[r]);
    }
    puts_(out, json_escape, t->generation_prompt);
    return 0;
}

int gw_chat_template_render(const gw_chat_template *t, json_object *messages, int with_bos,
                            int json_escape, const char *image_error, gw_strbuf *out,
                            const char **err) {
    if (!messages || !json_object_is_type(messages, json_type_array) ||
        json_object_array_length(messages) == 0) {
        *err = "'messages' must be a non-empty array";
        return -1;
    }
    if (with_bos) puts_(out, json_escape, t->bos);
    /* one scratch buffer for every message's content, so trimming sees the joined text */
    gw_strbuf scratch = {.max = out->max};
    int rc = render_messages(t, messages, json_escape, image_error, out, &scratch, err);
    if (scratch.failed) out->failed = 1;
    gw_strbuf_free(&scratch);
    return rc;
}
