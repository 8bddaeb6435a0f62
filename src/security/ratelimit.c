#include "security/ratelimit.h"

#include <string.h>

#include "security/schedule_civil.h"

#define NS_PER_S INT64_C(1000000000)

static const int64_t window_ns[GW_LIMIT_WINDOWS] = {NS_PER_S, 60 * NS_PER_S, 3600 * NS_PER_S,
                                                    86400 * NS_PER_S};

int64_t gw_limit_window_ns(gw_limit_window w) {
    return (unsigned)w < GW_LIMIT_WINDOWS ? window_ns[w] : 0;
}

const char *gw_limit_window_name(gw_limit_window w) {
    static const char *const names[GW_LIMIT_WINDOWS] = {"second", "minute", "hour", "day"};
    return (unsigned)w < GW_LIMIT_WINDOWS ? names[w] : "?";
}

const char *gw_limit_dim_name(gw_limit_dim d) {
    static const char *const names[GW_LIMIT_DIMS] = {"key", "tenant", "project", "model", "ip"};
    return (unsigned)d < GW_LIMIT_DIMS ? names[d] : "?";
}

gw_limit_code gw_limit_rule_at(const gw_limit_rule *r, int64_t now, uint64_t *limit,
                               int64_t *until) {
    int64_t t = gw_floor_div(now, NS_PER_S);
    for (size_t i = 0; i < r->when_count; i++) {
        const gw_limit_when *w = &r->when[i];
        if (!gw_schedule_contains(&w->schedule, t)) continue;
        if (w->deny) {
            int64_t end = gw_schedule_end(&w->schedule, t);
            *until = end > INT64_MAX / NS_PER_S ? INT64_MAX : end * NS_PER_S;
            return GW_LIMIT_DENIED;
        }
        *limit = w->limit;
        return GW_LIMIT_OK;
    }
    *limit = r->limit;
    return GW_LIMIT_OK;
}

/* The charge a check makes under the limit in force. */
typedef struct plan {
    gw_limit_code code; /* GW_LIMIT_DENIED: a deny window */
    int limited;        /* a limit is in force */
    gw_gcra gcra;
    uint64_t amount;
    int64_t cost;
    int64_t until; /* DENIED */
} plan;

static plan plan_of(const gw_limit_check *c, uint64_t tokens, int64_t now) {
    plan p = {0};
    uint64_t limit = 0;
    p.code = gw_limit_rule_at(c->rule, now, &limit, &p.until);
    if (p.code != GW_LIMIT_OK || limit == 0) return p;
    p.limited = 1;
    p.gcra = (gw_gcra){gw_limit_window_ns(c->rule->window), limit};
    p.amount = c->rule->unit == GW_LIMIT_REQUESTS ? 1 : tokens;
    p.cost = gw_gcra_cost(&p.gcra, p.amount);
    if (p.cost > gw_gcra_capacity(&p.gcra)) p.code = GW_LIMIT_TOO_LARGE;
    return p;
}

static void note_state(gw_limit_result *out, gw_limit_unit unit, const gw_gcra *g, int64_t tat,
                       int64_t now) {
    gw_limit_state s = {.limit = g->limit};
    gw_gcra_state(g, tat, now, &s.remaining, &s.reset_ns);
    int *has = unit == GW_LIMIT_REQUESTS ? &out->has_requests : &out->has_tokens;
    gw_limit_state *cur = unit == GW_LIMIT_REQUESTS ? &out->requests : &out->tokens;
    if (!*has || s.remaining < cur->remaining ||
        (s.remaining == cur->remaining && s.reset_ns > cur->reset_ns)) {
        *cur = s;
        *has = 1;
    }
}

static void refuse(gw_limit_result *out, size_t i, gw_limit_code code, int64_t retry) {
    if (out->code == GW_LIMIT_OK || retry > out->retry_after_ns) {
        out->code = code;
        out->which = i;
        out->retry_after_ns = retry;
    }
}

/* What check i would answer now, charging nothing (after a refusal, and for peeks). */
static void evaluate(const gw_limit_table *t, const gw_limit_check *c, size_t i, uint64_t tokens,
                     int64_t now, gw_limit_result *out) {
    plan p = plan_of(c, tokens, now);
    if (p.code == GW_LIMIT_DENIED) {
        refuse(out, i, p.code, p.until == INT64_MAX ? INT64_MAX : p.until - now);
        return;
    }
    if (!p.limited) return;
    int64_t slot =
        gw_limit_table_find(t, gw_limit_table_key(t, c->rule->id, c->value, c->value_len));
    int64_t tat = slot >= 0 ? gw_limit_table_tat(t, (size_t)slot) : now;
    note_state(out, c->rule->unit, &p.gcra, tat, now);
    if (p.code == GW_LIMIT_TOO_LARGE) {
        refuse(out, i, p.code, INT64_MAX);
        return;
    }
    int64_t next = (tat > now ? tat : now) + p.cost;
    int64_t over = next - now - gw_gcra_capacity(&p.gcra);
    if (over > 0) refuse(out, i, GW_LIMIT_EXCEEDED, over);
}

gw_limit_code gw_limit_reserve(gw_limit_table *t, const gw_limit_check *checks, size_t n,
                               uint64_t tokens_estimate, int64_t now, gw_limit_reservation *res,
                               gw_limit_result *out) {
    memset(out, 0, sizeof *out);
    memset(res, 0, n * sizeof *res);
    size_t i = 0;
    for (; i < n; i++) {
        const gw_limit_check *c = &checks[i];
        plan p = plan_of(c, tokens_estimate, now);
        if (p.code != GW_LIMIT_OK) break;
        if (!p.limited) continue;
        uint64_t key = gw_limit_table_key(t, c->rule->id, c->value, c->value_len);
        int64_t slot = gw_limit_table_slot(t, key, now);
        if (slot < 0) {
            out->untracked++;
            continue;
        }
        int64_t tat;
        if (!gw_limit_table_charge(t, (size_t)slot, &p.gcra, p.cost, now, &tat)) break;
        res[i] = (gw_limit_reservation){.table = t,
                                        .key = key,
                                        .slot = (uint32_t)slot,
                                        .active = 1,
                                        .unit = (uint8_t)c->rule->unit,
                                        .gcra = p.gcra,
                                        .amount = p.amount};
        note_state(out, c->rule->unit, &p.gcra, tat, now);
    }
    if (i == n) return GW_LIMIT_OK;
    /* Refused at check i: give back what was taken, then report as if nothing had been charged,
     * with the longest wait over every check (a client told to retry when the first limit frees
     * up would only be refused by the next). */
    gw_limit_refund_all(res, i, now);
    memset(out, 0, sizeof *out);
    for (size_t j = 0; j < n; j++)
        evaluate(t, &checks[j], j, tokens_estimate, now, out);
    if (out->code == GW_LIMIT_OK) {
        /* Freed between the charge and the re-evaluation by another worker's refund: report the
         * refusal the charge saw, for a moment's wait. */
        out->code = GW_LIMIT_EXCEEDED;
        out->which = i;
        out->retry_after_ns = 1;
    }
    return out->code;
}

void gw_limit_settle(gw_limit_reservation *r, uint64_t real_tokens, int64_t now) {
    if (!r->active) return;
    r->active = 0;
    if (r->unit != GW_LIMIT_TOKENS || real_tokens == r->amount) return;
    int64_t delta = gw_gcra_cost(&r->gcra, real_tokens) - gw_gcra_cost(&r->gcra, r->amount);
    gw_limit_table_adjust(r->table, r->slot, r->key, delta, now);
}

void gw_limit_settle_all(gw_limit_reservation *r, size_t n, uint64_t real_tokens, int64_t now) {
    for (size_t i = 0; i < n; i++)
        gw_limit_settle(&r[i], real_tokens, now);
}

void gw_limit_refund(gw_limit_reservation *r, int64_t now) {
    if (!r->active) return;
    r->active = 0;
    gw_limit_table_adjust(r->table, r->slot, r->key, -gw_gcra_cost(&r->gcra, r->amount), now);
}

void gw_limit_refund_all(gw_limit_reservation *r, size_t n, int64_t now) {
    for (size_t i = 0; i < n; i++)
        gw_limit_refund(&r[i], now);
}

int gw_limit_peek(const gw_limit_table *t, const gw_limit_check *c, int64_t now,
                  gw_limit_state *out) {
    plan p = plan_of(c, 0, now);
    if (p.code == GW_LIMIT_DENIED || !p.limited) return -1;
    int64_t slot =
        gw_limit_table_find(t, gw_limit_table_key(t, c->rule->id, c->value, c->value_len));
    int64_t tat = slot >= 0 ? gw_limit_table_tat(t, (size_t)slot) : now;
    out->limit = p.gcra.limit;
    gw_gcra_state(&p.gcra, tat, now, &out->remaining, &out->reset_ns);
    return 0;
}
