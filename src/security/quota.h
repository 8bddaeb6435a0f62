/* Quotas: token budgets per key, tenant or project per period (a day, a week from Monday, a
 * month), each period starting at local midnight in the quota's time zone. A request reserves
 * its token estimate at the start and settles with the real usage at the end, as rate limits
 * do; once spent reaches the budget, requests get insufficient_quota until the period rolls
 * over. The admin API reads a subject's state, sets its spent tokens (to restore them at start
 * from the usage store, or to forgive) and raises or lowers its budget.
 *
 * Counters live in a fixed table shared by all workers without a lock, like rate limits'
 * (ratelimit_table.h): per slot the key (a hash of quota id and subject), one atomic word holding
 * the period (16 bits of its number) and the spent tokens (48 bits: 2.8 * 10^14, saturating),
 * the period's end, and an optional budget override. A period that ended over an hour ago (and
 * has no override) frees its slot for another subject: its count is zero in the new period anyway.
 *
 * Full: fail closed (GW_QUOTA_FULL, answered 503). Unlike rate limits, quota subjects are
 * authenticated (keys, tenants, projects: no one outside can multiply them), so a full table is
 * a sizing error, found at once; letting requests through uncounted would break the budget, which
 * is money. Size it at twice the subjects with a quota.
 *
 * Reservations: a request is refused only when spent (with what requests in flight reserved)
 * has reached the budget; one that starts below it may end above it, by at most its own usage.
 * Settling in a later period than the reservation's charges the real usage to the new period.
 * now is Unix time in ns. */
#ifndef AIGW_SECURITY_QUOTA_H
#define AIGW_SECURITY_QUOTA_H

#include <stddef.h>
#include <stdint.h>

#include "security/ratelimit.h"
#include "security/schedule_tz.h"

typedef enum { GW_QUOTA_DAY, GW_QUOTA_WEEK, GW_QUOTA_MONTH } gw_quota_period;

#define GW_QUOTA_SPENT_MAX ((UINT64_C(1) << 48) - 1)

/* The id of the key store's per-key quotas (gw_key_quota), valued by key id; configured quota
 * ids stay below it. */
#define GW_QUOTA_ID_PER_KEY UINT32_C(0xFFFFFF00)

typedef struct gw_quota_rule {
    uint32_t id; /* distinct per quota, stable across reloads */
    const char *name;
    gw_limit_dim dim; /* key, tenant or project: which value the filter passes */
    gw_quota_period period;
    const gw_tz *tz; /* NULL: UTC */
    uint64_t budget; /* tokens per period, unless a subject's budget was set */
} gw_quota_rule;

/* The period holding now: [*start, *end) in Unix ns, and its number (days, weeks or months since
 * 1970, local). */
int64_t gw_quota_period_at(gw_quota_period p, const gw_tz *tz, int64_t now, int64_t *start,
                           int64_t *end);

typedef struct gw_quota_table gw_quota_table;
gw_quota_table *gw_quota_table_new(size_t slots); /* power of two, 64 .. 2^24 */
void gw_quota_table_free(gw_quota_table *t);
uint64_t gw_quota_table_full_count(const gw_quota_table *t);

typedef enum {
    GW_QUOTA_OK,
    GW_QUOTA_INSUFFICIENT, /* 429 insufficient_quota */
    GW_QUOTA_FULL,         /* no room to count the subject: refused (503) */
} gw_quota_code;

typedef struct gw_quota_status {
    uint64_t budget, spent, remaining;
    int64_t period_start, period_end; /* Unix ns; the end is when spent resets */
    int budget_set;                   /* the subject's budget overrides the rule's */
} gw_quota_status;

typedef struct gw_quota_reservation {
    gw_quota_table *table;
    const gw_quota_rule *rule; /* lives in the snapshot the request holds */
    uint64_t key;
    uint32_t slot;
    uint16_t period; /* low bits of the period number at the reservation */
    uint8_t active;
    uint64_t amount;
} gw_quota_reservation;

gw_quota_code gw_quota_reserve(gw_quota_table *t, const gw_quota_rule *rule, const char *value,
                               size_t len, uint64_t estimate, int64_t now,
                               gw_quota_reservation *res, gw_quota_status *status);
void gw_quota_settle(gw_quota_reservation *r, uint64_t real_tokens, int64_t now);
void gw_quota_refund(gw_quota_reservation *r, int64_t now);

/* The admin API's view and changes of one subject. read: 0 (a subject never seen has spent
 * nothing). set_spent, set_budget, clear_budget: 0, or -1 when the table is full. A budget set
 * holds across periods until cleared. */
int gw_quota_read(const gw_quota_table *t, const gw_quota_rule *rule, const char *value, size_t len,
                  int64_t now, gw_quota_status *out);
int gw_quota_set_spent(gw_quota_table *t, const gw_quota_rule *rule, const char *value, size_t len,
                       uint64_t spent, int64_t now);
int gw_quota_set_budget(gw_quota_table *t, const gw_quota_rule *rule, const char *value, size_t len,
                        uint64_t budget, int64_t now);
int gw_quota_clear_budget(gw_quota_table *t, const gw_quota_rule *rule, const char *value,
                          size_t len, int64_t now);

/* Persistence (store/quota_rows.h), on the control thread, off the request path: a slot's
 * state as a restart needs it, read and put back. The hash that names a subject depends on the
 * table's seed, so the seed is saved with the rows and set again before anything is counted. */
typedef struct gw_quota_saved {
    uint64_t key;       /* the subject's hash; 0: an empty slot */
    uint16_t period;    /* low bits of the count's period number */
    int64_t period_end; /* Unix ns */
    uint64_t spent;     /* with what requests in flight reserved */
    uint64_t budget;    /* the subject's own budget + 1; 0: the rule's */
} gw_quota_saved;

size_t gw_quota_table_slots(const gw_quota_table *t);
/* Slots a subject has claimed since the table was made (counted again when a stale slot is
 * taken over): 0 means every slot is empty, and a save has nothing to look at. */
uint64_t gw_quota_table_claims(const gw_quota_table *t);
/* Slot i (below gw_quota_table_slots) as it is now; its fields are read one by one while workers
 * may change them, so a caller that compares reads again later (a second later, at shutdown
 * when nothing counts any more). */
void gw_quota_table_read_slot(const gw_quota_table *t, size_t i, gw_quota_saved *out);
uint64_t gw_quota_table_seed(const gw_quota_table *t);
/* Only while nothing was counted (at start, before workers and the admin API): -1 after. */
int gw_quota_table_set_seed(gw_quota_table *t, uint64_t seed);
/* Puts a saved subject back in its slot (the same probe order as counting uses); at start,
 * before anything else counts. Returns the slot, or -1 when the table is full. */
int64_t gw_quota_table_restore(gw_quota_table *t, const gw_quota_saved *s, int64_t now);

#endif
