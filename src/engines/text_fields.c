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

static inline int peek(walk *w) {
    while (w->i < w->n && is_space(w->s[w->i]))
        w->i++;
    return w->i < w->n ? (unsigned char)w->s[w->i] : -1;
}

/* At a '"': moves past the string literal; its inside is [*a, *b), and *escaped says whether it
 * has a backslash. Short literals (keys, most values) are read a byte at a time; a long one's
 * closing quote is found with memchr: a quote ends it unless an odd run of backslashes comes
 * before. */
static int string_esc(walk *w, size_t *a, size_t *b, int *escaped) {
    if (peek(w) != '"') return -1;
    const char *t = w->s;
    size_t n = w->n, start = w->i + 1, i = start, quick = n - start < 32 ? n : start + 32;
    int esc = 0;
    for (; i < quick; i++) {
        char c = t[i];
        if (c == '"') break;
        if (c == '\\') {
            esc = 1;
            i++;
        }
    }
    if (i >= quick) {
        for (esc = 1;; i++) {
            const char *q = i < n ? memchr(t + i, '"', n - i) : NULL;
            if (!q) return -1;
            i = (size_t)(q - t);
            size_t backslashes = 0;
            while (i - backslashes > start && t[i - backslashes - 1] == '\\')
                backslashes++;
            if (backslashes % 2 == 0) break;
        }
    }
    *escaped = esc;
    *a = start;
    *b = i;
    w->i = i + 1;
    return 0;
}

static int string(walk *w, size_t *a, size_t *b) {
    int escaped;
    return string_esc(w, a, b, &escaped);
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

/* A member's key: its bytes as written, or decoded into buf when it has escapes. */
typedef struct key {
    const char *p;
    size_t n;
} key;

#define IS(k, literal) ((k).n == sizeof literal - 1 && !memcmp((k).p, literal, sizeof literal - 1))

/* A key that is long, or escapes something other than ASCII, reads as "" and matches nothing
 * the walk looks for. */
static int read_key(walk *w, key *k, char *buf, size_t cap) {
    size_t a, b, n = 0;
    int bad = 0, escaped;
    if (string_esc(w, &a, &b, &escaped) < 0) return -1;
    *k = (key){w->s + a, b - a};
    if (!escaped) return 0; /* as written: the usual case */
    for (size_t i = a; i < b && !bad; i++) {
        int c = (unsigned char)w->s[i];
        if (c == '\\') { /* string() saw a byte after every backslash */
            char e = w->s[i + 1];
            c = e == '"' || e == '\\' || e == '/' ? e : -1;
            if (e == 'u' && b - i >= 6) {
                c = 0;
                for (int j = 2; j < 6 && c >= 0; j++)
                    c = hex(w->s[i + j]) < 0 ? -1 : c * 16 + hex(w->s[i + j]);
                i += 4;
            }
            i++;
            bad = c <= 0 || c > 0x7f;
        }
        bad |= n >= cap;
        if (!bad) buf[n++] = (char)c;
    }
    *k = (key){buf, bad ? 0 : n};
    return 0;
}

typedef int (*member_fn)(walk *w, key k, void *ctx);
typedef int (*element_fn)(walk *w, size_t index, void *ctx);

static int object(walk *w, member_fn member, void *ctx) {
    if (peek(w) != '{') return skip(w);
    w->i++;
    if (peek(w) == '}') {
        w->i++;
        return 0;
    }
    for (;;) {
        char buf[24];
        key k;
        if (read_key(w, &k, buf, sizeof buf) < 0 || peek(w) != ':') return -1;
        w->i++;
        if (member(w, k, ctx) < 0) return -1;
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

static int function_member(walk *w, key k, void *ctx) {
    (void)ctx;
    return IS(k, "arguments") ? text_member(w, GW_TEXT_TOOL_ARGS, 0) : skip(w);
}

typedef struct tool_ctx {
    int64_t index;
    uint8_t has_index;
} tool_ctx;

static int tool_member(walk *w, key k, void *ctx) {
    tool_ctx *t = ctx;
    if (IS(k, "index")) return integer(w, &t->index, &t->has_index);
    if (IS(k, "function")) return object(w, function_member, NULL);
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

static int message_member(walk *w, key k, void *ctx) {
    (void)ctx;
    /* a refusal is the model's text for the caller too (Anthropic's protocol writes it as text) */
    if (IS(k, "content") || IS(k, "refusal")) return text_member(w, GW_TEXT_CONTENT, 0);
    if (IS(k, "reasoning_content")) return text_member(w, GW_TEXT_REASONING, 0);
    if (IS(k, "reasoning")) return text_member(w, GW_TEXT_REASONING, 1);
    if (IS(k, "tool_calls")) return array(w, tool_element, NULL);
    return skip(w);
}

typedef struct choice_ctx {
    int64_t index;
    uint8_t has_index;
} choice_ctx;

static int choice_member(walk *w, key k, void *ctx) {
    choice_ctx *c = ctx;
    if (IS(k, "index")) return integer(w, &c->index, &c->has_index);
    if (IS(k, "text")) return text_member(w, GW_TEXT_CONTENT, 0);
    if (IS(k, "delta") || IS(k, "message")) return object(w, message_member, NULL);
    if (IS(k, "finish_reason") && peek(w) == '"') {
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

static int top_member(walk *w, key k, void *ctx) {
    (void)ctx;
    return IS(k, "choices") ? array(w, choice_element, NULL) : skip(w);
}

/* Most chunks are {"id":..,"object":..,"created":..,"model":..,"choices":[..],"usage":..}: the
 * choices array is the first '[' of the text, right after its key, and nothing before it opens
 * an object, so the key belongs to the top object; no '[' after it, so no other array (another
 * "choices" would need one). Then only the array is walked. 1: not that shape, walk everything. */
static int choices_alone(walk *w) {
    static const char key_colon[] = "\"choices\":";
    enum { KEY = sizeof key_colon - 1 };
    const char *p = memchr(w->s, '[', w->n);
    if (!p || peek(w) != '{') return 1;
    size_t open = w->i + 1, at = (size_t)(p - w->s);
    if (at < open + KEY || memcmp(w->s + at - KEY, key_colon, KEY) ||
        memchr(w->s + open, '{', at - open))
        return 1;
    w->i = at;
    if (array(w, choice_element, NULL) < 0) return -1;
    return memchr(w->s + w->i, '[', w->n - w->i) ? 1 : 0;
}

int gw_text_spans(const char *json, size_t len, gw_text_span *spans, size_t cap, size_t *count) {
    walk w = {.s = json, .n = len, .spans = spans, .cap = cap};
    *count = 0;
    int rc = choices_alone(&w);
    if (rc == 1) {
        w = (walk){.s = json, .n = len, .spans = spans, .cap = cap};
        rc = peek(&w) == '{' ? object(&w, top_member, NULL) : -1;
    }
    if (rc < 0) return -1;
    *count = w.count;
    return w.overflow ? -2 : 0;
}
