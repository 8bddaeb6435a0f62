#include "alerts/alert_math.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

int64_t gw_alert_day_start(int64_t t) {
    int64_t d = t / 86400;
    if (t < 0 && t % 86400) d--; /* floor, not truncation */
    return d * 86400;
}

/* Days from 1970-01-01 to y-m-1 (proleptic Gregorian; Howard Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, int m, int d) {
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

int64_t gw_alert_month_start(int64_t t) {
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    return days_from_civil((int64_t)tm.tm_year + 1900, tm.tm_mon + 1, 1) * 86400;
}

size_t gw_alert_budget_reached(double spend, double amount, const int *at, size_t at_count,
                               int *out) {
    size_t n = 0;
    if (!(amount > 0)) return 0;
    for (size_t i = 0; i < at_count; i++)
        /* compared as spend*100 >= amount*pct, so 400 of 500 reaches 80 exactly */
        if (spend * 100.0 >= amount * at[i] * (1 - 1e-12)) out[n++] = at[i];
    return n;
}

int gw_alert_baseline_windows(int baseline_days, int64_t window_s) {
    if (window_s <= 0) return 1;
    int64_t n = (int64_t)baseline_days * 86400 / window_s;
    return n < 1 ? 1 : n > 1000000 ? 1000000 : (int)n;
}

int gw_alert_anomalous(double latest, const gw_alert_baseline *b, double factor, double z,
                       double min_cost, gw_anomaly_verdict *out) {
    gw_anomaly_verdict v = {0};
    if (b->windows > 0) {
        v.mean = b->sum / b->windows;
        double var = b->sum_sq / b->windows - v.mean * v.mean;
        v.stddev = var > 0 ? sqrt(var) : 0; /* rounding can make a flat baseline's var < 0 */
        /* a flat baseline's deviation is rounding noise: no z-score from it */
        if (v.stddev <= 1e-9 * (v.mean > 1 ? v.mean : 1)) v.stddev = 0;
        v.ratio = v.mean > 0 ? latest / v.mean : 0;
        v.zscore = v.stddev > 0 ? (latest - v.mean) / v.stddev : 0;
        if (latest >= min_cost && latest > 0) {
            v.by_factor = factor > 0 && latest > factor * v.mean;
            v.by_z = z > 0 && v.stddev > 0 && v.zscore > z;
        }
    }
    if (out) *out = v;
    return v.by_factor || v.by_z;
}

void gw_alert_format_time(int64_t t, char *out, size_t outlen) {
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(out, outlen, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int digits(const char *s, size_t n, int *out) {
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

int64_t gw_alert_parse_time(const char *s, size_t len) {
    if (len == 0 || len > 40) return -1;
    size_t i = 0;
    while (i < len && s[i] >= '0' && s[i] <= '9')
        i++;
    if (i == len) { /* unix seconds */
        if (len > 12) return -1;
        int64_t v = 0;
        for (i = 0; i < len; i++)
            v = v * 10 + (s[i] - '0');
        return v;
    }
    /* YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM) */
    int y, mo, d, h, mi, se;
    if (len < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
        s[13] != ':' || s[16] != ':' || digits(s, 4, &y) || digits(s + 5, 2, &mo) ||
        digits(s + 8, 2, &d) || digits(s + 11, 2, &h) || digits(s + 14, 2, &mi) ||
        digits(s + 17, 2, &se))
        return -1;
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60) return -1;
    i = 19;
    if (i < len && s[i] == '.') {
        i++;
        size_t f = i;
        while (i < len && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == f) return -1;
    }
    int64_t offset = 0;
    if (i < len && (s[i] == 'Z' || s[i] == 'z')) {
        i++;
    } else if (i + 6 == len && (s[i] == '+' || s[i] == '-') && s[i + 3] == ':') {
        int oh, om;
        if (digits(s + i + 1, 2, &oh) || digits(s + i + 4, 2, &om) || oh > 23 || om > 59) return -1;
        offset = (s[i] == '-' ? -1 : 1) * (int64_t)(oh * 3600 + om * 60);
        i += 6;
    } else {
        return -1;
    }
    if (i != len) return -1;
    return days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se - offset;
}
