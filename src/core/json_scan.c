/* Each step takes the position it starts at and returns the one after what it read, or NULL
 * with the failure and its position in the context: the position stays in a register, and a
 * stream event (some 35 tokens, 15 of them strings) costs about a thousand instructions. */
#include "core/json_scan.h"

#include <stdint.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

enum { MAX_DEPTH = 128, MAX_KEY_DECODE = 64 };

typedef struct scan_ctx {
    const char *end;
    const char *error; /* what was expected */
    const char *error_at;
    const gw_json_find *find; /* NULL for a plain gw_json_scan, which looks for one key: */
    const char *key;
    size_t key_len;
    const char *text; /* the document, for spans */
    gw_json_scan_result *out;
    /* the lengths of find's member names and text keys, as bits (63: that long or longer): a
     * key of another length is none of them */
    uint64_t member_lens, text_lens;
} scan_ctx;

static inline uint64_t length_bit(size_t len) {
    return 1ull << (len < 63 ? len : 63);
}

static inline int length_in(uint64_t lens, size_t len) {
    return (lens & length_bit(len)) != 0;
}

/* find's lengths into c. */
static void find_lengths(scan_ctx *c, const gw_json_find *find) {
    for (size_t m = 0; m < find->member_count; m++)
        c->member_lens |= length_bit(find->members[m].name_len);
    for (size_t k = 0; k < find->text_key_count; k++)
        c->text_lens |= length_bit(find->text_keys[k].len);
}

static const char *fail(scan_ctx *c, const char *at, const char *what) {
    if (!c->error) {
        c->error = what;
        c->error_at = at;
    }
    return NULL;
}

static inline int is_space(char ch) {
    return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r';
}

static inline const char *skip_ws(const char *p, const char *end) {
    while (p < end && (unsigned char)*p <= ' ' && is_space(*p)) /* one compare for a token */
        p++;
    return p;
}

static int hexval(char ch) {
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    return -1;
}

/* The first byte at or after p that a string cannot hold as it is: a quote, a backslash or a
 * control character; end when there is none. Sixteen bytes at a time with SSE2 (every x86-64),
 * so a key or a short value ends in one look; then eight at a time where the byte order allows:
 * the lowest flagged byte is exact (a subtraction's borrow only ever flags bytes after a real
 * one). */
static inline __attribute__((always_inline)) const char *string_run_end(const char *p,
                                                                        const char *end) {
#ifdef __SSE2__
    const __m128i quote = _mm_set1_epi8('"'), backslash = _mm_set1_epi8('\\'),
                  control = _mm_set1_epi8(0x1f);
    while (end - p >= 16) {
        __m128i x = _mm_loadu_si128((const __m128i *)(const void *)p);
        __m128i hit =
            _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, quote), _mm_cmpeq_epi8(x, backslash)),
                         _mm_cmpeq_epi8(_mm_max_epu8(x, control), control)); /* <= 0x1f */
        unsigned mask = (unsigned)_mm_movemask_epi8(hit);
        if (mask) return p + __builtin_ctz(mask);
        p += 16;
    }
#endif
#ifdef GW_JSON_WORD_AT_A_TIME
    while (end - p >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        uint64_t hit = gw_json_special_bytes(w);
        if (hit) return p + (__builtin_ctzll(hit) >> 3);
        p += 8;
    }
#endif
    while (p < end) {
        unsigned char ch = (unsigned char)*p;
        if (ch == '"' || ch == '\\' || ch < 0x20) return p;
        p++;
    }
    return end;
}

/* p at a byte string_run_end stopped at (or the end): the rest of a string with escapes, or
 * its failure. Returns the position after the closing quote. */
static const char *scan_string_rest(scan_ctx *c, const char *p, int *has_escape) {
    const char *end = c->end;
    for (;;) {
        if (p >= end) break;
        unsigned char ch = (unsigned char)*p;
        if (ch == '"') return p + 1;
        if (ch < 0x20) return fail(c, p, "a control character must be escaped in a string");
        /* a backslash */
        *has_escape = 1;
        if (++p >= end) break;
        char e = *p;
        if (e == 'u') {
            if (end - p < 5) break;
            for (int k = 1; k <= 4; k++)
                if (hexval(p[k]) < 0) return fail(c, p, "four hex digits after \\u");
            p += 4;
        } else if (!strchr("\"\\/bfnrt", e) || e == '\0') {
            return fail(c, p, "a valid escape sequence");
        }
        p = string_run_end(p + 1, end);
    }
    return fail(c, p, "a closing quote");
}

/* p at the opening quote; returns the position after the closing one. Sets *has_escape. A
 * string without escapes, nearly every one, is read inline. */
static inline __attribute__((always_inline)) const char *scan_string(scan_ctx *c, const char *p,
                                                                     int *has_escape) {
    p = string_run_end(p + 1, c->end);
    if (p < c->end && *p == '"') return p + 1;
    return scan_string_rest(c, p, has_escape);
}

static const char *scan_number(scan_ctx *c, const char *p) {
    const char *start = p, *end = c->end;
    if (p < end && *p == '-') p++;
    if (p >= end) return fail(c, start, "a digit");
    if (*p == '0') {
        p++;
    } else if (*p >= '1' && *p <= '9') {
        while (p < end && *p >= '0' && *p <= '9')
            p++;
    } else {
        return fail(c, start, "a digit");
    }
    if (p < end && *p == '.') {
        p++;
        if (p >= end || *p < '0' || *p > '9') return fail(c, start, "a digit after '.'");
        while (p < end && *p >= '0' && *p <= '9')
            p++;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-')) p++;
        if (p >= end || *p < '0' || *p > '9') return fail(c, start, "a digit in the exponent");
        while (p < end && *p >= '0' && *p <= '9')
            p++;
    }
    return p;
}

static const char *scan_literal(scan_ctx *c, const char *p, const char *lit, size_t len) {
    if ((size_t)(c->end - p) < len || memcmp(p, lit, len) != 0) return fail(c, p, "a JSON value");
    return p + len;
}

/* Compares a raw key (between quotes, escapes undecoded) with `key`, decoding escapes when
 * present so "mod\u0065l" counts as "model" the way every JSON parser upstream will read it. */
static int key_equals(const char *raw, size_t len, int has_escape, const char *key, size_t klen) {
    if (!has_escape) return len == klen && memcmp(raw, key, len) == 0;
    char buf[MAX_KEY_DECODE];
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        if (o >= sizeof buf) return 0;
        char ch = raw[i];
        if (ch == '\\' && i + 1 < len) {
            char e = raw[++i];
            if (e == 'u' && i + 4 < len) {
                int v = (hexval(raw[i + 1]) << 12) | (hexval(raw[i + 2]) << 8) |
                        (hexval(raw[i + 3]) << 4) | hexval(raw[i + 4]);
                i += 4;
                if (v <= 0 || v > 0x7f) return 0; /* keys we look for are ASCII */
                ch = (char)v;
            } else {
                const char *from = "\"\\/bfnrt", *to = "\"\\/\b\f\n\r\t";
                const char *q = strchr(from, e);
                ch = q ? to[q - from] : e;
            }
        }
        buf[o++] = ch;
    }
    return o == klen && memcmp(buf, key, klen) == 0;
}

static const char *scan_container(scan_ctx *c, const char *p, int depth);

/* `depth` is the depth of the container holding this value (0 at the top). A scalar is read
 * inline, where the member or element is (most values of an event are); a container out of
 * line. */
static inline __attribute__((always_inline)) const char *scan_value(scan_ctx *c, const char *p,
                                                                    int depth) {
    if (p >= c->end) return fail(c, p, "a JSON value");
    int has_escape;
    switch (*p) {
    case '{':
    case '[':
        return scan_container(c, p, depth);
    case '"':
        return scan_string(c, p, &has_escape);
    case 't':
        return scan_literal(c, p, "true", 4);
    case 'f':
        return scan_literal(c, p, "false", 5);
    case 'n':
        return scan_literal(c, p, "null", 4);
    default:
        return scan_number(c, p);
    }
}

/* A top-level member's key was read: counts and spans for what is looked for. */
static void note_member(scan_ctx *c, const char *key, size_t key_len, int has_escape,
                        const char *value, const char *value_end) {
    size_t start = (size_t)(value - c->text), stop = (size_t)(value_end - c->text);
    if (!c->find) {
        if (c->key && key_equals(key, key_len, has_escape, c->key, c->key_len) &&
            c->out->key_count++ == 0) {
            c->out->value_start = start;
            c->out->value_end = stop;
        }
        return;
    }
    for (size_t m = 0; m < c->find->member_count; m++) {
        gw_json_member *member = &c->find->members[m];
        if (key_equals(key, key_len, has_escape, member->name, member->name_len) &&
            member->count++ == 0) {
            member->value_start = start;
            member->value_end = stop;
        }
    }
}

/* Which of the text keys a plain key is: -1 for none. */
static int text_key_index(const gw_json_find *f, const char *raw, size_t len) {
    for (size_t k = 0; k < f->text_key_count; k++)
        if (f->text_keys[k].len == len && !memcmp(f->text_keys[k].name, raw, len)) return (int)k;
    return -1;
}

/* p at the object's '{', or, with `after_value`, right after one of its members' values. */
/* p < end and *p is ch: an engine writes compact JSON, so the byte after a token is nearly always
 * the one expected, and whitespace is skipped only when it is not. */
#define AT(p, ch) ((p) < end && *(p) == (ch))

/* p at the object's '{', or, with `after_value`, right after one of its members' values. */
static const char *scan_members(scan_ctx *c, const char *p, int depth, int after_value) {
    const char *end = c->end;
    const gw_json_find *f = c->find;
    int texts = f && f->text_key_count;
    if (after_value) goto separator;
    p = skip_ws(p + 1, end);
    if (p < end && *p == '}') return p + 1;
    for (;;) {
        if (!AT(p, '"')) {
            p = skip_ws(p, end);
            if (!AT(p, '"')) return fail(c, p, "a member name in quotes");
        }
        const char *key = p + 1;
        int has_escape = 0;
        if (!(p = scan_string(c, p, &has_escape))) return NULL;
        size_t key_len = (size_t)(p - 1 - key);
        if (!AT(p, ':')) {
            p = skip_ws(p, end);
            if (!AT(p, ':')) return fail(c, p, "':' after a member name");
        }
        p = skip_ws(p + 1, end);
        const char *value = p;
        if (!(p = scan_value(c, p, depth))) return NULL;
        if (depth == 1 && (has_escape || length_in(c->member_lens, key_len)))
            note_member(c, key, key_len, has_escape, value, p);
        if (texts && *value == '"' && !has_escape && length_in(c->text_lens, key_len)) {
            int which = text_key_index(f, key, key_len);
            if (which >= 0) f->on_text(f->ud, (size_t)which, value + 1, (size_t)(p - value - 2));
        }
    separator:
        if (AT(p, ',')) {
            p++;
            continue;
        }
        if (AT(p, '}')) return p + 1;
        p = skip_ws(p, end);
        if (p >= end) return fail(c, p, "',' or '}'");
        if (*p == ',') {
            p++;
            continue;
        }
        if (*p == '}') return p + 1;
        return fail(c, p, "',' or '}'");
    }
}

static const char *scan_array(scan_ctx *c, const char *p, int depth) {
    const char *end = c->end;
    p = skip_ws(p + 1, end);
    if (p < end && *p == ']') return p + 1;
    for (;;) {
        p = skip_ws(p, end);
        if (!(p = scan_value(c, p, depth))) return NULL;
        if (AT(p, ',')) {
            p++;
            continue;
        }
        if (AT(p, ']')) return p + 1;
        p = skip_ws(p, end);
        if (p >= end) return fail(c, p, "',' or ']'");
        if (*p == ',') {
            p++;
            continue;
        }
        if (*p == ']') return p + 1;
        return fail(c, p, "',' or ']'");
    }
}

#undef AT

static const char *scan_container(scan_ctx *c, const char *p, int depth) {
    if (depth >= MAX_DEPTH) return fail(c, p, "less nesting");
    return *p == '{' ? scan_members(c, p, depth + 1, 0) : scan_array(c, p, depth + 1);
}

static int scan_document(scan_ctx *c, size_t len, gw_json_scan_result *out) {
    const char *p = skip_ws(c->text, c->end);
    out->is_object = p < c->end && *p == '{';
    if ((p = scan_value(c, p, 0))) {
        p = skip_ws(p, c->end);
        if (p == c->end) return 0;
        fail(c, p, "the end of the document");
    }
    out->error = c->error;
    out->error_offset = c->error_at ? (size_t)(c->error_at - c->text) : len;
    return -1;
}

int gw_json_scan(const char *text, size_t len, const char *key, gw_json_scan_result *out) {
    memset(out, 0, sizeof *out);
    scan_ctx c = {
        .end = text + len, .key = key, .key_len = key ? strlen(key) : 0, .text = text, .out = out};
    if (key) c.member_lens = length_bit(c.key_len);
    return scan_document(&c, len, out);
}

int gw_json_scan_find_from(const char *text, size_t len, size_t resume, const gw_json_find *find,
                           gw_json_scan_result *out) {
    memset(out, 0, sizeof *out);
    out->is_object = 1;
    scan_ctx c = {.end = text + len, .find = find, .text = text, .out = out};
    find_lengths(&c, find);
    const char *p = scan_members(&c, text + resume, 1, 1);
    if (p) {
        p = skip_ws(p, c.end);
        if (p == c.end) return 0;
        fail(&c, p, "the end of the document");
    }
    out->error = c.error;
    out->error_offset = c.error_at ? (size_t)(c.error_at - text) : len;
    return -1;
}

int gw_json_scan_find(const char *text, size_t len, const gw_json_find *find,
                      gw_json_scan_result *out) {
    memset(out, 0, sizeof *out);
    for (size_t m = 0; m < find->member_count; m++)
        find->members[m].count = 0;
    scan_ctx c = {.end = text + len, .find = find, .text = text, .out = out};
    find_lengths(&c, find);
    return scan_document(&c, len, out);
}

int gw_json_scan_string_escaped(const char *text, size_t len, size_t at, size_t *end,
                                int *has_escape) {
    *has_escape = 0;
    if (at >= len || text[at] != '"') return -1;
    scan_ctx c = {.end = text + len, .text = text};
    const char *p = scan_string(&c, text + at, has_escape);
    if (!p) return -1;
    *end = (size_t)(p - text);
    return 0;
}

int gw_json_scan_string(const char *text, size_t len, size_t at, size_t *end) {
    int has_escape;
    return gw_json_scan_string_escaped(text, len, at, end, &has_escape);
}

int gw_json_scan_string_to_exact(const char *text, size_t at, size_t close) {
    size_t after;
    return gw_json_scan_string(text, close + 1, at, &after) == 0 && after == close + 1 ? 0 : -1;
}
