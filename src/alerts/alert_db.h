/* The alerts table of the metering database (SQLite, WAL): every alert raised, its body and how
 * its delivery went. The evaluator thread writes through its own connection; the admin API reads
 * through another (control thread). The usage rollups the checks read are in the same file,
 * written by the meter's writer. */
#ifndef AIGW_ALERTS_ALERT_DB_H
#define AIGW_ALERTS_ALERT_DB_H

#include <stddef.h>
#include <stdint.h>

#include "alerts/alert.h"

struct evbuffer;
typedef struct sqlite3 sqlite3;

/* A connection to the database at path (made when missing). `writer`: creates the alerts table
 * when missing and waits longer on the meter's write lock. NULL with err on failure. */
sqlite3 *gw_alert_db_open(const char *path, int writer, char *err, size_t errlen);
void gw_alert_db_close(sqlite3 *db);

/* Records the alert with its body and delivery state (pending, none, dropped). *inserted is 0
 * when an alert of the same dedup text is there already (it fired before: not again). */
int gw_alert_db_insert(sqlite3 *db, const gw_alert *a, const char *body, const char *delivery,
                       int *inserted);
/* The time of the newest alert of type about subject_key: 1 and *t, 0 when none, -1 on error. */
int gw_alert_db_last_time(sqlite3 *db, const char *type, const char *subject_key, int64_t *t);
/* How a delivery ended: delivered or failed (after its retries), dropped. */
int gw_alert_db_set_delivery(sqlite3 *db, const char *id, const char *status, int attempts,
                             const char *last_error, int64_t delivered_at);
/* Alerts still pending since `since` (oldest first, at most limit): a restart resumes their
 * delivery; older ones are marked failed ("expired"). Returns how many cb saw, -1 on error. */
int gw_alert_db_resume(sqlite3 *db, int64_t since, int limit,
                       void (*cb)(void *ud, const char *id, const char *body), void *ud);

/* Forgets alerts older than `before` and, past `max`, the oldest (budget marks of the running
 * periods are younger than any `before` the config allows, and never counted against max). */
int gw_alert_db_prune(sqlite3 *db, int64_t before, int max);

typedef struct gw_alert_query {
    int64_t from, to; /* unix seconds, [from, to]; -1: open */
    char type[48];    /* "": every type */
    int limit;
} gw_alert_query;

/* The alerts of q, newest first, as JSON objects separated by commas (each its body plus a
 * "delivery" object) appended to out; returns how many, -1 on error (err says why). */
int gw_alert_db_list(sqlite3 *db, const gw_alert_query *q, struct evbuffer *out, char *err,
                     size_t errlen);

#endif
