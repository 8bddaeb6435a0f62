/* The meter's tables, one migration step per version. A step is never edited once released: a
 * change is a new step, so every database migrates along the same path. The version lives in
 * meter_schema, not PRAGMA user_version, which belongs to the key store when both share a file. */
#include <sqlite3.h>
#include <stdio.h>

#include "meter/db.h"

static const char *const migrations[] = {
    /* 1 */
    "CREATE TABLE requests ("
    " seq INTEGER PRIMARY KEY," /* insertion order: the cursor of searches */
    " id TEXT NOT NULL,"
    " time_ms INTEGER NOT NULL," /* arrival, unix milliseconds */
    " trace_id TEXT NOT NULL DEFAULT '',"
    " span_id TEXT NOT NULL DEFAULT '',"
    " parent_id TEXT NOT NULL DEFAULT '',"
    " tenant TEXT NOT NULL DEFAULT '',"
    " project TEXT NOT NULL DEFAULT '',"
    " key_id TEXT NOT NULL DEFAULT '',"
    " client_ip TEXT NOT NULL DEFAULT '',"
    " path TEXT NOT NULL DEFAULT '',"
    " protocol TEXT NOT NULL DEFAULT '',"
    " model TEXT NOT NULL DEFAULT '',"
    " upstream_model TEXT NOT NULL DEFAULT '',"
    " channel TEXT NOT NULL DEFAULT '',"
    " endpoint TEXT NOT NULL DEFAULT '',"
    " stream INTEGER NOT NULL DEFAULT 0,"
    " status INTEGER NOT NULL DEFAULT 0,"
    " error_code TEXT NOT NULL DEFAULT '',"
    " refused_by INTEGER NOT NULL DEFAULT 0,"
    " prompt_tokens INTEGER NOT NULL DEFAULT 0,"
    " completion_tokens INTEGER NOT NULL DEFAULT 0,"
    " cached_tokens INTEGER NOT NULL DEFAULT 0,"
    " cache_creation_tokens INTEGER NOT NULL DEFAULT 0,"
    " reasoning_tokens INTEGER NOT NULL DEFAULT 0,"
    " usage_known INTEGER NOT NULL DEFAULT 0,"
    " estimated INTEGER NOT NULL DEFAULT 0,"
    " cost REAL NOT NULL DEFAULT 0,"
    " currency TEXT NOT NULL DEFAULT '',"
    " first_token_us INTEGER NOT NULL DEFAULT -1,"
    " latency_us INTEGER NOT NULL DEFAULT 0,"
    " stream_events INTEGER NOT NULL DEFAULT 0,"
    " max_gap_us INTEGER NOT NULL DEFAULT 0,"
    " attempt_count INTEGER NOT NULL DEFAULT 0,"
    " attempts TEXT NOT NULL DEFAULT '[]'," /* JSON array, one object per try */
    " captured INTEGER NOT NULL DEFAULT 0," /* a request_captures row exists */
    " bytes INTEGER NOT NULL DEFAULT 0"     /* what the row and its capture take, roughly */
    ");"
    "CREATE INDEX requests_time ON requests(time_ms);"
    "CREATE INDEX requests_id ON requests(id);"
    "CREATE TABLE request_captures ("
    " seq INTEGER PRIMARY KEY," /* = requests.seq */
    " request_body BLOB,"
    /* stream events (or the one whole answer) back to back, little-endian and unpadded: t_us
     * (8 bytes, from the request's arrival), len (4 bytes), len bytes as the caller got them */
    " response BLOB,"
    " response_chunks INTEGER NOT NULL DEFAULT 0,"
    " truncated INTEGER NOT NULL DEFAULT 0"
    ");"
    "CREATE TABLE usage_rollup ("
    " bucket TEXT NOT NULL," /* 'minute', 'hour', 'day' */
    " t INTEGER NOT NULL,"   /* bucket start, unix seconds UTC */
    " tenant TEXT NOT NULL,"
    " project TEXT NOT NULL,"
    " key_id TEXT NOT NULL,"
    " model TEXT NOT NULL,"
    " requests INTEGER,"
    " errors INTEGER," /* status >= 500 or 0 */
    " prompt_tokens INTEGER,"
    " completion_tokens INTEGER,"
    " cached_tokens INTEGER,"
    " reasoning_tokens INTEGER,"
    " cost REAL,"
    " estimated_requests INTEGER,"
    " PRIMARY KEY(bucket, t, tenant, project, key_id, model)"
    ");",
};
enum { SCHEMA_VERSION = sizeof migrations / sizeof migrations[0] };

int gw_meter_schema_version(void) {
    return SCHEMA_VERSION;
}

int gw_meter_schema_version_of(sqlite3 *db) {
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(db,
                           "SELECT count(*) FROM sqlite_master WHERE type='table' AND "
                           "name='meter_schema'",
                           -1, &s, NULL) != SQLITE_OK)
        return -1;
    int exists = sqlite3_step(s) == SQLITE_ROW && sqlite3_column_int(s, 0) > 0;
    sqlite3_finalize(s);
    if (!exists) return 0;
    if (sqlite3_prepare_v2(db, "SELECT max(version) FROM meter_schema", -1, &s, NULL) != SQLITE_OK)
        return -1;
    int v = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int(s, 0) : -1;
    sqlite3_finalize(s);
    return v;
}

static int exec(sqlite3 *db, const char *sql) {
    return sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}

int gw_meter_schema_migrate(sqlite3 *db, char *err, size_t cap) {
    /* a current schema needs no write lock: a store another process holds locked still opens */
    if (gw_meter_schema_version_of(db) == SCHEMA_VERSION) return 0;
    /* IMMEDIATE: two processes opening a new file at once must not both create the tables */
    if (exec(db, "BEGIN IMMEDIATE")) goto db_error;
    if (exec(db, "CREATE TABLE IF NOT EXISTS meter_schema (version INTEGER NOT NULL)")) goto undo;
    int version = gw_meter_schema_version_of(db);
    if (version < 0) goto undo;
    if (version > SCHEMA_VERSION) {
        exec(db, "ROLLBACK");
        snprintf(err, cap, "metering store: schema version %d is newer than this aigw knows (%d)",
                 version, SCHEMA_VERSION);
        return -1;
    }
    for (int v = version; v < SCHEMA_VERSION; v++)
        if (exec(db, migrations[v])) goto undo;
    if (version < SCHEMA_VERSION) {
        char sql[80];
        snprintf(sql, sizeof sql, "DELETE FROM meter_schema; INSERT INTO meter_schema VALUES (%d)",
                 SCHEMA_VERSION);
        if (exec(db, sql)) goto undo;
    }
    if (exec(db, "COMMIT")) goto undo;
    return 0;
undo:
    snprintf(err, cap, "metering store: %s", sqlite3_errmsg(db));
    exec(db, "ROLLBACK");
    return -1;
db_error:
    snprintf(err, cap, "metering store: %s", sqlite3_errmsg(db));
    return -1;
}
