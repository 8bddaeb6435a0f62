/* Time schedules for limits: "weekdays 09:00-18:00 in Asia/Shanghai" is
 *     { days: mon-fri, hours: "09:00-18:00", tz: Asia/Shanghai }
 * A time point is inside when its wall-clock time in the zone falls in the hours on one of the
 * days. Hours whose end is not after their start run overnight: "22:00-06:00" on mon-fri runs
 * from Monday 22:00 to Tuesday 06:00, ..., Friday 22:00 to Saturday 06:00; the day named is the
 * day the window opens. "00:00-24:00" (or no hours) is the whole day.
 *
 * Wall-clock time means daylight saving time shows: on a spring-forward day a 02:00-03:00 window
 * does not occur, and on a fall-back day a 01:00-02:00 window occurs twice (two hours long). */
#ifndef AIGW_SECURITY_SCHEDULE_H
#define AIGW_SECURITY_SCHEDULE_H

#include <stddef.h>
#include <stdint.h>

#include "security/schedule_tz.h"

typedef struct gw_schedule {
    uint8_t days;    /* bit d: weekday d (0 Monday .. 6 Sunday) */
    int32_t start;   /* seconds of the local day the window opens, 0..86399 */
    int32_t end;     /* 1..86400; <= start: overnight, closing on the next day */
    const gw_tz *tz; /* not owned; NULL is UTC */
} gw_schedule;

/* days: "mon-fri", "sat,sun", "mon,wed-fri", "fri-mon" (wrapping), "weekdays", "weekends",
 * "daily", "*"; NULL or "" is every day; names are case-insensitive. hours: "HH:MM-HH:MM" (end up
 * to "24:00"); NULL or "" is the whole day. 0, or -1 and err naming what is wrong. */
int gw_schedule_parse(gw_schedule *s, const char *days, const char *hours, const gw_tz *tz,
                      char *err, size_t errlen);

/* Whether the Unix time t (seconds) is inside. */
int gw_schedule_contains(const gw_schedule *s, int64_t t);

/* When t is inside: the first second after t that is not (following windows that join, such
 * as all-day mon-fri: Saturday 00:00); INT64_MAX when there is none within a week (every day,
 * all day). When t is outside: t. */
int64_t gw_schedule_end(const gw_schedule *s, int64_t t);

#endif
