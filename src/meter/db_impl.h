/* The SQLite backend's connections: the writer's with its prepared statements, shared by the
 * files of the write side (db.c, db_rollup.c, db_retention.c), and the reader's, shared by the
 * read side (db_reads.c, db_usage.c, db_requests.c). Internal to src/meter/. */
#ifndef AIGW_METER_DB_IMPL_H
#define AIGW_METER_DB_IMPL_H

#include <sqlite3.h>
#include <stdatomic.h>

#include "core/strbuf.h"
#include "meter/db.h"

struct gw_meter_db {
    gw_meter_store base; /* first: the ops */
    sqlite3 *db;
    sqlite3_stmt *insert_request, *insert_capture, *upsert_rollup;
    int64_t log_bytes;       /* sum of requests.bytes, kept in step with every write and deletion */
    gw_strbuf attempts;      /* the attempts' JSON of the row being written, reused */
    gw_strbuf response;      /* a capture's events, re-encoded for the file, reused */
    struct rollup_sum *sums; /* a batch's rollups, summed before they are written (reused) */
    size_t sums_cap;
    uint32_t sums_batch; /* which batch a slot of sums belongs to: no clearing between batches */
    uint32_t *sums_used; /* the slots this batch filled, in the order they were first used */
    struct gw_meter_db_checkpointer *checkpointer; /* the WAL's checkpoints, off this thread */
};

/* The usage_rollup upserts of a batch of records, inside the batch's transaction: 0, or -1
 * (memory, or SQLite: see its error). */
int gw_meter_db_write_rollups(gw_meter_db *db, const gw_request_record *recs, size_t n);

/* "BEGIN IMMEDIATE": 0, or GW_METER_STORE_BUSY / _ERROR with err. */
int gw_meter_db_begin(gw_meter_db *db, char *err, size_t cap);
/* Rolls back and says why: GW_METER_STORE_BUSY when the lock was the reason, else _ERROR. */
int gw_meter_db_fail(gw_meter_db *db, char *err, size_t cap);

/* The read-only connection of the reader thread. */
typedef struct gw_meter_db_reads {
    gw_meter_reads base; /* first: the ops */
    sqlite3 *db;
    const _Atomic int64_t *deadline_ns; /* the progress handler cuts a query past it */
} gw_meter_db_reads;

/* A failed read: GW_METER_READ_TIMEOUT when the progress handler cut it, else
 * GW_METER_READ_ERROR with SQLite's message in err. */
int gw_meter_db_read_error(gw_meter_db_reads *r, char *err, size_t cap);

/* A text column of the row s is on ("" for NULL). */
static inline gw_text gw_meter_db_text(sqlite3_stmt *s, int col) {
    const char *v = (const char *)sqlite3_column_text(s, col);
    if (!v) return (gw_text){"", 0};
    return (gw_text){v, (size_t)sqlite3_column_bytes(s, col)};
}

#endif
