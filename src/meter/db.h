/* The SQLite backend of the usage and request-log store (meter/store.h): the writer thread's
 * connection (WAL, prepared statements, one transaction per batch of records) and the reader
 * thread's read-only one. The file may be the key store's (store.path): these tables have names
 * of their own, and their schema version is kept in a table of their own, meter_schema, since
 * the key store owns PRAGMA user_version.
 *
 * Tables (see docs/metering.md):
 *   requests          one row per request, every field of the record; attempts as JSON text
 *   request_captures  the captured bodies and stream events of a request (seq = requests.seq)
 *   usage_rollup      sums per minute, hour and day by tenant, project, key and model
 * One handle is for one thread. Internal to src/meter/: the rest of it goes through
 * gw_meter_store_sqlite's ops. */
#ifndef AIGW_METER_DB_H
#define AIGW_METER_DB_H

#include <stddef.h>
#include <stdint.h>

#include "meter/record-t.h"
#include "meter/store.h"

struct sqlite3;
typedef struct gw_meter_db gw_meter_db;

/* --- the writer's side: GW_METER_STORE_OK, _BUSY or _ERROR --- */

/* Opens (creating when missing) path, WAL, and migrates the meter's tables. busy_ms: how long a
 * write waits for another connection's lock before it answers GW_METER_STORE_BUSY. */
gw_meter_db *gw_meter_db_open(const char *path, int busy_ms, char *err, size_t cap);
void gw_meter_db_close(gw_meter_db *db);

/* Creates or migrates the meter's tables on an open connection: 0, or -1 with err. */
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

/* One step of retention (the ops' retain). */
int gw_meter_db_retain(gw_meter_db *db, int64_t before_ms, int64_t max_bytes,
                       int64_t minute_before_s, uint64_t *deleted, char *err, size_t cap);

/* --- the reader's side (the ops' reads_*, usage_* and request queries) --- */

gw_meter_reads *gw_meter_db_reads_open(const char *path, const _Atomic int64_t *deadline_ns,
                                       char *err, size_t cap);
void gw_meter_db_reads_close(gw_meter_reads *rd);
int gw_meter_db_usage_totals(gw_meter_reads *rd, const gw_usage_query *q, size_t limit,
                             gw_usage_row_fn fn, void *ud, char *err, size_t cap);
int gw_meter_db_usage_top(gw_meter_reads *rd, const gw_usage_query *q, size_t limit,
                          gw_usage_row_fn fn, void *ud, char *err, size_t cap);
int gw_meter_db_usage_timeline(gw_meter_reads *rd, const gw_usage_query *q, size_t limit,
                               gw_usage_row_fn fn, void *ud, char *err, size_t cap);
int gw_meter_db_requests_search(gw_meter_reads *rd, const gw_requests_query *q, size_t limit,
                                gw_request_row_fn fn, void *ud, char *err, size_t cap);
int gw_meter_db_request_detail(gw_meter_reads *rd, const char *id, gw_request_row_fn fn, void *ud,
                               char *err, size_t cap);
int gw_meter_db_replay_load(gw_meter_reads *rd, const char *id, gw_replay *out, char *err,
                            size_t cap);

#endif
