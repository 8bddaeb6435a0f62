/* The usage and request-log store in SQLite, as the writer thread sees it: one connection of its
 * own (WAL), prepared statements, one transaction per batch of records. The file may be the key
 * store's (store.path): these tables have names of their own, and their schema version is kept
 * in a table of their own, meter_schema, since the key store owns PRAGMA user_version.
 *
 * Tables (see docs/metering.md):
 *   requests          one row per request, every field of the record; attempts as JSON text
 *   request_captures  the captured bodies and stream events of a request (seq = requests.seq)
 *   usage_rollup      sums per minute, hour and day by tenant, project, key and model
 * One handle is for one thread. Internal to src/meter/. */
#ifndef AIGW_METER_DB_H
#define AIGW_METER_DB_H

#include <stddef.h>
#include <stdint.h>

#include "meter/record-t.h"

struct sqlite3;
typedef struct gw_meter_db gw_meter_db;

enum {
    GW_METER_DB_OK = 0,
    GW_METER_DB_BUSY = 1, /* another connection holds the write lock: try the batch again */
    GW_METER_DB_ERROR = -1,
};

/* Opens (creating when missing) path, WAL, and migrates the meter's tables. busy_ms: how long a
 * write waits for another connection's lock before it answers GW_METER_DB_BUSY. */
gw_meter_db *gw_meter_db_open(const char *path, int busy_ms, char *err, size_t cap);
void gw_meter_db_close(gw_meter_db *db);

/* Creates or migrates the meter's tables on an open connection (used by the reader to check
 * what it reads, and by the writer): 0, or -1 with err. */
int gw_meter_schema_migrate(struct sqlite3 *db, char *err, size_t cap);
/* The schema version this build writes, and what a database holds (0: none yet; -1: error). */
int gw_meter_schema_version(void);
int gw_meter_schema_version_of(struct sqlite3 *db);

/* The records as rows, captures and rollups, in one transaction. */
int gw_meter_db_write(gw_meter_db *db, const gw_request_record *recs, size_t n, char *err,
                      size_t cap);

/* The approximate size the request log takes (rows and captures), as retention by size counts
 * it: kept up to date by the writes and deletions of this handle. */
int64_t gw_meter_db_log_bytes(const gw_meter_db *db);

/* One step of retention, bounded so the writer goes back to its queue soon: deletes at most a
 * few thousand of the request rows (and their captures) older than before_ms, then of the
 * oldest while the log is over max_bytes (0: no bound), and per-minute rollups older than
 * minute_before_s. *deleted gets the request rows deleted. Returns 1 when more is left to do,
 * 0 when done, or a GW_METER_DB_BUSY / _ERROR. */
int gw_meter_db_retain(gw_meter_db *db, int64_t before_ms, int64_t max_bytes,
                       int64_t minute_before_s, uint64_t *deleted, char *err, size_t cap);

#endif
