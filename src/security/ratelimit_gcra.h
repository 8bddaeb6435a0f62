/* The generic cell rate algorithm (GCRA), the rate-limit arithmetic. Why GCRA and not a sliding
 * window counter (two fixed windows weighted):
 *  - its whole state is one 64-bit number, the theoretical arrival time (TAT), so workers update
 *    it with a compare-and-swap and lose no update; a sliding window needs the window id and two
 *    counts changed together, more than one atomic word holds;
 *  - it is exact (a sliding window assumes the previous window's requests were spread evenly)
 *    and answers what the 429 needs directly: remaining, time to full (reset), time until a given
 *    request fits (Retry-After);
 *  - token charges of any size, and a settle that charges more or gives back, are additions to
 *    the TAT; a debt (real usage above the estimate) is paid back by waiting, as it should be.
 * Semantics: "limit per period" is a bucket of limit units refilled continuously at limit/period;
 * a full bucket allows limit at once, as OpenAI's limits do.
 *
 * A charge of c units moves the TAT by ceil(c * period / limit) ns. Rounding up never lets more
 * than limit through, but k charges may overshoot by up to k ns and refuse the last unit of a
 * full bucket; so the check allows a tolerance of min(limit - 1, period / (2 * limit)) ns past the
 * period. While limit - 1 is the smaller (limit up to about sqrt(period_ns / 2): 22,360 per
 * second, 173,000 per minute, 1.3 million per hour) a full bucket takes exactly limit, and limit
 * + 1 never passes (the tolerance is below one emission interval). Above that, a burst of
 * one-unit charges may be refused up to limit^2 / period_ns units early (10 of 100,000 per
 * second). The resolution is a nanosecond: one-unit charges above 10^9 per second count as 10^9.
 */
#ifndef AIGW_SECURITY_RATELIMIT_GCRA_H
#define AIGW_SECURITY_RATELIMIT_GCRA_H

#include <stdint.h>

__extension__ typedef unsigned __int128 gw_u128;

/* A bucket may owe at most this much time (a year): settles beyond it are forgiven, so a TAT
 * never overflows whatever usage is reported. */
#define GW_GCRA_MAX_DEBT_NS ((int64_t)366 * 86400 * 1000000000)

typedef struct gw_gcra {
    int64_t period; /* ns */
    uint64_t limit; /* units per period, >= 1 */
} gw_gcra;

/* The TAT a charge of amount units moves. */
static inline int64_t gw_gcra_cost(const gw_gcra *g, uint64_t amount) {
    if (!amount) return 0;
    gw_u128 c = ((gw_u128)amount * (uint64_t)g->period + g->limit - 1) / g->limit;
    return c > (gw_u128)GW_GCRA_MAX_DEBT_NS ? GW_GCRA_MAX_DEBT_NS : (int64_t)c;
}

/* How far past now the TAT may be after a charge. */
static inline int64_t gw_gcra_capacity(const gw_gcra *g) {
    uint64_t half = (uint64_t)g->period / (2 * g->limit);
    return g->period + (int64_t)(g->limit - 1 < half ? g->limit - 1 : half);
}

/* Units a charge could take now, and ns until remaining is limit again (the debt less the
 * tolerance: within it the bucket counts as full). */
static inline void gw_gcra_state(const gw_gcra *g, int64_t tat, int64_t now, uint64_t *remaining,
                                 int64_t *reset) {
    int64_t cap = gw_gcra_capacity(g);
    int64_t debt = tat > now ? tat - now : 0;
    int64_t room = cap - debt;
    uint64_t r = room <= 0 ? 0 : (uint64_t)(((gw_u128)room * g->limit) / (uint64_t)g->period);
    *remaining = r > g->limit ? g->limit : r;
    *reset = debt > cap - g->period ? debt - (cap - g->period) : 0;
}

#endif
