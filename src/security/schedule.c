#include "security/schedule.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "security/schedule_civil.h"

static int fail(char *err, size_t errlen, const char *fmt, ...) {
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static const char *const day_names[7] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};

static int day_index(const char *s, size_t len) {
    if (len != 3) return -1;
    for (int d = 0; d < 7; d++)
        if (!strncasecmp(s, day_names[d], 3)) return d;
    return -1;
}

static int parse_days(const char *s, uint8_t *out, char *err, size_t errlen) {
    if (!s || !*s || !strcmp(s, "*") || !strcasecmp(s, "daily")) {
        *out = 0x7f;
        return 0;
    }
    if (!strcasecmp(s, "weekdays")) {
        *out = 0x1f;
        return 0;
    }
    if (!strcasecmp(s, "weekends")) {
        *out = 0x60;
        return 0;
    }
    uint8_t days = 0;
    const char *p = s;
    for (;;) {
        while (*p == ' ')
            p++;
        size_t n = strcspn(p, ",");
        size_t dash = strcspn(p, "-,");
        int from, to;
        if (dash < n) {
            from = day_index(p, dash);
            to = day_index(p + dash + 1, n - dash - 1);
        } else {
            from = to = day_index(p, n);
        }
        if (from < 0 || to < 0)
            return fail(err, errlen, "days: \"%s\" is not mon-sun, a range or a list", s);
        for (int d = from;; d = (d + 1) % 7) { /* "fri-mon" wraps over the weekend */
            days |= (uint8_t)(1u << d);
            if (d == to) break;
        }
        if (!p[n]) break;
        p += n + 1;
    }
    *out = days;
    return 0;
}

/* "HH:MM" into seconds; 24:00 only when allowed. */
static int parse_clock(const char *s, size_t len, int allow_24, int32_t *out) {
    if (len != 5 || s[2] != ':') return -1;
    for (int i = 0; i < 5; i++)
        if (i != 2 && (s[i] < '0' || s[i] > '9')) return -1;
    int h = (s[0] - '0') * 10 + (s[1] - '0'), m = (s[3] - '0') * 10 + (s[4] - '0');
    if (m > 59 || h > 24 || (h == 24 && (m || !allow_24))) return -1;
    *out = h * 3600 + m * 60;
    return 0;
}

int gw_schedule_parse(gw_schedule *s, const char *days, const char *hours, const gw_tz *tz,
                      char *err, size_t errlen) {
    *s = (gw_schedule){.start = 0, .end = 86400, .tz = tz};
    if (parse_days(days, &s->days, err, errlen)) return -1;
    if (!hours || !*hours) return 0;
    const char *dash = strchr(hours, '-');
    if (!dash || parse_clock(hours, (size_t)(dash - hours), 0, &s->start) ||
        parse_clock(dash + 1, strlen(dash + 1), 1, &s->end))
        return fail(err, errlen, "hours: \"%s\" is not HH:MM-HH:MM", hours);
    /* An empty window is surely a mistake; "09:00-09:00" could mean none or all day. */
    if (s->end == s->start)
        return fail(err, errlen, "hours: \"%s\" is empty (00:00-24:00 is the whole day)", hours);
    return 0;
}

static int has_day(const gw_schedule *s, int weekday) {
    return (s->days >> weekday) & 1;
}

/* Whether the local time lt is inside, and then the local day its window opened on. */
static int window_day(const gw_schedule *s, const gw_local_time *lt, int64_t *day) {
    if (s->start < s->end) {
        *day = lt->day;
        return has_day(s, lt->weekday) && lt->second >= s->start && lt->second < s->end;
    }
    if (lt->second >= s->start && has_day(s, lt->weekday)) { /* opened tonight */
        *day = lt->day;
        return 1;
    }
    if (lt->second < s->end && has_day(s, (lt->weekday + 6) % 7)) { /* opened last night */
        *day = lt->day - 1;
        return 1;
    }
    return 0;
}

int gw_schedule_contains(const gw_schedule *s, int64_t t) {
    gw_local_time lt;
    gw_tz_local(s->tz, t, &lt);
    int64_t day;
    return window_day(s, &lt, &day);
}

int64_t gw_schedule_end(const gw_schedule *s, int64_t t) {
    int64_t at = t;
    /* Eight windows at most: a week of joined windows and one more means it never closes. */
    for (int i = 0; i < 8; i++) {
        gw_local_time lt;
        gw_tz_local(s->tz, at, &lt);
        int64_t day;
        if (!window_day(s, &lt, &day)) return at;
        int64_t close_day = s->start < s->end ? day : day + 1;
        int64_t close = close_day * 86400 + s->end;
        int64_t next = gw_tz_utc_of_local(s->tz, close);
        /* In the second pass of a fall-back hour the close time's first occurrence is behind
         * us: the close is the second, at the offset in effect now. */
        at = next > at ? next : at + (close - lt.local);
    }
    return INT64_MAX;
}
