/* The arithmetic of alerts, apart from any database so it is tested alone: calendar periods in
 * UTC, budget thresholds reached, and the anomaly test of a window against its baseline. */
#ifndef AIGW_ALERTS_ALERT_MATH_H
#define AIGW_ALERTS_ALERT_MATH_H

#include <stddef.h>
#include <stdint.h>

/* The start (unix seconds, UTC) of the calendar day or month that holds t. */
int64_t gw_alert_day_start(int64_t t);
int64_t gw_alert_month_start(int64_t t);

/* Writes into out the thresholds (percents of amount, ascending in `at`) that spend has reached;
 * returns how many. */
size_t gw_alert_budget_reached(double spend, double amount, const int *at, size_t at_count,
                               int *out);

/* The baseline of one subject: the cost of each of its `windows` same-size windows, summed and
 * summed squared (windows with no traffic count as zero). */
typedef struct gw_alert_baseline {
    double sum, sum_sq;
    int windows;
} gw_alert_baseline;

typedef struct gw_anomaly_verdict {
    double mean, stddev;
    double ratio;  /* latest / mean; 0 when the mean is 0 */
    double zscore; /* (latest - mean) / stddev; 0 when stddev is 0 */
    int by_factor, by_z;
} gw_anomaly_verdict;

/* Whether `latest` is anomalous against the baseline: at least min_cost, and above factor x the
 * mean, or (z > 0) more than z standard deviations above it. A baseline of no window never is:
 * a subject with no history has nothing to compare with. */
int gw_alert_anomalous(double latest, const gw_alert_baseline *b, double factor, double z,
                       double min_cost, gw_anomaly_verdict *out);

/* How many same-size windows the baseline spans: baseline_days of windows of window_s seconds
 * (at least one). */
int gw_alert_baseline_windows(int baseline_days, int64_t window_s);

/* RFC 3339 UTC text of unix seconds: 2030-03-15T12:00:00Z (out holds 21+ bytes). */
void gw_alert_format_time(int64_t t, char *out, size_t outlen);
/* Unix seconds from RFC 3339 (2030-03-15T12:00:00Z, with fractions or an offset) or plain
 * digits; -1 when it is neither. */
int64_t gw_alert_parse_time(const char *s, size_t len);

#endif
