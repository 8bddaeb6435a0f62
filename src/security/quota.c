#include "security/quota.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "security/schedule_civil.h"

#define NS_PER_S INT64_C(1000000000)

enum { QUOTA_PROBE = 64, QUOTA_MIN_SLOTS = 64, QUOTA_MAX_SLOTS = 1 << 24 };

/* A period that ended this long ago frees its slot; the hour covers requests still settling. */
static const int64_t stale_after_ns = 3600 * NS_PER_S;

typedef struct qslot {
    _Atomic uint64_t key;    /* 0: never used */
    _Atomic uint64_t word;   /* period tag << 48 | spent */
    _Atomic int64_t end;     /* when word's period ends, Unix ns: the staleness hint */
    _Atomic uint64_t budget; /* the subject's own budget + 1; 0: the rule's */
} qslot;

struct gw_quota_table {
    size_t mask;
    uint64_t seed;
    atomic_uint_fast64_t full;
    atomic_uint_fast64_t claims; /* once a subject takes a slot: not on every request */
    qslot *slots;
};

static uint64_t pack(uint16_t tag, uint64_t spent) {
    return (uint64_t)tag << 48 | (spent > GW_QUOTA_SPENT_MAX ? GW_QUOTA_SPENT_MAX : spent);
}
static uint16_t tag_of(uint64_t w) {
    return (uint16_t)(w >> 48);
}
static uint64_t spent_of(uint64_t w) {
    return w & GW_QUOTA_SPENT_MAX;
}

int64_t gw_quota_period_at(gw_quota_period p, const gw_tz *tz, int64_t now, int64_t *start,
                           int64_t *end) {
    gw_local_time lt;
    gw_tz_local(tz, gw_floor_div(now, NS_PER_S), &lt);
    int64_t first, next, number; /* local day numbers */
    switch (p) {
    case GW_QUOTA_WEEK:
        first = lt.day - lt.weekday; /* Monday */
        next = first + 7;
        number = gw_floor_div(first - 4, 7); /* 1970-01-05 was the first Monday */
        break;
    case GW_QUOTA_MONTH:
        first = gw_days_from_civil(lt.year, lt.month, 1);
        next = lt.month == 12 ? gw_days_from_civil(lt.year + 1, 1, 1)
                              : gw_days_from_civil(lt.year, lt.month + 1, 1);
        number = (lt.year - 1970) * 12 + lt.month - 1;
        break;
    default:
        first = lt.day;
        next = first + 1;
        number = lt.day;
        break;
    }
    /* Local midnight to Unix time: where midnight is skipped (a DST change at 00:00), the
     * period starts when the clock jumps past it. */
    *start = gw_tz_utc_of_local(tz, first * 86400) * NS_PER_S;
    *end = gw_tz_utc_of_local(tz, next * 86400) * NS_PER_S;
    return number;
}

gw_quota_table *gw_quota_table_new(size_t slots) {
    size_t n = QUOTA_MIN_SLOTS;
    while (n < slots && n < QUOTA_MAX_SLOTS)
        n *= 2;
    gw_quota_table *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    t->slots = calloc(n, sizeof *t->slots);
    if (!t->slots) {
        free(t);
        return NULL;
    }
    t->mask = n - 1;
    if (getrandom(&t->seed, sizeof t->seed, 0) != sizeof t->seed)
        t->seed = (uint64_t)(uintptr_t)t ^ 0x6a09e667f3bcc909u;
    atomic_init(&t->full, 0);
    atomic_init(&t->claims, 0);
    return t;
}

void gw_quota_table_free(gw_quota_table *t) {
    if (!t) return;
    free(t->slots);
    free(t);
}

uint64_t gw_quota_table_full_count(const gw_quota_table *t) {
    return atomic_load_explicit(&t->full, memory_order_relaxed);
}

static int64_t find(const gw_quota_table *t, uint64_t key) {
    for (size_t i = 0; i < QUOTA_PROBE; i++) {
        size_t at = (key + i) & t->mask;
        uint64_t k = atomic_load_explicit(&t->slots[at].key, memory_order_acquire);
        if (k == key) return (int64_t)at;
        if (k == 0) return -1; /* slots are never emptied: nothing lies beyond */
    }
    return -1;
}

static int stale(qslot *s, int64_t now) {
    return atomic_load_explicit(&s->budget, memory_order_relaxed) == 0 &&
           atomic_load_explicit(&s->end, memory_order_relaxed) <= now - stale_after_ns;
}

/* The subject's slot, claimed when it has none (its count starting at 0 in the period tag ends
 * at end); -1 when full. */
static int64_t claim(gw_quota_table *t, uint64_t key, int64_t now, uint16_t tag, int64_t end) {
    int64_t found = find(t, key);
    if (found >= 0) return found;
    for (size_t i = 0; i < QUOTA_PROBE; i++) {
        size_t at = (key + i) & t->mask;
        qslot *s = &t->slots[at];
        uint64_t k = atomic_load_explicit(&s->key, memory_order_acquire);
        for (;;) {
            if (k == key) return (int64_t)at;
            if (k != 0 && !stale(s, now)) break;
            if (atomic_compare_exchange_weak_explicit(&s->key, &k, key, memory_order_acq_rel,
                                                      memory_order_acquire)) {
                /* The previous owner's count may carry a period tag of another kind (a month's
                 * number equal to this day's): start clean. */
                atomic_store_explicit(&s->word, pack(tag, 0), memory_order_relaxed);
                atomic_store_explicit(&s->end, end, memory_order_relaxed);
                atomic_fetch_add_explicit(&t->claims, 1, memory_order_relaxed);
                return (int64_t)at;
            }
        }
    }
    atomic_fetch_add_explicit(&t->full, 1, memory_order_relaxed);
    return -1;
}

typedef struct period {
    uint16_t tag;
    int64_t start, end;
} period;

static period period_now(const gw_quota_rule *rule, int64_t now) {
    period p;
    p.tag = (uint16_t)gw_quota_period_at(rule->period, rule->tz, now, &p.start, &p.end);
    return p;
}

static uint64_t budget_of(qslot *s, const gw_quota_rule *rule, int *set) {
    uint64_t b = s ? atomic_load_explicit(&s->budget, memory_order_relaxed) : 0;
    if (set) *set = b != 0;
    return b ? b - 1 : rule->budget;
}

static void fill(gw_quota_status *st, uint64_t budget, int set, uint64_t spent, const period *p) {
    if (!st) return;
    st->budget = budget;
    st->budget_set = set;
    st->spent = spent;
    st->remaining = spent < budget ? budget - spent : 0;
    st->period_start = p->start;
    st->period_end = p->end;
}

gw_quota_code gw_quota_reserve(gw_quota_table *t, const gw_quota_rule *rule, const char *value,
                               size_t len, uint64_t estimate, int64_t now,
                               gw_quota_reservation *res, gw_quota_status *status) {
    memset(res, 0, sizeof *res);
    period p = period_now(rule, now);
    uint64_t key = gw_limit_hash(t->seed, rule->id, value, len);
    int64_t at = claim(t, key, now, p.tag, p.end);
    if (at < 0) {
        fill(status, rule->budget, 0, 0, &p);
        return GW_QUOTA_FULL;
    }
    qslot *s = &t->slots[at];
    int set;
    uint64_t budget = budget_of(s, rule, &set);
    uint64_t w = atomic_load_explicit(&s->word, memory_order_relaxed), spent;
    for (;;) {
        spent = tag_of(w) == p.tag ? spent_of(w) : 0; /* a new period starts at 0 */
        if (spent >= budget) {
            fill(status, budget, set, spent, &p);
            return GW_QUOTA_INSUFFICIENT;
        }
        if (atomic_compare_exchange_weak_explicit(&s->word, &w, pack(p.tag, spent + estimate),
                                                  memory_order_relaxed, memory_order_relaxed))
            break;
    }
    if (tag_of(w) != p.tag) atomic_store_explicit(&s->end, p.end, memory_order_relaxed);
    *res = (gw_quota_reservation){.table = t,
                                  .rule = rule,
                                  .key = key,
                                  .slot = (uint32_t)at,
                                  .period = p.tag,
                                  .active = 1,
                                  .amount = estimate};
    fill(status, budget, set, spent + estimate, &p);
    return GW_QUOTA_OK;
}

static void settle(gw_quota_reservation *r, uint64_t real, int64_t now) {
    if (!r->active) return;
    r->active = 0;
    qslot *s = &r->table->slots[r->slot];
    if (atomic_load_explicit(&s->key, memory_order_acquire) != r->key) return; /* evicted */
    period p = period_now(r->rule, now);
    uint64_t w = atomic_load_explicit(&s->word, memory_order_relaxed);
    for (;;) {
        uint64_t spent = tag_of(w) == p.tag ? spent_of(w) : 0;
        if (r->period != p.tag)
            spent += real; /* the reservation went with its period */
        else if (real >= r->amount)
            spent += real - r->amount;
        else
            spent = spent > r->amount - real ? spent - (r->amount - real) : 0;
        if (atomic_compare_exchange_weak_explicit(&s->word, &w, pack(p.tag, spent),
                                                  memory_order_relaxed, memory_order_relaxed))
            break;
    }
    if (tag_of(w) != p.tag) atomic_store_explicit(&s->end, p.end, memory_order_relaxed);
}

void gw_quota_settle(gw_quota_reservation *r, uint64_t real_tokens, int64_t now) {
    settle(r, real_tokens, now);
}

void gw_quota_refund(gw_quota_reservation *r, int64_t now) {
    settle(r, 0, now);
}

int gw_quota_read(const gw_quota_table *t, const gw_quota_rule *rule, const char *value, size_t len,
                  int64_t now, gw_quota_status *out) {
    period p = period_now(rule, now);
    int64_t at = find(t, gw_limit_hash(t->seed, rule->id, value, len));
    qslot *s = at >= 0 ? &t->slots[at] : NULL;
    int set;
    uint64_t budget = budget_of(s, rule, &set);
    uint64_t w = s ? atomic_load_explicit(&s->word, memory_order_relaxed) : 0;
    fill(out, budget, set, s && tag_of(w) == p.tag ? spent_of(w) : 0, &p);
    return 0;
}

static qslot *subject(gw_quota_table *t, const gw_quota_rule *rule, const char *value, size_t len,
                      int64_t now, period *p) {
    *p = period_now(rule, now);
    int64_t at = claim(t, gw_limit_hash(t->seed, rule->id, value, len), now, p->tag, p->end);
    return at >= 0 ? &t->slots[at] : NULL;
}

int gw_quota_set_spent(gw_quota_table *t, const gw_quota_rule *rule, const char *value, size_t len,
                       uint64_t spent, int64_t now) {
    period p;
    qslot *s = subject(t, rule, value, len, now, &p);
    if (!s) return -1;
    atomic_store_explicit(&s->word, pack(p.tag, spent), memory_order_relaxed);
    atomic_store_explicit(&s->end, p.end, memory_order_relaxed);
    return 0;
}

int gw_quota_set_budget(gw_quota_table *t, const gw_quota_rule *rule, const char *value, size_t len,
                        uint64_t budget, int64_t now) {
    period p;
    qslot *s = subject(t, rule, value, len, now, &p);
    if (!s) return -1;
    if (budget >= UINT64_MAX - 1) budget = UINT64_MAX - 1;
    atomic_store_explicit(&s->budget, budget + 1, memory_order_relaxed);
    return 0;
}

int gw_quota_clear_budget(gw_quota_table *t, const gw_quota_rule *rule, const char *value,
                          size_t len, int64_t now) {
    (void)now;
    int64_t at = find(t, gw_limit_hash(t->seed, rule->id, value, len));
    if (at >= 0) atomic_store_explicit(&t->slots[at].budget, 0, memory_order_relaxed);
    return 0;
}

size_t gw_quota_table_slots(const gw_quota_table *t) {
    return t->mask + 1;
}

uint64_t gw_quota_table_claims(const gw_quota_table *t) {
    return atomic_load_explicit(&t->claims, memory_order_relaxed);
}

void gw_quota_table_read_slot(const gw_quota_table *t, size_t i, gw_quota_saved *out) {
    qslot *s = &t->slots[i];
    uint64_t w = atomic_load_explicit(&s->word, memory_order_relaxed);
    *out = (gw_quota_saved){.key = atomic_load_explicit(&s->key, memory_order_acquire),
                            .period = tag_of(w),
                            .period_end = atomic_load_explicit(&s->end, memory_order_relaxed),
                            .spent = spent_of(w),
                            .budget = atomic_load_explicit(&s->budget, memory_order_relaxed)};
}

uint64_t gw_quota_table_seed(const gw_quota_table *t) {
    return t->seed;
}

int gw_quota_table_set_seed(gw_quota_table *t, uint64_t seed) {
    for (size_t i = 0; i <= t->mask; i++)
        if (atomic_load_explicit(&t->slots[i].key, memory_order_relaxed)) return -1;
    t->seed = seed;
    return 0;
}

int64_t gw_quota_table_restore(gw_quota_table *t, const gw_quota_saved *saved, int64_t now) {
    if (!saved->key) return -1;
    int64_t at = claim(t, saved->key, now, saved->period, saved->period_end);
    if (at < 0) return -1;
    qslot *s = &t->slots[at];
    atomic_store_explicit(&s->word, pack(saved->period, saved->spent), memory_order_relaxed);
    atomic_store_explicit(&s->end, saved->period_end, memory_order_relaxed);
    atomic_store_explicit(&s->budget, saved->budget, memory_order_relaxed);
    return at;
}
