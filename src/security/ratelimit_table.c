#include "security/ratelimit_table.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

typedef struct slot {
    _Atomic uint64_t key; /* 0: never used */
    _Atomic int64_t tat;
} slot;

struct gw_limit_table {
    size_t mask;
    uint64_t seed;
    atomic_uint_fast64_t untracked;
    slot *slots;
};

gw_limit_table *gw_limit_table_new(size_t slots) {
    size_t n = GW_LIMIT_TABLE_MIN_SLOTS;
    while (n < slots && n < GW_LIMIT_TABLE_MAX_SLOTS)
        n *= 2;
    gw_limit_table *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    t->slots = calloc(n, sizeof *t->slots);
    if (!t->slots) {
        free(t);
        return NULL;
    }
    t->mask = n - 1;
    /* A seed the callers cannot know, so no chosen value lands on another's counter. */
    if (getrandom(&t->seed, sizeof t->seed, 0) != sizeof t->seed)
        t->seed = (uint64_t)(uintptr_t)t ^ 0x9e3779b97f4a7c15u;
    atomic_init(&t->untracked, 0);
    return t;
}

void gw_limit_table_free(gw_limit_table *t) {
    if (!t) return;
    free(t->slots);
    free(t);
}

static uint64_t mix(uint64_t x) { /* splitmix64's finalizer */
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9u;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebu;
    return x ^ (x >> 31);
}

uint64_t gw_limit_hash(uint64_t seed, uint32_t id, const char *value, size_t len) {
    uint64_t h = mix(seed ^ ((uint64_t)id << 32 | (uint32_t)len));
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t w;
        memcpy(&w, value + i, 8);
        h = mix(h ^ w) + 0x9e3779b97f4a7c15u;
    }
    uint64_t tail = 0;
    if (len > i) memcpy(&tail, value + i, len - i);
    h = mix(h ^ tail ^ ((uint64_t)(len - i) << 56));
    return h ? h : 1;
}

uint64_t gw_limit_table_key(const gw_limit_table *t, uint32_t id, const char *value, size_t len) {
    return gw_limit_hash(t->seed, id, value, len);
}

int64_t gw_limit_table_find(const gw_limit_table *t, uint64_t key) {
    for (size_t i = 0; i < GW_LIMIT_PROBE; i++) {
        size_t at = (key + i) & t->mask;
        uint64_t k = atomic_load_explicit(&t->slots[at].key, memory_order_acquire);
        if (k == key) return (int64_t)at;
        /* Slots are never emptied, only taken over, so a key lies before the first empty one. */
        if (k == 0) return -1;
    }
    return -1;
}

int64_t gw_limit_table_slot(gw_limit_table *t, uint64_t key, int64_t now) {
    int64_t found = gw_limit_table_find(t, key);
    if (found >= 0) return found;
    /* Claim the first empty or stale slot of the run, in the same order every worker uses, so
     * two creating one key at once meet at the same slot. */
    for (size_t i = 0; i < GW_LIMIT_PROBE; i++) {
        size_t at = (key + i) & t->mask;
        slot *s = &t->slots[at];
        uint64_t k = atomic_load_explicit(&s->key, memory_order_acquire);
        for (;;) {
            if (k == key) return (int64_t)at;
            if (k != 0 && atomic_load_explicit(&s->tat, memory_order_relaxed) > now) break;
            /* A stale TAT needs no reset: max(TAT, now) reads it as a full bucket. */
            if (atomic_compare_exchange_weak_explicit(&s->key, &k, key, memory_order_acq_rel,
                                                      memory_order_acquire))
                return (int64_t)at;
        }
    }
    atomic_fetch_add_explicit(&t->untracked, 1, memory_order_relaxed);
    return -1;
}

int gw_limit_table_charge(gw_limit_table *t, size_t at, const gw_gcra *g, int64_t cost, int64_t now,
                          int64_t *tat) {
    _Atomic int64_t *p = &t->slots[at].tat;
    int64_t old = atomic_load_explicit(p, memory_order_relaxed);
    int64_t cap = gw_gcra_capacity(g);
    for (;;) {
        int64_t next = (old > now ? old : now) + cost;
        *tat = next;
        if (next - now > cap) return 0;
        if (atomic_compare_exchange_weak_explicit(p, &old, next, memory_order_relaxed,
                                                  memory_order_relaxed))
            return 1;
    }
}

void gw_limit_table_adjust(gw_limit_table *t, size_t at, uint64_t key, int64_t delta, int64_t now) {
    slot *s = &t->slots[at];
    if (!delta || atomic_load_explicit(&s->key, memory_order_acquire) != key) return;
    int64_t old = atomic_load_explicit(&s->tat, memory_order_relaxed);
    for (;;) {
        int64_t next;
        if (delta > 0) {
            next = (old > now ? old : now) + delta;
            if (next - now > GW_GCRA_MAX_DEBT_NS) next = now + GW_GCRA_MAX_DEBT_NS;
        } else {
            /* Below now means a full bucket, like any stale TAT: no credit builds up. */
            next = old + delta < now ? (old < now ? old : now) : old + delta;
        }
        if (atomic_compare_exchange_weak_explicit(&s->tat, &old, next, memory_order_relaxed,
                                                  memory_order_relaxed))
            return;
    }
}

int64_t gw_limit_table_tat(const gw_limit_table *t, size_t at) {
    return atomic_load_explicit(&t->slots[at].tat, memory_order_relaxed);
}

void gw_limit_table_stats_at(const gw_limit_table *t, int64_t now, gw_limit_table_stats *out) {
    out->slots = t->mask + 1;
    out->live = 0;
    for (size_t i = 0; i <= t->mask; i++)
        if (atomic_load_explicit(&t->slots[i].key, memory_order_relaxed) &&
            atomic_load_explicit(&t->slots[i].tat, memory_order_relaxed) > now)
            out->live++;
    out->untracked = atomic_load_explicit(&t->untracked, memory_order_relaxed);
}
