/* Putting originals back into the model's output. A placeholder is "[[PII_", capitals, digits
 * and '_', then "]]", no longer than the table's longest: a '[' starts one only while the
 * bytes after it keep to that shape. In a stream, a piece may end inside one; those bytes are
 * held (fewer than the longest placeholder) and decided with the next piece. A complete
 * placeholder the table does not hold, and any '[' that starts none, pass as they are. */
#include <string.h>

#include "core/json_string.h"
#include "security/pii_internal.h"

static const char OPEN[] = "[[PII_";
enum { OPEN_LEN = sizeof(OPEN) - 1 };

typedef enum { NOT_PLACEHOLDER, PARTIAL, PLACEHOLDER } shape;

static int body_char(unsigned char c) {
    return (c >= 'A' && c <= 'Z') || pii_digit(c) || c == '_';
}

/* What the bytes d[0, n) (d[0] == '[') start. PLACEHOLDER: the table's placeholder of
 * length *len, its original in *value. PARTIAL: all n bytes fit the shape and more are
 * needed. */
static shape classify(const gw_pii_table *t, const char *d, size_t n, size_t *len,
                      const char **value, size_t *value_len) {
    size_t i;
    for (i = 0; i < OPEN_LEN; i++) {
        if (i == n) return PARTIAL;
        if (d[i] != OPEN[i]) return NOT_PLACEHOLDER;
    }
    for (;; i++) {
        if (i + 2 > t->longest) return NOT_PLACEHOLDER; /* no room left for "]]" */
        if (i == n) return PARTIAL;
        if (d[i] == ']') break;
        if (!body_char((unsigned char)d[i])) return NOT_PLACEHOLDER;
    }
    if (i + 1 == n) return PARTIAL;
    if (d[i + 1] != ']') return NOT_PLACEHOLDER;
    /* the number after the last '_'; the table compares the whole placeholder */
    size_t k = i;
    unsigned long num = 0, scale = 1;
    while (k > OPEN_LEN && pii_digit((unsigned char)d[k - 1]) && scale <= 10000) {
        num += (unsigned long)(d[k - 1] - '0') * scale;
        scale *= 10;
        k--;
    }
    *len = i + 2;
    return pii_table_find(t, num, d, *len, value, value_len) ? PLACEHOLDER : NOT_PLACEHOLDER;
}

typedef struct escaped_sink {
    gw_pii_write_fn write;
    void *ud;
    int failed;
} escaped_sink;

static void escaped_run(void *ctx, const char *s, size_t len) {
    escaped_sink *e = ctx;
    if (!e->failed && e->write(e->ud, s, len) < 0) e->failed = 1;
}

/* An original, as it is or (json) escaped for the inside of a JSON string. */
static int write_value(const char *value, size_t len, int json, gw_pii_write_fn write, void *ud) {
    if (!json) return write(ud, value, len);
    escaped_sink e = {write, ud, 0};
    gw_json_string_escape(value, len, escaped_run, &e);
    return e.failed ? -1 : 0;
}

/* Writes d[0, n) with placeholders replaced, stopping once past `stop` (at a position >= stop
 * that is not inside a placeholder). Unless `final`, a partial placeholder at the end is not
 * written. Returns where it stopped, or (size_t)-1 when the write function refused. */
static size_t run(const gw_pii_table *t, const char *d, size_t n, size_t stop, int final, int json,
                  gw_pii_write_fn write, void *ud) {
    size_t pos = 0, lit = 0; /* d[lit, pos) is literal text not yet written */
    while (pos < stop && pos < n) {
        const char *b = memchr(d + pos, '[', (stop < n ? stop : n) - pos);
        if (!b) {
            pos = stop < n ? stop : n;
            break;
        }
        pos = (size_t)(b - d);
        size_t len;
        const char *value;
        size_t value_len;
        shape s = classify(t, d + pos, n - pos, &len, &value, &value_len);
        if (s == NOT_PLACEHOLDER || (s == PARTIAL && final)) {
            pos++;
            continue;
        }
        if (pos > lit && write(ud, d + lit, pos - lit) < 0) return (size_t)-1;
        if (s == PARTIAL) return pos;
        if (write_value(value, value_len, json, write, ud) < 0) return (size_t)-1;
        pos += len;
        lit = pos;
    }
    if (pos > lit && write(ud, d + lit, pos - lit) < 0) return (size_t)-1;
    return pos;
}

static int passthrough(const gw_pii_table *t) {
    return !t || t->count == 0;
}

gw_pii_status gw_pii_restore(const gw_pii_table *table, const char *text, size_t len,
                             gw_pii_write_fn write, void *ud) {
    if ((!text && len) || !write) return GW_PII_ERR_ARGUMENT;
    if (len == 0) return GW_PII_OK;
    if (passthrough(table)) return write(ud, text, len) < 0 ? GW_PII_ERR_OUTPUT : GW_PII_OK;
    return run(table, text, len, len, 1, 0, write, ud) == (size_t)-1 ? GW_PII_ERR_OUTPUT
                                                                     : GW_PII_OK;
}

void gw_pii_restorer_init(gw_pii_restorer *r, const gw_pii_table *table) {
    r->table = table;
    r->held = 0;
    r->json = 0;
}

void gw_pii_restorer_init_json(gw_pii_restorer *r, const gw_pii_table *table) {
    gw_pii_restorer_init(r, table);
    r->json = 1;
}

/* Keeps d[from, n) for the next piece: fewer bytes than the longest placeholder, since they
 * are a placeholder's beginning. memmove: d may be the hold itself. */
static void hold(gw_pii_restorer *r, const char *d, size_t from, size_t n) {
    r->held = n - from;
    memmove(r->hold, d + from, r->held);
}

gw_pii_status gw_pii_restorer_feed(gw_pii_restorer *r, const char *piece, size_t len,
                                   gw_pii_write_fn write, void *ud) {
    if ((!piece && len) || !write) return GW_PII_ERR_ARGUMENT;
    if (len == 0) return GW_PII_OK;
    const gw_pii_table *t = r->table;
    if (passthrough(t)) return write(ud, piece, len) < 0 ? GW_PII_ERR_OUTPUT : GW_PII_OK;
    size_t p;
    if (r->held == 0) {
        if ((p = run(t, piece, len, len, 0, r->json, write, ud)) == (size_t)-1)
            return GW_PII_ERR_OUTPUT;
        hold(r, piece, p, len);
        return GW_PII_OK;
    }
    /* The held bytes and as much of the piece as decides them, together: any placeholder
     * starting in the held bytes ends within the next longest - 1 bytes of the piece. */
    char joined[2 * GW_PII_PLACEHOLDER_MAX];
    size_t held = r->held, take = len < t->longest ? len : t->longest, n = held + take;
    memcpy(joined, r->hold, held);
    memcpy(joined + held, piece, take);
    if (take == len) {
        if ((p = run(t, joined, n, n, 0, r->json, write, ud)) == (size_t)-1)
            return GW_PII_ERR_OUTPUT;
        hold(r, joined, p, n);
        return GW_PII_OK;
    }
    if ((p = run(t, joined, n, held, 0, r->json, write, ud)) == (size_t)-1)
        return GW_PII_ERR_OUTPUT;
    /* past the held bytes now (a partial would need more than longest bytes): go on in the
     * piece itself */
    r->held = 0;
    size_t skip = p - held;
    if ((p = run(t, piece + skip, len - skip, len - skip, 0, r->json, write, ud)) == (size_t)-1)
        return GW_PII_ERR_OUTPUT;
    hold(r, piece + skip, p, len - skip);
    return GW_PII_OK;
}

gw_pii_status gw_pii_restorer_flush(gw_pii_restorer *r, gw_pii_write_fn write, void *ud) {
    if (!write) return GW_PII_ERR_ARGUMENT;
    size_t held = r->held;
    r->held = 0;
    /* an unfinished placeholder at the end is text */
    return held && write(ud, r->hold, held) < 0 ? GW_PII_ERR_OUTPUT : GW_PII_OK;
}

size_t gw_pii_restorer_held(const gw_pii_restorer *r) {
    return r->held;
}
