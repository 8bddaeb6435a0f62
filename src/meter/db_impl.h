/* The writer's connection and its prepared statements, shared by the files of the store's write
 * side (db.c, db_retention.c). Internal to src/meter/. */
#ifndef AIGW_METER_DB_IMPL_H
#define AIGW_METER_DB_IMPL_H

#include <sqlite3.h>

#include "core/strbuf.h"
#include "meter/db.h"

struct gw_meter_db {
    sqlite3 *db;
    sqlite3_stmt *insert_request, *insert_capture, *upsert_rollup;
    int64_t log_bytes;       /* sum of requests.bytes, kept in step with every write and deletion */
    gw_strbuf attempts;      /* the attempts' JSON of the row being written, reused */
    gw_strbuf response;      /* a capture's events, re-encoded for the file, reused */
    struct rollup_sum *sums; /* a batch's rollups, summed before they are written (reused) */
    size_t sums_cap;
};

/* The usage_rollup upserts of a batch of records, inside the batch's transaction: 0, or -1
 * (memory, or SQLite: see its error). */
int gw_meter_db_write_rollups(gw_meter_db *db, const gw_request_record *recs, size_t n);

/* "BEGIN IMMEDIATE": 0, or GW_METER_DB_BUSY / _ERROR with err. */
int gw_meter_db_begin(gw_meter_db *db, char *err, size_t cap);
/* Rolls back and says why: GW_METER_DB_BUSY when the lock was the reason, else _ERROR. */
int gw_meter_db_fail(gw_meter_db *db, char *err, size_t cap);

#endif
