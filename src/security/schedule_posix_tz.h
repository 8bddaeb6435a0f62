/* The POSIX TZ rule at the end of a TZif file ("EST5EDT,M3.2.0,M11.1.0", "CST-8",
 * "<-03>3<-02>,M3.5.0/-2,M10.5.0/-1"): the zone's offsets after its last listed transition.
 * Files built "slim" list transitions only up to the rule's start, so every time after it needs
 * this, and even "fat" files stop listing in 2037. Extensions of RFC 8536 are accepted: rule
 * times from -167 to 167 hours. */
#ifndef AIGW_SECURITY_SCHEDULE_POSIX_TZ_H
#define AIGW_SECURITY_SCHEDULE_POSIX_TZ_H

#include <stddef.h>
#include <stdint.h>

typedef struct gw_posix_tz_date {
    char kind;    /* 'J': day n 1..365, Feb 29 never counted; 'D': day n 0..365; 'M' */
    int month;    /* 'M': 1..12 */
    int week;     /* 'M': 1..5, 5 is the last */
    int weekday;  /* 'M': 0 Sunday .. 6 */
    int n;        /* 'J', 'D' */
    int32_t time; /* local seconds after midnight of that day (default 02:00) */
} gw_posix_tz_date;

typedef struct gw_posix_tz {
    int32_t std_offset, dst_offset; /* seconds east of UTC (POSIX writes them west) */
    int has_dst;
    gw_posix_tz_date start, end; /* DST starts (in standard time), ends (in daylight time) */
} gw_posix_tz;

/* 0, or -1 when s is not a TZ rule. */
int gw_posix_tz_parse(const char *s, size_t len, gw_posix_tz *out);

/* The offset in effect at t (Unix seconds); *isdst (optional) whether it is daylight time. */
int32_t gw_posix_tz_offset(const gw_posix_tz *tz, int64_t t, int *isdst);

#endif
