#include "security/schedule_posix_tz.h"

#include "security/schedule_civil.h"

typedef struct cursor {
    const char *s, *end;
} cursor;

static int peek(const cursor *c) {
    return c->s < c->end ? (unsigned char)*c->s : -1;
}

static int is_alpha(int ch) {
    return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z');
}

static int is_digit(int ch) {
    return ch >= '0' && ch <= '9';
}

/* A zone abbreviation: three or more letters, or <anything but '>'> (for "+08", "-03"). */
static int parse_name(cursor *c) {
    if (peek(c) == '<') {
        c->s++;
        while (c->s < c->end && *c->s != '>')
            c->s++;
        if (c->s == c->end) return -1;
        c->s++;
        return 0;
    }
    const char *start = c->s;
    while (is_alpha(peek(c)))
        c->s++;
    return c->s - start >= 3 ? 0 : -1;
}

static int parse_number(cursor *c, int max, int *out) {
    if (!is_digit(peek(c))) return -1;
    int v = 0;
    while (is_digit(peek(c))) {
        v = v * 10 + (*c->s++ - '0');
        if (v > max) return -1;
    }
    *out = v;
    return 0;
}

/* [+|-]hh[:mm[:ss]], hours up to max_hours; in seconds. */
static int parse_hms(cursor *c, int max_hours, int32_t *out) {
    int sign = 1;
    if (peek(c) == '+' || peek(c) == '-') sign = *c->s++ == '-' ? -1 : 1;
    int h, m = 0, s = 0;
    if (parse_number(c, max_hours, &h)) return -1;
    if (peek(c) == ':') {
        c->s++;
        if (parse_number(c, 59, &m)) return -1;
        if (peek(c) == ':') {
            c->s++;
            if (parse_number(c, 59, &s)) return -1;
        }
    }
    *out = sign * (h * 3600 + m * 60 + s);
    return 0;
}

static int parse_date(cursor *c, gw_posix_tz_date *d) {
    d->time = 2 * 3600;
    if (peek(c) == 'M') {
        c->s++;
        d->kind = 'M';
        if (parse_number(c, 12, &d->month) || d->month < 1 || peek(c) != '.') return -1;
        c->s++;
        if (parse_number(c, 5, &d->week) || d->week < 1 || peek(c) != '.') return -1;
        c->s++;
        if (parse_number(c, 6, &d->weekday)) return -1;
    } else if (peek(c) == 'J') {
        c->s++;
        d->kind = 'J';
        if (parse_number(c, 365, &d->n) || d->n < 1) return -1;
    } else {
        d->kind = 'D';
        if (parse_number(c, 365, &d->n)) return -1;
    }
    if (peek(c) == '/') {
        c->s++;
        if (parse_hms(c, 167, &d->time)) return -1;
    }
    return 0;
}

int gw_posix_tz_parse(const char *s, size_t len, gw_posix_tz *out) {
    cursor c = {s, s + len};
    int32_t west;
    *out = (gw_posix_tz){0};
    if (parse_name(&c) || parse_hms(&c, 24, &west)) return -1;
    out->std_offset = out->dst_offset = -west;
    if (peek(&c) == -1) return 0;
    if (parse_name(&c)) return -1;
    out->has_dst = 1;
    out->dst_offset = out->std_offset + 3600;
    if (peek(&c) != ',' && peek(&c) != -1) {
        if (parse_hms(&c, 24, &west)) return -1;
        out->dst_offset = -west;
    }
    if (peek(&c) == -1) {
        /* POSIX leaves the default rule to the implementation; the US one is everyone's. */
        out->start = (gw_posix_tz_date){'M', 3, 2, 0, 0, 7200};
        out->end = (gw_posix_tz_date){'M', 11, 1, 0, 0, 7200};
        return 0;
    }
    if (peek(&c) != ',') return -1;
    c.s++;
    if (parse_date(&c, &out->start) || peek(&c) != ',') return -1;
    c.s++;
    if (parse_date(&c, &out->end)) return -1;
    return peek(&c) == -1 ? 0 : -1;
}

/* The day number a rule date falls on in year y. */
static int64_t date_day(const gw_posix_tz_date *d, int64_t y) {
    int64_t jan1 = gw_days_from_civil(y, 1, 1);
    if (d->kind == 'J') return jan1 + d->n - 1 + (gw_is_leap(y) && d->n >= 60);
    if (d->kind == 'D') return jan1 + d->n;
    int64_t first = gw_days_from_civil(y, d->month, 1);
    int first_wd = (gw_weekday_from_days(first) + 1) % 7; /* Sunday 0, as POSIX counts */
    int day = 1 + (d->weekday - first_wd + 7) % 7 + (d->week - 1) * 7;
    while (day > gw_days_in_month(y, d->month))
        day -= 7;
    return first + day - 1;
}

int32_t gw_posix_tz_offset(const gw_posix_tz *tz, int64_t t, int *isdst) {
    int dst = 0;
    if (tz->has_dst) {
        int64_t y;
        int m, d;
        gw_civil_from_days(gw_floor_div(t + tz->std_offset, 86400), &y, &m, &d);
        /* The start is written in standard time, the end in daylight time. */
        int64_t start = date_day(&tz->start, y) * 86400 + tz->start.time - tz->std_offset;
        int64_t end = date_day(&tz->end, y) * 86400 + tz->end.time - tz->dst_offset;
        if (start < end)
            dst = t >= start && t < end;
        else
            dst = !(t >= end && t < start); /* southern hemisphere: DST spans the new year */
    }
    if (isdst) *isdst = dst;
    return dst ? tz->dst_offset : tz->std_offset;
}
