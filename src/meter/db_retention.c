/* Retention of the request log, by age and by size, in short steps: each deletes at most
 * STEP_ROWS rows in one transaction, so the writer returns to its queue between steps and a
 * long backlog of old rows never holds the write lock for long. Freed pages are reused by later
 * rows: the file stops growing rather than shrinking (no VACUUM on a live store). */
#include <stdio.h>

#include "meter/db_impl.h"

#define STEP_ROWS 2000
#define STR_(x) #x
#define STR(x) STR_(x)

static int query_int64(sqlite3 *db, const char *sql, int64_t a, int64_t *out) {
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK) return -1;
    sqlite3_bind_int64(s, 1, a);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) *out = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

static int run(sqlite3 *db, const char *sql, int64_t a) {
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK) return -1;
    sqlite3_bind_int64(s, 1, a);
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? 0 : -1;
}

/* Deletes the requests (and captures) with seq <= last; *bytes and *rows get what went. */
static int delete_through(gw_meter_db *db, int64_t last, int64_t *bytes, int64_t *rows) {
    if (query_int64(db->db, "SELECT coalesce(sum(bytes), 0) FROM requests WHERE seq <= ?", last,
                    bytes) < 0 ||
        query_int64(db->db, "SELECT count(*) FROM requests WHERE seq <= ?", last, rows) < 0 ||
        run(db->db, "DELETE FROM request_captures WHERE seq <= ?", last) < 0 ||
        run(db->db, "DELETE FROM requests WHERE seq <= ?", last) < 0)
        return -1;
    return 0;
}

/* The oldest STEP_ROWS rows older than before_ms, by time. */
static int age_step(gw_meter_db *db, int64_t before_ms, int64_t *bytes, int64_t *rows) {
    int64_t last = 0;
    /* the oldest rows by seq, as long as they are older than the cutoff */
    if (query_int64(db->db,
                    "SELECT coalesce(max(seq), 0) FROM (SELECT seq FROM requests WHERE time_ms < ?"
                    " ORDER BY time_ms LIMIT " STR(STEP_ROWS) ")",
                    before_ms, &last) < 0)
        return -1;
    if (!last) return 0;
    /* delete exactly the rows older than the cutoff among those up to last */
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(db->db,
                           "SELECT coalesce(sum(bytes), 0), count(*) FROM requests WHERE seq <= ?1"
                           " AND time_ms < ?2",
                           -1, &s, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_int64(s, 1, last);
    sqlite3_bind_int64(s, 2, before_ms);
    if (sqlite3_step(s) == SQLITE_ROW) {
        *bytes = sqlite3_column_int64(s, 0);
        *rows = sqlite3_column_int64(s, 1);
    }
    sqlite3_finalize(s);
    const char *const sqls[] = {
        "DELETE FROM request_captures WHERE seq IN (SELECT seq FROM requests WHERE seq <= ?1 AND"
        " time_ms < ?2)",
        "DELETE FROM requests WHERE seq <= ?1 AND time_ms < ?2"};
    for (size_t i = 0; i < 2; i++) {
        if (sqlite3_prepare_v2(db->db, sqls[i], -1, &s, NULL) != SQLITE_OK) return -1;
        sqlite3_bind_int64(s, 1, last);
        sqlite3_bind_int64(s, 2, before_ms);
        int rc = sqlite3_step(s);
        sqlite3_finalize(s);
        if (rc != SQLITE_DONE) return -1;
    }
    return *rows > 0;
}

/* The oldest rows while the log is over max_bytes, down to 90% of it (so a full log is not
 * trimmed by one row after every batch). */
static int size_step(gw_meter_db *db, int64_t max_bytes, int64_t *bytes, int64_t *rows) {
    int64_t target = db->log_bytes - max_bytes / 10 * 9;
    if (max_bytes <= 0 || db->log_bytes <= max_bytes || target <= 0) return 0;
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(db->db,
                           "SELECT seq, bytes FROM requests ORDER BY seq LIMIT " STR(STEP_ROWS), -1,
                           &s, NULL) != SQLITE_OK)
        return -1;
    int64_t last = 0, sum = 0;
    while (sum < target && sqlite3_step(s) == SQLITE_ROW) {
        last = sqlite3_column_int64(s, 0);
        sum += sqlite3_column_int64(s, 1);
    }
    sqlite3_finalize(s);
    if (!last) {
        db->log_bytes = 0; /* nothing left to count */
        return 0;
    }
    return delete_through(db, last, bytes, rows) < 0 ? -1 : 1;
}

int gw_meter_db_retain(gw_meter_db *db, int64_t before_ms, int64_t max_bytes,
                       int64_t minute_before_s, uint64_t *deleted, char *err, size_t cap) {
    *deleted = 0;
    int rc = gw_meter_db_begin(db, err, cap);
    if (rc != GW_METER_STORE_OK) return rc;
    int64_t bytes = 0, rows = 0;
    int more = before_ms > 0 ? age_step(db, before_ms, &bytes, &rows) : 0;
    if (more < 0) return gw_meter_db_fail(db, err, cap);
    if (!more) {
        more = size_step(db, max_bytes, &bytes, &rows);
        if (more < 0) return gw_meter_db_fail(db, err, cap);
    }
    if (!more && minute_before_s > 0 &&
        run(db->db,
            "DELETE FROM usage_rollup WHERE rowid IN (SELECT rowid FROM usage_rollup WHERE"
            " bucket = 'minute' AND t < ? LIMIT " STR(STEP_ROWS) ")",
            minute_before_s) < 0)
        return gw_meter_db_fail(db, err, cap);
    if (!more && minute_before_s > 0) more = sqlite3_changes(db->db) >= STEP_ROWS;
    if (sqlite3_exec(db->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        return gw_meter_db_fail(db, err, cap);
    db->log_bytes -= bytes;
    if (db->log_bytes < 0) db->log_bytes = 0;
    *deleted = (uint64_t)rows;
    return more ? 1 : 0;
}
