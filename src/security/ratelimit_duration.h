/* Durations as the rate-limit headers carry them. OpenAI's x-ratelimit-reset-requests and
 * -tokens are Go time.Duration strings ("1s", "6m0s", "12ms", "1.5s", "2h0m0s"), which SDKs
 * parse; Retry-After is whole seconds (RFC 9110). */
#ifndef AIGW_SECURITY_RATELIMIT_DURATION_H
#define AIGW_SECURITY_RATELIMIT_DURATION_H

#include <stddef.h>
#include <stdint.h>

/* Longest output: "-2562047h47m16.854775808s" and its NUL. */
enum { GW_DURATION_MAX = 32 };

/* ns exactly as Go's Duration.String() writes it, into out (GW_DURATION_MAX bytes). Below a
 * microsecond "ns", below a millisecond "µs" (U+00B5, as Go), below a second "ms", otherwise
 * h, m and s with the fraction of the seconds. Returns the length. */
size_t gw_duration_format(char out[GW_DURATION_MAX], int64_t ns);

/* For a header value: ns rounded up to a whole millisecond first (a client that waits that long
 * is not early, and the text stays ASCII), then formatted as above; "0s" when ns <= 0. */
size_t gw_duration_header(char out[GW_DURATION_MAX], int64_t ns);

/* Retry-After: ns rounded up to whole seconds; 0 when ns <= 0. */
int64_t gw_retry_after_seconds(int64_t ns);

#endif
