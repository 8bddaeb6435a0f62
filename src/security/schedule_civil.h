/* Calendar arithmetic on day numbers (days since 1970-01-01) in the proleptic Gregorian
 * calendar, valid for any int64 day a time zone can produce. Howard Hinnant's algorithms
 * ("chrono-Compatible Low-Level Date Algorithms"): no table, no libc, no time zone state. */
#ifndef AIGW_SECURITY_SCHEDULE_CIVIL_H
#define AIGW_SECURITY_SCHEDULE_CIVIL_H

#include <stdint.h>

/* Floor division and modulo (C's / and % truncate toward zero; times before 1970 need floor). */
static inline int64_t gw_floor_div(int64_t a, int64_t b) {
    int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}
static inline int64_t gw_floor_mod(int64_t a, int64_t b) {
    return a - gw_floor_div(a, b) * b;
}

/* Day number of year-month-day (month 1..12). */
static inline int64_t gw_days_from_civil(int64_t y, int m, int d) {
    y -= m <= 2;
    int64_t era = gw_floor_div(y, 400);
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static inline void gw_civil_from_days(int64_t z, int64_t *y, int *m, int *d) {
    z += 719468;
    int64_t era = gw_floor_div(z, 146097);
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

/* Day of the week: 0 Monday .. 6 Sunday (ISO order, as schedules write days). */
static inline int gw_weekday_from_days(int64_t z) {
    return (int)gw_floor_mod(z + 3, 7); /* 1970-01-01 was a Thursday */
}

static inline int gw_is_leap(int64_t y) {
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static inline int gw_days_in_month(int64_t y, int m) {
    static const unsigned char n[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && gw_is_leap(y) ? 29 : n[m - 1];
}

#endif
