/* The settings of alerts (metering.alerts): where they go (webhooks) and what raises one (budget
 * thresholds, cost anomalies, error-rate spikes, endpoints and channels going down and up).
 * Parsed by the config loader (src/config/load_alerts.c) into the snapshot's arena. Types only. */
#ifndef AIGW_ALERTS_ALERTS_T_H
#define AIGW_ALERTS_ALERTS_T_H

#include <stddef.h>

enum {
    GW_ALERT_MAX_WEBHOOKS = 16,
    GW_ALERT_MAX_HEADERS = 16,
    GW_ALERT_MAX_BUDGETS = 256,
    GW_ALERT_MAX_THRESHOLDS = 8,
    GW_ALERT_MAX_DIMS = 5,
};

/* A dimension of the usage rollups an alert watches: the whole gateway (total) or each value of
 * one column. */
typedef enum gw_alert_dim {
    GW_ALERT_BY_TOTAL,
    GW_ALERT_BY_TENANT,
    GW_ALERT_BY_PROJECT,
    GW_ALERT_BY_KEY,
    GW_ALERT_BY_MODEL,
} gw_alert_dim;

typedef struct gw_alert_webhook {
    const char *url;
    const char **headers; /* "Name: value", sent with every delivery */
    size_t header_count;
    int timeout_ms;  /* one attempt, connect included */
    int max_retries; /* attempts after the first */
    int backoff_ms;  /* before the first retry; doubled each time up to max_backoff_ms */
    int max_backoff_ms;
} gw_alert_webhook;

/* A spending budget of one tenant, project or key (or each of them, value "*") per calendar
 * month or day (UTC), in the price currency. */
typedef struct gw_alert_budget {
    gw_alert_dim by; /* tenant, project or key */
    const char *value;
    int daily; /* 0: monthly */
    double amount;
    int at[GW_ALERT_MAX_THRESHOLDS]; /* percents, ascending */
    size_t at_count;
} gw_alert_budget;

/* The latest window's cost against the same-size windows of the trailing baseline. */
typedef struct gw_alert_anomaly {
    int on;
    int window_minutes;
    int baseline_days;
    double factor;   /* fires above factor x the baseline's mean */
    double z;        /* and/or beyond z standard deviations; 0: not used */
    double min_cost; /* a window below this never fires (near-zero baselines) */
    gw_alert_dim by[GW_ALERT_MAX_DIMS];
    size_t by_count;
} gw_alert_anomaly;

/* Errors (status >= 500, or no answer) over requests in the latest window. */
typedef struct gw_alert_error_rate {
    int on;
    int window_minutes;
    double threshold; /* a fraction: 0.05 is 5% */
    long min_requests;
    gw_alert_dim by[GW_ALERT_MAX_DIMS];
    size_t by_count;
} gw_alert_error_rate;

typedef struct gw_alerts_conf {
    gw_alert_webhook webhooks[GW_ALERT_MAX_WEBHOOKS];
    size_t webhook_count;
    gw_alert_budget *budgets;
    size_t budget_count;
    gw_alert_anomaly anomaly;
    gw_alert_error_rate error_rate;
    int evaluate_every_ms;
    int endpoints;    /* endpoint_down / endpoint_up */
    int channels;     /* channel_down / channel_up: every endpoint of a channel down, or one back */
    int max_pending;  /* alerts waiting for delivery; past it a new one is recorded as dropped */
    int history_days; /* the history keeps alerts this long (at least 32: a budget's month) */
    int history_max;  /* and at most this many (a budget's once-only marks are kept apart) */
} gw_alerts_conf;

#endif
