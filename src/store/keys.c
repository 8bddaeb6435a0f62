#include "store/keys.h"

#include "store/sqlite_open.h"

#include <json-c/json.h>
#include <openssl/crypto.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/keys_secret.h"
#include "store/keys_spec.h"
#include "store/schema.h"
#include "store/store_db.h"

struct gw_key_store {
    sqlite3 *db;
    size_t live;             /* live keys: counted at open and after others' writes */
    int64_t counted_version; /* data_version when live was counted */
    int64_t seen_version;    /* data_version gw_key_store_changed last reported */
};

#define COLUMNS                                                                                    \
    "id, name, tenant, project, models, created, updated, expires, disabled, revoked, limits, "    \
    "quota, secret_hash, secret_prefix"

static int fail(char *err, size_t errlen, const char *fmt, ...) {
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static gw_keys_status db_fail(gw_key_store *st, char *err, size_t errlen) {
    fail(err, errlen, "key store: %s", sqlite3_errmsg(st->db));
    return GW_KEYS_DB;
}

static int exec(gw_key_store *st, const char *sql) {
    return sqlite3_exec(st->db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}

static int64_t pragma_int(gw_key_store *st, const char *sql) {
    sqlite3_stmt *s;
    int64_t v = -1;
    if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK) return -1;
    if (sqlite3_step(s) == SQLITE_ROW) v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return v;
}

static size_t count_live(gw_key_store *st) {
    int64_t n = pragma_int(st, "SELECT count(*) FROM keys WHERE revoked IS NULL");
    return n < 0 ? 0 : (size_t)n;
}

gw_key_store *gw_key_store_open(const char *path, char *err, size_t errlen) {
    gw_key_store *st = calloc(1, sizeof *st);
    if (!st) return fail(err, errlen, "key store: out of memory"), NULL;
    /* The CLI and the server may write at the same moment: wait for the other's short
     * transaction instead of failing at once. FULL: a key change is never lost. */
    st->db = gw_sqlite_open_wal(path, "key store", 5000, "FULL", err, errlen);
    if (!st->db) goto bad;
    if (gw_store_migrate(st->db, err, errlen)) goto bad;
    st->live = count_live(st);
    st->counted_version = st->seen_version = pragma_int(st, "PRAGMA data_version");
    return st;
bad:
    gw_key_store_close(st);
    return NULL;
}

sqlite3 *gw_key_store_db(gw_key_store *st) {
    return st->db;
}

void gw_key_store_close(gw_key_store *st) {
    if (!st) return;
    sqlite3_close(st->db);
    free(st);
}

int gw_key_store_changed(gw_key_store *st) {
    int64_t v = pragma_int(st, "PRAGMA data_version");
    if (v == st->seen_version) return 0;
    st->seen_version = v;
    return 1;
}

size_t gw_key_store_live_count(gw_key_store *st) {
    /* Another connection's commit changes data_version; then the cached count may be stale. */
    int64_t v = pragma_int(st, "PRAGMA data_version");
    if (v != st->counted_version) {
        st->live = count_live(st);
        st->counted_version = v;
    }
    return st->live;
}

/* JSON text of a column as an object, strictly parsed; NULL when malformed (or SQL NULL). */
static json_object *column_json(sqlite3_stmt *s, int col) {
    const char *text = (const char *)sqlite3_column_text(s, col);
    if (!text) return NULL;
    json_tokener *tok = json_tokener_new_ex(16);
    if (!tok) return NULL;
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
    int len = sqlite3_column_bytes(s, col);
    json_object *v = json_tokener_parse_ex(tok, text, len);
    if (json_tokener_get_error(tok) != json_tokener_success || tok->char_offset != len) {
        json_object_put(v);
        v = NULL;
    }
    json_tokener_free(tok);
    return v;
}

static void copy_text(char *dst, size_t cap, sqlite3_stmt *s, int col) {
    const char *t = (const char *)sqlite3_column_text(s, col);
    snprintf(dst, cap, "%s", t ? t : "");
}

/* One row of COLUMNS into a record. -1 when a JSON column is malformed (a hand-edited file). */
static int read_row(sqlite3_stmt *s, gw_key_record *r, char *err, size_t errlen) {
    memset(r, 0, sizeof *r);
    copy_text(r->id, sizeof r->id, s, 0);
    copy_text(r->name, sizeof r->name, s, 1);
    copy_text(r->tenant, sizeof r->tenant, s, 2);
    copy_text(r->project, sizeof r->project, s, 3);
    r->created = sqlite3_column_int64(s, 5);
    r->updated = sqlite3_column_int64(s, 6);
    r->expires = sqlite3_column_int64(s, 7);
    r->disabled = sqlite3_column_int(s, 8) != 0;
    r->revoked = sqlite3_column_int64(s, 9);
    copy_text(r->display, sizeof r->display, s, 13);
    if (sqlite3_column_bytes(s, 12) != GW_KEY_HASH_LEN)
        return fail(err, errlen, "key store: key %s has no valid secret hash", r->id);
    memcpy(r->hash, sqlite3_column_blob(s, 12), GW_KEY_HASH_LEN);

    char why[160];
    json_object *models = column_json(s, 4), *limits = column_json(s, 10);
    json_object *quota = sqlite3_column_type(s, 11) == SQLITE_NULL ? NULL : column_json(s, 11);
    int rc = -1;
    if (!models || gw_key_models_parse(models, r->models, &r->model_count, why, sizeof why))
        fail(err, errlen, "key store: key %s: bad models: %s", r->id, models ? why : "not JSON");
    else if (!limits || gw_key_limits_parse(limits, &r->limits, why, sizeof why))
        fail(err, errlen, "key store: key %s: bad limits: %s", r->id, limits ? why : "not JSON");
    else if ((sqlite3_column_type(s, 11) != SQLITE_NULL && !quota) ||
             gw_key_quota_parse(quota, &r->quota, why, sizeof why))
        fail(err, errlen, "key store: key %s: bad quota: %s", r->id, quota ? why : "not JSON");
    else
        rc = 0;
    json_object_put(models);
    json_object_put(limits);
    json_object_put(quota);
    if (rc) gw_key_record_clear(r);
    return rc;
}

/* Binds a JSON object's text (and releases the object). */
static int bind_json(sqlite3_stmt *s, int i, json_object *v) {
    int rc = v ? sqlite3_bind_text(s, i,
                                   json_object_to_json_string_ext(
                                       v, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE),
                                   -1, SQLITE_TRANSIENT)
               : sqlite3_bind_null(s, i);
    json_object_put(v);
    return rc;
}

static gw_keys_status get_row(gw_key_store *st, const char *id, gw_key_record *out, char *err,
                              size_t errlen) {
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(st->db, "SELECT " COLUMNS " FROM keys WHERE id = ?1", -1, &s, NULL) !=
        SQLITE_OK)
        return db_fail(st, err, errlen);
    sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
    gw_keys_status rc;
    int step = sqlite3_step(s);
    if (step == SQLITE_ROW)
        rc = read_row(s, out, err, errlen) ? GW_KEYS_DB : GW_KEYS_OK;
    else if (step == SQLITE_DONE)
        rc = GW_KEYS_NOT_FOUND;
    else
        rc = db_fail(st, err, errlen);
    sqlite3_finalize(s);
    return rc;
}

gw_keys_status gw_key_store_get(gw_key_store *st, const char *id, gw_key_record *out) {
    gw_key_record tmp;
    gw_keys_status rc = get_row(st, id, out ? out : &tmp, NULL, 0);
    if (!out && rc == GW_KEYS_OK) gw_key_record_clear(&tmp);
    return rc;
}

gw_keys_status gw_key_store_create(gw_key_store *st, const gw_key_spec *spec, int64_t now,
                                   gw_key_record *out, char secret[GW_KEY_SECRET_LEN + 1],
                                   char *err, size_t errlen) {
    if (gw_key_spec_check(spec, err, errlen)) return GW_KEYS_INVALID;
    if (gw_key_store_live_count(st) >= GW_KEY_MAX_KEYS) {
        fail(err, errlen, "key store: %d live keys already", GW_KEY_MAX_KEYS);
        return GW_KEYS_FULL;
    }
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(st->db,
                           "INSERT INTO keys (id, name, tenant, project, models, created, updated,"
                           " expires, disabled, limits, quota, secret_hash, secret_prefix)"
                           " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                           -1, &s, NULL) != SQLITE_OK)
        return db_fail(st, err, errlen);
    char id[GW_KEY_ID_MAX + 1], display[GW_KEY_DISPLAY_LEN + 1];
    uint8_t hash[GW_KEY_HASH_LEN];
    gw_keys_status rc = GW_KEYS_DB;
    /* An id or hash collision is astronomically unlikely (64 and 238 random bits); the retry
     * makes even that a non-event. */
    for (int attempt = 0; attempt < 3; attempt++) {
        gw_key_id_new(id);
        gw_key_secret_new(secret);
        gw_key_secret_hash(secret, GW_KEY_SECRET_LEN, hash);
        gw_key_secret_display(secret, GW_KEY_SECRET_LEN, display);
        sqlite3_reset(s);
        sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 2, spec->name, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 3, spec->tenant ? spec->tenant : "", -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 4, spec->project ? spec->project : "", -1, SQLITE_STATIC);
        bind_json(s, 5, gw_key_models_json(spec->models, spec->model_count));
        sqlite3_bind_int64(s, 6, now);
        if (spec->expires)
            sqlite3_bind_int64(s, 7, spec->expires);
        else
            sqlite3_bind_null(s, 7);
        sqlite3_bind_int(s, 8, spec->disabled != 0);
        bind_json(s, 9, gw_key_limits_json(&spec->limits));
        bind_json(s, 10, gw_key_quota_json(&spec->quota));
        sqlite3_bind_blob(s, 11, hash, sizeof hash, SQLITE_STATIC);
        sqlite3_bind_text(s, 12, display, -1, SQLITE_STATIC);
        int step = sqlite3_step(s);
        if (step == SQLITE_DONE) {
            rc = GW_KEYS_OK;
            break;
        }
        if (step != SQLITE_CONSTRAINT_PRIMARYKEY && step != SQLITE_CONSTRAINT_UNIQUE) {
            db_fail(st, err, errlen);
            break;
        }
    }
    sqlite3_finalize(s);
    if (rc != GW_KEYS_OK) {
        OPENSSL_cleanse(secret, GW_KEY_SECRET_LEN + 1);
        return rc;
    }
    st->live++;
    if (out && get_row(st, id, out, err, errlen) != GW_KEYS_OK) return GW_KEYS_DB;
    return GW_KEYS_OK;
}

gw_keys_status gw_key_store_list(gw_key_store *st, const gw_key_list_opts *opts,
                                 int (*fn)(const gw_key_record *rec, void *ctx), void *ctx,
                                 char *err, size_t errlen) {
    static const gw_key_list_opts all = {0};
    if (!opts) opts = &all;
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(st->db,
                           "SELECT " COLUMNS " FROM keys WHERE (?1 IS NULL OR tenant = ?1)"
                           " AND (?2 IS NULL OR project = ?2) AND (?3 IS NULL OR id > ?3)"
                           " AND (?4 OR revoked IS NULL) ORDER BY id LIMIT ?5",
                           -1, &s, NULL) != SQLITE_OK)
        return db_fail(st, err, errlen);
    sqlite3_bind_text(s, 1, opts->tenant, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, opts->project, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, opts->after_id, -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 4, opts->include_revoked != 0);
    sqlite3_bind_int64(s, 5, opts->limit ? (int64_t)opts->limit : -1);
    gw_keys_status rc = GW_KEYS_OK;
    for (;;) {
        int step = sqlite3_step(s);
        if (step == SQLITE_DONE) break;
        if (step != SQLITE_ROW) {
            rc = db_fail(st, err, errlen);
            break;
        }
        gw_key_record r;
        if (read_row(s, &r, err, errlen)) {
            rc = GW_KEYS_DB;
            break;
        }
        int stop = fn(&r, ctx);
        gw_key_record_clear(&r);
        if (stop) break;
    }
    sqlite3_finalize(s);
    return rc;
}

/* Read, change, write in one IMMEDIATE transaction, so a CLI writing at the same moment is
 * neither lost nor overwritten. */
typedef gw_keys_status (*change_fn)(gw_key_store *st, gw_key_record *r, const void *arg,
                                    int64_t now, char *err, size_t errlen);

static gw_keys_status change(gw_key_store *st, const char *id, change_fn fn, const void *arg,
                             int64_t now, gw_key_record *out, char *err, size_t errlen) {
    if (exec(st, "BEGIN IMMEDIATE")) return db_fail(st, err, errlen);
    gw_key_record r;
    gw_keys_status rc = get_row(st, id, &r, err, errlen);
    if (rc == GW_KEYS_NOT_FOUND) fail(err, errlen, "key %s: not found", id);
    if (rc == GW_KEYS_OK) {
        rc = fn(st, &r, arg, now, err, errlen);
        gw_key_record_clear(&r);
    }
    if (rc == GW_KEYS_OK && exec(st, "COMMIT")) rc = db_fail(st, err, errlen);
    if (rc != GW_KEYS_OK) {
        exec(st, "ROLLBACK");
        return rc;
    }
    if (out) return get_row(st, id, out, err, errlen);
    return GW_KEYS_OK;
}

static gw_keys_status update_row(gw_key_store *st, const gw_key_record *r, const uint8_t *hash,
                                 const char *display, char *err, size_t errlen) {
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(st->db,
                           "UPDATE keys SET name = ?2, models = ?3, updated = ?4, expires = ?5,"
                           " disabled = ?6, revoked = ?7, limits = ?8, quota = ?9,"
                           " secret_hash = coalesce(?10, secret_hash),"
                           " secret_prefix = coalesce(?11, secret_prefix) WHERE id = ?1",
                           -1, &s, NULL) != SQLITE_OK)
        return db_fail(st, err, errlen);
    sqlite3_bind_text(s, 1, r->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, r->name, -1, SQLITE_STATIC);
    bind_json(s, 3, gw_key_models_json((const char *const *)r->models, r->model_count));
    sqlite3_bind_int64(s, 4, r->updated);
    if (r->expires)
        sqlite3_bind_int64(s, 5, r->expires);
    else
        sqlite3_bind_null(s, 5);
    sqlite3_bind_int(s, 6, r->disabled != 0);
    if (r->revoked)
        sqlite3_bind_int64(s, 7, r->revoked);
    else
        sqlite3_bind_null(s, 7);
    bind_json(s, 8, gw_key_limits_json(&r->limits));
    bind_json(s, 9, gw_key_quota_json(&r->quota));
    if (hash) sqlite3_bind_blob(s, 10, hash, GW_KEY_HASH_LEN, SQLITE_STATIC);
    if (display) sqlite3_bind_text(s, 11, display, -1, SQLITE_STATIC);
    gw_keys_status rc = sqlite3_step(s) == SQLITE_DONE ? GW_KEYS_OK : db_fail(st, err, errlen);
    sqlite3_finalize(s);
    return rc;
}

static gw_keys_status apply_update(gw_key_store *st, gw_key_record *r, const void *arg, int64_t now,
                                   char *err, size_t errlen) {
    const gw_key_update *u = arg;
    if (r->revoked) {
        fail(err, errlen, "key %s is revoked", r->id);
        return GW_KEYS_REVOKED;
    }
    if (u->set & GW_KEY_SET_NAME) {
        if (gw_key_check_text("name", u->name, 1, err, errlen)) return GW_KEYS_INVALID;
        snprintf(r->name, sizeof r->name, "%s", u->name);
    }
    if (u->set & GW_KEY_SET_DISABLED) r->disabled = u->disabled != 0;
    if (u->set & GW_KEY_SET_MODELS) {
        if (gw_key_check_models(u->models, u->model_count, err, errlen)) return GW_KEYS_INVALID;
        for (size_t i = 0; i < r->model_count; i++)
            free(r->models[i]);
        r->model_count = 0;
        for (size_t i = 0; i < u->model_count; i++) {
            if (!(r->models[i] = strdup(u->models[i]))) {
                fail(err, errlen, "key store: out of memory");
                return GW_KEYS_DB;
            }
            r->model_count = i + 1;
        }
    }
    if (u->set & GW_KEY_SET_EXPIRES) {
        if (u->expires < 0) {
            fail(err, errlen, "expires: before 1970");
            return GW_KEYS_INVALID;
        }
        r->expires = u->expires;
    }
    if (u->set & GW_KEY_SET_LIMITS) {
        if (gw_key_check_limits(&u->limits, err, errlen)) return GW_KEYS_INVALID;
        r->limits = u->limits;
    }
    if (u->set & GW_KEY_SET_QUOTA) {
        if (gw_key_check_quota(&u->quota, err, errlen)) return GW_KEYS_INVALID;
        r->quota = u->quota;
    }
    r->updated = now;
    return update_row(st, r, NULL, NULL, err, errlen);
}

gw_keys_status gw_key_store_update(gw_key_store *st, const char *id, const gw_key_update *u,
                                   int64_t now, gw_key_record *out, char *err, size_t errlen) {
    return change(st, id, apply_update, u, now, out, err, errlen);
}

static gw_keys_status apply_rotate(gw_key_store *st, gw_key_record *r, const void *arg, int64_t now,
                                   char *err, size_t errlen) {
    char *secret = (char *)arg;
    if (r->revoked) {
        fail(err, errlen, "key %s is revoked", r->id);
        return GW_KEYS_REVOKED;
    }
    uint8_t hash[GW_KEY_HASH_LEN];
    char display[GW_KEY_DISPLAY_LEN + 1];
    gw_key_secret_new(secret);
    gw_key_secret_hash(secret, GW_KEY_SECRET_LEN, hash);
    gw_key_secret_display(secret, GW_KEY_SECRET_LEN, display);
    r->updated = now;
    return update_row(st, r, hash, display, err, errlen);
}

gw_keys_status gw_key_store_rotate(gw_key_store *st, const char *id, int64_t now,
                                   gw_key_record *out, char secret[GW_KEY_SECRET_LEN + 1],
                                   char *err, size_t errlen) {
    gw_keys_status rc = change(st, id, apply_rotate, secret, now, out, err, errlen);
    if (rc != GW_KEYS_OK) OPENSSL_cleanse(secret, GW_KEY_SECRET_LEN + 1);
    return rc;
}

static gw_keys_status apply_revoke(gw_key_store *st, gw_key_record *r, const void *arg, int64_t now,
                                   char *err, size_t errlen) {
    int *revoked_now = (int *)arg;
    if (r->revoked) return GW_KEYS_OK;
    r->revoked = now;
    r->updated = now;
    *revoked_now = 1;
    return update_row(st, r, NULL, NULL, err, errlen);
}

gw_keys_status gw_key_store_revoke(gw_key_store *st, const char *id, int64_t now,
                                   gw_key_record *out, char *err, size_t errlen) {
    int revoked_now = 0;
    gw_keys_status rc = change(st, id, apply_revoke, &revoked_now, now, out, err, errlen);
    if (rc == GW_KEYS_OK && revoked_now && st->live) st->live--;
    return rc;
}
