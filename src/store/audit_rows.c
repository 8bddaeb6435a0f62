#include "store/audit_rows.h"

#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

#include "store/store_db.h"

static int fail(sqlite3 *db, char *err, size_t errlen) {
    if (err && errlen) snprintf(err, errlen, "store: %s", sqlite3_errmsg(db));
    return -1;
}

/* A text bound to a statement, cut at GW_AUDIT_TEXT_MAX bytes on a UTF-8 character boundary. */
static void bind_text(sqlite3_stmt *s, int i, const char *text) {
    size_t n = text ? strlen(text) : 0;
    if (n > GW_AUDIT_TEXT_MAX) {
        n = GW_AUDIT_TEXT_MAX;
        while (n && ((unsigned char)text[n] & 0xC0) == 0x80)
            n--;
    }
    sqlite3_bind_text(s, i, text ? text : "", (int)n, SQLITE_STATIC);
}

int gw_store_audit_add(gw_key_store *st, const gw_store_audit_entry *e, size_t keep, char *err,
                       size_t errlen) {
    sqlite3 *db = gw_key_store_db(st);
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(db,
                           "INSERT INTO audit (time, client, action, target, status)"
                           " VALUES (?1, ?2, ?3, ?4, ?5)",
                           -1, &s, NULL) != SQLITE_OK)
        return fail(db, err, errlen);
    sqlite3_bind_int64(s, 1, e->time);
    bind_text(s, 2, e->client);
    bind_text(s, 3, e->action);
    bind_text(s, 4, e->target);
    sqlite3_bind_int(s, 5, e->status);
    int rc = sqlite3_step(s) == SQLITE_DONE ? 0 : fail(db, err, errlen);
    sqlite3_finalize(s);
    if (rc) return rc;
    /* ids only grow (AUTOINCREMENT), so the newest keep rows are those above this one less
     * keep: a range delete on the primary key, nothing to do but a probe most of the time */
    int64_t last = sqlite3_last_insert_rowid(db);
    if (keep && last > (int64_t)keep) {
        if (sqlite3_prepare_v2(db, "DELETE FROM audit WHERE id <= ?1", -1, &s, NULL) != SQLITE_OK)
            return fail(db, err, errlen);
        sqlite3_bind_int64(s, 1, last - (int64_t)keep);
        rc = sqlite3_step(s) == SQLITE_DONE ? 0 : fail(db, err, errlen);
        sqlite3_finalize(s);
    }
    return rc;
}

int gw_store_audit_list(gw_key_store *st, const gw_store_audit_query *q,
                        int (*fn)(const gw_store_audit_entry *e, void *ctx), void *ctx, char *err,
                        size_t errlen) {
    sqlite3 *db = gw_key_store_db(st);
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(db,
                           "SELECT id, time, client, action, target, status FROM audit"
                           " WHERE time >= ?1 AND (?2 = 0 OR id < ?2) ORDER BY id DESC LIMIT ?3",
                           -1, &s, NULL) != SQLITE_OK)
        return fail(db, err, errlen);
    sqlite3_bind_int64(s, 1, q->since);
    sqlite3_bind_int64(s, 2, q->before_id);
    sqlite3_bind_int64(s, 3, q->limit ? (int64_t)q->limit : -1);
    int rc = 0;
    for (;;) {
        int step = sqlite3_step(s);
        if (step == SQLITE_DONE) break;
        if (step != SQLITE_ROW) {
            rc = fail(db, err, errlen);
            break;
        }
        gw_store_audit_entry e = {
            .id = sqlite3_column_int64(s, 0),
            .time = sqlite3_column_int64(s, 1),
            .client = (const char *)sqlite3_column_text(s, 2),
            .action = (const char *)sqlite3_column_text(s, 3),
            .target = (const char *)sqlite3_column_text(s, 4),
            .status = sqlite3_column_int(s, 5),
        };
        if (!e.client) e.client = "";
        if (!e.action) e.action = "";
        if (!e.target) e.target = "";
        if (fn(&e, ctx)) break;
    }
    sqlite3_finalize(s);
    return rc;
}
