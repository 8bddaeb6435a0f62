#include "core/trace_context.h"

#include <stdio.h>
#include <string.h>

static int hex_digit(char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

/* n lowercase hex digits, not all zero (an all-zero id is invalid in the spec). */
static int hex_id(const char *s, size_t n) {
    int nonzero = 0;
    for (size_t i = 0; i < n; i++) {
        if (!hex_digit(s[i])) return 0;
        nonzero |= s[i] != '0';
    }
    return nonzero;
}

int gw_trace_parse(const char *v, size_t len, gw_trace *t) {
    /* a later version may append fields after the flags, separated by '-' */
    if (!v || len < GW_TRACEPARENT_LEN || (len > GW_TRACEPARENT_LEN && v[55] != '-')) return -1;
    if (!hex_digit(v[0]) || !hex_digit(v[1]) || (v[0] == 'f' && v[1] == 'f')) return -1;
    if (v[0] == '0' && v[1] == '0' && len != GW_TRACEPARENT_LEN) return -1;
    if (v[2] != '-' || v[35] != '-' || v[52] != '-') return -1;
    if (!hex_id(v + 3, 32) || !hex_id(v + 36, 16) || !hex_digit(v[53]) || !hex_digit(v[54]))
        return -1;
    memcpy(t->trace_id, v + 3, 32);
    t->trace_id[32] = '\0';
    memcpy(t->parent_id, v + 36, 16);
    t->parent_id[16] = '\0';
    int hi = v[53] <= '9' ? v[53] - '0' : v[53] - 'a' + 10;
    int lo = v[54] <= '9' ? v[54] - '0' : v[54] - 'a' + 10;
    t->flags = (uint8_t)(hi * 16 + lo);
    return 0;
}

static void hex64(char *out, uint64_t x) {
    static const char digits[] = "0123456789abcdef";
    for (int i = 15; i >= 0; i--, x >>= 4)
        out[i] = digits[x & 15];
}

void gw_trace_begin(gw_trace *t, const char *traceparent, size_t len, uint64_t random_hi,
                    uint64_t random_lo, uint64_t random_span) {
    if (gw_trace_parse(traceparent, len, t) < 0) {
        if (!random_hi && !random_lo) random_lo = 1;
        hex64(t->trace_id, random_hi);
        hex64(t->trace_id + 16, random_lo);
        t->trace_id[32] = '\0';
        t->parent_id[0] = '\0';
        t->flags = 1; /* sampled: the gateway records every request */
    }
    hex64(t->span_id, random_span ? random_span : 1);
    t->span_id[16] = '\0';
}

/* Every upstream request carries it: copied, not printed (snprintf cost ~1.4k instructions). */
void gw_trace_header_value(const gw_trace *t, char out[GW_TRACEPARENT_LEN + 1]) {
    static const char hex[] = "0123456789abcdef";
    memcpy(out, "00-", 3);
    memcpy(out + 3, t->trace_id, 32);
    out[35] = '-';
    memcpy(out + 36, t->span_id, 16);
    out[52] = '-';
    out[53] = hex[(t->flags >> 4) & 15];
    out[54] = hex[t->flags & 15];
    out[55] = '\0';
}
