#include "meter/time_parse.h"

#include <stdio.h>

/* Howard Hinnant's days_from_civil: exact for every proleptic Gregorian date. */
int64_t gw_days_from_civil(int64_t y, unsigned m, unsigned d) {
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

void gw_civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d) {
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static int digits(const char *s, size_t len, size_t at, size_t n, int *out) {
    if (at + n > len) return -1;
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[at + i];
        if (c < '0' || c > '9') return -1;
        v = v * 10 + (c - '0');
    }
    *out = v;
    return 0;
}

static int is_leap(int y) {
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int y, int m) {
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

/* Digits and an optional fraction: unix seconds. */
static int parse_unix(const char *s, size_t len, int64_t *unix_ms) {
    int64_t sec = 0, ms = 0;
    size_t i = 0;
    for (; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
        if (i >= 12) return -1; /* beyond year 9999 */
        sec = sec * 10 + (s[i] - '0');
    }
    if (i == 0) return -1;
    if (i < len) {
        if (s[i] != '.' || i + 1 == len) return -1;
        int64_t scale = 100;
        for (i++; i < len; i++) {
            if (s[i] < '0' || s[i] > '9') return -1;
            ms += (s[i] - '0') * scale; /* digits past the millisecond are dropped */
            scale /= 10;
        }
    }
    *unix_ms = sec * 1000 + ms;
    return 0;
}

int gw_time_parse(const char *s, size_t len, int64_t *unix_ms) {
    if (!s || len == 0 || len > 40) return -1;
    if (len < 10 || s[4] != '-') return parse_unix(s, len, unix_ms);
    int y, mo, d, h = 0, mi = 0, sec = 0;
    if (digits(s, len, 0, 4, &y) || s[4] != '-' || digits(s, len, 5, 2, &mo) || len < 8 ||
        s[7] != '-' || digits(s, len, 8, 2, &d))
        return -1;
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo)) return -1;
    int64_t ms = 0, offset_s = 0;
    if (len > 10) {
        char sep = s[10];
        if (sep != 'T' && sep != 't' && sep != ' ') return -1;
        if (digits(s, len, 11, 2, &h) || len < 14 || s[13] != ':' || digits(s, len, 14, 2, &mi) ||
            len < 17 || s[16] != ':' || digits(s, len, 17, 2, &sec))
            return -1;
        if (h > 23 || mi > 59 || sec > 60) return -1; /* 60: a leap second */
        size_t i = 19;
        if (i < len && s[i] == '.') {
            int64_t scale = 100;
            size_t start = ++i;
            for (; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
                ms += (s[i] - '0') * scale;
                scale /= 10;
            }
            if (i == start) return -1;
        }
        if (i >= len) return -1; /* RFC 3339 requires the offset */
        if ((s[i] == 'Z' || s[i] == 'z') && i + 1 == len) {
        } else if ((s[i] == '+' || s[i] == '-') && i + 6 == len && s[i + 3] == ':') {
            int oh, om;
            if (digits(s, len, i + 1, 2, &oh) || digits(s, len, i + 4, 2, &om) || oh > 23 ||
                om > 59)
                return -1;
            offset_s = (oh * 3600 + om * 60) * (s[i] == '+' ? 1 : -1);
        } else {
            return -1;
        }
    }
    int64_t days = gw_days_from_civil(y, (unsigned)mo, (unsigned)d);
    int64_t t = days * 86400 + h * 3600 + mi * 60 + sec - offset_s;
    if (t < 0) return -1;
    *unix_ms = t * 1000 + ms;
    return 0;
}

size_t gw_time_format(int64_t unix_ms, char out[32]) {
    int64_t sec = unix_ms >= 0 ? unix_ms / 1000 : (unix_ms - 999) / 1000;
    int ms = (int)(unix_ms - sec * 1000);
    int64_t days = sec >= 0 ? sec / 86400 : (sec - 86399) / 86400;
    int64_t rem = sec - days * 86400;
    int64_t y;
    unsigned m, d;
    gw_civil_from_days(days, &y, &m, &d);
    int n;
    if (ms)
        n = snprintf(out, 32, "%04lld-%02u-%02uT%02d:%02d:%02d.%03dZ", (long long)y, m, d,
                     (int)(rem / 3600), (int)(rem / 60 % 60), (int)(rem % 60), ms);
    else
        n = snprintf(out, 32, "%04lld-%02u-%02uT%02d:%02d:%02dZ", (long long)y, m, d,
                     (int)(rem / 3600), (int)(rem / 60 % 60), (int)(rem % 60));
    return n > 0 && n < 32 ? (size_t)n : 0;
}
