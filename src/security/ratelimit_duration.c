/* A port of Go's time.Duration.String (src/time/time.go), writing from the end of a buffer. */
#include "security/ratelimit_duration.h"

#include <string.h>

/* The fraction v / 10^prec without trailing zeros (and no '.' when it is 0), written before
 * *w; returns v / 10^prec. */
static uint64_t fmt_frac(char *buf, size_t *w, uint64_t v, int prec) {
    int print = 0;
    for (int i = 0; i < prec; i++) {
        unsigned digit = (unsigned)(v % 10);
        print = print || digit != 0;
        if (print) buf[--*w] = (char)('0' + digit);
        v /= 10;
    }
    if (print) buf[--*w] = '.';
    return v;
}

static void fmt_int(char *buf, size_t *w, uint64_t v) {
    if (v == 0) {
        buf[--*w] = '0';
        return;
    }
    for (; v > 0; v /= 10)
        buf[--*w] = (char)('0' + v % 10);
}

size_t gw_duration_format(char out[GW_DURATION_MAX], int64_t ns) {
    char buf[GW_DURATION_MAX];
    size_t w = sizeof buf;
    int neg = ns < 0;
    uint64_t u = neg ? 0 - (uint64_t)ns : (uint64_t)ns;
    if (u < 1000000000u) {
        int prec;
        buf[--w] = 's';
        if (u == 0) {
            memcpy(out, "0s", 3);
            return 2;
        } else if (u < 1000u) {
            prec = 0;
            buf[--w] = 'n';
        } else if (u < 1000000u) {
            prec = 3;
            buf[--w] = '\xb5'; /* U+00B5 in UTF-8: C2 B5 */
            buf[--w] = '\xc2';
        } else {
            prec = 6;
            buf[--w] = 'm';
        }
        u = fmt_frac(buf, &w, u, prec);
        fmt_int(buf, &w, u);
    } else {
        buf[--w] = 's';
        u = fmt_frac(buf, &w, u, 9);
        fmt_int(buf, &w, u % 60);
        u /= 60;
        if (u > 0) {
            buf[--w] = 'm';
            fmt_int(buf, &w, u % 60);
            u /= 60;
            if (u > 0) { /* hours at most: days differ in length */
                buf[--w] = 'h';
                fmt_int(buf, &w, u);
            }
        }
    }
    if (neg) buf[--w] = '-';
    size_t len = sizeof buf - w;
    memcpy(out, buf + w, len);
    out[len] = '\0';
    return len;
}

size_t gw_duration_header(char out[GW_DURATION_MAX], int64_t ns) {
    if (ns <= 0) return gw_duration_format(out, 0);
    int64_t ms = ns / 1000000 + (ns % 1000000 != 0);
    if (ms > INT64_MAX / 1000000) ms = INT64_MAX / 1000000;
    return gw_duration_format(out, ms * 1000000);
}

int64_t gw_retry_after_seconds(int64_t ns) {
    if (ns <= 0) return 0;
    return ns / 1000000000 + (ns % 1000000000 != 0);
}
