#include "alerts/alert_checks.h"

#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

#include "alerts/alert_math.h"

/* The rollup column of a dimension; "total" is one constant group. Names from this fixed list
 * only are written into SQL text. */
static const char *column(gw_alert_dim d) {
    switch (d) {
    case GW_ALERT_BY_TENANT:
        return "tenant";
    case GW_ALERT_BY_PROJECT:
        return "project";
    case GW_ALERT_BY_KEY:
        return "key_id";
    case GW_ALERT_BY_MODEL:
        return "model";
    default:
        return "''";
    }
}

static void subject(gw_alert *a, gw_alert_dim d, const char *value) {
    if (d == GW_ALERT_BY_TOTAL)
        gw_alert_subject(a, "scope", "total");
    else
        gw_alert_subject(a, gw_alert_dim_name(d), value);
}

/* "tenant acme", or "the gateway" */
static void describe(char *out, size_t outlen, gw_alert_dim d, const char *value) {
    if (d == GW_ALERT_BY_TOTAL)
        snprintf(out, outlen, "the gateway");
    else
        snprintf(out, outlen, "%s %s", gw_alert_dim_name(d), value);
}

static int prepare(sqlite3 *db, const char *sql, sqlite3_stmt **st, char *err, size_t errlen) {
    if (sqlite3_prepare_v2(db, sql, -1, st, NULL) == SQLITE_OK) return 0;
    snprintf(err, errlen, "%s", sqlite3_errmsg(db));
    return -1;
}

static int finish(sqlite3 *db, sqlite3_stmt *st, int rc, char *err, size_t errlen) {
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) snprintf(err, errlen, "%s", sqlite3_errmsg(db));
    sqlite3_finalize(st);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : -1;
}

/* --- budgets --- */

static void raise_budget(const gw_alert_budget *b, const char *value, double spend, int pct,
                         int64_t now, int64_t period_start, const gw_alert_sink *sink) {
    gw_alert a;
    gw_alert_init(&a, "budget", pct >= 100 ? "critical" : pct >= 80 ? "warning" : "info", now);
    subject(&a, b->by, value);
    char start[32], who[300];
    gw_alert_format_time(period_start, start, sizeof start);
    const char *period = b->daily ? "daily" : "monthly";
    gw_alert_value(&a, "spend", spend);
    gw_alert_value(&a, "budget", b->amount);
    gw_alert_value(&a, "percent", spend * 100 / b->amount);
    gw_alert_value_str(&a, "period", period);
    gw_alert_value_str(&a, "period_start", start);
    gw_alert_threshold(&a, "percent", pct);
    gw_alert_threshold(&a, "amount", b->amount * pct / 100);
    describe(who, sizeof who, b->by, value);
    gw_alert_message(&a, "%s has spent %.2f of its %s budget of %.2f (%.0f%%): past %d%%", who,
                     spend, period, b->amount, spend * 100 / b->amount, pct);
    /* the amount is left out: raising a budget mid-period does not fire the same step again */
    snprintf(a.dedup, sizeof a.dedup, "budget|%s|%s|%s|%lld|%d", gw_alert_dim_name(b->by), value,
             period, (long long)period_start, pct);
    sink->raise(sink->ud, &a);
    gw_alert_clear(&a);
}

/* Spend this period: whole days from the day rollups, today from the minute rollups (up to now),
 * per value of the budget's column (one value, or each with "*"). */
static int check_budget(sqlite3 *db, const gw_alert_budget *b, int64_t now,
                        const gw_alert_sink *sink, char *err, size_t errlen) {
    int64_t today = gw_alert_day_start(now);
    int64_t start = b->daily ? today : gw_alert_month_start(now);
    const char *col = column(b->by);
    char sql[900];
    snprintf(sql, sizeof sql,
             "SELECT d, sum(c) FROM ("
             " SELECT %s AS d, cost AS c FROM usage_rollup WHERE bucket = 'day' AND t >= ?1"
             "  AND t < ?2 AND (?4 = '*' OR %s = ?4)"
             " UNION ALL"
             " SELECT %s, cost FROM usage_rollup WHERE bucket = 'minute' AND t >= ?2 AND t <= ?3"
             "  AND (?4 = '*' OR %s = ?4)"
             ") GROUP BY d LIMIT %d",
             col, col, col, col, GW_ALERT_MAX_SUBJECTS);
    sqlite3_stmt *st;
    if (prepare(db, sql, &st, err, errlen) < 0) return -1;
    sqlite3_bind_int64(st, 1, start);
    sqlite3_bind_int64(st, 2, today);
    sqlite3_bind_int64(st, 3, now);
    sqlite3_bind_text(st, 4, b->value, -1, SQLITE_STATIC);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *value = (const char *)sqlite3_column_text(st, 0);
        double spend = sqlite3_column_double(st, 1);
        int reached[GW_ALERT_MAX_THRESHOLDS];
        size_t n = gw_alert_budget_reached(spend, b->amount, b->at, b->at_count, reached);
        for (size_t i = 0; i < n; i++)
            raise_budget(b, value ? value : "", spend, reached[i], now, start, sink);
    }
    return finish(db, st, rc, err, errlen);
}

/* --- cost anomalies --- */

/* Whether an alert of type about the subject fired within the last window: one alert per
 * subject per window, also across a restart. */
static int cooling(const gw_alert_sink *sink, const char *type, const gw_alert *a, int64_t now,
                   int64_t window_s) {
    int64_t last = sink->last ? sink->last(sink->ud, type, a->subject_key) : -1;
    return last >= 0 && now - last < window_s;
}

static int check_anomaly(sqlite3 *db, const gw_alert_anomaly *an, gw_alert_dim by, int64_t now,
                         const gw_alert_sink *sink, char *err, size_t errlen) {
    int64_t w = (int64_t)an->window_minutes * 60;
    int64_t minute = now - now % 60;
    /* the latest window: the last complete minutes. The baseline: the same-size windows before
     * it, read from the hour rollups when windows are whole hours (168 rows a subject for a
     * week, not 10,080) and then aligned to the hour. */
    int64_t g = w % 3600 == 0 ? 3600 : 60;
    int64_t base_end = (minute - w) - (minute - w) % g;
    int windows = gw_alert_baseline_windows(an->baseline_days, w);
    int64_t base_start = base_end - (int64_t)windows * w;
    const char *col = column(by);
    char sql[1200];
    snprintf(sql, sizeof sql,
             "WITH latest AS ("
             " SELECT %s AS d, sum(cost) AS c FROM usage_rollup WHERE bucket = 'minute'"
             "  AND t >= ?1 AND t < ?2 GROUP BY d),"
             " win AS ("
             " SELECT %s AS d, (?4 - 1 - t) / ?5 AS k, sum(cost) AS c FROM usage_rollup"
             "  WHERE bucket = ?6 AND t >= ?3 AND t < ?4 GROUP BY d, k),"
             " base AS (SELECT d, sum(c) AS s, sum(c * c) AS s2, max(k) AS kmax FROM win"
             "  GROUP BY d)"
             " SELECT latest.d, latest.c, base.s, base.s2, base.kmax FROM latest"
             " JOIN base ON base.d = latest.d WHERE latest.c >= ?7 LIMIT %d",
             col, col, GW_ALERT_MAX_SUBJECTS);
    sqlite3_stmt *st;
    if (prepare(db, sql, &st, err, errlen) < 0) return -1;
    sqlite3_bind_int64(st, 1, minute - w);
    sqlite3_bind_int64(st, 2, minute);
    sqlite3_bind_int64(st, 3, base_start);
    sqlite3_bind_int64(st, 4, base_end);
    sqlite3_bind_int64(st, 5, w);
    sqlite3_bind_text(st, 6, g == 3600 ? "hour" : "minute", -1, SQLITE_STATIC);
    sqlite3_bind_double(st, 7, an->min_cost);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *value = (const char *)sqlite3_column_text(st, 0);
        double latest = sqlite3_column_double(st, 1);
        /* the baseline begins at the subject's first traffic within it: a tenant that came
         * three days ago is not judged against four empty days */
        gw_alert_baseline b = {.sum = sqlite3_column_double(st, 2),
                               .sum_sq = sqlite3_column_double(st, 3),
                               .windows = sqlite3_column_int(st, 4) + 1};
        gw_anomaly_verdict v;
        if (!gw_alert_anomalous(latest, &b, an->factor, an->z, an->min_cost, &v)) continue;
        gw_alert a;
        gw_alert_init(&a, "cost_anomaly", "warning", now);
        subject(&a, by, value ? value : "");
        if (cooling(sink, "cost_anomaly", &a, now, w)) {
            gw_alert_clear(&a);
            continue;
        }
        char from[32], to[32], who[300];
        gw_alert_format_time(minute - w, from, sizeof from);
        gw_alert_format_time(minute, to, sizeof to);
        gw_alert_value(&a, "cost", latest);
        gw_alert_value(&a, "baseline_mean", v.mean);
        gw_alert_value(&a, "baseline_stddev", v.stddev);
        gw_alert_value(&a, "ratio", v.ratio);
        gw_alert_value(&a, "zscore", v.zscore);
        gw_alert_value_int(&a, "baseline_windows", b.windows);
        gw_alert_value_str(&a, "window_start", from);
        gw_alert_value_str(&a, "window_end", to);
        gw_alert_threshold(&a, "factor", an->factor);
        if (an->z > 0) gw_alert_threshold(&a, "z", an->z);
        gw_alert_threshold(&a, "min_cost", an->min_cost);
        gw_alert_threshold(&a, "window_minutes", an->window_minutes);
        describe(who, sizeof who, by, value ? value : "");
        gw_alert_message(&a,
                         "%s spent %.2f in the last %d minutes against a mean of %.2f over %d such "
                         "windows (%s)",
                         who, latest, an->window_minutes, v.mean, b.windows,
                         v.by_factor ? "above factor x mean" : "beyond z standard deviations");
        sink->raise(sink->ud, &a);
        gw_alert_clear(&a);
    }
    return finish(db, st, rc, err, errlen);
}

/* --- error rates --- */

static int check_error_rate(sqlite3 *db, const gw_alert_error_rate *er, gw_alert_dim by,
                            int64_t now, const gw_alert_sink *sink, char *err, size_t errlen) {
    int64_t w = (int64_t)er->window_minutes * 60;
    int64_t minute = now - now % 60;
    const char *col = column(by);
    char sql[600];
    snprintf(sql, sizeof sql,
             "SELECT %s AS d, sum(requests) AS r, sum(errors) AS e FROM usage_rollup"
             " WHERE bucket = 'minute' AND t >= ?1 AND t < ?2 GROUP BY d"
             " HAVING r >= ?3 AND e > r * ?4 LIMIT %d",
             col, GW_ALERT_MAX_SUBJECTS);
    sqlite3_stmt *st;
    if (prepare(db, sql, &st, err, errlen) < 0) return -1;
    sqlite3_bind_int64(st, 1, minute - w);
    sqlite3_bind_int64(st, 2, minute);
    sqlite3_bind_int64(st, 3, er->min_requests);
    sqlite3_bind_double(st, 4, er->threshold);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *value = (const char *)sqlite3_column_text(st, 0);
        int64_t requests = sqlite3_column_int64(st, 1), errors = sqlite3_column_int64(st, 2);
        gw_alert a;
        gw_alert_init(&a, "error_rate", "critical", now);
        subject(&a, by, value ? value : "");
        if (cooling(sink, "error_rate", &a, now, w)) {
            gw_alert_clear(&a);
            continue;
        }
        char from[32], to[32], who[300];
        gw_alert_format_time(minute - w, from, sizeof from);
        gw_alert_format_time(minute, to, sizeof to);
        double rate = requests ? (double)errors / (double)requests : 0;
        gw_alert_value(&a, "error_rate", rate);
        gw_alert_value_int(&a, "errors", errors);
        gw_alert_value_int(&a, "requests", requests);
        gw_alert_value_str(&a, "window_start", from);
        gw_alert_value_str(&a, "window_end", to);
        gw_alert_threshold(&a, "error_rate", er->threshold);
        gw_alert_threshold(&a, "min_requests", (double)er->min_requests);
        gw_alert_threshold(&a, "window_minutes", er->window_minutes);
        describe(who, sizeof who, by, value ? value : "");
        gw_alert_message(
            &a, "%s failed %lld of %lld requests (%.1f%%) in the last %d minutes, over %.1f%%", who,
            (long long)errors, (long long)requests, rate * 100, er->window_minutes,
            er->threshold * 100);
        sink->raise(sink->ud, &a);
        gw_alert_clear(&a);
    }
    return finish(db, st, rc, err, errlen);
}

int gw_alert_checks_run(sqlite3 *db, const gw_alerts_conf *conf, int64_t now,
                        const gw_alert_sink *sink, char *err, size_t errlen) {
    int rc = 0;
    for (size_t i = 0; i < conf->budget_count; i++)
        if (check_budget(db, &conf->budgets[i], now, sink, err, errlen) < 0) rc = -1;
    for (size_t i = 0; conf->anomaly.on && i < conf->anomaly.by_count; i++)
        if (check_anomaly(db, &conf->anomaly, conf->anomaly.by[i], now, sink, err, errlen) < 0)
            rc = -1;
    for (size_t i = 0; conf->error_rate.on && i < conf->error_rate.by_count; i++)
        if (check_error_rate(db, &conf->error_rate, conf->error_rate.by[i], now, sink, err,
                             errlen) < 0)
            rc = -1;
    return rc;
}
