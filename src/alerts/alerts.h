/* The alert service: an evaluator thread that, every evaluate_every_ms of the gateway's wall
 * clock, runs the checks over the usage rollups (budgets, cost anomalies, error rates), turns
 * endpoint health events into endpoint and channel down/up alerts, records every alert in the
 * metering database's alerts table and hands it to the webhook sender thread.
 *
 * Why a thread of its own and not the control loop: a check's cost grows with the traffic it
 * reads (a week of hour rollups per subject, a day of minute rollups for a budget) and SQLite
 * may wait on the meter's write lock; the control loop serves the admin API and the health
 * checks and must not stall behind either. */
#ifndef AIGW_ALERTS_ALERTS_H
#define AIGW_ALERTS_ALERTS_H

#include <stddef.h>
#include <stdint.h>

#include "alerts/alert_db.h"
#include "alerts/alerts-t.h"
#include "core/config-t.h"

struct evbuffer;
typedef struct gw_alerts gw_alerts;

/* Opens (makes) the database at db_path, starts the threads with conf (in cfg's arena: a
 * reference is taken). NULL with err when it cannot. Control thread. */
gw_alerts *gw_alerts_start(const char *db_path, gw_config *cfg, const gw_alerts_conf *conf,
                           char *err, size_t errlen);
/* A reloaded config: its alert settings apply from the next evaluation (conf NULL: none are
 * raised until a config has them again). Control thread. */
void gw_alerts_set_config(gw_alerts *s, gw_config *cfg, const gw_alerts_conf *conf);
/* Stops both threads (a delivery in flight is cut; the history keeps it pending and the next
 * start resumes it). */
void gw_alerts_stop(gw_alerts *s);

/* The endpoint health hook (upstream/endpoints.h): any thread, never blocks, locks or
 * allocates. ud is the gw_alerts. */
void gw_alerts_endpoint_health(const char *channel, const char *base_url, int up, const char *code,
                               void *ud);

/* Queues a test alert to the webhooks; its id in id_out. -1 when too many wait. Control
 * thread. */
int gw_alerts_test(gw_alerts *s, char *id_out, size_t outlen);

typedef struct gw_alerts_stats {
    uint64_t evaluations;
    int64_t last_evaluation; /* unix seconds of the wall clock; -1: none yet */
    uint64_t raised, dropped, delivery_failures, health_events_dropped;
    size_t pending; /* alerts waiting for delivery now */
} gw_alerts_stats;
void gw_alerts_get_stats(gw_alerts *s, gw_alerts_stats *out);

/* The history (alert_db.h's list) through the control thread's own read connection. */
int gw_alerts_history(gw_alerts *s, const gw_alert_query *q, struct evbuffer *out, char *err,
                      size_t errlen);

#endif
