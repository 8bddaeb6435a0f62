#include "alerts/alert_db.h"

#include "store/sqlite_open.h"

#include <event2/buffer.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

#include "alerts/alert_math.h"
#include "core/json_string.h"

/* Made when missing, never migrated through user_version: the file is shared with the meter's
 * tables, whose schema has its own steps. */
static const char schema[] =
    "CREATE TABLE IF NOT EXISTS alerts ("
    " id TEXT NOT NULL UNIQUE,"
    " time INTEGER NOT NULL," /* unix seconds of the gateway's wall clock */
    " type TEXT NOT NULL,"
    " severity TEXT NOT NULL,"
    " subject TEXT NOT NULL,"  /* tenant=acme,... */
    " dedup TEXT UNIQUE,"      /* once only: a budget threshold of one period; NULL: none */
    " body TEXT NOT NULL,"     /* the JSON sent to the webhooks */
    " delivery TEXT NOT NULL," /* pending, delivered, failed, dropped, none */
    " attempts INTEGER NOT NULL DEFAULT 0,"
    " last_error TEXT,"
    " delivered_at INTEGER"
    ");"
    "CREATE INDEX IF NOT EXISTS alerts_time ON alerts(time);"
    "CREATE INDEX IF NOT EXISTS alerts_subject ON alerts(type, subject, time);";

sqlite3 *gw_alert_db_open(const char *path, int writer, char *err, size_t errlen) {
    /* the writer's thread may wait on the meter's batches; the admin API must not wait long */
    sqlite3 *db = gw_sqlite_open_wal(path, NULL, writer ? 5000 : 1000, "NORMAL", err, errlen);
    if (!db) return NULL;
    if (writer && sqlite3_exec(db, schema, NULL, NULL, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "%s: %s", path, sqlite3_errmsg(db));
        sqlite3_close(db);
        return NULL;
    }
    return db;
}

void gw_alert_db_close(sqlite3 *db) {
    sqlite3_close(db);
}

int gw_alert_db_insert(sqlite3 *db, const gw_alert *a, const char *body, const char *delivery,
                       int *inserted) {
    sqlite3_stmt *st;
    *inserted = 0;
    if (sqlite3_prepare_v2(db,
                           "INSERT OR IGNORE INTO alerts (id, time, type, severity, subject, "
                           "dedup, body, delivery) VALUES (?,?,?,?,?,?,?,?)",
                           -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_text(st, 1, a->id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, a->time);
    sqlite3_bind_text(st, 3, a->type, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, a->severity, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, a->subject_key, -1, SQLITE_STATIC);
    if (a->dedup[0])
        sqlite3_bind_text(st, 6, a->dedup, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, 6);
    sqlite3_bind_text(st, 7, body, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 8, delivery, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) return -1;
    *inserted = sqlite3_changes(db) > 0;
    return 0;
}

int gw_alert_db_last_time(sqlite3 *db, const char *type, const char *subject_key, int64_t *t) {
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "SELECT max(time) FROM alerts WHERE type = ? AND subject = ?", -1,
                           &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_text(st, 1, type, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, subject_key, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st), found = 0;
    if (rc == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL) {
        *t = sqlite3_column_int64(st, 0);
        found = 1;
    }
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? found : -1;
}

int gw_alert_db_set_delivery(sqlite3 *db, const char *id, const char *status, int attempts,
                             const char *last_error, int64_t delivered_at) {
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db,
                           "UPDATE alerts SET delivery = ?, attempts = ?, last_error = ?, "
                           "delivered_at = ? WHERE id = ?",
                           -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_text(st, 1, status, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, attempts);
    if (last_error && *last_error)
        sqlite3_bind_text(st, 3, last_error, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, 3);
    if (delivered_at > 0)
        sqlite3_bind_int64(st, 4, delivered_at);
    else
        sqlite3_bind_null(st, 4);
    sqlite3_bind_text(st, 5, id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

int gw_alert_db_resume(sqlite3 *db, int64_t since, int limit,
                       void (*cb)(void *ud, const char *id, const char *body), void *ud) {
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db,
                           "UPDATE alerts SET delivery = 'failed', last_error = 'expired' "
                           "WHERE delivery = 'pending' AND time < ?",
                           -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_int64(st, 1, since);
    sqlite3_step(st);
    sqlite3_finalize(st);
    if (sqlite3_prepare_v2(db,
                           "SELECT id, body FROM alerts WHERE delivery = 'pending' "
                           "ORDER BY time, rowid LIMIT ?",
                           -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_int(st, 1, limit);
    int n = 0, rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        cb(ud, (const char *)sqlite3_column_text(st, 0), (const char *)sqlite3_column_text(st, 1));
        n++;
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? n : -1;
}

int gw_alert_db_prune(sqlite3 *db, int64_t before, int max) {
    sqlite3_stmt *st;
    int rc = SQLITE_ERROR;
    if (sqlite3_prepare_v2(db, "DELETE FROM alerts WHERE time < ?", -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, before);
        rc = sqlite3_step(st);
        sqlite3_finalize(st);
    }
    if (rc != SQLITE_DONE) return -1;
    if (sqlite3_prepare_v2(db,
                           "DELETE FROM alerts WHERE rowid IN (SELECT rowid FROM alerts WHERE "
                           "dedup IS NULL ORDER BY time DESC, rowid DESC LIMIT -1 OFFSET ?)",
                           -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_int(st, 1, max);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

int gw_alert_db_list(sqlite3 *db, const gw_alert_query *q, struct evbuffer *out, char *err,
                     size_t errlen) {
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db,
                           "SELECT body, delivery, attempts, last_error, delivered_at FROM alerts "
                           "WHERE (?1 < 0 OR time >= ?1) AND (?2 < 0 OR time <= ?2) "
                           "AND (?3 = '' OR type = ?3) ORDER BY time DESC, rowid DESC LIMIT ?4",
                           -1, &st, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "%s", sqlite3_errmsg(db));
        return -1;
    }
    sqlite3_bind_int64(st, 1, q->from);
    sqlite3_bind_int64(st, 2, q->to);
    sqlite3_bind_text(st, 3, q->type, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 4, q->limit);
    int n = 0, rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *body = (const char *)sqlite3_column_text(st, 0);
        size_t len = body ? strlen(body) : 0;
        if (len < 2 || body[len - 1] != '}') continue; /* only ever written by gw_alert_body */
        if (n++) evbuffer_add(out, ",", 1);
        evbuffer_add(out, body, len - 1);
        evbuffer_add_printf(out, ",\"delivery\":{\"status\":");
        const char *status = (const char *)sqlite3_column_text(st, 1);
        gw_evbuffer_add_json_string(out, status ? status : "", status ? strlen(status) : 0);
        evbuffer_add_printf(out, ",\"attempts\":%d,\"last_error\":", sqlite3_column_int(st, 2));
        const char *last = (const char *)sqlite3_column_text(st, 3);
        if (last)
            gw_evbuffer_add_json_string(out, last, strlen(last));
        else
            evbuffer_add(out, "null", 4);
        if (sqlite3_column_type(st, 4) == SQLITE_NULL) {
            evbuffer_add_printf(out, ",\"delivered_at\":null}}");
        } else {
            char when[32];
            gw_alert_format_time(sqlite3_column_int64(st, 4), when, sizeof when);
            evbuffer_add_printf(out, ",\"delivered_at\":\"%s\"}}", when);
        }
    }
    if (rc != SQLITE_DONE) snprintf(err, errlen, "%s", sqlite3_errmsg(db));
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? n : -1;
}
