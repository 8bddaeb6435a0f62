/* The request's own fields read in one pass over the body's text, building nothing
 * (request_fields.h). Building the json-c tree of a 1 KB chat body and freeing it cost ~14k
 * instructions and 14 allocations, a third of what the gateway spent on a request, while nothing
 * but these few fields was read from it on most requests.
 *
 * The scan takes only what it can judge exactly as the tree's way would, and declines the rest
 * (the tree's way then answers, errors included). It declines:
 * - anything that is not RFC 8259 JSON (json-c forgives some of it: comments, NaN, a leading
 *   zero, raw control characters in strings; the tree's way says what it makes of them);
 * - a key with an escape anywhere (json-c's keys end at a \u0000, so which member an escaped key
 *   names is json-c's to say);
 * - an escape in the model's name (it would have to be decoded);
 * - an integer of more than 18 digits (json-c reads it as int64, uint64 or an error);
 * - nesting deeper than SCAN_MAX_DEPTH (the tree's limit, 128, is json-c's to apply);
 * - a member the gateway reads named twice at the top level, or "role" twice in a message (json-c
 *   keeps the last value, under the first key's place);
 * - every body the checks refuse (the tree's way writes the error), and a stream whose
 *   stream_options lack include_usage: true (the tree's way adds it). */
#include <stdint.h>
#include <string.h>

#include "core/json_scan.h"
#include "filters/request_fields.h"

enum { SCAN_MAX_DEPTH = 64 };

typedef struct cursor {
    const char *p, *end;
    int depth;
} cursor;

static void skip_ws(cursor *c) {
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\n' || *c->p == '\r' || *c->p == '\t'))
        c->p++;
}

/* A string from c->p (its opening quote): [*start, *start + *len) is its text as written,
 * *escaped whether it holds an escape. -1 when it is not RFC 8259's (or ends the body). */
static int string(cursor *c, const char **start, size_t *len, int *escaped) {
    size_t end; /* after the closing quote, from c->p */
    if (gw_json_scan_string_escaped(c->p, (size_t)(c->end - c->p), 0, &end, escaped) < 0) return -1;
    *start = c->p + 1;
    *len = end - 2;
    c->p += end;
    return 0;
}

static int is_digit(char ch) {
    return ch >= '0' && ch <= '9';
}

/* A number at c->p: GW_JSON_INT | GW_JSON_NUMBER for an integer json-c reads as an int64,
 * GW_JSON_NUMBER for one with a fraction or an exponent (a double), 0 to decline. */
static unsigned number(cursor *c) {
    const char *p = c->p, *end = c->end;
    if (p < end && *p == '-') p++;
    const char *digits = p;
    if (p == end || !is_digit(*p)) return 0;
    if (*p == '0') {
        p++;
    } else {
        while (p < end && is_digit(*p))
            p++;
    }
    size_t integer_digits = (size_t)(p - digits);
    int is_double = 0;
    if (p < end && *p == '.') {
        p++;
        if (p == end || !is_digit(*p)) return 0;
        while (p < end && is_digit(*p))
            p++;
        is_double = 1;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-')) p++;
        if (p == end || !is_digit(*p)) return 0;
        while (p < end && is_digit(*p))
            p++;
        is_double = 1;
    }
    if (!is_double && integer_digits > 18) return 0;
    c->p = p;
    return is_double ? GW_JSON_NUMBER : GW_JSON_INT | GW_JSON_NUMBER;
}

static int literal(cursor *c, const char *word, size_t len) {
    if ((size_t)(c->end - c->p) < len || memcmp(c->p, word, len) != 0) return -1;
    c->p += len;
    return 0;
}

static unsigned value(cursor *c);

/* After a member or an element: 1 past a comma (another follows), 0 at the closing bracket
 * (left for the caller), -1 at anything else. */
static int after_item(cursor *c, char close) {
    skip_ws(c);
    if (c->p == c->end) return -1;
    if (*c->p == close) return 0;
    if (*c->p != ',') return -1;
    c->p++;
    skip_ws(c);
    return 1;
}

/* Reads one member's value, the cursor at it; key is the member's name as written (never with
 * an escape). 0 to decline. */
typedef int (*member_reader)(cursor *c, const char *key, size_t key_len, void *ud);

/* An object from c->p (its opening brace): each member's name, then `read` for its value. 0 to
 * decline. */
static int members(cursor *c, member_reader read, void *ud) {
    if (c->p == c->end || *c->p != '{' || ++c->depth > SCAN_MAX_DEPTH) return 0;
    c->p++;
    skip_ws(c);
    if (c->p < c->end && *c->p == '}') {
        c->p++;
        c->depth--;
        return 1;
    }
    for (;;) {
        const char *key;
        size_t key_len;
        int escaped;
        if (c->p == c->end || *c->p != '"' || string(c, &key, &key_len, &escaped) < 0 || escaped)
            return 0;
        skip_ws(c);
        if (c->p == c->end || *c->p != ':') return 0;
        c->p++;
        skip_ws(c);
        if (!read(c, key, key_len, ud)) return 0;
        int more = after_item(c, '}');
        if (more < 0) return 0;
        if (!more) break;
    }
    c->p++;
    c->depth--;
    return 1;
}

/* Reads one element of an array, the cursor at it. 0 to decline. */
typedef int (*element_reader)(cursor *c, void *ud);

/* An array from c->p (its opening bracket): `read` for each element, *count of them. 0 to
 * decline. */
static int elements(cursor *c, element_reader read, void *ud, size_t *count) {
    if (c->p == c->end || *c->p != '[' || ++c->depth > SCAN_MAX_DEPTH) return 0;
    c->p++;
    skip_ws(c);
    size_t n = 0;
    if (c->p < c->end && *c->p == ']') {
        c->p++;
    } else {
        for (;;) {
            if (!read(c, ud)) return 0;
            n++;
            int more = after_item(c, ']');
            if (more < 0) return 0;
            if (!more) break;
        }
        c->p++;
    }
    c->depth--;
    *count = n;
    return 1;
}

static int any_member(cursor *c, const char *key, size_t key_len, void *ud) {
    (void)key, (void)key_len, (void)ud;
    return value(c) != 0;
}

static int any_element(cursor *c, void *ud) {
    (void)ud;
    return value(c) != 0;
}

/* Any value at c->p (whitespace before it skipped): its GW_JSON_* type, 0 to decline. */
static unsigned value(cursor *c) {
    if (c->p == c->end) return 0;
    const char *s;
    size_t n;
    int escaped;
    switch (*c->p) {
    case '"':
        return string(c, &s, &n, &escaped) == 0 ? GW_JSON_STRING : 0;
    case '{':
        return members(c, any_member, NULL) ? GW_JSON_OBJECT : 0;
    case '[':
        return elements(c, any_element, NULL, &n) ? GW_JSON_ARRAY : 0;
    case 't':
        return literal(c, "true", 4) == 0 ? GW_JSON_BOOL : 0;
    case 'f':
        return literal(c, "false", 5) == 0 ? GW_JSON_BOOL : 0;
    case 'n':
        return literal(c, "null", 4) == 0 ? GW_JSON_NULL : 0;
    default:
        return number(c);
    }
}

/* A member of a message: "role" is a string, and there once. */
static int message_member(cursor *c, const char *key, size_t key_len, void *roles) {
    unsigned type = value(c);
    if (!type) return 0;
    if (key_len == 4 && memcmp(key, "role", 4) == 0)
        return type == GW_JSON_STRING && ++*(int *)roles == 1;
    return 1;
}

/* A message of "messages": an object with "role" once, a string. 0 to decline. */
static int message(cursor *c, void *ud) {
    (void)ud;
    int roles = 0;
    return members(c, message_member, &roles) && roles == 1;
}

/* "messages" of a chat request: a non-empty array of messages. 0 to decline. */
static int messages(cursor *c) {
    size_t n;
    return elements(c, message, NULL, &n) && n > 0;
}

typedef struct options_read {
    int *include_usage;
    int seen;
} options_read;

/* A member of stream_options: include_usage is a boolean, and there once. */
static int options_member(cursor *c, const char *key, size_t key_len, void *ud) {
    options_read *o = ud;
    if (!(key_len == 13 && memcmp(key, "include_usage", 13) == 0)) return value(c) != 0;
    if (o->seen++) return 0;
    if (c->p < c->end && *c->p == 't' && literal(c, "true", 4) == 0)
        *o->include_usage = 1;
    else if (c->p < c->end && *c->p == 'f' && literal(c, "false", 5) == 0)
        *o->include_usage = 0;
    else
        return 0;
    return 1;
}

/* "stream_options" as an object: include_usage, when there, a boolean, once. 0 to decline. */
static int stream_options(cursor *c, int *include_usage) {
    options_read o = {.include_usage = include_usage};
    return members(c, options_member, &o);
}

/* The value of the integer [p, end) (at most 18 digits: number() saw to that) when it is one
 * and positive, else 0 (a null, a negative or a zero). */
static uint64_t positive_integer(const char *p, const char *end) {
    if (p == end || *p < '0' || *p > '9') return 0;
    uint64_t v = 0;
    for (; p < end; p++)
        v = v * 10 + (uint64_t)(*p - '0');
    return v;
}

/* The top-level members the scan looks at beyond the rules: index past the rules' own. */
enum { KEY_MODEL, KEY_MESSAGES, KEY_PROMPT, KEY_INPUT, KEY_OTHER, KEY_RULE };

static int key_is(const char *key, size_t len, const char *name, size_t name_len) {
    return len == name_len && memcmp(key, name, len) == 0;
}

/* Which member the key names: KEY_RULE + the rule's index, another KEY_*, or KEY_OTHER. */
static int which_key(const char *key, size_t len) {
    if (key_is(key, len, "model", 5)) return KEY_MODEL;
    if (key_is(key, len, "messages", 8)) return KEY_MESSAGES;
    if (key_is(key, len, "prompt", 6)) return KEY_PROMPT;
    if (key_is(key, len, "input", 5)) return KEY_INPUT;
    for (const gw_field_rule *rule = gw_request_rules; rule->name; rule++)
        if (len == rule->name_len && key[0] == rule->name[0] && memcmp(key, rule->name, len) == 0)
            return KEY_RULE + (int)(rule - gw_request_rules);
    return KEY_OTHER;
}

/* A member of a string or a non-empty array (prompt, input). */
static int string_or_array(cursor *c) {
    if (c->p == c->end) return 0;
    if (*c->p == '"') return value(c) == GW_JSON_STRING;
    size_t n = 0;
    return elements(c, any_element, NULL, &n) && n > 0;
}

/* What the top level's members have shown so far. */
typedef struct top_read {
    gw_api_kind api;
    gw_request_fields *out;
    const char *body;
    uint64_t seen; /* the members read, by KEY_* */
    int stream_options_object;
    /* max_completion_tokens and max_tokens: present (null too), and a positive integer's value */
    int has_completion_limit, has_token_limit;
    uint64_t completion_limit, token_limit;
} top_read;

/* A rule's member: its type checked, and what the gateway keeps of it. */
static int rule_member(cursor *c, const gw_field_rule *rule, top_read *t) {
    int is_stream_options = !strcmp(rule->name, "stream_options");
    const char *at = c->p;
    if (is_stream_options && c->p < c->end && *c->p == '{') {
        if (!stream_options(c, &t->out->include_usage)) return 0;
        t->stream_options_object = 1;
    } else {
        unsigned type = value(c);
        if (!(type & rule->types)) return 0;
        if (type == GW_JSON_BOOL && !strcmp(rule->name, "stream")) t->out->stream = *at == 't';
    }
    if (is_stream_options) {
        t->out->members |= GW_BODY_HAS_STREAM_OPTIONS;
    } else if (!strcmp(rule->name, "max_tokens")) {
        t->out->members |= GW_BODY_HAS_MAX_TOKENS;
        t->has_token_limit = 1;
        t->token_limit = positive_integer(at, c->p);
    } else if (!strcmp(rule->name, "max_completion_tokens")) {
        t->out->members |= GW_BODY_HAS_MAX_COMPLETION_TOKENS;
        t->has_completion_limit = 1;
        t->completion_limit = positive_integer(at, c->p);
    }
    return 1;
}

static int top_member(cursor *c, const char *key, size_t key_len, void *ud) {
    top_read *t = ud;
    gw_request_fields *out = t->out;
    int which = which_key(key, key_len), escaped;
    if (which != KEY_OTHER) {
        if (t->seen & (1ull << which)) return 0; /* named twice */
        t->seen |= 1ull << which;
    }
    const char *value_at = c->p;
    if (which == KEY_MODEL) {
        if (c->p == c->end || *c->p != '"' ||
            string(c, &out->model, &out->model_len, &escaped) < 0 || escaped || out->model_len == 0)
            return 0;
    } else if (which == KEY_MESSAGES && t->api == GW_API_CHAT) {
        if (!messages(c)) return 0;
    } else if ((which == KEY_PROMPT && t->api == GW_API_COMPLETIONS) ||
               (which == KEY_INPUT && t->api == GW_API_EMBEDDINGS)) {
        if (!string_or_array(c)) return 0;
    } else if (which >= KEY_RULE) {
        if (!rule_member(c, &gw_request_rules[which - KEY_RULE], t)) return 0;
    } else if (!value(c)) {
        return 0;
    }
    if ((which == KEY_MESSAGES && t->api == GW_API_CHAT) ||
        (which == KEY_PROMPT && t->api != GW_API_CHAT)) {
        out->prompt_start = (size_t)(value_at - t->body);
        out->prompt_end = (size_t)(c->p - t->body);
    }
    return 1;
}

int gw_request_scan(const char *body, size_t len, gw_api_kind api, gw_request_fields *out) {
    memset(out, 0, sizeof *out);
    cursor c = {.p = body, .end = body + len};
    top_read t = {.api = api, .out = out, .body = body};
    skip_ws(&c);
    if (!members(&c, top_member, &t)) return 0;
    skip_ws(&c);
    if (c.p != c.end) return 0; /* more after the object */
    if (!(t.seen & (1ull << KEY_MODEL))) return 0;
    if (t.stream_options_object && out->stream && !out->include_usage) return 0;
    out->max_new_tokens = t.has_completion_limit ? t.completion_limit
                          : t.has_token_limit    ? t.token_limit
                                                 : 0;
    switch (api) {
    case GW_API_CHAT:
        return (t.seen & (1ull << KEY_MESSAGES)) != 0;
    case GW_API_COMPLETIONS:
        return (t.seen & (1ull << KEY_PROMPT)) != 0;
    case GW_API_EMBEDDINGS:
        return !out->stream && (t.seen & (1ull << KEY_INPUT)) != 0;
    default:
        return 1;
    }
}
