#include "store/switch_rows.h"

#include <sqlite3.h>
#include <stdio.h>

#include "store/store_db.h"

static int fail(sqlite3 *db, char *err, size_t errlen) {
    if (err && errlen) snprintf(err, errlen, "store: %s", sqlite3_errmsg(db));
    return -1;
}

int gw_store_switch_set(gw_key_store *st, const char *kind, const char *value, int off, int64_t now,
                        char *err, size_t errlen) {
    sqlite3 *db = gw_key_store_db(st);
    sqlite3_stmt *s;
    const char *sql =
        off ? "INSERT OR IGNORE INTO switches (kind, value, since) VALUES (?1, ?2, ?3)"
            : "DELETE FROM switches WHERE kind = ?1 AND value = ?2";
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK) return fail(db, err, errlen);
    sqlite3_bind_text(s, 1, kind, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, value, -1, SQLITE_STATIC);
    if (off) sqlite3_bind_int64(s, 3, now);
    int rc = sqlite3_step(s) == SQLITE_DONE ? 0 : fail(db, err, errlen);
    sqlite3_finalize(s);
    return rc;
}

int gw_store_switch_load(gw_key_store *st,
                         int (*fn)(const char *kind, const char *value, void *ctx), void *ctx,
                         char *err, size_t errlen) {
    sqlite3 *db = gw_key_store_db(st);
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(db, "SELECT kind, value FROM switches ORDER BY since, kind, value", -1,
                           &s, NULL) != SQLITE_OK)
        return fail(db, err, errlen);
    int rc = 0;
    for (;;) {
        int step = sqlite3_step(s);
        if (step == SQLITE_DONE) break;
        if (step != SQLITE_ROW) {
            rc = fail(db, err, errlen);
            break;
        }
        const char *kind = (const char *)sqlite3_column_text(s, 0);
        const char *value = (const char *)sqlite3_column_text(s, 1);
        if (kind && value && fn(kind, value, ctx)) break;
    }
    sqlite3_finalize(s);
    return rc;
}
