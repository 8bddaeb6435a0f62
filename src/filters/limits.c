/* limits: requests and tokens per second, minute, hour and day, by key, tenant, project, model or
 * client address, with schedules. Tokens are reserved from an estimate when the request starts
 * (the prompt, and max_tokens) and settled with the engine's usage when it ends. Every answer
 * carries the x-ratelimit-* headers of the tightest limits; a refusal is a 429 with
 * Retry-After. */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "core/clock.h"
#include "core/decimal.h"
#include "core/http_server.h"
#include "core/request_json.h"
#include "filters/auth.h"
#include "filters/client_ip.h"
#include "filters/filter.h"
#include "filters/limits.h"
#include "filters/request.h"
#include "security/cidr.h"
#include "security/ratelimit_duration.h"
#include "security/zones.h"

static gw_limit_table *shared_table;
static gw_quota_table *shared_quotas;

gw_limit_table *gw_limits_table(void) {
    if (!shared_table) shared_table = gw_limit_table_new(GW_LIMIT_TABLE_DEFAULT_SLOTS);
    return shared_table;
}

gw_quota_table *gw_quotas_table(void) {
    if (!shared_quotas) shared_quotas = gw_quota_table_new(1 << 16);
    return shared_quotas;
}

/* The counts come first: only they start zeroed (state_zeroed); the rest is written before it
 * is read. */
typedef struct limits_state {
    size_t count;       /* res[0..count) are held */
    size_t quota_count; /* quota[0..quota_count) are held */
    gw_limit_reservation res[GW_LIMITS_MAX_RULES + 2 * GW_LIMIT_WINDOWS];
    gw_quota_reservation quota[GW_QUOTAS_MAX + 1];
    gw_quota_rule key_quota; /* the key's own, for this request (its reservation points here) */
    char ip[GW_IP_TEXT_MAX + 1];
} limits_state;

/* The request's value of a dimension; NULL when it has none (that limit does not apply). */
static const char *value_of(gw_req *r, limits_state *st, gw_limit_dim dim) {
    const gw_auth_identity *who = gw_auth_identity_of(r);
    switch (dim) {
    case GW_LIMIT_DIM_KEY:
        return who && who->subject[0] ? who->subject : NULL;
    case GW_LIMIT_DIM_TENANT:
        return who && who->tenant[0] ? who->tenant : NULL;
    case GW_LIMIT_DIM_PROJECT:
        return who && who->project[0] ? who->project : NULL;
    case GW_LIMIT_DIM_MODEL:
        return r->model->name;
    default: { /* behind trusted proxies, the client X-Forwarded-For names */
        gw_ip ip;
        if (gw_req_client_ip(r, &ip) < 0) return NULL;
        return gw_ip_format(&ip, st->ip, sizeof st->ip);
    }
    }
}

/* The request's tokens as a token limit counts them before the answer: its prompt's estimate and
 * the most it may generate (from the body's text when the scan read it, else from its tree;
 * without memory for the tree the estimate is 0, and the answer's usage settles the count). */
static uint64_t token_estimate(gw_req *r) {
    return (uint64_t)gw_req_prompt_tokens(r) + gw_req_max_new_tokens(r);
}

/* OpenAI's x-ratelimit-{limit,remaining,reset}-{requests,tokens}, as its SDKs read them. */
static void state_headers(gw_req *r, int tokens, const gw_limit_state *s) {
    char value[GW_DECIMAL_MAX];
    gw_decimal_u64(value, s->limit);
    gw_req_add_header(r, tokens ? "x-ratelimit-limit-tokens" : "x-ratelimit-limit-requests", value);
    gw_decimal_u64(value, s->remaining);
    gw_req_add_header(r, tokens ? "x-ratelimit-remaining-tokens" : "x-ratelimit-remaining-requests",
                      value);
    char d[GW_DURATION_MAX];
    gw_duration_header(d, s->reset_ns);
    gw_req_add_header(r, tokens ? "x-ratelimit-reset-tokens" : "x-ratelimit-reset-requests", d);
}

/* The limits stored with the caller's key (the admin API's "limits"), as rules of their own. */
static size_t key_rules(const gw_auth_identity *who, gw_limit_rule *rules) {
    if (!who || !who->key || !who->key->limits) return 0;
    static const char *const names[2][GW_LIMIT_WINDOWS] = {
        {"key requests per second", "key requests per minute", "key requests per hour",
         "key requests per day"},
        {"key tokens per second", "key tokens per minute", "key tokens per hour",
         "key tokens per day"}};
    size_t n = 0;
    for (int u = 0; u < 2; u++)
        for (int w = 0; w < GW_LIMIT_WINDOWS; w++) {
            uint64_t amount = u ? who->key->limits->tokens[w] : who->key->limits->requests[w];
            if (!amount) continue;
            rules[n++] = (gw_limit_rule){.id = GW_LIMIT_ID_PER_KEY(u, w),
                                         .name = names[u][w],
                                         .dim = GW_LIMIT_DIM_KEY,
                                         .unit = (gw_limit_unit)u,
                                         .window = (gw_limit_window)w,
                                         .limit = amount};
        }
    return n;
}

/* The token budgets: a request that finds one spent is refused (OpenAI's insufficient_quota),
 * and what the limits reserved for it goes back. */
static gw_filter_rc check_quotas(gw_req *r, const gw_limits_conf *c, limits_state *st,
                                 int64_t now) {
    uint64_t estimate = 0;
    /* the configured quotas, then the one kept with the caller's key (its zone was loaded when
     * the keys were published) */
    const gw_quota_rule *rules[GW_QUOTAS_MAX + 1];
    size_t n = 0;
    for (size_t i = 0; c && i < c->quota_count; i++)
        rules[n++] = &c->quotas[i];
    const gw_auth_identity *who = gw_auth_identity_of(r);
    if (who && who->key && who->key->quota && who->key->quota->period != GW_KEY_PERIOD_NONE) {
        const gw_key_quota *kq = who->key->quota;
        st->key_quota =
            (gw_quota_rule){.id = GW_QUOTA_ID_PER_KEY,
                            .name = "the key's quota",
                            .dim = GW_LIMIT_DIM_KEY,
                            .period = kq->period == GW_KEY_PERIOD_DAY    ? GW_QUOTA_DAY
                                      : kq->period == GW_KEY_PERIOD_WEEK ? GW_QUOTA_WEEK
                                                                         : GW_QUOTA_MONTH,
                            .tz = gw_zones_find(kq->tz),
                            .budget = kq->tokens};
        rules[n++] = &st->key_quota;
    }
    for (size_t i = 0; i < n; i++) {
        const char *v = value_of(r, st, rules[i]->dim);
        if (!v) continue;
        if (!estimate) estimate = token_estimate(r);
        gw_quota_status status;
        gw_quota_code code = gw_quota_reserve(gw_quotas_table(), rules[i], v, strlen(v), estimate,
                                              now, &st->quota[st->quota_count], &status);
        if (code == GW_QUOTA_OK) {
            st->quota_count++;
            continue;
        }
        for (size_t k = 0; k < st->quota_count; k++)
            gw_quota_refund(&st->quota[k], now);
        st->quota_count = 0;
        gw_limit_refund_all(st->res, st->count, now);
        st->count = 0;
        if (code == GW_QUOTA_FULL)
            gw_req_fail(r, 503, "server_error", "quota_table_full", NULL,
                        "the gateway cannot count this quota now; retry later (request id %s)",
                        r->id);
        else
            gw_req_fail(r, 429, "insufficient_quota", "insufficient_quota", NULL,
                        "you exceeded your token quota (%s: %llu tokens this period); it renews "
                        "with the next period (request id %s)",
                        rules[i]->name, (unsigned long long)status.budget, r->id);
        return GW_FILTER_RESPOND;
    }
    return GW_FILTER_CONTINUE;
}

static gw_filter_rc limits_request(gw_req *r) {
    const gw_limits_conf *c = gw_filter_conf(r, &gw_filter_limits);
    limits_state *st = gw_filter_state(r, &gw_filter_limits);
    gw_limit_check checks[GW_LIMITS_MAX_RULES + 2 * GW_LIMIT_WINDOWS];
    gw_limit_rule own[2 * GW_LIMIT_WINDOWS];
    size_t n = 0;
    for (size_t i = 0; c && i < c->rule_count; i++) {
        const char *v = value_of(r, st, c->rules[i].dim);
        if (v) checks[n++] = (gw_limit_check){&c->rules[i], v, strlen(v)};
    }
    const gw_auth_identity *who = gw_auth_identity_of(r);
    for (size_t i = 0, k = key_rules(who, own); i < k; i++)
        checks[n++] = (gw_limit_check){&own[i], who->subject, strlen(who->subject)};
    int64_t now = gw_wall_ns();
    if (!n) return check_quotas(r, c, st, now);
    gw_limit_result res;
    gw_limit_code code =
        gw_limit_reserve(gw_limits_table(), checks, n, token_estimate(r), now, st->res, &res);
    if (res.has_requests) state_headers(r, 0, &res.requests);
    if (res.has_tokens) state_headers(r, 1, &res.tokens);
    if (code == GW_LIMIT_OK) {
        st->count = n;
        return check_quotas(r, c, st, now);
    }
    const char *rule_name = checks[res.which].rule->name; /* own[] ends with this call */
    char retry[24];
    if (res.retry_after_ns != INT64_MAX) {
        snprintf(retry, sizeof retry, "%lld",
                 (long long)gw_retry_after_seconds(res.retry_after_ns));
        gw_req_add_header(r, "retry-after", retry);
    }
    if (code == GW_LIMIT_DENIED)
        gw_req_fail(r, 429, "rate_limit_exceeded", "rate_limit_exceeded", NULL,
                    "requests are not accepted at this time (limit %s) (request id %s)", rule_name,
                    r->id);
    else if (code == GW_LIMIT_TOO_LARGE)
        gw_req_fail(r, 429, "rate_limit_exceeded", "rate_limit_exceeded", NULL,
                    "the request needs more tokens than limit %s allows at all (request id %s)",
                    rule_name, r->id);
    else
        gw_req_fail(r, 429, "rate_limit_exceeded", "rate_limit_exceeded", NULL,
                    "rate limit %s reached: retry in %s s (request id %s)", rule_name,
                    res.retry_after_ns == INT64_MAX ? "?" : retry, r->id);
    return GW_FILTER_RESPOND;
}

/* The engine's usage settles the token reservations. A request that got no answer used no
 * tokens, but it still counts as a request: a caller cannot call for free by failing. One the
 * engine served without a word of usage keeps its estimate. */
static void limits_done(gw_req *r) {
    limits_state *st = gw_filter_state(r, &gw_filter_limits);
    if (!st || (!st->count && !st->quota_count)) return;
    int64_t now = gw_wall_ns();
    int served = r->status > 0 && r->status < 400;
    if (!r->usage.known && served) return; /* the engine said nothing: the estimate stands */
    uint64_t used =
        r->usage.known ? (uint64_t)(r->usage.prompt_tokens + r->usage.completion_tokens) : 0;
    gw_limit_settle_all(st->res, st->count, used, now);
    for (size_t i = 0; i < st->quota_count; i++)
        gw_quota_settle(&st->quota[i], used, now);
}

const gw_filter_ops gw_filter_limits = {
    .name = "limits",
    .state_size = sizeof(limits_state),
    .state_zeroed = offsetof(limits_state, res),
    .on_request = limits_request,
    .on_done = limits_done,
};
