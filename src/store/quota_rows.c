#include "store/quota_rows.h"

#include <sqlite3.h>
#include <stdio.h>

#include "store/store_db.h"

static int fail(sqlite3 *db, char *err, size_t errlen) {
    if (err && errlen) snprintf(err, errlen, "store: %s", sqlite3_errmsg(db));
    return -1;
}

int gw_store_quota_seed(gw_key_store *st, uint64_t *seed, char *err, size_t errlen) {
    sqlite3 *db = gw_key_store_db(st);
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE name = 'quota_seed'", -1, &s, NULL) !=
        SQLITE_OK)
        return fail(db, err, errlen);
    int step = sqlite3_step(s), rc = 0;
    if (step == SQLITE_ROW) {
        *seed = (uint64_t)sqlite3_column_int64(s, 0);
        rc = 1;
    } else if (step != SQLITE_DONE) {
        rc = fail(db, err, errlen);
    }
    sqlite3_finalize(s);
    return rc;
}

int gw_store_quota_set_seed(gw_key_store *st, uint64_t seed, char *err, size_t errlen) {
    sqlite3 *db = gw_key_store_db(st);
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(db,
                           "INSERT OR REPLACE INTO meta (name, value) VALUES ('quota_seed', ?1)",
                           -1, &s, NULL) != SQLITE_OK)
        return fail(db, err, errlen);
    sqlite3_bind_int64(s, 1, (int64_t)seed);
    int rc = sqlite3_step(s) == SQLITE_DONE ? 0 : fail(db, err, errlen);
    sqlite3_finalize(s);
    return rc;
}

int gw_store_quota_save(gw_key_store *st, const gw_store_quota_row *rows, size_t n, int64_t now,
                        char *err, size_t errlen) {
    sqlite3 *db = gw_key_store_db(st);
    sqlite3_stmt *put = NULL;
    if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return fail(db, err, errlen);
    int rc = -1;
    if (sqlite3_prepare_v2(db,
                           "INSERT OR REPLACE INTO quota_spent (subject, period, period_end, spent,"
                           " budget, updated) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                           -1, &put, NULL) != SQLITE_OK) {
        fail(db, err, errlen);
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        const gw_store_quota_row *r = &rows[i];
        sqlite3_reset(put);
        sqlite3_bind_int64(put, 1, (int64_t)r->subject);
        sqlite3_bind_int(put, 2, r->period);
        sqlite3_bind_int64(put, 3, r->period_end);
        sqlite3_bind_int64(put, 4, (int64_t)r->spent); /* at most 2^48 */
        if (r->budget)
            sqlite3_bind_int64(put, 5, (int64_t)(r->budget - 1));
        else
            sqlite3_bind_null(put, 5);
        sqlite3_bind_int64(put, 6, now / 1000000000);
        if (sqlite3_step(put) != SQLITE_DONE) {
            fail(db, err, errlen);
            goto done;
        }
    }
    if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        fail(db, err, errlen);
        goto done;
    }
    rc = 0;
done:
    sqlite3_finalize(put);
    if (rc) sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

int gw_store_quota_prune(gw_key_store *st, int64_t now, char *err, size_t errlen) {
    sqlite3 *db = gw_key_store_db(st);
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(db, "DELETE FROM quota_spent WHERE period_end <= ?1 AND budget IS NULL",
                           -1, &s, NULL) != SQLITE_OK)
        return fail(db, err, errlen);
    sqlite3_bind_int64(s, 1, now);
    int rc = sqlite3_step(s) == SQLITE_DONE ? 0 : fail(db, err, errlen);
    sqlite3_finalize(s);
    return rc;
}

int gw_store_quota_load(gw_key_store *st, int64_t now,
                        int (*fn)(const gw_store_quota_row *row, void *ctx), void *ctx, char *err,
                        size_t errlen) {
    sqlite3 *db = gw_key_store_db(st);
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(db,
                           "SELECT subject, period, period_end, spent, budget FROM quota_spent"
                           " WHERE period_end > ?1 OR budget IS NOT NULL",
                           -1, &s, NULL) != SQLITE_OK)
        return fail(db, err, errlen);
    sqlite3_bind_int64(s, 1, now);
    int rc = 0;
    for (;;) {
        int step = sqlite3_step(s);
        if (step == SQLITE_DONE) break;
        if (step != SQLITE_ROW) {
            rc = fail(db, err, errlen);
            break;
        }
        int64_t spent = sqlite3_column_int64(s, 3);
        int64_t budget = sqlite3_column_int64(s, 4);
        gw_store_quota_row row = {
            .subject = (uint64_t)sqlite3_column_int64(s, 0),
            .period = (uint16_t)sqlite3_column_int(s, 1),
            .period_end = sqlite3_column_int64(s, 2),
            .spent = spent > 0 ? (uint64_t)spent : 0, /* a hand-edited file: never negative */
            .budget =
                sqlite3_column_type(s, 4) == SQLITE_NULL || budget < 0 ? 0 : (uint64_t)budget + 1,
        };
        if (fn(&row, ctx)) break;
    }
    sqlite3_finalize(s);
    return rc;
}
