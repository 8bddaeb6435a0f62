/* A walk down the few paths of a canonical answer that hold the caller's texts:
 *   choices[].index, choices[].finish_reason, choices[].text,
 *   choices[].delta|message .content .refusal .reasoning_content .reasoning
 *   choices[].delta|message .tool_calls[].index .function.arguments
 * Everything else is skipped by counting brackets outside strings: the text was validated when
 * it came in (or built by the gateway), so the walk only has to stay within its bytes. Keys are
 * compared decoded, so an engine that escapes a letter of "content" is not read past. */
#include "engines/text_fields.h"

#include <string.h>

#include "core/protocol-t.h"

typedef struct walk {
    const char *s;
    size_t n, i;
    gw_text_span *spans;
    size_t cap, count;
    int overflow;
} walk;

static int is_space(char c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static int peek(walk *w) {
    while (w->i < w->n && is_space(w->s[w->i]))
        w->i++;
    return w->i < w->n ? (unsigned char)w->s[w->i] : -1;
}

/* At a '"': moves past the string literal; its inside is [*a, *b). */
static int string(walk *w, size_t *a, size_t *b) {
    if (peek(w) != '"') return -1;
    size_t i = w->i + 1;
    while (i < w->n && w->s[i] != '"')
        i += w->s[i] == '\\' ? 2 : 1;
    if (i >= w->n) return -1;
    *a = w->i + 1;
    *b = i;
    w->i = i + 1;
    return 0;
}

/* Any value, passed over. */
static int skip(walk *w) {
    int c = peek(w);
    size_t a, b;
    if (c < 0) return -1;
    if (c == '"') return string(w, &a, &b);
    if (c == '{' || c == '[') {
        size_t depth = 0;
        while (w->i < w->n) {
            char ch = w->s[w->i];
            if (ch == '"') {
                if (string(w, &a, &b) < 0) return -1;
                continue;
            }
            if (ch == '{' || ch == '[') {
                depth++;
            } else if (ch == '}' || ch == ']') {
                if (--depth == 0) {
                    w->i++;
                    return 0;
                }
            }
            w->i++;
        }
        return -1;
    }
    size_t start = w->i; /* a number, true, false or null */
    while (w->i < w->n && !is_space(w->s[w->i]) && w->s[w->i] != ',' && w->s[w->i] != '}' &&
           w->s[w->i] != ']')
        w->i++;
    return w->i > start ? 0 : -1;
}

static int hex(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* A member's key, decoded into key (cap bytes with its NUL); a key that is longer, or escapes
 * something other than ASCII, reads as "" and matches nothing the walk looks for. */
static int read_key(walk *w, char *key, size_t cap) {
    size_t a, b, n = 0;
    int bad = 0;
    if (string(w, &a, &b) < 0) return -1;
    for (size_t i = a; i < b && !bad; i++) {
        int c = (unsigned char)w->s[i];
        if (c == '\\') { /* string() saw a byte after every backslash */
            char e = w->s[i + 1];
            c = e == '"' || e == '\\' || e == '/' ? e : -1;
            if (e == 'u' && b - i >= 6) {
                c = 0;
                for (int k = 2; k < 6 && c >= 0; k++)
                    c = hex(w->s[i + k]) < 0 ? -1 : c * 16 + hex(w->s[i + k]);
                i += 4;
            }
            i++;
            bad = c <= 0 || c > 0x7f;
        }
        bad |= n + 1 >= cap;
        if (!bad) key[n++] = (char)c;
    }
    key[bad ? 0 : n] = '\0';
    return 0;
}

typedef int (*member_fn)(walk *w, const char *key, void *ctx);
typedef int (*element_fn)(walk *w, size_t index, void *ctx);

static int object(walk *w, member_fn member, void *ctx) {
    if (peek(w) != '{') return skip(w);
    w->i++;
    if (peek(w) == '}') {
        w->i++;
        return 0;
    }
    for (;;) {
        char key[24];
        if (read_key(w, key, sizeof key) < 0 || peek(w) != ':') return -1;
        w->i++;
        if (member(w, key, ctx) < 0) return -1;
        int c = peek(w);
        w->i++;
        if (c == '}') return 0;
        if (c != ',') return -1;
    }
}

static int array(walk *w, element_fn element, void *ctx) {
    if (peek(w) != '[') return skip(w);
    w->i++;
    if (peek(w) == ']') {
        w->i++;
        return 0;
    }
    for (size_t index = 0;; index++) {
        if (element(w, index, ctx) < 0) return -1;
        int c = peek(w);
        w->i++;
        if (c == ']') return 0;
        if (c != ',') return -1;
    }
}

/* A non-negative integer member; *has stays 0 for anything else. */
static int integer(walk *w, int64_t *v, uint8_t *has) {
    int c = peek(w);
    if (c < '0' || c > '9') return skip(w);
    size_t start = w->i;
    int64_t x = 0;
    while (w->i < w->n && w->s[w->i] >= '0' && w->s[w->i] <= '9' && w->i - start < 18)
        x = x * 10 + (w->s[w->i++] - '0');
    if (w->i < w->n && (w->s[w->i] == '.' || w->s[w->i] == 'e' || w->s[w->i] == 'E' ||
                        (w->s[w->i] >= '0' && w->s[w->i] <= '9')))
        return skip(w); /* not a small integer: as if absent */
    *v = x;
    *has = 1;
    return 0;
}

static gw_text_span *add(walk *w, uint8_t kind, size_t a, size_t b) {
    if (w->count == w->cap) {
        w->overflow = 1;
        return NULL;
    }
    gw_text_span *s = &w->spans[w->count++];
    *s = (gw_text_span){.start = a, .end = b, .kind = kind};
    return s;
}

/* A string member becomes a span of that kind; anything else is passed over. */
static int text_member(walk *w, uint8_t kind, int reasoning_key) {
    size_t a, b;
    if (peek(w) != '"') return skip(w);
    if (string(w, &a, &b) < 0) return -1;
    gw_text_span *s = add(w, kind, a, b);
    if (s) s->reasoning_key = (uint8_t)reasoning_key;
    return 0;
}

static int function_member(walk *w, const char *key, void *ctx) {
    (void)ctx;
    return strcmp(key, "arguments") ? skip(w) : text_member(w, GW_TEXT_TOOL_ARGS, 0);
}

typedef struct tool_ctx {
    int64_t index;
    uint8_t has_index;
} tool_ctx;

static int tool_member(walk *w, const char *key, void *ctx) {
    tool_ctx *t = ctx;
    if (!strcmp(key, "index")) return integer(w, &t->index, &t->has_index);
    if (!strcmp(key, "function")) return object(w, function_member, NULL);
    return skip(w);
}

/* The tool call's index may come after its function: the spans are numbered at the end. */
static int tool_element(walk *w, size_t index, void *ctx) {
    (void)index;
    (void)ctx;
    tool_ctx t = {0};
    size_t first = w->count;
    if (object(w, tool_member, &t) < 0) return -1;
    for (size_t k = first; k < w->count; k++) {
        w->spans[k].tool_index = t.index;
        w->spans[k].has_tool_index = t.has_index;
    }
    return 0;
}

static int message_member(walk *w, const char *key, void *ctx) {
    (void)ctx;
    /* a refusal is the model's text for the caller too (Anthropic's protocol writes it as text) */
    if (!strcmp(key, "content") || !strcmp(key, "refusal"))
        return text_member(w, GW_TEXT_CONTENT, 0);
    if (!strcmp(key, "reasoning_content")) return text_member(w, GW_TEXT_REASONING, 0);
    if (!strcmp(key, "reasoning")) return text_member(w, GW_TEXT_REASONING, 1);
    if (!strcmp(key, "tool_calls")) return array(w, tool_element, NULL);
    return skip(w);
}

typedef struct choice_ctx {
    int64_t index;
    uint8_t has_index;
} choice_ctx;

static int choice_member(walk *w, const char *key, void *ctx) {
    choice_ctx *c = ctx;
    if (!strcmp(key, "index")) return integer(w, &c->index, &c->has_index);
    if (!strcmp(key, "text")) return text_member(w, GW_TEXT_CONTENT, 0);
    if (!strcmp(key, "delta") || !strcmp(key, "message")) return object(w, message_member, NULL);
    if (!strcmp(key, "finish_reason") && peek(w) == '"') {
        size_t a, b;
        if (string(w, &a, &b) < 0) return -1;
        add(w, GW_TEXT_SPAN_FINISH, 0, 0);
        return 0;
    }
    return skip(w);
}

static int choice_element(walk *w, size_t index, void *ctx) {
    (void)ctx;
    choice_ctx c = {0};
    size_t first = w->count;
    if (object(w, choice_member, &c) < 0) return -1;
    for (size_t k = first; k < w->count; k++)
        w->spans[k].choice = c.has_index ? c.index : (int64_t)index;
    return 0;
}

static int top_member(walk *w, const char *key, void *ctx) {
    (void)ctx;
    return strcmp(key, "choices") ? skip(w) : array(w, choice_element, NULL);
}

int gw_text_spans(const char *json, size_t len, gw_text_span *spans, size_t cap, size_t *count) {
    walk w = {.s = json, .n = len, .spans = spans, .cap = cap};
    *count = 0;
    if (peek(&w) != '{' || object(&w, top_member, NULL) < 0) return -1;
    *count = w.count;
    return w.overflow ? -2 : 0;
}
