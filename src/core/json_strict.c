/* Strict JSON to a json-c tree, as json-c's strict tokener would build it (see json_strict.h).
 * Recursive descent, one frame per nesting level, bounded by the caller's depth. Positions and
 * errors follow json-c 0.16's json_tokener.c state by state; the comments name the state whose
 * behaviour a branch keeps. */
#include "core/json_strict.h"

#include <errno.h>
#include <json-c/json.h>
#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#define RECURSION_BOUND 1024 /* depths above it are taken as it: each level is a C frame */
#define SCRATCH_STACK 2048   /* decoded strings and keys up to this need no allocation */
#define ITEMS_STACK 64       /* array elements waiting for their array, likewise */

typedef struct parser {
    const char *s;
    size_t len, pos;
    int max_depth;
    enum json_tokener_error err;
    int oom, top_level_repeats;
    /* decoded string bytes, used as a stack: a key waits here while its value is parsed */
    char *scratch;
    size_t scratch_len, scratch_cap;
    /* elements of the arrays being parsed, innermost last */
    json_object **items;
    size_t items_len, items_cap;
    char scratch_stack[SCRATCH_STACK];
    json_object *items_stack[ITEMS_STACK];
} parser;

static const unsigned char utf8_replacement[3] = {0xEF, 0xBF, 0xBD};

static int is_ws(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static int is_hex(char c) {
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F') || (c >= 'a' && c <= 'f');
}

static void skip_ws(parser *p) {
    while (p->pos < p->len && is_ws(p->s[p->pos]))
        p->pos++;
}

/* An error at byte at; json-c reports any error met on a NUL byte as the end of the data. */
static int fail(parser *p, enum json_tokener_error err, size_t at) {
    p->err = at < p->len && p->s[at] == '\0' ? json_tokener_error_parse_eof : err;
    p->pos = at;
    return -1;
}

static int need_more(parser *p) { /* the text ended inside a value: json_tokener_continue */
    p->err = json_tokener_continue;
    p->pos = p->len;
    return -1;
}

static int out_of_memory(parser *p) {
    p->oom = 1;
    p->err = json_tokener_error_size;
    return -1;
}

static int scratch_put(parser *p, const void *bytes, size_t n) {
    if (p->scratch_cap - p->scratch_len < n) {
        size_t cap = p->scratch_cap * 2;
        while (cap - p->scratch_len < n)
            cap *= 2;
        char *grown = p->scratch == p->scratch_stack ? malloc(cap) : realloc(p->scratch, cap);
        if (!grown) return out_of_memory(p);
        if (p->scratch == p->scratch_stack) memcpy(grown, p->scratch, p->scratch_len);
        p->scratch = grown;
        p->scratch_cap = cap;
    }
    memcpy(p->scratch + p->scratch_len, bytes, n);
    p->scratch_len += n;
    return 0;
}

static int items_push(parser *p, json_object *v) {
    if (p->items_len == p->items_cap) {
        size_t cap = p->items_cap * 2;
        json_object **grown = p->items == p->items_stack ? malloc(cap * sizeof *grown)
                                                         : realloc(p->items, cap * sizeof *grown);
        if (!grown) return out_of_memory(p);
        if (p->items == p->items_stack) memcpy(grown, p->items, p->items_len * sizeof *grown);
        p->items = grown;
        p->items_cap = cap;
    }
    p->items[p->items_len++] = v;
    return 0;
}

/* Four hex digits at p->pos (state_escape_unicode). */
static int hex4(parser *p, unsigned *out) {
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        size_t at = p->pos + (size_t)i;
        if (at == p->len) return need_more(p);
        char c = p->s[at];
        if (!is_hex(c)) return fail(p, json_tokener_error_parse_string, at);
        v |= (unsigned)(c <= '9' ? c - '0' : (c & 7) + 9) << ((3 - i) * 4);
    }
    p->pos += 4;
    *out = v;
    return 0;
}

static int put_code_point(parser *p, unsigned u) {
    unsigned char b[4];
    size_t n;
    if (u < 0x80) {
        b[0] = (unsigned char)u;
        n = 1;
    } else if (u < 0x800) {
        b[0] = (unsigned char)(0xc0 | (u >> 6));
        b[1] = (unsigned char)(0x80 | (u & 0x3f));
        n = 2;
    } else if ((u & 0xFC00) == 0xDC00) { /* a low surrogate with no high one before it */
        return scratch_put(p, utf8_replacement, 3);
    } else if (u < 0x10000) {
        b[0] = (unsigned char)(0xe0 | (u >> 12));
        b[1] = (unsigned char)(0x80 | ((u >> 6) & 0x3f));
        b[2] = (unsigned char)(0x80 | (u & 0x3f));
        n = 3;
    } else if (u < 0x110000) {
        b[0] = (unsigned char)(0xf0 | ((u >> 18) & 0x07));
        b[1] = (unsigned char)(0x80 | ((u >> 12) & 0x3f));
        b[2] = (unsigned char)(0x80 | ((u >> 6) & 0x3f));
        b[3] = (unsigned char)(0x80 | (u & 0x3f));
        n = 4;
    } else {
        return scratch_put(p, utf8_replacement, 3);
    }
    return scratch_put(p, b, n);
}

/* A \u escape, p->pos just after the 'u'. A high surrogate wants "\u" and a low one next; when
 * something else follows, json-c writes U+FFFD for the high one and reads on from there
 * (states escape_unicode_need_escape and _need_u). */
static int unicode_escape(parser *p) {
    unsigned u;
    if (hex4(p, &u) < 0) return -1;
    while ((u & 0xFC00) == 0xD800) {
        if (p->pos == p->len) return need_more(p);
        if (p->s[p->pos] != '\\') return scratch_put(p, utf8_replacement, 3);
        if (p->pos + 1 == p->len) return need_more(p);
        if (p->s[p->pos + 1] != 'u') return scratch_put(p, utf8_replacement, 3);
        p->pos += 2;
        unsigned next;
        if (hex4(p, &next) < 0) return -1;
        if ((next & 0xFC00) == 0xDC00)
            return put_code_point(p, (((u & 0x3FF) << 10) | (next & 0x3FF)) + 0x10000);
        if (scratch_put(p, utf8_replacement, 3) < 0) return -1;
        u = next;
    }
    return put_code_point(p, u);
}

/* The first quote, backslash or NUL in s[at..len), or len: sixteen bytes a step where SSE2 is
 * there (strings are most of a chat body; a byte a step cost ~12 instructions a byte). */
static size_t string_stop(const char *s, size_t at, size_t len, char quote) {
#ifdef __SSE2__
    const __m128i q = _mm_set1_epi8(quote), backslash = _mm_set1_epi8('\\');
    const __m128i nul = _mm_setzero_si128();
    for (; len - at >= 16; at += 16) {
        __m128i chunk = _mm_loadu_si128((const __m128i *)(const void *)(s + at));
        __m128i hit =
            _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(chunk, q), _mm_cmpeq_epi8(chunk, backslash)),
                         _mm_cmpeq_epi8(chunk, nul));
        int mask = _mm_movemask_epi8(hit);
        if (mask) return at + (size_t)__builtin_ctz((unsigned)mask);
    }
#endif
    while (at < len && s[at] != quote && s[at] != '\\' && s[at] != '\0')
        at++;
    return at;
}

/* A string from p->pos (its opening quote) to the closing quote: *raw points into the text when
 * it holds no escape (nothing copied), else the decoded bytes are appended to the scratch and
 * *raw is NULL. */
static int string_body(parser *p, char quote, const char **raw, size_t *raw_len) {
    size_t at = ++p->pos;
    const char *s = p->s;
    *raw = NULL;
    for (int copied = 0;;) {
        size_t run = string_stop(s, at, p->len, quote);
        if (run == p->len) return need_more(p);
        if (s[run] == quote && !copied) {
            *raw = s + at;
            *raw_len = run - at;
            p->pos = run + 1;
            return 0;
        }
        if (scratch_put(p, s + at, run - at) < 0) return -1;
        copied = 1;
        if (s[run] == quote) {
            p->pos = run + 1;
            return 0;
        }
        if (s[run] == '\0') { /* json-c stops one past it: the end of its data */
            p->err = json_tokener_error_parse_eof;
            p->pos = run + 1;
            return -1;
        }
        if (run + 1 == p->len) return need_more(p);
        char c = s[run + 1], one;
        p->pos = run + 2;
        switch (c) {
        case '"':
        case '\\':
        case '/':
            one = c;
            break;
        case 'b':
            one = '\b';
            break;
        case 'n':
            one = '\n';
            break;
        case 'r':
            one = '\r';
            break;
        case 't':
            one = '\t';
            break;
        case 'f':
            one = '\f';
            break;
        case 'u':
            if (unicode_escape(p) < 0) return -1;
            at = p->pos;
            continue;
        default:
            return fail(p, json_tokener_error_parse_string, run + 1);
        }
        if (scratch_put(p, &one, 1) < 0) return -1;
        at = p->pos;
    }
}

static locale_t c_locale;
static pthread_once_t c_locale_once = PTHREAD_ONCE_INIT;
static void c_locale_init(void) {
    c_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
}

/* json_util.c's json_parse_int64 and json_parse_uint64, as json-c calls them */
static int parse_int64(const char *buf, int64_t *out) {
    char *end = NULL;
    errno = 0;
    long long v = strtoll(buf, &end, 10);
    if (end != buf) *out = v;
    return ((v == 0 && errno != 0) || end == buf) ? 1 : 0;
}

static int parse_uint64(const char *buf, uint64_t *out) {
    char *end = NULL;
    errno = 0;
    if (*buf == '-') return 1;
    unsigned long long v = strtoull(buf, &end, 10);
    if (end != buf) *out = v;
    return ((v == 0 && errno != 0) || end == buf) ? 1 : 0;
}

static int literal(parser *p, const char *word, enum json_tokener_error err, size_t from);

/* A number (state_number): the characters json-c gathers, then what strtoll, strtoull or strtod
 * make of them. */
static int number(parser *p, int depth, json_object **out) {
    const char *s = p->s;
    size_t start = p->pos, at = start;
    int is_double = 0, is_exponent = 0, neg_ok = 1, pos_ok = 0;
    for (; at < p->len; at++) {
        char c = s[at];
        if (!((c >= '0' && c <= '9') || (!is_exponent && (c == 'e' || c == 'E')) ||
              (neg_ok && c == '-') || (pos_ok && c == '+') || (!is_double && c == '.')))
            break;
        neg_ok = pos_ok = 0;
        if (c == '.') {
            is_double = neg_ok = pos_ok = 1;
        } else if (c == 'e' || c == 'E') {
            is_exponent = is_double = neg_ok = pos_ok = 1;
        }
    }
    if (at == p->len) return need_more(p);
    char stop = s[at];
    if (depth > 0 && stop != ',' && stop != ']' && stop != '}' && stop != '/' && stop != 'I' &&
        stop != 'i' && !is_ws(stop))
        return fail(p, json_tokener_error_parse_number, at);
    size_t n = at - start;
    if (s[start] == '-' && n <= 1 && (stop == 'i' || stop == 'I')) { /* -Infinity */
        if (literal(p, "Infinity", json_tokener_error_parse_unexpected, at) < 0) return -1;
        return (*out = json_object_new_double(-INFINITY)) ? 0 : out_of_memory(p);
    }
    char small[64], *buf = n < sizeof small ? small : malloc(n + 1);
    if (!buf) return out_of_memory(p);
    memcpy(buf, s + start, n);
    buf[n] = '\0';
    int64_t i64;
    uint64_t u64;
    int rc = 0;
    *out = NULL;
    if (!is_double && buf[0] == '-' && parse_int64(buf, &i64) == 0) {
        *out = json_object_new_int64(i64);
    } else if (!is_double && buf[0] != '-' && parse_uint64(buf, &u64) == 0) {
        if (u64 && buf[0] == '0') /* a leading zero */
            rc = fail(p, json_tokener_error_parse_number, at);
        else
            *out = u64 <= INT64_MAX ? json_object_new_int64((int64_t)u64)
                                    : json_object_new_uint64(u64);
    } else {
        char *end = NULL;
        double d = 0;
        if (is_double) {
            pthread_once(&c_locale_once, c_locale_init);
            d = c_locale ? strtod_l(buf, &end, c_locale) : strtod(buf, &end);
        }
        if (is_double && end == buf + n)
            *out = json_object_new_double_s(d, buf);
        else
            rc = fail(p, json_tokener_error_parse_number, at);
    }
    if (buf != small) free(buf);
    if (rc < 0) return -1;
    if (!*out) return out_of_memory(p);
    p->pos = at;
    return 0;
}

/* word, case and all, from byte from (states null, boolean, inf); json-c makes the value on the
 * character after it, so the text must go on. */
static int literal(parser *p, const char *word, enum json_tokener_error err, size_t from) {
    size_t at = from;
    for (; *word; word++, at++) {
        if (at == p->len) return need_more(p);
        if (p->s[at] != *word) return fail(p, err, at);
    }
    if (at == p->len) return need_more(p);
    p->pos = at;
    return 0;
}

/* Keys the gateway's bodies name most, by length: added as json-c constant keys, not copied. */
static const char *const keys_1[] = {"n", NULL};
static const char *const keys_2[] = {"id", NULL};
static const char *const keys_3[] = {"url", NULL};
static const char *const keys_4[] = {"role", "stop", "user", "type", "name",
                                     "seed", "text", "enum", "data", NULL};
static const char *const keys_5[] = {"model", "top_p", "tools", "input", "top_k",
                                     "items", "index", "usage", NULL};
static const char *const keys_6[] = {"stream", "prompt", "system", "strict", "schema",
                                     "detail", "source", "format", "object", NULL};
static const char *const keys_7[] = {"content", "default", "created", "choices", "message", NULL};
static const char *const keys_8[] = {"messages", "function", "required", "metadata",
                                     "logprobs", "thinking", "is_error", NULL};
static const char *const keys_9[] = {"arguments", "image_url", NULL};
static const char *const keys_10[] = {"max_tokens", "parameters", "properties", "tool_calls",
                                      "dimensions", "logit_bias", "media_type", NULL};
static const char *const keys_11[] = {"temperature", "tool_choice", "description",
                                      "json_schema", "tool_use_id", NULL};
static const char *const keys_12[] = {"tool_call_id", "input_schema", "top_logprobs",
                                      "total_tokens", NULL};
static const char *const keys_13[] = {"include_usage", "cache_control", "budget_tokens",
                                      "finish_reason", "prompt_tokens", NULL};
static const char *const keys_14[] = {"stream_options", "stop_sequences", NULL};
static const char *const keys_15[] = {"response_format", "encoding_format", NULL};
static const char *const keys_16[] = {"presence_penalty", "reasoning_effort", NULL};
static const char *const keys_17[] = {"frequency_penalty", "completion_tokens", NULL};
static const char *const keys_19[] = {"parallel_tool_calls", NULL};
static const char *const keys_20[] = {"additionalProperties", NULL};
static const char *const keys_21[] = {"max_completion_tokens", NULL};
static const char *const *const keys_by_len[] = {
    [0] = NULL,     [1] = keys_1,   [2] = keys_2,   [3] = keys_3,   [4] = keys_4,   [5] = keys_5,
    [6] = keys_6,   [7] = keys_7,   [8] = keys_8,   [9] = keys_9,   [10] = keys_10, [11] = keys_11,
    [12] = keys_12, [13] = keys_13, [14] = keys_14, [15] = keys_15, [16] = keys_16, [17] = keys_17,
    [18] = NULL,    [19] = keys_19, [20] = keys_20, [21] = keys_21,
};

static const char *known_key(const char *key, size_t len) {
    if (len >= sizeof keys_by_len / sizeof keys_by_len[0] || !keys_by_len[len]) return NULL;
    for (const char *const *k = keys_by_len[len]; *k; k++)
        if ((*k)[0] == key[0] && !memcmp(*k, key, len)) return *k;
    return NULL;
}

static int value(parser *p, int depth, json_object **out);

/* state_object_field_start .. state_object_sep */
static int object(parser *p, int depth, json_object **out) {
    json_object *obj = json_object_new_object();
    if (!obj) return out_of_memory(p);
    int members = 0; /* added, repeats included */
    p->pos++;
    skip_ws(p);
    if (p->pos == p->len) goto more;
    if (p->s[p->pos] == '}') {
        p->pos++;
        *out = obj;
        return 0;
    }
    for (;;) {
        char c = p->s[p->pos];
        if (c != '"' && c != '\'') {
            fail(p,
                 c == '}' ? json_tokener_error_parse_unexpected /* after a ',' */
                          : json_tokener_error_parse_object_key_name,
                 p->pos);
            goto fail;
        }
        /* a well-known key is looked up as it stands in the text; any other is copied to the
         * scratch, NUL-terminated for json-c (which copies it again) */
        size_t mark = p->scratch_len, key_len;
        const char *raw, *constant = NULL;
        if (string_body(p, c, &raw, &key_len) < 0) goto fail;
        if (raw) constant = known_key(raw, key_len);
        if (!constant) {
            if (raw && scratch_put(p, raw, key_len) < 0) goto fail;
            if (scratch_put(p, "", 1) < 0) goto fail;
        }
        skip_ws(p);
        if (p->pos == p->len) goto more;
        if (p->s[p->pos] != ':') {
            fail(p, json_tokener_error_parse_object_key_sep, p->pos);
            goto fail;
        }
        p->pos++;
        skip_ws(p);
        if (p->pos == p->len) goto more;
        if (depth >= p->max_depth - 1) {
            fail(p, json_tokener_error_depth, p->pos);
            goto fail;
        }
        json_object *v;
        if (value(p, depth + 1, &v) < 0) goto fail;
        int added;
        if (constant) {
            added = json_object_object_add_ex(obj, constant, v, JSON_C_OBJECT_ADD_CONSTANT_KEY);
        } else {
            const char *key = p->scratch + mark;    /* the scratch may have moved meanwhile */
            constant = known_key(key, strlen(key)); /* decoded from escapes, or cut at a \u0000 */
            added = constant ? json_object_object_add_ex(obj, constant, v,
                                                         JSON_C_OBJECT_ADD_CONSTANT_KEY)
                             : json_object_object_add(obj, key, v);
        }
        p->scratch_len = mark;
        members++;
        if (added < 0) {
            json_object_put(v);
            out_of_memory(p);
            goto fail;
        }
        skip_ws(p);
        if (p->pos == p->len) goto more;
        c = p->s[p->pos];
        if (c == '}') {
            p->pos++;
            if (depth == 0 && members != json_object_object_length(obj)) p->top_level_repeats = 1;
            *out = obj;
            return 0;
        }
        if (c != ',') {
            fail(p, json_tokener_error_parse_object_value_sep, p->pos);
            goto fail;
        }
        p->pos++;
        skip_ws(p);
        if (p->pos == p->len) goto more;
    }
more:
    need_more(p);
fail:
    json_object_put(obj);
    return -1;
}

/* state_array .. state_array_sep; the elements wait on p->items so the array is made once,
 * at its size (json-c makes 32 slots, then shrinks them to the length). */
static int array(parser *p, int depth, json_object **out) {
    size_t first = p->items_len;
    p->pos++;
    skip_ws(p);
    if (p->pos == p->len) goto more;
    if (p->s[p->pos] != ']') {
        for (;;) {
            if (depth >= p->max_depth - 1) {
                fail(p, json_tokener_error_depth, p->pos);
                goto fail;
            }
            json_object *v;
            if (value(p, depth + 1, &v) < 0) goto fail;
            if (items_push(p, v) < 0) {
                json_object_put(v);
                goto fail;
            }
            skip_ws(p);
            if (p->pos == p->len) goto more;
            char c = p->s[p->pos];
            if (c == ']') break;
            if (c != ',') {
                fail(p, json_tokener_error_parse_array, p->pos);
                goto fail;
            }
            p->pos++;
            skip_ws(p);
            if (p->pos == p->len) goto more;
            if (p->s[p->pos] == ']') { /* a trailing comma */
                fail(p, json_tokener_error_parse_unexpected, p->pos);
                goto fail;
            }
        }
    }
    p->pos++;
    size_t n = p->items_len - first;
    /* json-c's append grows an array that would be full after it: one slot to spare */
    json_object *arr = json_object_new_array_ext((int)n + 1);
    if (!arr) {
        out_of_memory(p);
        goto fail;
    }
    for (size_t i = 0; i < n; i++)
        json_object_array_add(arr, p->items[first + i]); /* within its size: cannot fail */
    p->items_len = first;
    *out = arr;
    return 0;
more:
    need_more(p);
fail:
    for (size_t i = first; i < p->items_len; i++)
        json_object_put(p->items[i]);
    p->items_len = first;
    return -1;
}

/* state_start: p->pos is on the value's first character. */
static int value(parser *p, int depth, json_object **out) {
    *out = NULL;
    size_t at = p->pos;
    switch (p->s[at]) {
    case '{':
        return object(p, depth, out);
    case '[':
        return array(p, depth, out);
    case '"': {
        size_t mark = p->scratch_len, n;
        const char *raw;
        if (string_body(p, '"', &raw, &n) < 0) return -1;
        *out = raw ? json_object_new_string_len(raw, (int)n)
                   : json_object_new_string_len(p->scratch + mark, (int)(p->scratch_len - mark));
        p->scratch_len = mark;
        return *out ? 0 : out_of_memory(p);
    }
    case 'n':
        return literal(p, "null", json_tokener_error_parse_null, at);
    case 'N':
        if (literal(p, "NaN", json_tokener_error_parse_null, at) < 0) return -1;
        return (*out = json_object_new_double(NAN)) ? 0 : out_of_memory(p);
    case 't':
        if (literal(p, "true", json_tokener_error_parse_boolean, at) < 0) return -1;
        return (*out = json_object_new_boolean(1)) ? 0 : out_of_memory(p);
    case 'f':
        if (literal(p, "false", json_tokener_error_parse_boolean, at) < 0) return -1;
        return (*out = json_object_new_boolean(0)) ? 0 : out_of_memory(p);
    case 'T':
    case 'F':
        return fail(p, json_tokener_error_parse_boolean, at);
    case 'I':
    case 'i':
        if (literal(p, "Infinity", json_tokener_error_parse_unexpected, at) < 0) return -1;
        return (*out = json_object_new_double(INFINITY)) ? 0 : out_of_memory(p);
    case '-':
    case '0':
    case '1':
    case '2':
    case '3':
    case '4':
    case '5':
    case '6':
    case '7':
    case '8':
    case '9':
        return number(p, depth, out);
    default:
        return fail(p, json_tokener_error_parse_unexpected, at);
    }
}

json_object *gw_json_parse_strict(const char *text, size_t len, int max_depth,
                                  gw_json_strict_result *res) {
    parser p = {
        .s = text,
        .len = text ? len : 0,
        .max_depth = max_depth > RECURSION_BOUND ? RECURSION_BOUND : max_depth,
        .err = json_tokener_success,
        .scratch_cap = SCRATCH_STACK,
        .items_cap = ITEMS_STACK,
    };
    p.scratch = p.scratch_stack;
    p.items = p.items_stack;
    json_object *root = NULL;
    skip_ws(&p);
    int rc = p.pos == p.len ? need_more(&p) : value(&p, 0, &root);
    if (rc == 0) {
        skip_ws(&p);
        /* after the value: the end, or a NUL byte (json-c stops there content); else an error */
        if (p.pos < p.len && p.s[p.pos] != '\0') {
            fail(&p, json_tokener_error_parse_unexpected, p.pos);
            json_object_put(root);
            root = NULL;
        }
    }
    if (p.scratch != p.scratch_stack) free(p.scratch);
    if (p.items != p.items_stack) free(p.items);
    if (res)
        *res = (gw_json_strict_result){.error = p.err,
                                       .end = p.pos,
                                       .out_of_memory = p.oom,
                                       .top_level_repeats = p.top_level_repeats};
    return root;
}

int gw_json_strict_string(const char *text, size_t len, size_t at, size_t *end,
                          void (*take)(void *ud, const char *bytes, size_t n), void *ud) {
    parser p = {.s = text, .len = len, .pos = at, .scratch_cap = SCRATCH_STACK};
    p.scratch = p.scratch_stack;
    const char *raw = NULL;
    size_t raw_len = 0;
    int rc = at < len && text[at] == '"' ? string_body(&p, '"', &raw, &raw_len) : -1;
    if (rc == 0) {
        *end = p.pos;
        if (raw)
            take(ud, raw, raw_len);
        else
            take(ud, p.scratch, p.scratch_len);
    }
    if (p.scratch != p.scratch_stack) free(p.scratch);
    return rc;
}
