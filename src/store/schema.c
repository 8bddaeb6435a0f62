#include "store/schema.h"

#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>

/* One step per user_version. A step is never edited once released: a change is a new step, so
 * every database, whatever version it was made with, migrates along the same path. */
static const char *const migrations[] = {
    /* 1: API keys */
    "CREATE TABLE keys ("
    " id TEXT PRIMARY KEY,"
    " name TEXT NOT NULL,"
    " tenant TEXT NOT NULL DEFAULT '',"
    " project TEXT NOT NULL DEFAULT '',"
    " models TEXT NOT NULL DEFAULT '[]'," /* JSON array of globs */
    " created INTEGER NOT NULL,"          /* Unix seconds */
    " updated INTEGER NOT NULL,"
    " expires INTEGER," /* NULL: never */
    " disabled INTEGER NOT NULL DEFAULT 0,"
    " revoked INTEGER," /* when; NULL: not revoked */
    " limits TEXT NOT NULL DEFAULT '{}',"
    " quota TEXT,"                       /* NULL: none */
    " secret_hash BLOB NOT NULL UNIQUE," /* SHA-256 of the secret, 32 bytes */
    " secret_prefix TEXT NOT NULL"       /* what lists show: sk-aigw-ab12 */
    ");"
    "CREATE INDEX keys_owner ON keys(tenant, project);",

    /* 2: what the gateway keeps across a restart besides keys */
    /* values of the gateway's own: the quota table's hash seed */
    "CREATE TABLE meta ("
    " name TEXT PRIMARY KEY,"
    " value INTEGER NOT NULL"
    ") WITHOUT ROWID;"
    /* quota spent counts, by the quota table's hash of (quota, subject) under meta's seed */
    "CREATE TABLE quota_spent ("
    " subject INTEGER PRIMARY KEY,"
    " period INTEGER NOT NULL,"     /* low 16 bits of the period's number */
    " period_end INTEGER NOT NULL," /* Unix ns */
    " spent INTEGER NOT NULL,"      /* tokens */
    " budget INTEGER,"              /* the subject's own budget; NULL: the configured one */
    " updated INTEGER NOT NULL"     /* Unix seconds */
    ");"
    "CREATE INDEX quota_spent_end ON quota_spent(period_end);"
    /* tenants and models the operator turned off */
    "CREATE TABLE switches ("
    " kind TEXT NOT NULL," /* tenant, model */
    " value TEXT NOT NULL,"
    " since INTEGER NOT NULL," /* Unix seconds */
    " PRIMARY KEY (kind, value)"
    ") WITHOUT ROWID;"
    /* admin actions, newest last; never a secret */
    "CREATE TABLE audit ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " time INTEGER NOT NULL," /* Unix seconds */
    " client TEXT NOT NULL,"
    " action TEXT NOT NULL,"
    " target TEXT NOT NULL,"
    " status INTEGER NOT NULL"
    ");"
    "CREATE INDEX audit_time ON audit(time);",
};
enum { SCHEMA_VERSION = sizeof migrations / sizeof migrations[0] };

int gw_store_schema_version(void) {
    return SCHEMA_VERSION;
}

static int fail(sqlite3 *db, char *err, size_t errlen) {
    if (err && errlen) snprintf(err, errlen, "store: %s", sqlite3_errmsg(db));
    sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return -1;
}

int gw_store_migrate(sqlite3 *db, char *err, size_t errlen) {
    if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return fail(db, err, errlen);
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &s, NULL) != SQLITE_OK)
        return fail(db, err, errlen);
    int64_t version = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int64(s, 0) : -1;
    sqlite3_finalize(s);
    if (version < 0 || version > SCHEMA_VERSION) {
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
        if (err && errlen)
            snprintf(err, errlen, "store: schema version %lld is newer than this aigw knows (%d)",
                     (long long)version, SCHEMA_VERSION);
        return -1;
    }
    for (int64_t v = version; v < SCHEMA_VERSION; v++)
        if (sqlite3_exec(db, migrations[v], NULL, NULL, NULL) != SQLITE_OK)
            return fail(db, err, errlen);
    char sql[64];
    snprintf(sql, sizeof sql, "PRAGMA user_version = %d", SCHEMA_VERSION);
    if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        return fail(db, err, errlen);
    return 0;
}
