/* gw_estimate_request_tokens read from the body's text rather than its json-c tree
 * (token_estimate.h): the same members, the same strings decoded as json-c decodes them, the same
 * sum. A token limit estimates every request before it goes upstream, and building the tree for
 * that alone cost more than the estimate. The text is one the request scan accepted (filters/
 * request_fields.h): valid JSON, no key written with an escape. */
#include <stdint.h>
#include <string.h>

#include "core/json_scan.h"
#include "core/json_strict.h"
#include "core/token_estimate.h"

typedef struct text_walk {
    const char *s;
    size_t len;
    int failed;
} text_walk;

static size_t skip_ws(const text_walk *w, size_t at) {
    while (at < w->len &&
           (w->s[at] == ' ' || w->s[at] == '\n' || w->s[at] == '\r' || w->s[at] == '\t'))
        at++;
    return at;
}

/* After the string whose opening quote is at `at`. */
static size_t string_end(const text_walk *w, size_t at) {
    size_t end;
    return gw_json_scan_string(w->s, w->len, at, &end) == 0 ? end : w->len;
}

/* After the value at `at` (whitespace before it skipped). */
static size_t value_end(const text_walk *w, size_t at) {
    if (at >= w->len) return w->len;
    char c = w->s[at];
    if (c == '"') return string_end(w, at);
    if (c != '{' && c != '[') { /* a number or a literal */
        while (at < w->len && !strchr(",]} \t\r\n", w->s[at]))
            at++;
        return at;
    }
    int depth = 0;
    while (at < w->len) {
        c = w->s[at];
        if (c == '"') {
            at = string_end(w, at);
            continue;
        }
        if (c == '{' || c == '[')
            depth++;
        else if ((c == '}' || c == ']') && --depth == 0)
            return at + 1;
        at++;
    }
    return w->len;
}

/* The next element of the array or member of the object whose bracket or last item ended at
 * *at: its position (for an object, the key's opening quote), or 0 at the end, with *at then
 * at the closing bracket. */
static size_t next_item(const text_walk *w, size_t *at, int first) {
    size_t p = skip_ws(w, *at);
    if (p >= w->len) return 0;
    if (first) {
        p = skip_ws(w, p + 1); /* past the bracket */
        if (p < w->len && (w->s[p] == ']' || w->s[p] == '}')) {
            *at = p;
            return 0;
        }
        return p;
    }
    if (w->s[p] != ',') {
        *at = p;
        return 0;
    }
    return skip_ws(w, p + 1);
}

/* After the closing bracket next_item stopped at. */
static size_t after_bracket(const text_walk *w, size_t at) {
    return at < w->len ? at + 1 : w->len;
}

/* An object's member at `at` (the key's quote): the key's text and where its value starts. */
static size_t member_value(const text_walk *w, size_t at, const char **key, size_t *key_len) {
    size_t key_end = string_end(w, at);
    *key = w->s + at + 1;
    *key_len = key_end - at - 2;
    size_t colon = skip_ws(w, key_end);
    return skip_ws(w, colon + 1);
}

static int key_is(const char *key, size_t len, const char *name) {
    return len == strlen(name) && memcmp(key, name, len) == 0;
}

static void add_estimate(void *ud, const char *bytes, size_t n) {
    *(size_t *)ud += gw_estimate_prompt_tokens(bytes, n);
}

/* The tokens of the string at `at`, decoded; *end: after it. */
static size_t string_tokens(text_walk *w, size_t at, size_t *end) {
    size_t tokens = 0;
    if (gw_json_strict_string(w->s, w->len, at, end, add_estimate, &tokens) < 0) {
        w->failed = 1;
        *end = w->len;
    }
    return tokens;
}

/* strcmp(the decoded string, "text") == 0, as the tree's way compares it */
static void is_text(void *ud, const char *bytes, size_t n) {
    *(int *)ud = n >= 4 && memcmp(bytes, "text", 4) == 0 && (n == 4 || bytes[4] == '\0');
}

/* A part of a content array: its "text" when its "type" is "text" (each member's last value);
 * *end: after the part. */
static size_t part_tokens(text_walk *w, size_t at, size_t *end) {
    size_t type_at = 0, text_at = 0, item = at, after;
    for (int first = 1; (item = next_item(w, &at, first)); first = 0) {
        const char *key;
        size_t key_len, v = member_value(w, item, &key, &key_len);
        if (key_is(key, key_len, "type"))
            type_at = v;
        else if (key_is(key, key_len, "text"))
            text_at = v;
        at = value_end(w, v);
    }
    *end = after_bracket(w, at);
    if (!type_at || !text_at || w->s[type_at] != '"' || w->s[text_at] != '"') return 0;
    int text = 0;
    if (gw_json_strict_string(w->s, w->len, type_at, &after, is_text, &text) < 0) w->failed = 1;
    return text ? string_tokens(w, text_at, &after) : 0;
}

/* A message's content, a string or an array of parts; *end: after it. Each string is read
 * once, by its decode. */
static size_t content_tokens(text_walk *w, size_t at, size_t *end) {
    if (w->s[at] == '"') return string_tokens(w, at, end);
    if (w->s[at] != '[') {
        *end = value_end(w, at);
        return 0;
    }
    size_t tokens = 0, item;
    for (int first = 1; (item = next_item(w, &at, first)); first = 0) {
        if (w->s[item] == '{')
            tokens += part_tokens(w, item, &at);
        else
            at = value_end(w, item);
    }
    *end = after_bracket(w, at);
    return tokens;
}

/* A message object: the overhead and its content's last value; *end: after the message. */
static size_t message_tokens(text_walk *w, size_t at, size_t *end) {
    size_t content = 0, item;
    for (int first = 1; (item = next_item(w, &at, first)); first = 0) {
        const char *key;
        size_t key_len, v = member_value(w, item, &key, &key_len);
        if (key_is(key, key_len, "content"))
            content = content_tokens(w, v, &at);
        else
            at = value_end(w, v);
    }
    *end = after_bracket(w, at);
    return GW_ESTIMATE_MESSAGE_OVERHEAD + content;
}

static int is_integer(const text_walk *w, size_t at, size_t end) {
    if (at >= end || !(w->s[at] == '-' || (w->s[at] >= '0' && w->s[at] <= '9'))) return 0;
    for (; at < end; at++)
        if (w->s[at] == '.' || w->s[at] == 'e' || w->s[at] == 'E') return 0;
    return 1;
}

static size_t prompt_tokens(text_walk *w, size_t at) {
    size_t after;
    if (w->s[at] == '"') return string_tokens(w, at, &after);
    if (w->s[at] != '[') return 0;
    size_t tokens = 0, item;
    for (int first = 1; (item = next_item(w, &at, first)); first = 0) {
        size_t end = value_end(w, item);
        if (w->s[item] == '"') {
            tokens += string_tokens(w, item, &after);
        } else if (is_integer(w, item, end)) {
            tokens++;                   /* already a token id */
        } else if (w->s[item] == '[') { /* a tokenized prompt of a batch: its length */
            size_t inner = item, x;
            for (int f = 1; (x = next_item(w, &inner, f)); f = 0) {
                tokens++;
                inner = value_end(w, x);
            }
        }
        at = end;
    }
    return tokens;
}

size_t gw_estimate_request_tokens_text(const char *body, size_t len, size_t start, size_t end,
                                       int api_is_chat) {
    if (start >= end || end > len) return 0; /* no such member */
    text_walk w = {.s = body, .len = end};
    size_t tokens = 0;
    if (!api_is_chat) {
        tokens = prompt_tokens(&w, start);
    } else if (body[start] == '[') {
        size_t at = start, item;
        for (int first = 1; (item = next_item(&w, &at, first)); first = 0) {
            if (body[item] == '{') {
                tokens += message_tokens(&w, item, &at);
            } else {
                tokens += GW_ESTIMATE_MESSAGE_OVERHEAD;
                at = value_end(&w, item);
            }
        }
    }
    return w.failed ? SIZE_MAX : tokens;
}
