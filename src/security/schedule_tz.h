/* Time zones for schedules and quota periods, read from the system's tz database
 * (/usr/share/zoneinfo, or $TZDIR) by parsing the TZif files here (RFC 8536).
 *
 * Why not localtime_r: it reads the zone from the TZ environment variable, so switching zones
 * means setenv + tzset, process-wide state that races with every other thread calling any
 * time function. A gw_tz is loaded once (control thread, at config load) and is then immutable:
 * any worker converts with it concurrently, without a lock, a system call or an allocation. Times
 * after the file's last transition follow its POSIX TZ footer (schedule_posix_tz.h). */
#ifndef AIGW_SECURITY_SCHEDULE_TZ_H
#define AIGW_SECURITY_SCHEDULE_TZ_H

#include <stddef.h>
#include <stdint.h>

typedef struct gw_tz gw_tz;

/* A zone by its tz database name ("Asia/Shanghai"); "" and "UTC" are UTC without a file. NULL
 * and err when the name is malformed (no "..", no absolute path) or the file is missing or not
 * TZif. Leap-second ("right/") zones are refused: Unix time has no leap seconds. */
gw_tz *gw_tz_load(const char *name, char *err, size_t errlen);
/* The same from a TZif image in memory (tests, embedded zones). */
gw_tz *gw_tz_from_tzif(const unsigned char *data, size_t len, const char *name, char *err,
                       size_t errlen);
void gw_tz_free(gw_tz *tz);
const char *gw_tz_name(const gw_tz *tz);

/* Seconds east of UTC at the Unix time t. A NULL zone is UTC. */
int32_t gw_tz_offset(const gw_tz *tz, int64_t t);

/* t as the zone's wall clock reads it. */
typedef struct gw_local_time {
    int64_t local; /* t + offset: seconds since 1970-01-01 00:00 local */
    int64_t day;   /* days since 1970-01-01 local */
    int64_t year;
    int month, mday; /* 1..12, 1..31 */
    int weekday;     /* 0 Monday .. 6 Sunday */
    int second;      /* of the local day, 0..86399 */
    int32_t offset;
} gw_local_time;
void gw_tz_local(const gw_tz *tz, int64_t t, gw_local_time *out);

/* The first Unix time at which the zone's wall clock reads local (seconds since 1970-01-01
 * local) or later. When the clock skips over local (spring forward), that is the instant of the
 * skip; when it reads local twice (fall back), the first. */
int64_t gw_tz_utc_of_local(const gw_tz *tz, int64_t local);

#endif
