/* Alerts: calendar periods, budget thresholds, the anomaly test, times in queries; the checks run
 * against a real SQLite file holding known rollups (each budget threshold fires once per period,
 * a spike fires and steady traffic does not, error rates need their minimum of requests); the
 * config's errors; the health queue and the channel state it feeds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <event2/buffer.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alerts/alert_checks.h"
#include "alerts/alert_db.h"
#include "alerts/alert_health.h"
#include "alerts/alert_math.h"
#include "alerts/alert_webhook.h"
#include "config/load.h"
#include "core/config.h"
#include "meter/metering-t.h"

/* 2030-03-15T12:00:30Z */
static const int64_t NOW = 1899806430;

static void periods_in_utc(void **state) {
    (void)state;
    assert_int_equal(gw_alert_parse_time("2030-03-15T12:00:30Z", 20), NOW);
    assert_int_equal(gw_alert_day_start(NOW), gw_alert_parse_time("2030-03-15T00:00:00Z", 20));
    assert_int_equal(gw_alert_month_start(NOW), gw_alert_parse_time("2030-03-01T00:00:00Z", 20));
    int64_t leap = gw_alert_parse_time("2028-02-29T23:59:59Z", 20);
    assert_int_equal(gw_alert_month_start(leap), gw_alert_parse_time("2028-02-01T00:00:00Z", 20));
    assert_int_equal(gw_alert_day_start(leap), gw_alert_parse_time("2028-02-29T00:00:00Z", 20));
    int64_t jan = gw_alert_parse_time("2031-01-01T00:00:00Z", 20);
    assert_int_equal(gw_alert_month_start(jan), jan);
    assert_int_equal(gw_alert_month_start(jan - 1),
                     gw_alert_parse_time("2030-12-01T00:00:00Z", 20));
    char text[32];
    gw_alert_format_time(NOW, text, sizeof text);
    assert_string_equal(text, "2030-03-15T12:00:30Z");
}

static void times_parse(void **state) {
    (void)state;
    const char *plus = "2030-03-15T20:00:30+08:00", *frac = "2030-03-15T12:00:30.250Z";
    assert_int_equal(gw_alert_parse_time(plus, strlen(plus)), NOW);
    assert_int_equal(gw_alert_parse_time(frac, strlen(frac)), NOW);
    assert_int_equal(gw_alert_parse_time("1899806430", 10), NOW);
    const char *bad[] = {"",
                         "2030-03-15",
                         "2030-13-01T00:00:00Z",
                         "2030-03-15T12:00:30",
                         "2030-03-15T12:00:30+0800",
                         "12ab",
                         "2030-03-15T12:00:30Zx"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(gw_alert_parse_time(bad[i], strlen(bad[i])), -1);
}

static void budget_thresholds(void **state) {
    (void)state;
    const int at[] = {50, 80, 100};
    int out[3];
    assert_int_equal(gw_alert_budget_reached(0, 500, at, 3, out), 0);
    assert_int_equal(gw_alert_budget_reached(249.99, 500, at, 3, out), 0);
    assert_int_equal(gw_alert_budget_reached(250, 500, at, 3, out), 1);
    assert_int_equal(out[0], 50);
    /* 0.1 + 0.2 style sums must not miss an exact boundary */
    assert_int_equal(gw_alert_budget_reached(0.1 + 0.2 + 399.7, 500, at, 3, out), 2);
    assert_int_equal(out[1], 80);
    assert_int_equal(gw_alert_budget_reached(600, 500, at, 3, out), 3);
    assert_int_equal(out[2], 100);
    assert_int_equal(gw_alert_budget_reached(600, 0, at, 3, out), 0);
}

static gw_alert_baseline baseline_of(const double *costs, int n) {
    gw_alert_baseline b = {0};
    for (int i = 0; i < n; i++) {
        b.sum += costs[i];
        b.sum_sq += costs[i] * costs[i];
    }
    b.windows = n;
    return b;
}

static void anomaly_math(void **state) {
    (void)state;
    double flat[168];
    for (int i = 0; i < 168; i++)
        flat[i] = 1.0;
    gw_alert_baseline b = baseline_of(flat, 168);
    gw_anomaly_verdict v;
    assert_false(gw_alert_anomalous(3.0, &b, 3, 0, 1, &v)); /* more than 3x, not 3x */
    assert_true(v.mean > 0.999999 && v.mean < 1.000001);
    assert_true(v.stddev == 0);
    assert_true(gw_alert_anomalous(3.01, &b, 3, 0, 1, &v));
    assert_true(v.by_factor && !v.by_z);
    /* a flat baseline gives no z-score: a hair above the mean is not 'infinitely' anomalous */
    assert_false(gw_alert_anomalous(1.2, &b, 3, 2, 1, &v));

    /* mean 2, standard deviation 1 */
    double wavy[100];
    for (int i = 0; i < 100; i++)
        wavy[i] = i % 2 ? 3 : 1;
    b = baseline_of(wavy, 100);
    assert_false(gw_alert_anomalous(5, &b, 3, 0, 1, &v)); /* 5 < 3 x 2 */
    assert_true(gw_alert_anomalous(5, &b, 3, 2, 1, &v));  /* 3 deviations > z 2 */
    assert_true(v.by_z && !v.by_factor);
    assert_true(v.zscore > 2.999 && v.zscore < 3.001);
    assert_false(gw_alert_anomalous(4.5, &b, 3, 3, 1, &v)); /* 2.5 deviations */

    /* the floor: a near-zero baseline times anything is still small change */
    double tiny[10] = {0.001, 0, 0, 0.002, 0, 0, 0, 0.001, 0, 0};
    b = baseline_of(tiny, 10);
    assert_false(gw_alert_anomalous(0.5, &b, 3, 2, 1, &v));
    assert_true(gw_alert_anomalous(1.5, &b, 3, 0, 1, &v));
    /* no history: nothing to compare with */
    b = (gw_alert_baseline){0};
    assert_false(gw_alert_anomalous(1000, &b, 3, 2, 1, &v));
    assert_int_equal(gw_alert_baseline_windows(7, 3600), 168);
    assert_int_equal(gw_alert_baseline_windows(7, 900), 672);
}

/* --- the checks against a database --- */

typedef struct fixture {
    char path[64];
    sqlite3 *db;
    int raised;
    char types[64][32];
    char subjects[64][GW_ALERT_KEY_LEN];
} fixture;

static void exec(sqlite3 *db, const char *sql) {
    char *err = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) fail_msg("%s: %s", sql, err);
}

static void row(sqlite3 *db, const char *bucket, int64_t t, const char *tenant, const char *model,
                int64_t requests, int64_t errors, double cost) {
    char sql[512];
    snprintf(sql, sizeof sql,
             "INSERT INTO usage_rollup VALUES ('%s', %lld, '%s', 'p', 'k1', '%s', %lld, %lld, "
             "10, 5, 0, 0, %.6f, 0) ON CONFLICT DO UPDATE SET requests = requests + "
             "excluded.requests, errors = errors + excluded.errors, cost = cost + excluded.cost",
             bucket, (long long)t, tenant, model, (long long)requests, (long long)errors, cost);
    exec(db, sql);
}

static int sink_raise(void *ud, gw_alert *a) {
    fixture *f = ud;
    char *body = gw_alert_body(a);
    int inserted = 0;
    assert_int_equal(gw_alert_db_insert(f->db, a, body, "none", &inserted), 0);
    free(body);
    if (inserted && f->raised < 64) {
        snprintf(f->types[f->raised], sizeof f->types[0], "%s", a->type);
        snprintf(f->subjects[f->raised], sizeof f->subjects[0], "%s", a->subject_key);
        f->raised++;
    }
    return inserted;
}

static int64_t sink_last(void *ud, const char *type, const char *subject) {
    int64_t t;
    return gw_alert_db_last_time(((fixture *)ud)->db, type, subject, &t) == 1 ? t : -1;
}

static int setup_db(void **state) {
    fixture *f = calloc(1, sizeof *f);
    snprintf(f->path, sizeof f->path, "/tmp/aigw-alerts-%d.db", (int)getpid());
    unlink(f->path);
    char err[200];
    f->db = gw_alert_db_open(f->path, 1, err, sizeof err);
    assert_non_null(f->db);
    exec(f->db, "CREATE TABLE usage_rollup (bucket TEXT NOT NULL, t INTEGER NOT NULL, tenant TEXT "
                "NOT NULL, project TEXT NOT NULL, key_id TEXT NOT NULL, model TEXT NOT NULL, "
                "requests INTEGER, errors INTEGER, prompt_tokens INTEGER, completion_tokens "
                "INTEGER, cached_tokens INTEGER, reasoning_tokens INTEGER, cost REAL, "
                "estimated_requests INTEGER, PRIMARY KEY(bucket, t, tenant, project, key_id, "
                "model))");
    *state = f;
    return 0;
}

static int teardown_db(void **state) {
    fixture *f = *state;
    gw_alert_db_close(f->db);
    char wal[80];
    unlink(f->path);
    snprintf(wal, sizeof wal, "%s-wal", f->path);
    unlink(wal);
    snprintf(wal, sizeof wal, "%s-shm", f->path);
    unlink(wal);
    free(f);
    return 0;
}

static int count(const fixture *f, const char *type, const char *subject) {
    int n = 0;
    for (int i = 0; i < f->raised; i++)
        n += !strcmp(f->types[i], type) && (!subject || !strcmp(f->subjects[i], subject));
    return n;
}

static void run(fixture *f, const gw_alerts_conf *conf, int64_t now) {
    gw_alert_sink sink = {.raise = sink_raise, .last = sink_last, .ud = f};
    char err[200] = "";
    if (gw_alert_checks_run(f->db, conf, now, &sink, err, sizeof err) < 0) fail_msg("%s", err);
}

static void budgets_fire_once_per_threshold(void **state) {
    fixture *f = *state;
    gw_alert_budget budgets[] = {
        {.by = GW_ALERT_BY_TENANT,
         .value = "acme",
         .amount = 500,
         .at = {50, 80, 100},
         .at_count = 3},
        {.by = GW_ALERT_BY_TENANT,
         .value = "*",
         .daily = 1,
         .amount = 100,
         .at = {100},
         .at_count = 1},
    };
    gw_alerts_conf conf = {.budgets = budgets, .budget_count = 2};
    int64_t month = gw_alert_month_start(NOW), today = gw_alert_day_start(NOW);
    /* last month does not count; 200 over the first days of this one */
    row(f->db, "day", month - 86400, "acme", "chat", 10, 0, 1000);
    for (int d = 0; d < 10; d++)
        row(f->db, "day", month + d * 86400, "acme", "chat", 10, 0, 20);
    row(f->db, "minute", today + 60, "acme", "chat", 1, 0, 40); /* 240: 48% */
    run(f, &conf, NOW);
    assert_int_equal(f->raised, 0);
    row(f->db, "minute", today + 120, "acme", "chat", 1, 0, 10); /* 250: 50% */
    run(f, &conf, NOW);
    assert_int_equal(count(f, "budget", "tenant=acme"), 1);
    run(f, &conf, NOW + 60);
    assert_int_equal(f->raised, 1); /* remembered in the table: not again */
    row(f->db, "minute", today + 180, "acme", "chat", 1, 0, 160); /* 410: 82%; today 210 */
    run(f, &conf, NOW);
    /* 80% of the month, and acme's daily budget of 100 ("*": each tenant) */
    assert_int_equal(count(f, "budget", "tenant=acme"), 3);
    row(f->db, "minute", today + 240, "bravo", "chat", 1, 0, 99);
    run(f, &conf, NOW);
    assert_int_equal(count(f, "budget", "tenant=bravo"), 0);
    row(f->db, "minute", today + 300, "acme", "chat", 1, 0, 100); /* 510: 102% */
    row(f->db, "minute", today + 300, "bravo", "chat", 1, 0, 1);  /* 100: its daily */
    row(f->db, "minute", NOW + 3600, "acme", "chat", 1, 0, 1000); /* after now: not yet */
    run(f, &conf, NOW);
    assert_int_equal(count(f, "budget", "tenant=acme"), 4);
    assert_int_equal(count(f, "budget", "tenant=bravo"), 1);
    int before = f->raised;
    run(f, &conf, NOW + 120);
    assert_int_equal(f->raised, before);
    /* a new day: the daily budgets start again, the monthly one does not */
    row(f->db, "minute", today + 86400 + 60, "acme", "chat", 1, 0, 100);
    run(f, &conf, NOW + 86400);
    assert_int_equal(count(f, "budget", "tenant=acme"), 5);
}

static void anomaly_fires_for_a_spike_only(void **state) {
    fixture *f = *state;
    gw_alerts_conf conf = {.anomaly = {.on = 1,
                                       .window_minutes = 60,
                                       .baseline_days = 7,
                                       .factor = 3,
                                       .min_cost = 2,
                                       .by = {GW_ALERT_BY_TENANT},
                                       .by_count = 1}};
    int64_t minute = NOW - NOW % 60, hour = NOW - NOW % 3600;
    /* a week of hours at 1.0 for two of them, 0.5 and 1.5 in turn for the third (mean 1,
     * standard deviation 0.5) */
    for (int64_t t = hour - 8 * 86400; t < hour; t += 3600) {
        row(f->db, "hour", t, "steady", "chat", 10, 0, 1.0);
        row(f->db, "hour", t, "spiky", "chat", 10, 0, 1.0);
        row(f->db, "hour", t, "wavy", "chat", 10, 0, (t / 3600) % 2 ? 0.5 : 1.5);
    }
    /* the latest 60 minutes: steady as usual (1.0 in all), spiky at 10, wavy at 2.7: 3.4
     * deviations above its mean, yet under 3 times it */
    for (int64_t t = minute - 3600; t < minute; t += 60) {
        row(f->db, "minute", t, "steady", "chat", 1, 0, 1.0 / 60);
        row(f->db, "minute", t, "spiky", "chat", 1, 0, 10.0 / 60);
        row(f->db, "minute", t, "wavy", "chat", 1, 0, 2.7 / 60);
    }
    /* a newcomer with no history in the baseline is not judged */
    row(f->db, "minute", minute - 60, "newcomer", "chat", 1, 0, 50);
    run(f, &conf, NOW);
    assert_int_equal(count(f, "cost_anomaly", "tenant=spiky"), 1);
    assert_int_equal(count(f, "cost_anomaly", NULL), 1);
    run(f, &conf, NOW + 60); /* still within its window: once */
    assert_int_equal(count(f, "cost_anomaly", NULL), 1);
    /* with z: the wavy tenant too; the steady one's flat baseline has no deviation to judge by */
    conf.anomaly.z = 3;
    run(f, &conf, NOW + 30);
    assert_int_equal(count(f, "cost_anomaly", "tenant=wavy"), 1);
    assert_int_equal(count(f, "cost_anomaly", "tenant=steady"), 0);
    assert_int_equal(count(f, "cost_anomaly", NULL), 2);
}

static void error_rates_need_their_minimum(void **state) {
    fixture *f = *state;
    gw_alerts_conf conf = {.error_rate = {.on = 1,
                                          .window_minutes = 5,
                                          .threshold = 0.2,
                                          .min_requests = 20,
                                          .by = {GW_ALERT_BY_MODEL},
                                          .by_count = 1}};
    int64_t minute = NOW - NOW % 60;
    row(f->db, "minute", minute - 120, "acme", "failing", 100, 30, 0);
    row(f->db, "minute", minute - 120, "acme", "healthy", 100, 10, 0);
    row(f->db, "minute", minute - 120, "acme", "quiet", 10, 9, 0);
    row(f->db, "minute", minute - 600, "acme", "old", 100, 100, 0); /* before the window */
    run(f, &conf, NOW);
    assert_int_equal(count(f, "error_rate", "model=failing"), 1);
    assert_int_equal(count(f, "error_rate", NULL), 1);
}

static int rows_in(sqlite3 *db) {
    sqlite3_stmt *st;
    sqlite3_prepare_v2(db, "SELECT count(*) FROM alerts", -1, &st, NULL);
    sqlite3_step(st);
    int n = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return n;
}

static void history_is_bounded(void **state) {
    fixture *f = *state;
    for (int i = 0; i < 10; i++) {
        gw_alert a;
        gw_alert_init(&a, i < 2 ? "budget" : "endpoint_down", "info", NOW - (10 - i) * 86400);
        if (i < 2) snprintf(a.dedup, sizeof a.dedup, "budget|%d", i);
        char *body = gw_alert_body(&a);
        int inserted;
        assert_int_equal(gw_alert_db_insert(f->db, &a, body, "none", &inserted), 0);
        assert_true(inserted);
        free(body);
        gw_alert_clear(&a);
    }
    /* older than 9 days: one goes (a budget mark); past 5 rows: the oldest unmarked ones */
    assert_int_equal(gw_alert_db_prune(f->db, NOW - 9 * 86400, 5), 0);
    assert_int_equal(rows_in(f->db), 6); /* the younger budget mark and the newest five */
    gw_alert_query q = {.from = -1, .to = -1, .type = "budget", .limit = 10};
    struct evbuffer *out = evbuffer_new();
    char err[100];
    assert_int_equal(gw_alert_db_list(f->db, &q, out, err, sizeof err), 1);
    evbuffer_free(out);
}

/* --- config --- */

static gw_config *load(const char *alerts, gw_config_errors *errs) {
    char yaml[4096];
    snprintf(yaml, sizeof yaml,
             "channels:\n  - {name: c, base_url: http://127.0.0.1:1/v1}\n"
             "models:\n  - {name: m, channel: c}\n"
             "metering:\n  store: /tmp/x.db\n  alerts:\n%s",
             alerts);
    return gw_config_load_string("t.yaml", yaml, strlen(yaml), NULL, errs);
}

static int has_error(const gw_config_errors *errs, const char *needle) {
    for (size_t i = 0; i < errs->count; i++)
        if (strstr(errs->messages[i], needle)) return 1;
    return 0;
}

static void config_as_the_issue_writes(void **state) {
    (void)state;
    gw_config_errors errs;
    gw_config *cfg = load("    webhooks: [http://127.0.0.1:9999/alerts]\n"
                          "    budgets: [ { tenant: acme, monthly: 500, at: [50, 80, 100] } ]\n"
                          "    anomaly: { window_minutes: 60, baseline_days: 7, factor: 3 }\n",
                          &errs);
    if (!cfg) fail_msg("%s", errs.messages[0]);
    const gw_alerts_conf *a = cfg->metering->alerts;
    assert_string_equal(cfg->metering->store, "/tmp/x.db");
    assert_int_equal(a->webhook_count, 1);
    assert_string_equal(a->webhooks[0].url, "http://127.0.0.1:9999/alerts");
    assert_int_equal(a->webhooks[0].max_retries, 3);
    assert_int_equal(a->budget_count, 1);
    assert_string_equal(a->budgets[0].value, "acme");
    assert_true(a->budgets[0].amount == 500);
    assert_int_equal(a->budgets[0].at[2], 100);
    assert_true(a->anomaly.on && a->anomaly.factor == 3 && a->anomaly.baseline_days == 7);
    assert_false(a->error_rate.on);
    assert_int_equal(a->evaluate_every_ms, 60000);
    assert_true(a->endpoints && a->channels);
    gw_config_unref(cfg);

    cfg = load("    webhooks:\n"
               "      - url: https://hooks.example/x\n"
               "        headers: {Authorization: Bearer abc, X-Team: ops}\n"
               "        timeout_ms: 2000\n"
               "        max_retries: 5\n"
               "        backoff_ms: 100\n"
               "    budgets: [ { key: key_1, daily: 12.5 }, { project: '*', monthly: 1e3 } ]\n"
               "    anomaly: { window_minutes: 15, z: 3, min_cost: 0.5, by: [total, model] }\n"
               "    error_rate: { window_minutes: 10, threshold: 0.1, min_requests: 50 }\n"
               "    evaluate_every_ms: 5000\n"
               "    channels: false\n",
               &errs);
    if (!cfg) fail_msg("%s", errs.messages[0]);
    a = cfg->metering->alerts;
    assert_int_equal(a->webhooks[0].header_count, 2);
    assert_string_equal(a->webhooks[0].headers[0], "Authorization: Bearer abc");
    assert_int_equal(a->webhooks[0].max_retries, 5);
    assert_int_equal(a->budgets[0].by, GW_ALERT_BY_KEY);
    assert_true(a->budgets[0].daily && a->budgets[0].amount == 12.5);
    assert_int_equal(a->budgets[0].at_count, 3); /* the default 50, 80, 100 */
    assert_true(a->budgets[1].amount == 1000);
    assert_int_equal(a->anomaly.by_count, 2);
    assert_int_equal(a->anomaly.by[0], GW_ALERT_BY_TOTAL);
    assert_true(a->error_rate.on && a->error_rate.min_requests == 50);
    assert_false(a->channels);
    gw_config_unref(cfg);
}

static void config_errors_say_where(void **state) {
    (void)state;
    gw_config_errors errs;
    struct {
        const char *yaml, *needle;
    } cases[] = {
        {"    budgets: [ { tenant: acme } ]\n", "t.yaml:8:16: a budget needs monthly or daily"},
        {"    budgets: [ { tenant: a, key: b, monthly: 1 } ]\n",
         "t.yaml:8:29: a budget names one of tenant, project or key"},
        {"    budgets: [ { tenant: a, monthly: 1, daily: 2 } ]\n", "either monthly or daily"},
        {"    budgets: [ { tenant: a, monthly: 1, at: [80, 50] } ]\n",
         "t.yaml:8:50: a budget's thresholds go up: 50 after 80"},
        {"    budgets: [ { tenant: a, monthly: -5 } ]\n", "expected a number from"},
        {"    webhooks: [ftp://x]\n", "t.yaml:8:16: expected an http:// or https:// URL"},
        {"    webhooks: [ {headers: {A: b}} ]\n", "a webhook needs a url"},
        {"    anomaly: { factor: 0.5 }\n", "metering.alerts.anomaly.factor"},
        {"    anomaly: { by: [tenant, tenant] }\n", "named twice"},
        {"    anomaly: { by: region }\n", "expected total, tenant, project, key or model"},
        {"    error_rate: { threshold: 2 }\n", "a fraction"},
        {"    evaluate_every_ms: 10\n", "metering.alerts.evaluate_every_ms"},
        {"    budget: []\n", "unknown key 'budget' in metering.alerts"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        gw_config *cfg = load(cases[i].yaml, &errs);
        if (cfg || !has_error(&errs, cases[i].needle))
            fail_msg("case %zu: expected '%s', got '%s'", i, cases[i].needle,
                     cfg ? "(loaded)" : errs.messages[0]);
    }
}

/* --- webhook delivery --- */

typedef struct outcome {
    pthread_mutex_t lock;
    pthread_cond_t told;
    int done, delivered, attempts;
    char last_error[300];
} outcome;

static void on_done(void *ud, const char *id, int delivered, int attempts, const char *err) {
    outcome *o = ud;
    (void)id;
    pthread_mutex_lock(&o->lock);
    o->done++;
    o->delivered = delivered;
    o->attempts = attempts;
    snprintf(o->last_error, sizeof o->last_error, "%s", err ? err : "");
    pthread_cond_signal(&o->told);
    pthread_mutex_unlock(&o->lock);
}

/* A webhook nobody listens on: every attempt fails, the retries come after their back-off, the
 * failure is told once with its reason; the queue is bounded. */
static void webhook_failures_are_retried_then_told(void **state) {
    (void)state;
    gw_config_errors errs;
    gw_config *cfg = load("    webhooks: [ {url: \"http://127.0.0.1:1/hook\", max_retries: 2, "
                          "backoff_ms: 10, timeout_ms: 1000} ]\n    max_pending: 1\n",
                          &errs);
    if (!cfg) fail_msg("%s", errs.messages[0]);
    outcome o = {.lock = PTHREAD_MUTEX_INITIALIZER, .told = PTHREAD_COND_INITIALIZER};
    char err[200];
    gw_webhook_sender *s = gw_webhook_sender_start(on_done, &o, err, sizeof err);
    assert_non_null(s);
    assert_int_equal(gw_webhook_send(s, cfg, cfg->metering->alerts, "alr_1", "{}"), 0);
    assert_int_equal(gw_webhook_send(s, cfg, cfg->metering->alerts, "alr_2", "{}"), -1); /* full */
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 10;
    pthread_mutex_lock(&o.lock);
    while (!o.done && pthread_cond_timedwait(&o.told, &o.lock, &until) == 0)
        ;
    pthread_mutex_unlock(&o.lock);
    assert_int_equal(o.done, 1);
    assert_false(o.delivered);
    assert_int_equal(o.attempts, 3);
    assert_non_null(strstr(o.last_error, "http://127.0.0.1:1/hook: "));
    assert_int_equal(gw_webhook_pending(s), 0);
    assert_int_equal(gw_webhook_send(s, cfg, cfg->metering->alerts, "alr_3", "{}"),
                     0);       /* room again */
    gw_webhook_sender_stop(s); /* with one waiting: dropped, its config released */
    gw_config_unref(cfg);
}

/* --- health events --- */

static void health_ring_and_channels(void **state) {
    (void)state;
    gw_health_ring *r = calloc(1, sizeof *r);
    gw_health_table *t = calloc(1, sizeof *t);
    gw_health_ring_init(r);
    gw_config_errors errs;
    const char *yaml = "channels:\n  - name: pool\n    endpoints: [http://127.0.0.1:1/v1, "
                       "http://127.0.0.1:2/v1]\nmodels:\n  - {name: m, channel: pool}\n";
    gw_config *cfg = gw_config_load_string("t.yaml", yaml, strlen(yaml), NULL, &errs);
    assert_non_null(cfg);
    const char *a = cfg->channels[0].endpoints[0]->base_url;
    const char *b = cfg->channels[0].endpoints[1]->base_url;
    gw_health_event ev;
    gw_health_change ch;
    assert_int_equal(gw_health_ring_pop(r, &ev), 0);
    gw_health_ring_push(r, "pool", a, 0, "upstream_timeout", NOW);
    gw_health_ring_push(r, "pool", a, 0, "upstream_timeout", NOW); /* two workers, one change */
    gw_health_ring_push(r, "pool", b, 0, "connect", NOW);
    gw_health_ring_push(r, "pool", a, 1, NULL, NOW + 1);
    assert_int_equal(gw_health_ring_pop(r, &ev), 1);
    assert_string_equal(ev.url, a);
    assert_string_equal(ev.code, "upstream_timeout");
    gw_health_table_apply(t, cfg, &ev, &ch);
    assert_true(ch.endpoint_changed && !ch.channel_changed);
    assert_int_equal(gw_health_ring_pop(r, &ev), 1);
    gw_health_table_apply(t, cfg, &ev, &ch);
    assert_false(ch.endpoint_changed);
    assert_int_equal(gw_health_ring_pop(r, &ev), 1);
    gw_health_table_apply(t, cfg, &ev, &ch);
    assert_true(ch.endpoint_changed && ch.channel_changed && ch.channel_down);
    assert_int_equal(ch.channel_down_count, 2);
    assert_int_equal(gw_health_ring_pop(r, &ev), 1);
    gw_health_table_apply(t, cfg, &ev, &ch);
    assert_true(ev.up && ch.endpoint_changed && ch.channel_changed && !ch.channel_down);
    assert_int_equal(gw_health_ring_pop(r, &ev), 0);
    /* bounded: a full ring refuses and counts */
    for (int i = 0; i < GW_HEALTH_RING; i++)
        assert_int_equal(gw_health_ring_push(r, "pool", a, i % 2, NULL, NOW), 0);
    assert_int_equal(gw_health_ring_push(r, "pool", a, 0, NULL, NOW), -1);
    assert_int_equal(atomic_load(&r->dropped), 1);
    for (int i = 0; i < GW_HEALTH_RING; i++)
        assert_int_equal(gw_health_ring_pop(r, &ev), 1);
    assert_int_equal(gw_health_ring_push(r, "pool", a, 0, NULL, NOW), 0);
    gw_config_unref(cfg);
    free(r);
    free(t);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(periods_in_utc),
        cmocka_unit_test(times_parse),
        cmocka_unit_test(budget_thresholds),
        cmocka_unit_test(anomaly_math),
        cmocka_unit_test_setup_teardown(budgets_fire_once_per_threshold, setup_db, teardown_db),
        cmocka_unit_test_setup_teardown(anomaly_fires_for_a_spike_only, setup_db, teardown_db),
        cmocka_unit_test_setup_teardown(error_rates_need_their_minimum, setup_db, teardown_db),
        cmocka_unit_test_setup_teardown(history_is_bounded, setup_db, teardown_db),
        cmocka_unit_test(config_as_the_issue_writes),
        cmocka_unit_test(config_errors_say_where),
        cmocka_unit_test(webhook_failures_are_retried_then_told),
        cmocka_unit_test(health_ring_and_channels),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
