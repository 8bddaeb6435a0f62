#include "admin/query_params.h"

#include <string.h>

static int hex(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Decodes s[0..len) into buf; its length, or -2. */
static int decode(const char *s, size_t len, char *buf, size_t cap) {
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == '+') {
            c = ' ';
        } else if (c == '%') {
            if (i + 2 >= len) return -2;
            int hi = hex(s[i + 1]), lo = hex(s[i + 2]);
            if (hi < 0 || lo < 0) return -2;
            c = (char)(hi * 16 + lo);
            i += 2;
        }
        if (c == '\0' || n + 1 >= cap) return -2;
        buf[n++] = c;
    }
    buf[n] = '\0';
    return (int)n;
}

/* Walks name=value pairs: fn gets each; a nonzero return stops the walk and is returned. */
typedef int (*pair_fn)(const char *name, size_t name_len, const char *value, size_t value_len,
                       void *ctx);

static int walk(const char *q, size_t len, pair_fn fn, void *ctx) {
    size_t i = 0;
    while (q && i < len) {
        const char *amp = memchr(q + i, '&', len - i);
        size_t end = amp ? (size_t)(amp - q) : len;
        if (end > i) {
            const char *eq = memchr(q + i, '=', end - i);
            size_t name_len = eq ? (size_t)(eq - (q + i)) : end - i;
            const char *value = eq ? eq + 1 : q + end;
            size_t value_len = eq ? (size_t)(q + end - value) : 0;
            int rc = fn(q + i, name_len, value, value_len, ctx);
            if (rc) return rc;
        }
        i = end + 1;
    }
    return 0;
}

typedef struct find {
    const char *name;
    const char *value;
    size_t value_len;
    int count;
} find;

static int find_pair(const char *name, size_t name_len, const char *value, size_t value_len,
                     void *ctx) {
    find *f = ctx;
    if (strlen(f->name) == name_len && !memcmp(f->name, name, name_len)) {
        f->value = value;
        f->value_len = value_len;
        f->count++;
    }
    return 0;
}

int gw_query_param(const char *query, size_t len, const char *name, char *buf, size_t cap) {
    find f = {.name = name};
    walk(query, len, find_pair, &f);
    if (f.count == 0) return -1;
    if (f.count > 1) return -2;
    return decode(f.value, f.value_len, buf, cap);
}

typedef struct unknown {
    const char *const *allowed;
    char *bad;
    size_t cap;
} unknown;

static int check_pair(const char *name, size_t name_len, const char *value, size_t value_len,
                      void *ctx) {
    unknown *u = ctx;
    (void)value;
    (void)value_len;
    for (const char *const *a = u->allowed; *a; a++)
        if (strlen(*a) == name_len && !memcmp(*a, name, name_len)) return 0;
    if (decode(name, name_len, u->bad, u->cap) < 0) {
        size_t n = name_len < u->cap - 1 ? name_len : u->cap - 1;
        memcpy(u->bad, name, n);
        u->bad[n] = '\0';
    }
    return 1;
}

int gw_query_unknown(const char *query, size_t len, const char *const *allowed, char *bad,
                     size_t cap) {
    unknown u = {allowed, bad, cap};
    return walk(query, len, check_pair, &u);
}
