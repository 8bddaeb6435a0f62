/* Rate limits, schedules and quotas on a settable clock (every call takes now; nothing sleeps):
 * GCRA counts exact to the nanosecond at the edges, refills continuously, reserves and settles
 * tokens, refunds, checks several limits all or none; two threads hammering one counter lose no
 * update; a full table lets requests through and counts them; schedules hold at their boundaries
 * in Asia/Shanghai and across America/New_York's DST switches, overnight and in deny windows;
 * quota periods roll over at local midnight; durations print as Go prints them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "security/quota.h"
#include "security/ratelimit.h"
#include "security/ratelimit_duration.h"
#include "security/schedule.h"
#include "security/schedule_civil.h"
#include "security/schedule_posix_tz.h"
#include "security/schedule_tz.h"

#define NS INT64_C(1000000000)
#define MS INT64_C(1000000)

/* Unix seconds of a UTC date and time. */
static int64_t utc(int y, int mo, int d, int h, int mi, int s) {
    return gw_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s;
}

static const int64_t T0 = INT64_C(1717200000) * NS; /* 2024-06-01 00:00:00 UTC */

static gw_tz *zone(const char *name) {
    char err[256] = "";
    gw_tz *tz = gw_tz_load(name, err, sizeof err);
    if (!tz) fail_msg("tz %s: %s", name, err);
    return tz;
}

/* One check of a rule on one value, and its reservation. */
static gw_limit_code one(gw_limit_table *t, const gw_limit_rule *r, const char *value,
                         uint64_t tokens, int64_t now, gw_limit_reservation *res,
                         gw_limit_result *out) {
    gw_limit_check c = {r, value, strlen(value)};
    return gw_limit_reserve(t, &c, 1, tokens, now, res, out);
}

/* ---- durations ---- */

static void durations_print_as_go(void **state) {
    (void)state;
    struct {
        int64_t ns;
        const char *want;
    } cases[] = {
        {0, "0s"},
        {1, "1ns"},
        {999, "999ns"},
        {1000, "1\xc2\xb5s"},
        {1500, "1.5\xc2\xb5s"},
        {MS, "1ms"},
        {12 * MS, "12ms"},
        {1500 * 1000, "1.5ms"},
        {NS, "1s"},
        {NS + 500 * MS, "1.5s"},
        {17142 * MS, "17.142s"},
        {60 * NS, "1m0s"},
        {360 * NS, "6m0s"},
        {3600 * NS, "1h0m0s"},
        {3723 * NS + 500 * MS, "1h2m3.5s"},
        {86400 * NS, "24h0m0s"},
        {-1500 * MS, "-1.5s"},
        {INT64_MAX, "2562047h47m16.854775807s"},
        {INT64_MIN, "-2562047h47m16.854775808s"},
    };
    char buf[GW_DURATION_MAX];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t n = gw_duration_format(buf, cases[i].ns);
        assert_string_equal(buf, cases[i].want);
        assert_int_equal(n, strlen(cases[i].want));
    }
    /* Header values: rounded up to milliseconds, so ASCII and never early. */
    gw_duration_header(buf, 1);
    assert_string_equal(buf, "1ms");
    gw_duration_header(buf, 12 * MS + 1);
    assert_string_equal(buf, "13ms");
    gw_duration_header(buf, 333333334);
    assert_string_equal(buf, "334ms");
    gw_duration_header(buf, 1500 * 1000);
    assert_string_equal(buf, "2ms");
    gw_duration_header(buf, 360 * NS);
    assert_string_equal(buf, "6m0s");
    gw_duration_header(buf, -5);
    assert_string_equal(buf, "0s");
    gw_duration_header(buf, INT64_MAX);
    assert_string_equal(buf, "2562047h47m16.854s");
    assert_int_equal(gw_retry_after_seconds(0), 0);
    assert_int_equal(gw_retry_after_seconds(1), 1);
    assert_int_equal(gw_retry_after_seconds(NS), 1);
    assert_int_equal(gw_retry_after_seconds(NS + 1), 2);
    assert_int_equal(gw_retry_after_seconds(-NS), 0);
}

/* ---- GCRA ---- */

static void counts_exactly_at_the_edges(void **state) {
    (void)state;
    gw_limit_table *t = gw_limit_table_new(1024);
    gw_limit_rule r = {.id = 1, .unit = GW_LIMIT_REQUESTS, .window = GW_LIMIT_SECOND, .limit = 3};
    gw_limit_reservation res;
    gw_limit_result out;
    /* A full bucket: 3 at once, and what the headers say after each. */
    for (uint64_t i = 0; i < 3; i++) {
        assert_int_equal(one(t, &r, "k", 0, T0, &res, &out), GW_LIMIT_OK);
        assert_true(out.has_requests);
        assert_false(out.has_tokens);
        assert_int_equal(out.requests.limit, 3);
        assert_int_equal(out.requests.remaining, 2 - i);
        /* Until whole again: the charges less the 2 ns of tolerance (limit - 1). */
        assert_int_equal(out.requests.reset_ns, 333333334 * (int64_t)(i + 1) - 2);
    }
    /* The 4th is refused until the first third of a second (rounded up) has refilled. */
    assert_int_equal(one(t, &r, "k", 0, T0, &res, &out), GW_LIMIT_EXCEEDED);
    assert_int_equal(out.which, 0);
    assert_int_equal(out.requests.remaining, 0);
    int64_t wait = out.retry_after_ns;
    assert_int_equal(wait, 333333334); /* one interval: the 2 ns rounding and tolerance cancel */
    assert_false(res.active);
    assert_int_equal(one(t, &r, "k", 0, T0 + wait - 1, &res, &out), GW_LIMIT_EXCEEDED);
    assert_int_equal(out.retry_after_ns, 1);
    assert_int_equal(one(t, &r, "k", 0, T0 + wait, &res, &out), GW_LIMIT_OK);
    assert_int_equal(out.requests.remaining, 0);
    /* Other values have their own counters. */
    assert_int_equal(one(t, &r, "other", 0, T0, &res, &out), GW_LIMIT_OK);
    assert_int_equal(out.requests.remaining, 2);
    /* A second after the last charge the bucket is whole again. */
    gw_limit_state st;
    gw_limit_check c = {&r, "k", 1};
    assert_int_equal(gw_limit_peek(t, &c, T0 + wait + NS, &st), 0);
    assert_int_equal(st.remaining, 3);
    assert_int_equal(st.reset_ns, 0);
    assert_int_equal(one(t, &r, "k", 0, T0 + wait + NS, &res, &out), GW_LIMIT_OK);
    gw_limit_table_free(t);
}

static void refills_continuously(void **state) {
    (void)state;
    gw_limit_table *t = gw_limit_table_new(1024);
    gw_limit_rule r = {.id = 7, .unit = GW_LIMIT_REQUESTS, .window = GW_LIMIT_MINUTE, .limit = 60};
    gw_limit_reservation res;
    gw_limit_result out;
    for (int i = 0; i < 60; i++)
        assert_int_equal(one(t, &r, "k", 0, T0, &res, &out), GW_LIMIT_OK);
    assert_int_equal(one(t, &r, "k", 0, T0, &res, &out), GW_LIMIT_EXCEEDED);
    assert_int_equal(out.requests.reset_ns, 60 * NS - 59);
    char buf[GW_DURATION_MAX];
    gw_duration_header(buf, out.requests.reset_ns);
    assert_string_equal(buf, "1m0s");
    assert_int_equal(gw_retry_after_seconds(out.retry_after_ns), 1);
    /* No fixed window edge: one request a second comes back, not 60 at the next minute. */
    assert_int_equal(one(t, &r, "k", 0, T0 + NS, &res, &out), GW_LIMIT_OK);
    assert_int_equal(one(t, &r, "k", 0, T0 + NS, &res, &out), GW_LIMIT_EXCEEDED);
    int allowed = 0;
    for (int i = 0; i < 100; i++)
        allowed += one(t, &r, "k", 0, T0 + 30 * NS, &res, &out) == GW_LIMIT_OK;
    assert_int_equal(allowed, 29); /* 30 s refilled 30, one was taken at T0 + 1 s */
    /* Steady state: one every second passes for ever, a second one in the same second does not. */
    int64_t now = T0 + 60 * NS;
    for (int i = 0; i < 100; i++)
        one(t, &r, "k", 0, now, &res, &out);
    for (int s = 1; s <= 300; s++) {
        assert_int_equal(one(t, &r, "k", 0, now + s * NS, &res, &out), GW_LIMIT_OK);
        assert_int_equal(one(t, &r, "k", 0, now + s * NS, &res, &out), GW_LIMIT_EXCEEDED);
    }
    gw_limit_table_free(t);
}

static void tokens_reserve_settle_refund(void **state) {
    (void)state;
    gw_limit_table *t = gw_limit_table_new(1024);
    gw_limit_rule r = {.id = 2, .unit = GW_LIMIT_TOKENS, .window = GW_LIMIT_MINUTE, .limit = 1000};
    gw_limit_reservation res;
    gw_limit_result out;
    assert_int_equal(one(t, &r, "k", 400, T0, &res, &out), GW_LIMIT_OK);
    assert_true(out.has_tokens);
    assert_int_equal(out.tokens.remaining, 600);
    assert_true(res.active);
    gw_limit_settle(&res, 100, T0); /* used less: 300 back */
    assert_false(res.active);
    gw_limit_state st;
    gw_limit_check c = {&r, "k", 1};
    gw_limit_peek(t, &c, T0, &st);
    assert_int_equal(st.remaining, 900);
    gw_limit_settle(&res, 5000, T0); /* settled once only */
    gw_limit_peek(t, &c, T0, &st);
    assert_int_equal(st.remaining, 900);

    /* Used more than estimated: the debt is charged and the next request waits it off. */
    assert_int_equal(one(t, &r, "k", 400, T0, &res, &out), GW_LIMIT_OK);
    gw_limit_settle(&res, 1500, T0);
    gw_limit_peek(t, &c, T0, &st);
    assert_int_equal(st.remaining, 0);
    assert_int_equal(st.reset_ns, 96 * NS - 999); /* 1600 tokens at 1000 a minute */
    assert_int_equal(one(t, &r, "k", 0, T0, &res, &out), GW_LIMIT_EXCEEDED); /* even unestimated */
    /* 10 tokens fit once 0.6 s of the 96 s owed are paid back beyond the minute: at 36.6 s. */
    assert_int_equal(one(t, &r, "k", 10, T0 + 36 * NS, &res, &out), GW_LIMIT_EXCEEDED);
    assert_int_equal(out.retry_after_ns, 600 * MS - 999);
    assert_int_equal(one(t, &r, "k", 10, T0 + 36 * NS + 600 * MS - 999, &res, &out), GW_LIMIT_OK);
    gw_limit_refund(&res, T0 + 37 * NS);

    /* Refund: a failed request gives its whole reservation back. */
    int64_t later = T0 + 1000 * NS;
    assert_int_equal(one(t, &r, "k", 700, later, &res, &out), GW_LIMIT_OK);
    assert_int_equal(out.tokens.remaining, 300);
    gw_limit_refund(&res, later);
    gw_limit_peek(t, &c, later, &st);
    assert_int_equal(st.remaining, 1000);
    /* A refund after the bucket refilled builds no credit. */
    assert_int_equal(one(t, &r, "k", 700, later, &res, &out), GW_LIMIT_OK);
    gw_limit_refund(&res, later + 3600 * NS);
    gw_limit_peek(t, &c, later + 3600 * NS, &st);
    assert_int_equal(st.remaining, 1000);
    assert_int_equal(st.reset_ns, 0);

    /* An estimate above the limit can never pass: no point in retrying. */
    assert_int_equal(one(t, &r, "k", 1001, later, &res, &out), GW_LIMIT_TOO_LARGE);
    assert_int_equal(out.retry_after_ns, INT64_MAX);
    assert_int_equal(one(t, &r, "k", 1000, later + 7200 * NS, &res, &out), GW_LIMIT_OK);
    gw_limit_table_free(t);
}

static void several_limits_all_or_none(void **state) {
    (void)state;
    gw_limit_table *t = gw_limit_table_new(1024);
    gw_limit_rule per_key = {.id = 10,
                             .unit = GW_LIMIT_REQUESTS,
                             .window = GW_LIMIT_SECOND,
                             .limit = 10,
                             .dim = GW_LIMIT_DIM_KEY};
    gw_limit_rule per_minute = {.id = 11,
                                .unit = GW_LIMIT_REQUESTS,
                                .window = GW_LIMIT_MINUTE,
                                .limit = 600,
                                .dim = GW_LIMIT_DIM_KEY};
    gw_limit_rule tenant_tokens = {.id = 12,
                                   .unit = GW_LIMIT_TOKENS,
                                   .window = GW_LIMIT_MINUTE,
                                   .limit = 1000,
                                   .dim = GW_LIMIT_DIM_TENANT};
    gw_limit_rule model_day = {.id = 13,
                               .unit = GW_LIMIT_TOKENS,
                               .window = GW_LIMIT_DAY,
                               .limit = 0 /* no limit */,
                               .dim = GW_LIMIT_DIM_MODEL};
    gw_limit_check checks[] = {{&per_key, "key_1", 5},
                               {&per_minute, "key_1", 5},
                               {&tenant_tokens, "acme", 4},
                               {&model_day, "chat", 4}};
    gw_limit_reservation res[4];
    gw_limit_result out;
    assert_int_equal(gw_limit_reserve(t, checks, 4, 300, T0, res, &out), GW_LIMIT_OK);
    assert_true(res[0].active && res[1].active && res[2].active);
    assert_false(res[3].active); /* no limit: nothing reserved */
    /* The headers show the tightest of each unit. */
    assert_int_equal(out.requests.limit, 10);
    assert_int_equal(out.requests.remaining, 9);
    assert_int_equal(out.tokens.limit, 1000);
    assert_int_equal(out.tokens.remaining, 700);
    gw_limit_settle_all(res, 4, 250, T0);

    /* The tenant's tokens refuse: nothing else stays charged. */
    gw_limit_state before, after;
    gw_limit_peek(t, &checks[0], T0, &before);
    assert_int_equal(gw_limit_reserve(t, checks, 4, 800, T0, res, &out), GW_LIMIT_EXCEEDED);
    assert_int_equal(out.which, 2);
    for (int i = 0; i < 4; i++)
        assert_false(res[i].active);
    gw_limit_peek(t, &checks[0], T0, &after);
    assert_int_equal(after.remaining, before.remaining);
    assert_int_equal(out.tokens.remaining, 750);

    /* Two refuse: the longer wait is reported (the key's second passes sooner than the
     * tenant's tokens refill). */
    for (int i = 0; i < 9; i++)
        assert_int_equal(gw_limit_reserve(t, checks, 2, 0, T0, res, &out), GW_LIMIT_OK);
    assert_int_equal(gw_limit_reserve(t, checks, 4, 800, T0, res, &out), GW_LIMIT_EXCEEDED);
    assert_int_equal(out.which, 2);
    assert_true(out.retry_after_ns > 2 * NS);
    assert_int_equal(gw_limit_reserve(t, checks, 4, 10, T0, res, &out), GW_LIMIT_EXCEEDED);
    assert_int_equal(out.which, 0);
    assert_true(out.retry_after_ns <= NS);
    gw_limit_table_free(t);
}

/* ---- concurrency ---- */

typedef struct hammer {
    gw_limit_table *t;
    const gw_limit_rule *r;
    int64_t now;
    int rounds;
    int allowed;
} hammer;

static void *hammer_run(void *p) {
    hammer *h = p;
    gw_limit_reservation res;
    gw_limit_result out;
    for (int i = 0; i < h->rounds; i++)
        if (one(h->t, h->r, "shared", 0, h->now, &res, &out) == GW_LIMIT_OK) h->allowed++;
    return NULL;
}

static void two_threads_lose_no_update(void **state) {
    (void)state;
    enum { ROUNDS = 200000 };
    gw_limit_table *t = gw_limit_table_new(1024);
    /* Never refusing: every charge must be in the TAT, to the nanosecond. */
    gw_limit_rule loose = {
        .id = 20, .unit = GW_LIMIT_REQUESTS, .window = GW_LIMIT_DAY, .limit = 1000000000};
    hammer h[2] = {{t, &loose, T0, ROUNDS, 0}, {t, &loose, T0, ROUNDS, 0}};
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&th[i], NULL, hammer_run, &h[i]);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    assert_int_equal(h[0].allowed + h[1].allowed, 2 * ROUNDS);
    gw_limit_state st;
    gw_limit_check c = {&loose, "shared", 6};
    gw_limit_peek(t, &c, T0, &st);
    gw_gcra g = {86400 * NS, 1000000000};
    int64_t tolerance = gw_gcra_capacity(&g) - g.period;
    assert_int_equal(st.reset_ns, 2 * ROUNDS * gw_gcra_cost(&g, 1) - tolerance);
    assert_int_equal(st.remaining, 1000000000 - 2 * ROUNDS);

    /* Binding: exactly the limit passes, however the threads interleave. */
    gw_limit_rule tight = {
        .id = 21, .unit = GW_LIMIT_REQUESTS, .window = GW_LIMIT_SECOND, .limit = 1000};
    hammer k[2] = {{t, &tight, T0, ROUNDS, 0}, {t, &tight, T0, ROUNDS, 0}};
    for (int i = 0; i < 2; i++)
        pthread_create(&th[i], NULL, hammer_run, &k[i]);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    assert_int_equal(k[0].allowed + k[1].allowed, 1000);
    gw_limit_table_free(t);
}

/* ---- a full table ---- */

static void full_table_fails_open_and_counts(void **state) {
    (void)state;
    enum { VALUES = 1000 };
    gw_limit_table *t = gw_limit_table_new(1); /* the minimum: 64 slots */
    gw_limit_rule r = {.id = 30, .unit = GW_LIMIT_REQUESTS, .window = GW_LIMIT_DAY, .limit = 1};
    gw_limit_reservation res;
    gw_limit_result out;
    char v[16];
    int tracked = 0;
    /* A flood of distinct client IPs: the first 64 fill every slot (a probe run of 32 covers
     * any empty slot half the time, so none stays empty for long), the rest pass uncounted. */
    for (int i = 0; i < VALUES; i++) {
        snprintf(v, sizeof v, "ip-%d", i);
        assert_int_equal(one(t, &r, v, 0, T0, &res, &out), GW_LIMIT_OK);
        tracked += out.untracked == 0;
        assert_int_equal(res.active, out.untracked == 0);
    }
    gw_limit_table_stats st;
    gw_limit_table_stats_at(t, T0, &st);
    assert_int_equal(st.slots, 64);
    assert_int_equal(st.live, 64);
    assert_int_equal(tracked, 64);
    assert_int_equal(st.untracked, VALUES - 64);
    /* One more value: let through, counted as untracked; and again (nothing remembered). */
    assert_int_equal(one(t, &r, "newcomer", 0, T0, &res, &out), GW_LIMIT_OK);
    assert_int_equal(out.untracked, 1);
    assert_false(res.active);
    assert_int_equal(one(t, &r, "newcomer", 0, T0, &res, &out), GW_LIMIT_OK);
    gw_limit_table_stats_at(t, T0, &st);
    assert_int_equal(st.untracked, VALUES - 64 + 2);
    /* The tracked ones still hold their counts: exactly 64 are refused. */
    int refused = 0;
    for (int i = 0; i < VALUES; i++) {
        snprintf(v, sizeof v, "ip-%d", i);
        refused += one(t, &r, v, 0, T0 + NS, &res, &out) == GW_LIMIT_EXCEEDED;
    }
    assert_int_equal(refused, 64);
    /* A day on, every counter is full again, so its slot is free: the newcomer is counted. */
    int64_t later = T0 + 86402 * NS;
    assert_int_equal(one(t, &r, "newcomer", 0, later, &res, &out), GW_LIMIT_OK);
    assert_int_equal(out.untracked, 0);
    assert_int_equal(one(t, &r, "newcomer", 0, later, &res, &out), GW_LIMIT_EXCEEDED);
    gw_limit_table_free(t);
}

/* ---- time zones ---- */

static void tz_offsets_and_local_fields(void **state) {
    (void)state;
    gw_tz *sh = zone("Asia/Shanghai"), *ny = zone("America/New_York"), *u = zone("UTC");
    assert_int_equal(gw_tz_offset(sh, utc(2024, 6, 3, 1, 0, 0)), 8 * 3600);
    assert_int_equal(gw_tz_offset(u, utc(2024, 6, 3, 1, 0, 0)), 0);
    assert_int_equal(gw_tz_offset(NULL, 0), 0);
    /* New York springs forward at 07:00 UTC on 2024-03-10 and falls back at 06:00 UTC on
     * 2024-11-03; 2040 is past the file's transitions: its POSIX rule decides. */
    assert_int_equal(gw_tz_offset(ny, utc(2024, 3, 10, 6, 59, 59)), -5 * 3600);
    assert_int_equal(gw_tz_offset(ny, utc(2024, 3, 10, 7, 0, 0)), -4 * 3600);
    assert_int_equal(gw_tz_offset(ny, utc(2024, 11, 3, 5, 59, 59)), -4 * 3600);
    assert_int_equal(gw_tz_offset(ny, utc(2024, 11, 3, 6, 0, 0)), -5 * 3600);
    assert_int_equal(gw_tz_offset(ny, utc(2040, 3, 11, 6, 59, 59)), -5 * 3600);
    assert_int_equal(gw_tz_offset(ny, utc(2040, 3, 11, 7, 0, 0)), -4 * 3600);
    assert_int_equal(gw_tz_offset(ny, utc(2300, 7, 1, 0, 0, 0)), -4 * 3600);
    assert_int_equal(gw_tz_offset(ny, utc(1850, 7, 1, 0, 0, 0)), -17762); /* local mean time */

    gw_local_time lt;
    gw_tz_local(sh, utc(2024, 6, 2, 16, 30, 5), &lt); /* Monday 00:30:05 in Shanghai */
    assert_int_equal(lt.year, 2024);
    assert_int_equal(lt.month, 6);
    assert_int_equal(lt.mday, 3);
    assert_int_equal(lt.weekday, 0);
    assert_int_equal(lt.second, 30 * 60 + 5);
    gw_tz_local(ny, utc(1969, 12, 31, 23, 0, 0), &lt); /* before 1970: floor, not truncation */
    assert_int_equal(lt.mday, 31);
    assert_int_equal(lt.second, 18 * 3600);
    assert_int_equal(lt.weekday, 2);

    /* Local to UTC: a skipped time maps to the skip, a repeated one to its first pass. */
    int64_t mar10 = gw_days_from_civil(2024, 3, 10) * 86400;
    assert_int_equal(gw_tz_utc_of_local(ny, mar10 + 1 * 3600 + 59 * 60),
                     utc(2024, 3, 10, 6, 59, 0));
    assert_int_equal(gw_tz_utc_of_local(ny, mar10 + 2 * 3600 + 30 * 60), utc(2024, 3, 10, 7, 0, 0));
    assert_int_equal(gw_tz_utc_of_local(ny, mar10 + 3 * 3600), utc(2024, 3, 10, 7, 0, 0));
    int64_t nov3 = gw_days_from_civil(2024, 11, 3) * 86400;
    assert_int_equal(gw_tz_utc_of_local(ny, nov3 + 1 * 3600 + 30 * 60), utc(2024, 11, 3, 5, 30, 0));
    assert_int_equal(gw_tz_utc_of_local(ny, nov3 + 2 * 3600), utc(2024, 11, 3, 7, 0, 0));
    assert_int_equal(gw_tz_utc_of_local(sh, gw_days_from_civil(2024, 6, 3) * 86400),
                     utc(2024, 6, 2, 16, 0, 0));

    char err[256];
    assert_null(gw_tz_load("../../etc/passwd", err, sizeof err));
    assert_null(gw_tz_load("/etc/localtime", err, sizeof err));
    assert_null(gw_tz_load("No/Such_Zone", err, sizeof err));
    assert_non_null(strstr(err, "No/Such_Zone"));
    assert_string_equal(gw_tz_name(sh), "Asia/Shanghai");
    gw_tz_free(sh);
    gw_tz_free(ny);
    gw_tz_free(u);
}

/* A TZif image with no transitions and a footer rule: what a slim file of a fixed zone is. */
static void tzif_in_memory(void **state) {
    (void)state;
    unsigned char img[256] = {0};
    size_t n = 0;
    for (int v = 0; v < 2; v++) {
        memcpy(img + n, "TZif2", 5);
        n += 20;
        uint32_t counts[6] = {0, 0, 0, 0, 1, 4}; /* isut, isstd, leap, time, type, char */
        for (int i = 0; i < 6; i++, n += 4)
            img[n + 3] = (unsigned char)counts[i];
        img[n + 2] = 0x70; /* utoff 28800 = 0x7080 */
        img[n + 3] = 0x80;
        n += 6;
        memcpy(img + n, "CST", 4);
        n += 4;
    }
    memcpy(img + n, "\nCST-8\n", 7);
    n += 7;
    char err[256];
    gw_tz *tz = gw_tz_from_tzif(img, n, "Fixed/CST", err, sizeof err);
    assert_non_null(tz);
    assert_int_equal(gw_tz_offset(tz, 0), 28800);
    assert_int_equal(gw_tz_offset(tz, utc(2100, 1, 1, 0, 0, 0)), 28800);
    gw_tz_free(tz);
    assert_null(gw_tz_from_tzif(img, 30, "short", err, sizeof err));
    assert_null(gw_tz_from_tzif(img, n - 60, "cut", err, sizeof err));
    img[0] = 'X';
    assert_null(gw_tz_from_tzif(img, n, "magic", err, sizeof err));
}

static void posix_rules(void **state) {
    (void)state;
    gw_posix_tz p;
    int dst;
    assert_int_equal(gw_posix_tz_parse("EST5EDT,M3.2.0,M11.1.0", 22, &p), 0);
    assert_int_equal(gw_posix_tz_offset(&p, utc(2031, 3, 9, 6, 59, 59), &dst), -5 * 3600);
    assert_int_equal(gw_posix_tz_offset(&p, utc(2031, 3, 9, 7, 0, 0), &dst), -4 * 3600);
    assert_true(dst);
    /* Southern hemisphere: DST over the new year. */
    const char *syd = "AEST-10AEDT,M10.1.0,M4.1.0/3";
    assert_int_equal(gw_posix_tz_parse(syd, strlen(syd), &p), 0);
    assert_int_equal(gw_posix_tz_offset(&p, utc(2031, 1, 15, 0, 0, 0), NULL), 11 * 3600);
    assert_int_equal(gw_posix_tz_offset(&p, utc(2031, 6, 15, 0, 0, 0), NULL), 10 * 3600);
    /* Dublin's "negative DST": winter is the daylight time. */
    const char *dub = "IST-1GMT0,M10.5.0,M3.5.0/1";
    assert_int_equal(gw_posix_tz_parse(dub, strlen(dub), &p), 0);
    assert_int_equal(gw_posix_tz_offset(&p, utc(2031, 1, 15, 0, 0, 0), NULL), 0);
    assert_int_equal(gw_posix_tz_offset(&p, utc(2031, 7, 15, 0, 0, 0), NULL), 3600);
    /* Quoted names, minutes, negative and beyond-24h rule times (RFC 8536). */
    const char *odd[] = {"<+0330>-3:30", "<-03>3<-02>,M3.5.0/-2,M10.5.0/-1", "XXX3EDT4,0/0,J365/25",
                         "CST-8"};
    for (size_t i = 0; i < 4; i++)
        assert_int_equal(gw_posix_tz_parse(odd[i], strlen(odd[i]), &p), 0);
    assert_int_equal(gw_posix_tz_parse(odd[0], strlen(odd[0]), &p), 0);
    assert_int_equal(gw_posix_tz_offset(&p, 0, NULL), 3 * 3600 + 1800);
    assert_int_equal(gw_posix_tz_parse(odd[2], strlen(odd[2]), &p), 0); /* DST all year */
    assert_int_equal(gw_posix_tz_offset(&p, utc(2031, 6, 1, 0, 0, 0), NULL), -4 * 3600);
    assert_int_equal(gw_posix_tz_offset(&p, utc(2031, 12, 31, 12, 0, 0), NULL), -4 * 3600);
    const char *bad[] = {"", "E5", "EST", "EST5EDT,M13.1.0,M11.1.0", "EST5EDT,M3.2.0", "EST5x"};
    for (size_t i = 0; i < 6; i++)
        assert_int_equal(gw_posix_tz_parse(bad[i], strlen(bad[i]), &p), -1);
}

/* ---- schedules ---- */

static void schedule_boundaries_in_shanghai(void **state) {
    (void)state;
    gw_tz *sh = zone("Asia/Shanghai");
    gw_schedule s;
    char err[256];
    assert_int_equal(gw_schedule_parse(&s, "mon-fri", "09:00-18:00", sh, err, sizeof err), 0);
    /* Monday 2024-06-03: 09:00 in Shanghai is 01:00 UTC. */
    int64_t mon9 = utc(2024, 6, 3, 1, 0, 0);
    assert_int_equal(mon9, 1717376400);
    assert_false(gw_schedule_contains(&s, mon9 - 1));
    assert_true(gw_schedule_contains(&s, mon9));
    assert_true(gw_schedule_contains(&s, mon9 + 9 * 3600 - 1)); /* 17:59:59 */
    assert_false(gw_schedule_contains(&s, mon9 + 9 * 3600));    /* 18:00 */
    assert_int_equal(gw_schedule_end(&s, mon9 + 3600), mon9 + 9 * 3600);
    assert_int_equal(gw_schedule_end(&s, mon9 - 5), mon9 - 5); /* outside: now */
    assert_true(gw_schedule_contains(&s, mon9 + 4 * 86400));   /* Friday 09:00 */
    assert_false(gw_schedule_contains(&s, mon9 + 5 * 86400));  /* Saturday */
    assert_false(gw_schedule_contains(&s, mon9 + 6 * 86400));  /* Sunday */
    /* Sunday 23:00 UTC is Monday 07:00 in Shanghai: the local day decides, not UTC's. */
    assert_int_equal(gw_schedule_parse(&s, "mon", "06:00-08:00", sh, err, sizeof err), 0);
    assert_true(gw_schedule_contains(&s, utc(2024, 6, 2, 23, 0, 0)));
    gw_tz_free(sh);
}

static void schedule_overnight(void **state) {
    (void)state;
    gw_tz *sh = zone("Asia/Shanghai");
    gw_schedule s;
    char err[256];
    assert_int_equal(gw_schedule_parse(&s, "mon-fri", "22:00-06:00", sh, err, sizeof err), 0);
    int64_t mon0 = utc(2024, 6, 2, 16, 0, 0); /* Monday 00:00 local */
    int64_t h = 3600, d = 86400;
    assert_false(gw_schedule_contains(&s, mon0 + 5 * h));          /* Mon 05:00: opened Sunday */
    assert_false(gw_schedule_contains(&s, mon0 + 22 * h - 1));     /* Mon 21:59:59 */
    assert_true(gw_schedule_contains(&s, mon0 + 22 * h));          /* Mon 22:00 */
    assert_true(gw_schedule_contains(&s, mon0 + d + 6 * h - 1));   /* Tue 05:59:59 */
    assert_false(gw_schedule_contains(&s, mon0 + d + 6 * h));      /* Tue 06:00 */
    assert_true(gw_schedule_contains(&s, mon0 + 4 * d + 23 * h));  /* Fri 23:00 */
    assert_true(gw_schedule_contains(&s, mon0 + 5 * d + 5 * h));   /* Sat 05:00: opened Friday */
    assert_false(gw_schedule_contains(&s, mon0 + 5 * d + 22 * h)); /* Sat 22:00 */
    assert_int_equal(gw_schedule_end(&s, mon0 + 4 * d + 23 * h), mon0 + 5 * d + 6 * h);
    assert_int_equal(gw_schedule_end(&s, mon0 + d + 1 * h), mon0 + d + 6 * h);

    /* Windows that join: all day on weekdays ends on Saturday 00:00; every day never ends. */
    assert_int_equal(gw_schedule_parse(&s, "weekdays", NULL, sh, err, sizeof err), 0);
    assert_int_equal(gw_schedule_end(&s, mon0 + 2 * d + 10 * h), mon0 + 5 * d);
    assert_int_equal(gw_schedule_parse(&s, "daily", "00:00-24:00", sh, err, sizeof err), 0);
    assert_true(gw_schedule_contains(&s, mon0 + 3 * h));
    assert_int_equal(gw_schedule_end(&s, mon0), INT64_MAX);
    /* 18:00-24:00 is not overnight: it closes at midnight. */
    assert_int_equal(gw_schedule_parse(&s, "mon", "18:00-24:00", sh, err, sizeof err), 0);
    assert_true(gw_schedule_contains(&s, mon0 + d - 1));
    assert_false(gw_schedule_contains(&s, mon0 + d));
    assert_int_equal(gw_schedule_end(&s, mon0 + 20 * h), mon0 + d);
    gw_tz_free(sh);
}

static void schedule_across_dst_in_new_york(void **state) {
    (void)state;
    gw_tz *ny = zone("America/New_York");
    gw_schedule s;
    char err[256];
    /* Sunday 2024-03-10: the clock skips 02:00-03:00. 09:00 is 13:00 UTC that day, 14:00 UTC
     * the day before. */
    assert_int_equal(gw_schedule_parse(&s, "daily", "09:00-18:00", ny, err, sizeof err), 0);
    assert_true(gw_schedule_contains(&s, utc(2024, 3, 9, 14, 0, 0)));
    assert_false(gw_schedule_contains(&s, utc(2024, 3, 9, 13, 59, 59)));
    assert_true(gw_schedule_contains(&s, utc(2024, 3, 10, 13, 0, 0)));
    assert_false(gw_schedule_contains(&s, utc(2024, 3, 10, 12, 59, 59)));
    assert_false(gw_schedule_contains(&s, utc(2024, 3, 10, 22, 0, 0))); /* 18:00 EDT */
    /* A window inside the skipped hour never holds that day, and holds the next. */
    assert_int_equal(gw_schedule_parse(&s, "sun", "02:00-03:00", ny, err, sizeof err), 0);
    int inside = 0;
    for (int64_t t = utc(2024, 3, 10, 0, 0, 0); t < utc(2024, 3, 11, 12, 0, 0); t += 60)
        inside += gw_schedule_contains(&s, t);
    assert_int_equal(inside, 0);
    /* Sunday 2024-11-03: 01:00-02:00 happens twice, so the window holds two hours. */
    assert_int_equal(gw_schedule_parse(&s, "sun", "01:00-02:00", ny, err, sizeof err), 0);
    inside = 0;
    for (int64_t t = utc(2024, 11, 3, 0, 0, 0); t < utc(2024, 11, 4, 0, 0, 0); t += 60)
        inside += gw_schedule_contains(&s, t);
    assert_int_equal(inside, 120);
    assert_true(gw_schedule_contains(&s, utc(2024, 11, 3, 5, 0, 0)));   /* 01:00 EDT */
    assert_true(gw_schedule_contains(&s, utc(2024, 11, 3, 6, 59, 59))); /* 01:59:59 EST */
    assert_false(gw_schedule_contains(&s, utc(2024, 11, 3, 7, 0, 0)));  /* 02:00 EST */
    /* Its end, asked in the first pass, is the first 02:00 that comes: 07:00 UTC... */
    assert_int_equal(gw_schedule_end(&s, utc(2024, 11, 3, 5, 30, 0)), utc(2024, 11, 3, 7, 0, 0));
    /* ...and in the second pass the same. */
    assert_int_equal(gw_schedule_end(&s, utc(2024, 11, 3, 6, 30, 0)), utc(2024, 11, 3, 7, 0, 0));
    /* An overnight window over the spring switch is an hour shorter. */
    assert_int_equal(gw_schedule_parse(&s, "sat", "22:00-06:00", ny, err, sizeof err), 0);
    int64_t open = utc(2024, 3, 10, 3, 0, 0); /* Sat 22:00 EST */
    assert_true(gw_schedule_contains(&s, open));
    assert_int_equal(gw_schedule_end(&s, open), utc(2024, 3, 10, 10, 0, 0)); /* 06:00 EDT */
    gw_tz_free(ny);
}

static void schedule_parse_errors(void **state) {
    (void)state;
    gw_schedule s;
    char err[256];
    assert_int_equal(gw_schedule_parse(&s, "fri-mon", NULL, NULL, err, sizeof err), 0);
    assert_int_equal(s.days, 0x1 | 0x10 | 0x20 | 0x40);
    assert_int_equal(gw_schedule_parse(&s, "Mon, wed-thu", NULL, NULL, err, sizeof err), 0);
    assert_int_equal(s.days, 0x1 | 0x4 | 0x8);
    assert_int_equal(gw_schedule_parse(&s, "weekends", NULL, NULL, err, sizeof err), 0);
    assert_int_equal(s.days, 0x60);
    const char *bad_days[] = {"mon-xyz", "monday", "mon,,tue", "-"};
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(gw_schedule_parse(&s, bad_days[i], NULL, NULL, err, sizeof err), -1);
        assert_non_null(strstr(err, "days"));
    }
    const char *bad_hours[] = {"9:00-18:00",  "09:00-09:00", "25:00-26:00", "09:00-24:01",
                               "24:00-06:00", "09:60-10:00", "0900-1800",   "09:00"};
    for (size_t i = 0; i < 8; i++) {
        assert_int_equal(gw_schedule_parse(&s, NULL, bad_hours[i], NULL, err, sizeof err), -1);
        assert_non_null(strstr(err, "hours"));
    }
}

static void limits_follow_schedules(void **state) {
    (void)state;
    gw_tz *sh = zone("Asia/Shanghai");
    gw_limit_when when[2];
    char err[256];
    /* Office hours: 100 a minute; 02:00-04:00 every night: maintenance, deny; otherwise 10. */
    assert_int_equal(
        gw_schedule_parse(&when[0].schedule, "daily", "02:00-04:00", sh, err, sizeof err), 0);
    when[0].deny = 1;
    when[0].limit = 0;
    assert_int_equal(
        gw_schedule_parse(&when[1].schedule, "mon-fri", "09:00-18:00", sh, err, sizeof err), 0);
    when[1].deny = 0;
    when[1].limit = 100;
    gw_limit_rule r = {.id = 40,
                       .unit = GW_LIMIT_REQUESTS,
                       .window = GW_LIMIT_MINUTE,
                       .limit = 10,
                       .when = when,
                       .when_count = 2};
    int64_t mon9 = INT64_C(1717376400) * NS;
    uint64_t limit;
    int64_t until;
    assert_int_equal(gw_limit_rule_at(&r, mon9 - 1, &limit, &until), GW_LIMIT_OK);
    assert_int_equal(limit, 10);
    assert_int_equal(gw_limit_rule_at(&r, mon9, &limit, &until), GW_LIMIT_OK);
    assert_int_equal(limit, 100);
    assert_int_equal(gw_limit_rule_at(&r, mon9 + 5 * 86400 * NS, &limit, &until), GW_LIMIT_OK);
    assert_int_equal(limit, 10);                         /* Saturday */
    int64_t night = mon9 - 7 * 3600 * NS + 30 * 60 * NS; /* Monday 02:30 */
    assert_int_equal(gw_limit_rule_at(&r, night, &limit, &until), GW_LIMIT_DENIED);
    assert_int_equal(until, mon9 - 5 * 3600 * NS); /* 04:00 */

    gw_limit_table *t = gw_limit_table_new(1024);
    gw_limit_reservation res;
    gw_limit_result out;
    assert_int_equal(one(t, &r, "k", 0, night, &res, &out), GW_LIMIT_DENIED);
    assert_int_equal(out.retry_after_ns, 90 * 60 * NS);
    assert_int_equal(gw_retry_after_seconds(out.retry_after_ns), 5400);
    /* Before 09:00 ten pass; at 09:00 the limit is 100, and the count carries over. */
    for (int i = 0; i < 10; i++)
        assert_int_equal(one(t, &r, "k", 0, mon9 - NS, &res, &out), GW_LIMIT_OK);
    assert_int_equal(one(t, &r, "k", 0, mon9 - NS, &res, &out), GW_LIMIT_EXCEEDED);
    assert_int_equal(one(t, &r, "k", 0, mon9, &res, &out), GW_LIMIT_OK);
    assert_int_equal(out.requests.limit, 100);
    gw_limit_table_free(t);
    gw_tz_free(sh);
}

/* ---- quotas ---- */

static void quota_rolls_over_at_local_midnight(void **state) {
    (void)state;
    gw_tz *sh = zone("Asia/Shanghai");
    gw_quota_table *q = gw_quota_table_new(256);
    gw_quota_rule r = {
        .id = 1, .dim = GW_LIMIT_DIM_TENANT, .period = GW_QUOTA_DAY, .tz = sh, .budget = 1000};
    gw_quota_reservation res;
    gw_quota_status st;
    /* 2024-06-03 23:59:59 in Shanghai is 15:59:59 UTC. */
    int64_t before = utc(2024, 6, 3, 15, 59, 59) * NS, midnight = before + NS;
    assert_int_equal(gw_quota_reserve(q, &r, "acme", 4, 600, before, &res, &st), GW_QUOTA_OK);
    assert_int_equal(st.spent, 600);
    assert_int_equal(st.remaining, 400);
    assert_int_equal(st.period_start, utc(2024, 6, 2, 16, 0, 0) * NS);
    assert_int_equal(st.period_end, midnight);
    gw_quota_settle(&res, 600, before);
    /* Below the budget a request starts even if it may overshoot; at the budget none does. */
    assert_int_equal(gw_quota_reserve(q, &r, "acme", 4, 600, before, &res, &st), GW_QUOTA_OK);
    gw_quota_settle(&res, 700, before);
    assert_int_equal(gw_quota_reserve(q, &r, "acme", 4, 1, before, &res, &st),
                     GW_QUOTA_INSUFFICIENT);
    assert_int_equal(st.spent, 1300);
    assert_int_equal(st.remaining, 0);
    assert_false(res.active);
    /* Another subject is untouched. */
    assert_int_equal(gw_quota_reserve(q, &r, "globex", 6, 1, before, &res, &st), GW_QUOTA_OK);
    gw_quota_refund(&res, before);
    /* Local midnight: a new period. */
    assert_int_equal(gw_quota_reserve(q, &r, "acme", 4, 100, midnight, &res, &st), GW_QUOTA_OK);
    assert_int_equal(st.spent, 100);
    assert_int_equal(st.period_start, midnight);
    assert_int_equal(st.period_end, midnight + 86400 * NS);
    /* Refund, and a settle after the period it was reserved in: charged to the new one. */
    gw_quota_refund(&res, midnight);
    gw_quota_read(q, &r, "acme", 4, midnight, &st);
    assert_int_equal(st.spent, 0);
    assert_int_equal(gw_quota_reserve(q, &r, "acme", 4, 500, midnight + 86399 * NS, &res, &st),
                     GW_QUOTA_OK);
    gw_quota_settle(&res, 200, midnight + 86400 * NS + 5 * NS);
    gw_quota_read(q, &r, "acme", 4, midnight + 86400 * NS + 5 * NS, &st);
    assert_int_equal(st.spent, 200);
    gw_quota_read(q, &r, "nobody", 6, midnight, &st);
    assert_int_equal(st.spent, 0);
    assert_int_equal(st.budget, 1000);
    gw_quota_table_free(q);
    gw_tz_free(sh);
}

static void quota_periods_week_month_and_dst(void **state) {
    (void)state;
    gw_tz *ny = zone("America/New_York"), *sh = zone("Asia/Shanghai");
    int64_t start, end;
    /* New York's day of the spring switch is 23 hours long, the fall one 25. */
    gw_quota_period_at(GW_QUOTA_DAY, ny, utc(2024, 3, 10, 12, 0, 0) * NS, &start, &end);
    assert_int_equal(start, utc(2024, 3, 10, 5, 0, 0) * NS);
    assert_int_equal(end, utc(2024, 3, 11, 4, 0, 0) * NS);
    gw_quota_period_at(GW_QUOTA_DAY, ny, utc(2024, 11, 3, 12, 0, 0) * NS, &start, &end);
    assert_int_equal(end - start, 25 * 3600 * NS);
    /* Weeks start on Monday 00:00 local: Sunday 2024-06-02 20:00 UTC is Monday 04:00 in
     * Shanghai, so its week began at 2024-06-02 16:00 UTC. */
    int64_t n1 =
        gw_quota_period_at(GW_QUOTA_WEEK, sh, utc(2024, 6, 2, 20, 0, 0) * NS, &start, &end);
    assert_int_equal(start, utc(2024, 6, 2, 16, 0, 0) * NS);
    assert_int_equal(end, utc(2024, 6, 9, 16, 0, 0) * NS);
    int64_t n0 =
        gw_quota_period_at(GW_QUOTA_WEEK, sh, utc(2024, 6, 2, 15, 59, 59) * NS, &start, &end);
    assert_int_equal(n1, n0 + 1);
    assert_int_equal(
        gw_quota_period_at(GW_QUOTA_WEEK, NULL, utc(1970, 1, 5, 0, 0, 0) * NS, &start, &end), 0);
    /* Months: February of a leap year, in New York (EST), and December into January. */
    int64_t m =
        gw_quota_period_at(GW_QUOTA_MONTH, ny, utc(2024, 2, 15, 0, 0, 0) * NS, &start, &end);
    assert_int_equal(start, utc(2024, 2, 1, 5, 0, 0) * NS);
    assert_int_equal(end, utc(2024, 3, 1, 5, 0, 0) * NS);
    assert_int_equal(m, (2024 - 1970) * 12 + 1);
    gw_quota_period_at(GW_QUOTA_MONTH, ny, utc(2024, 12, 31, 12, 0, 0) * NS, &start, &end);
    assert_int_equal(end, utc(2025, 1, 1, 5, 0, 0) * NS);
    gw_quota_period_at(GW_QUOTA_MONTH, ny, utc(2024, 4, 1, 3, 59, 59) * NS, &start, &end);
    assert_int_equal(end, utc(2024, 4, 1, 4, 0, 0) * NS); /* still March in New York (EDT) */

    /* A monthly quota rolls over at that instant. */
    gw_quota_table *q = gw_quota_table_new(64);
    gw_quota_rule r = {.id = 2, .period = GW_QUOTA_MONTH, .tz = ny, .budget = 10};
    gw_quota_reservation res;
    gw_quota_status st;
    int64_t last = utc(2024, 4, 1, 3, 59, 59) * NS;
    assert_int_equal(gw_quota_reserve(q, &r, "k", 1, 10, last, &res, &st), GW_QUOTA_OK);
    assert_int_equal(gw_quota_reserve(q, &r, "k", 1, 1, last, &res, &st), GW_QUOTA_INSUFFICIENT);
    assert_int_equal(gw_quota_reserve(q, &r, "k", 1, 1, last + NS, &res, &st), GW_QUOTA_OK);
    gw_quota_table_free(q);
    gw_tz_free(ny);
    gw_tz_free(sh);
}

static void quota_admin_changes(void **state) {
    (void)state;
    gw_quota_table *q = gw_quota_table_new(64);
    gw_quota_rule r = {.id = 3, .period = GW_QUOTA_DAY, .budget = 100};
    gw_quota_reservation res;
    gw_quota_status st;
    assert_int_equal(gw_quota_set_spent(q, &r, "p", 1, 100, T0), 0);
    assert_int_equal(gw_quota_reserve(q, &r, "p", 1, 1, T0, &res, &st), GW_QUOTA_INSUFFICIENT);
    /* Raise the budget: it holds at once, and in the next period too. */
    assert_int_equal(gw_quota_set_budget(q, &r, "p", 1, 150, T0), 0);
    assert_int_equal(gw_quota_reserve(q, &r, "p", 1, 10, T0, &res, &st), GW_QUOTA_OK);
    assert_int_equal(st.budget, 150);
    assert_true(st.budget_set);
    assert_int_equal(st.remaining, 40);
    gw_quota_read(q, &r, "p", 1, T0 + 86400 * NS, &st);
    assert_int_equal(st.budget, 150);
    assert_int_equal(st.spent, 0);
    /* Forgive: spent back to 0; clear the budget: the rule's again. */
    assert_int_equal(gw_quota_set_spent(q, &r, "p", 1, 0, T0), 0);
    assert_int_equal(gw_quota_clear_budget(q, &r, "p", 1, T0), 0);
    gw_quota_read(q, &r, "p", 1, T0, &st);
    assert_int_equal(st.spent, 0);
    assert_int_equal(st.budget, 100);
    assert_false(st.budget_set);
    /* Spent saturates at 48 bits instead of wrapping. */
    assert_int_equal(gw_quota_set_spent(q, &r, "p", 1, UINT64_MAX, T0), 0);
    gw_quota_read(q, &r, "p", 1, T0, &st);
    assert_int_equal(st.spent, GW_QUOTA_SPENT_MAX);
    gw_quota_table_free(q);
}

static void quota_table_full_fails_closed(void **state) {
    (void)state;
    gw_quota_table *q = gw_quota_table_new(64);
    gw_quota_rule r = {.id = 4, .period = GW_QUOTA_DAY, .budget = 1000};
    gw_quota_reservation res;
    gw_quota_status st;
    char v[16];
    for (int i = 0; i < 64; i++) {
        snprintf(v, sizeof v, "key-%d", i);
        assert_int_equal(gw_quota_reserve(q, &r, v, strlen(v), 1, T0, &res, &st), GW_QUOTA_OK);
    }
    assert_int_equal(gw_quota_reserve(q, &r, "one-more", 8, 1, T0, &res, &st), GW_QUOTA_FULL);
    assert_false(res.active);
    assert_int_equal(gw_quota_table_full_count(q), 1);
    assert_int_equal(gw_quota_set_spent(q, &r, "one-more", 8, 5, T0), -1);
    /* The day ended (and the hour of grace): the old slots are free again. */
    int64_t next = T0 + (86400 + 3600) * NS;
    assert_int_equal(gw_quota_reserve(q, &r, "one-more", 8, 1, next, &res, &st), GW_QUOTA_OK);
    assert_int_equal(st.spent, 1);
    /* But within the grace hour they are not. */
    gw_quota_table *q2 = gw_quota_table_new(64);
    for (int i = 0; i < 64; i++) {
        snprintf(v, sizeof v, "key-%d", i);
        gw_quota_reserve(q2, &r, v, strlen(v), 1, T0, &res, &st);
    }
    assert_int_equal(gw_quota_reserve(q2, &r, "late", 4, 1, T0 + 86400 * NS, &res, &st),
                     GW_QUOTA_FULL);
    gw_quota_table_free(q2);
    gw_quota_table_free(q);
}

typedef struct quota_hammer {
    gw_quota_table *q;
    const gw_quota_rule *r;
    int rounds, allowed;
} quota_hammer;

static void *quota_hammer_run(void *p) {
    quota_hammer *h = p;
    gw_quota_reservation res;
    gw_quota_status st;
    for (int i = 0; i < h->rounds; i++) {
        if (gw_quota_reserve(h->q, h->r, "shared", 6, 2, T0, &res, &st) != GW_QUOTA_OK) continue;
        h->allowed++;
        gw_quota_settle(&res, 1, T0); /* used half the estimate */
    }
    return NULL;
}

static void quota_two_threads(void **state) {
    (void)state;
    enum { ROUNDS = 100000 };
    gw_quota_table *q = gw_quota_table_new(64);
    gw_quota_rule r = {.id = 5, .period = GW_QUOTA_DAY, .budget = 150000};
    quota_hammer h[2] = {{q, &r, ROUNDS, 0}, {q, &r, ROUNDS, 0}};
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&th[i], NULL, quota_hammer_run, &h[i]);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    gw_quota_status st;
    gw_quota_read(q, &r, "shared", 6, T0, &st);
    /* Every settled request counts one token, none lost: spent is exactly what passed, and the
     * budget was reached (in-flight reservations may have held a few back, never let more in). */
    assert_int_equal(st.spent, (uint64_t)(h[0].allowed + h[1].allowed));
    assert_true(st.spent >= 150000 - 2 && st.spent <= 150000);
    gw_quota_table_free(q);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(durations_print_as_go),
        cmocka_unit_test(counts_exactly_at_the_edges),
        cmocka_unit_test(refills_continuously),
        cmocka_unit_test(tokens_reserve_settle_refund),
        cmocka_unit_test(several_limits_all_or_none),
        cmocka_unit_test(two_threads_lose_no_update),
        cmocka_unit_test(full_table_fails_open_and_counts),
        cmocka_unit_test(tz_offsets_and_local_fields),
        cmocka_unit_test(tzif_in_memory),
        cmocka_unit_test(posix_rules),
        cmocka_unit_test(schedule_boundaries_in_shanghai),
        cmocka_unit_test(schedule_overnight),
        cmocka_unit_test(schedule_across_dst_in_new_york),
        cmocka_unit_test(schedule_parse_errors),
        cmocka_unit_test(limits_follow_schedules),
        cmocka_unit_test(quota_rolls_over_at_local_midnight),
        cmocka_unit_test(quota_periods_week_month_and_dst),
        cmocka_unit_test(quota_admin_changes),
        cmocka_unit_test(quota_table_full_fails_closed),
        cmocka_unit_test(quota_two_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
