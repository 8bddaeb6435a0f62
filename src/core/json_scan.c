#include "core/json_scan.h"

#include <string.h>

enum { MAX_DEPTH = 128, MAX_KEY_DECODE = 64 };

typedef struct scanner {
    const char *s;
    size_t n, i;
    const char *error;
} scanner;

static int fail(scanner *sc, const char *what) {
    if (!sc->error) sc->error = what;
    return -1;
}

static void skip_ws(scanner *sc) {
    while (sc->i < sc->n) {
        char c = sc->s[sc->i];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
        sc->i++;
    }
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* On entry s[i] == '"'. Leaves i after the closing quote; sets *has_escape. */
static int scan_string(scanner *sc, int *has_escape) {
    sc->i++;
    while (sc->i < sc->n) {
        unsigned char c = (unsigned char)sc->s[sc->i];
        if (c == '"') {
            sc->i++;
            return 0;
        }
        if (c < 0x20) return fail(sc, "a control character must be escaped in a string");
        if (c == '\\') {
            if (has_escape) *has_escape = 1;
            if (++sc->i >= sc->n) break;
            char e = sc->s[sc->i];
            if (e == 'u') {
                if (sc->n - sc->i < 5) break;
                for (int k = 1; k <= 4; k++)
                    if (hexval(sc->s[sc->i + k]) < 0) return fail(sc, "four hex digits after \\u");
                sc->i += 4;
            } else if (!strchr("\"\\/bfnrt", e) || e == '\0') {
                return fail(sc, "a valid escape sequence");
            }
        }
        sc->i++;
    }
    return fail(sc, "a closing quote");
}

static int scan_number(scanner *sc) {
    size_t i = sc->i;
    const char *s = sc->s;
    if (i < sc->n && s[i] == '-') i++;
    if (i >= sc->n) return fail(sc, "a digit");
    if (s[i] == '0') {
        i++;
    } else if (s[i] >= '1' && s[i] <= '9') {
        while (i < sc->n && s[i] >= '0' && s[i] <= '9')
            i++;
    } else {
        return fail(sc, "a digit");
    }
    if (i < sc->n && s[i] == '.') {
        i++;
        if (i >= sc->n || s[i] < '0' || s[i] > '9') return fail(sc, "a digit after '.'");
        while (i < sc->n && s[i] >= '0' && s[i] <= '9')
            i++;
    }
    if (i < sc->n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < sc->n && (s[i] == '+' || s[i] == '-')) i++;
        if (i >= sc->n || s[i] < '0' || s[i] > '9') return fail(sc, "a digit in the exponent");
        while (i < sc->n && s[i] >= '0' && s[i] <= '9')
            i++;
    }
    sc->i = i;
    return 0;
}

static int scan_literal(scanner *sc, const char *lit) {
    size_t len = strlen(lit);
    if (sc->n - sc->i < len || memcmp(sc->s + sc->i, lit, len) != 0)
        return fail(sc, "a JSON value");
    sc->i += len;
    return 0;
}

/* Compares a raw key (between quotes, escapes undecoded) with `key`, decoding escapes when
 * present so "mod\u0065l" counts as "model" the way every JSON parser upstream will read it. */
static int key_equals(const char *raw, size_t len, int has_escape, const char *key) {
    size_t klen = strlen(key);
    if (!has_escape) return len == klen && memcmp(raw, key, len) == 0;
    char buf[MAX_KEY_DECODE];
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        if (o >= sizeof buf) return 0;
        char c = raw[i];
        if (c == '\\' && i + 1 < len) {
            char e = raw[++i];
            if (e == 'u' && i + 4 < len) {
                int v = (hexval(raw[i + 1]) << 12) | (hexval(raw[i + 2]) << 8) |
                        (hexval(raw[i + 3]) << 4) | hexval(raw[i + 4]);
                i += 4;
                if (v <= 0 || v > 0x7f) return 0; /* keys we look for are ASCII */
                c = (char)v;
            } else {
                const char *from = "\"\\/bfnrt", *to = "\"\\/\b\f\n\r\t";
                const char *p = strchr(from, e);
                c = p ? to[p - from] : e;
            }
        }
        buf[o++] = c;
    }
    return o == klen && memcmp(buf, key, klen) == 0;
}

static int scan_value(scanner *sc, int depth, const char *key, gw_json_scan_result *out);

static int scan_object(scanner *sc, int depth, const char *key, gw_json_scan_result *out) {
    sc->i++; /* '{' */
    skip_ws(sc);
    if (sc->i < sc->n && sc->s[sc->i] == '}') {
        sc->i++;
        return 0;
    }
    for (;;) {
        skip_ws(sc);
        if (sc->i >= sc->n || sc->s[sc->i] != '"') return fail(sc, "a member name in quotes");
        size_t key_start = sc->i + 1;
        int has_escape = 0;
        if (scan_string(sc, &has_escape) < 0) return -1;
        size_t key_len = sc->i - 1 - key_start;
        skip_ws(sc);
        if (sc->i >= sc->n || sc->s[sc->i] != ':') return fail(sc, "':' after a member name");
        sc->i++;
        skip_ws(sc);
        int match = depth == 1 && key && key_equals(sc->s + key_start, key_len, has_escape, key);
        size_t value_start = sc->i;
        if (scan_value(sc, depth, key, out) < 0) return -1;
        if (match && out->key_count++ == 0) {
            out->value_start = value_start;
            out->value_end = sc->i;
        }
        skip_ws(sc);
        if (sc->i >= sc->n) return fail(sc, "',' or '}'");
        if (sc->s[sc->i] == ',') {
            sc->i++;
            continue;
        }
        if (sc->s[sc->i] == '}') {
            sc->i++;
            return 0;
        }
        return fail(sc, "',' or '}'");
    }
}

static int scan_array(scanner *sc, int depth, const char *key, gw_json_scan_result *out) {
    sc->i++; /* '[' */
    skip_ws(sc);
    if (sc->i < sc->n && sc->s[sc->i] == ']') {
        sc->i++;
        return 0;
    }
    for (;;) {
        skip_ws(sc);
        if (scan_value(sc, depth, key, out) < 0) return -1;
        skip_ws(sc);
        if (sc->i >= sc->n) return fail(sc, "',' or ']'");
        if (sc->s[sc->i] == ',') {
            sc->i++;
            continue;
        }
        if (sc->s[sc->i] == ']') {
            sc->i++;
            return 0;
        }
        return fail(sc, "',' or ']'");
    }
}

/* `depth` is the depth of the container holding this value (0 at the top). */
static int scan_value(scanner *sc, int depth, const char *key, gw_json_scan_result *out) {
    if (sc->i >= sc->n) return fail(sc, "a JSON value");
    switch (sc->s[sc->i]) {
    case '{':
        if (depth >= MAX_DEPTH) return fail(sc, "less nesting");
        return scan_object(sc, depth + 1, key, out);
    case '[':
        if (depth >= MAX_DEPTH) return fail(sc, "less nesting");
        return scan_array(sc, depth + 1, key, out);
    case '"':
        return scan_string(sc, NULL);
    case 't':
        return scan_literal(sc, "true");
    case 'f':
        return scan_literal(sc, "false");
    case 'n':
        return scan_literal(sc, "null");
    default:
        return scan_number(sc);
    }
}

int gw_json_scan(const char *text, size_t len, const char *key, gw_json_scan_result *out) {
    memset(out, 0, sizeof *out);
    scanner sc = {.s = text, .n = len};
    skip_ws(&sc);
    out->is_object = sc.i < len && text[sc.i] == '{';
    if (scan_value(&sc, 0, key, out) == 0) {
        skip_ws(&sc);
        if (sc.i == len) return 0;
        fail(&sc, "the end of the document");
    }
    out->error = sc.error;
    out->error_offset = sc.i;
    return -1;
}
