/* The counters of every rate limit, shared by all workers without a lock: a fixed-size
 * open-addressing table of (key, TAT) pairs, each word an atomic, keyed by a hash of (limit id,
 * dimension value). Memory is bounded by the slot count, fixed at creation (16 bytes a slot: the
 * default 65,536 slots are 1 MiB). Not per worker and summed when read, as statistics are: a
 * limit must hold over all workers at the moment of each check, and per-worker shares of it
 * would refuse on a busy worker what an idle one could admit (SO_REUSEPORT spreads connections,
 * not load, and one connection may carry a whole client).
 *
 * Eviction: a counter whose TAT is not after now holds nothing a fresh one would not (its bucket
 * is full), so its slot is free for another key to claim; no sweeper runs. A key is found
 * within GW_LIMIT_PROBE slots of its home slot.
 *
 * Full: when every slot of a key's probe run holds a live counter, the key is not counted and
 * its request passes (fail open), and the table counts it (untracked). Why open: a full table
 * means that many distinct values are active at once, and the dimension that grows without bound
 * is the client IP, which anyone with an IPv6 range can multiply; failing closed would let such
 * a flood refuse every caller whose counter is not already in the table, paying keys included,
 * while failing open lets only the flood's excess through. Budgets are not at stake: quotas
 * (quota.h) keep their own table and fail closed. Size the table above the number of values
 * live within a day window; watch untracked.
 *
 * Races, and their bound: claiming a slot and checking its staleness are two atomic steps, so a
 * counter's owner charging at the very moment another key claims the slot may charge the new
 * key once; two workers creating the same new key at once may make two slots, of which lookups
 * use the first. Both cost at most one request's charge, once. Keys are 64-bit hashes (seeded
 * per table, so a caller cannot aim at another's counter): two values share a counter with a
 * probability of about n^2 / 2^65 (10^-10 for 65,536 live values). */
#ifndef AIGW_SECURITY_RATELIMIT_TABLE_H
#define AIGW_SECURITY_RATELIMIT_TABLE_H

#include <stddef.h>
#include <stdint.h>

#include "security/ratelimit_gcra.h"

enum {
    GW_LIMIT_TABLE_DEFAULT_SLOTS = 65536,
    GW_LIMIT_TABLE_MIN_SLOTS = 64,
    GW_LIMIT_TABLE_MAX_SLOTS = 1 << 24,
    GW_LIMIT_PROBE = 32,
};

typedef struct gw_limit_table gw_limit_table;

/* slots rounded up to a power of two within the bounds; NULL when out of memory. */
gw_limit_table *gw_limit_table_new(size_t slots);
void gw_limit_table_free(gw_limit_table *t);

/* A seeded 64-bit hash, never 0: the key of a counter (and of a quota entry, with its seed). */
uint64_t gw_limit_hash(uint64_t seed, uint32_t id, const char *value, size_t len);
uint64_t gw_limit_table_key(const gw_limit_table *t, uint32_t id, const char *value, size_t len);

/* The slot of key's counter, claimed when it has none: >= 0, or -1 when full (counted). */
int64_t gw_limit_table_slot(gw_limit_table *t, uint64_t key, int64_t now);
/* The same without claiming: -1 when key has no counter. */
int64_t gw_limit_table_find(const gw_limit_table *t, uint64_t key);

/* GCRA on a slot: cost added to max(TAT, now) when the result is within the capacity of now.
 * 1 allowed, 0 refused (nothing changed); *tat is the TAT the charge made or would have made. */
int gw_limit_table_charge(gw_limit_table *t, size_t slot, const gw_gcra *g, int64_t cost,
                          int64_t now, int64_t *tat);
/* Settling: delta > 0 charges more from max(TAT, now), unconditionally (a debt); delta < 0 gives
 * back. Nothing when the slot no longer holds key (evicted: its state was spent anyway). */
void gw_limit_table_adjust(gw_limit_table *t, size_t slot, uint64_t key, int64_t delta,
                           int64_t now);
int64_t gw_limit_table_tat(const gw_limit_table *t, size_t slot);

typedef struct gw_limit_table_stats {
    size_t slots;
    size_t live;        /* counters not yet full again at now (a scan: for admin and metrics) */
    uint64_t untracked; /* charges let through uncounted because the table was full */
} gw_limit_table_stats;
void gw_limit_table_stats_at(const gw_limit_table *t, int64_t now, gw_limit_table_stats *out);

#endif
