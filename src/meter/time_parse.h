/* Times as the usage and request APIs take and give them: RFC 3339 (2024-06-01T12:00:00Z,
 * 2024-06-01T20:00:00.5+08:00, or a bare date 2024-06-01 as its midnight UTC) or unix seconds
 * (1717243200, 1717243200.25); written back as RFC 3339 UTC. */
#ifndef AIGW_METER_TIME_PARSE_H
#define AIGW_METER_TIME_PARSE_H

#include <stddef.h>
#include <stdint.h>

/* s[0..len) as unix milliseconds: 0, or -1 when it is neither form (or out of the years
 * 1970-9999). */
int gw_time_parse(const char *s, size_t len, int64_t *unix_ms);

/* unix_ms as "2024-06-01T12:00:00Z", or with ".123" when the milliseconds are not 0; out needs
 * 32 bytes. Returns the length. */
size_t gw_time_format(int64_t unix_ms, char out[32]);

/* Days since 1970-01-01 of a civil date (proleptic Gregorian), and back. */
int64_t gw_days_from_civil(int64_t y, unsigned m, unsigned d);
void gw_civil_from_days(int64_t days, int64_t *y, unsigned *m, unsigned *d);

#endif
