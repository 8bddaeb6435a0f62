/* Rate limits: requests and tokens per second, minute, hour or day, counted per dimension value
 * (key, tenant, project, model, client IP), with time schedules that change a limit or deny
 * outright, checked for a request at its start and settled with its real usage at its end.
 *
 * A request's limits are checked together: gw_limit_reserve charges one request to each request
 * limit and the token estimate to each token limit, all or none. At the end gw_limit_settle
 * charges the difference between the real tokens and the estimate (more: a debt the next
 * requests wait off; fewer: given back), or gw_limit_refund gives the whole reservation back
 * when the request failed without being served. The result holds what the 429 and the
 * x-ratelimit-* headers need. Counting is GCRA (ratelimit_gcra.h) in a lock-free shared table
 * (ratelimit_table.h, which also says what happens when it is full).
 *
 * now is Unix time in ns, passed in (tests set it). Rate limits need a clock that does not step
 * back: a backward step of d holds every bucket d longer. So the caller should pass the wall time
 * read once at start plus CLOCK_MONOTONIC's elapsed time since: it never steps, and keeps
 * schedules on local time to within the clock's drift. */
#ifndef AIGW_SECURITY_RATELIMIT_H
#define AIGW_SECURITY_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>

#include "security/ratelimit_table.h"
#include "security/schedule.h"

typedef enum {
    GW_LIMIT_DIM_KEY,
    GW_LIMIT_DIM_TENANT,
    GW_LIMIT_DIM_PROJECT,
    GW_LIMIT_DIM_MODEL,
    GW_LIMIT_DIM_IP,
    GW_LIMIT_DIMS
} gw_limit_dim;

/* The same order as gw_key_window (store/key-t.h), so per-key limits map by index. */
typedef enum {
    GW_LIMIT_SECOND,
    GW_LIMIT_MINUTE,
    GW_LIMIT_HOUR,
    GW_LIMIT_DAY,
    GW_LIMIT_WINDOWS
} gw_limit_window;

typedef enum { GW_LIMIT_REQUESTS, GW_LIMIT_TOKENS } gw_limit_unit;

int64_t gw_limit_window_ns(gw_limit_window w);
const char *gw_limit_window_name(gw_limit_window w); /* "second", ... */
const char *gw_limit_dim_name(gw_limit_dim d);       /* "key", "tenant", ... */

/* While schedule holds: this limit instead of the rule's, or (deny) no request at all. */
typedef struct gw_limit_when {
    gw_schedule schedule;
    uint64_t limit; /* 0: no limit in this window */
    int deny;
} gw_limit_when;

/* One configured limit. Counters are keyed by (id, value): ids are distinct across rules and
 * stable across reloads (a reload keeps the counts). Configured ids stay below
 * GW_LIMIT_ID_PER_KEY_BASE; the per-key limits of the key store (gw_key_limits) use
 * GW_LIMIT_ID_PER_KEY(unit, window), one id per unit and window, valued by key id. */
#define GW_LIMIT_ID_PER_KEY_BASE UINT32_C(0xFFFFFF00)
#define GW_LIMIT_ID_PER_KEY(unit, window)                                                          \
    (GW_LIMIT_ID_PER_KEY_BASE | (uint32_t)(unit) << 4 | (uint32_t)(window))
typedef struct gw_limit_rule {
    uint32_t id;
    const char *name; /* for logs and the 429's message */
    gw_limit_dim dim;
    gw_limit_unit unit;
    gw_limit_window window;
    uint64_t limit;            /* units per window outside every schedule; 0: none then */
    const gw_limit_when *when; /* the first whose schedule holds wins */
    size_t when_count;
} gw_limit_rule;

typedef enum {
    GW_LIMIT_OK,
    GW_LIMIT_EXCEEDED,  /* 429 rate_limit_exceeded; Retry-After from retry_after_ns */
    GW_LIMIT_DENIED,    /* a deny window; Retry-After until it closes */
    GW_LIMIT_TOO_LARGE, /* the estimate alone exceeds a token limit: waiting will not help */
} gw_limit_code;

/* The limit in force for a rule at now: GW_LIMIT_OK and *limit (0: none), or GW_LIMIT_DENIED and
 * *until (the deny window's end; INT64_MAX when it never closes). */
gw_limit_code gw_limit_rule_at(const gw_limit_rule *r, int64_t now, uint64_t *limit,
                               int64_t *until);

/* A rule as it applies to one request: the rule and the request's value of its dimension. */
typedef struct gw_limit_check {
    const gw_limit_rule *rule;
    const char *value;
    size_t value_len;
} gw_limit_check;

/* What one check reserved; settle or refund it once. Plain data, kept in the request. */
typedef struct gw_limit_reservation {
    gw_limit_table *table;
    uint64_t key;
    uint32_t slot;
    uint8_t active; /* 0: nothing to settle (no limit, untracked, refused, settled) */
    uint8_t unit;
    gw_gcra gcra;    /* the limit as it was at the reservation */
    uint64_t amount; /* 1 request, or the token estimate */
} gw_limit_reservation;

typedef struct gw_limit_state {
    uint64_t limit;     /* per window, as in force now */
    uint64_t remaining; /* what a request could still take */
    int64_t reset_ns;   /* until the bucket is full again */
} gw_limit_state;

typedef struct gw_limit_result {
    gw_limit_code code;
    size_t which;           /* the check that refused (code != OK) */
    int64_t retry_after_ns; /* refused: until the request could pass; INT64_MAX: never */
    /* The tightest limit of each unit (least remaining), after the charge: the
     * x-ratelimit-{limit,remaining,reset}-{requests,tokens} headers. */
    int has_requests, has_tokens;
    gw_limit_state requests, tokens;
    unsigned untracked; /* checks let through uncounted: the table was full */
} gw_limit_result;

/* Checks and charges n checks for one request; res has n entries (each filled). On a refusal
 * nothing stays charged, and the refusal reported is the one that lasts longest. */
gw_limit_code gw_limit_reserve(gw_limit_table *t, const gw_limit_check *checks, size_t n,
                               uint64_t tokens_estimate, int64_t now, gw_limit_reservation *res,
                               gw_limit_result *out);

/* The request ended having used real_tokens: token reservations move by the difference from
 * the estimate; request reservations stay charged. */
void gw_limit_settle(gw_limit_reservation *r, uint64_t real_tokens, int64_t now);
void gw_limit_settle_all(gw_limit_reservation *r, size_t n, uint64_t real_tokens, int64_t now);
/* The request failed before being served: everything reserved goes back. */
void gw_limit_refund(gw_limit_reservation *r, int64_t now);
void gw_limit_refund_all(gw_limit_reservation *r, size_t n, int64_t now);

/* A check's state without charging (admin API, metrics). 0, or -1 when the rule has no limit at
 * now (none, or a deny window). */
int gw_limit_peek(const gw_limit_table *t, const gw_limit_check *c, int64_t now,
                  gw_limit_state *out);

#endif
