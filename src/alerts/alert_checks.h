/* The checks that read the usage rollups (the meter's usage_rollup table): budgets, cost
 * anomalies and error-rate spikes, run by the evaluator thread at a time of the gateway's wall
 * clock. Each raises alerts through a sink, which records them (once, for a budget threshold of
 * a period) and sends them. */
#ifndef AIGW_ALERTS_ALERT_CHECKS_H
#define AIGW_ALERTS_ALERT_CHECKS_H

#include <stddef.h>
#include <stdint.h>

#include "alerts/alert.h"
#include "alerts/alerts-t.h"

typedef struct sqlite3 sqlite3;

typedef struct gw_alert_sink {
    /* records and sends a (the sink clears it after); 1 when it was new, 0 when an alert of the
     * same dedup text fired before, -1 when it could not be recorded */
    int (*raise)(void *ud, gw_alert *a);
    /* the time of the newest alert of type about subject_key, -1 when none */
    int64_t (*last)(void *ud, const char *type, const char *subject_key);
    void *ud;
} gw_alert_sink;

enum { GW_ALERT_MAX_SUBJECTS = 10000 }; /* per check and evaluation */

/* Runs every configured check at `now` (unix seconds). Returns 0, or -1 with err when the
 * rollups cannot be read (no usage_rollup table yet: the meter is off). */
int gw_alert_checks_run(sqlite3 *db, const gw_alerts_conf *conf, int64_t now,
                        const gw_alert_sink *sink, char *err, size_t errlen);

#endif
