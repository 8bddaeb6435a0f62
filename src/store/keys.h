/* The store: the embedded SQLite database (WAL). Its handle is the key store's: API keys live
 * here with only a hash of each secret, and the gateway's state that outlives a restart (quota
 * spent counts, operator switches, the audit trail: store/quota_rows.h, switch_rows.h,
 * audit_rows.h) shares the file and the handle. The secret exists in memory once, when a key is
 * created or rotated, and is handed to the caller to show once; it is never written anywhere.
 *
 * Every call runs on the control thread (or the CLI), never on the request path: workers read
 * keys from an immutable snapshot (store/keyset.h) built from this store, which the control
 * thread rebuilds and publishes after each change. One store handle is for one thread at a
 * time. Times are Unix seconds, always passed in (now), so tests set the clock. */
#ifndef AIGW_STORE_KEYS_H
#define AIGW_STORE_KEYS_H

#include <stddef.h>
#include <stdint.h>

#include "store/key-t.h"

typedef struct gw_key_store gw_key_store;

typedef enum {
    GW_KEYS_OK = 0,
    GW_KEYS_NOT_FOUND, /* no key with that id */
    GW_KEYS_INVALID,   /* a field out of bounds; err names it */
    GW_KEYS_REVOKED,   /* a revoked key cannot be changed, rotated or re-enabled */
    GW_KEYS_FULL,      /* GW_KEY_MAX_KEYS live keys already */
    GW_KEYS_DB,        /* SQLite failed; err has its message */
} gw_keys_status;

/* Opens (creating when missing) the database at path: WAL journal, synchronous=FULL (key
 * changes are rare, and a revocation lost to a power cut would be a security hole), a busy
 * timeout for the CLI and the server sharing the file, and the schema migrated to the current
 * user_version (store/schema.h). NULL and err when it cannot, or when the file was made by a newer
 * aigw. */
gw_key_store *gw_key_store_open(const char *path, char *err, size_t errlen);
void gw_key_store_close(gw_key_store *st);

/* Creates a key. secret gets the new secret: show it once, then forget it. out (optional) gets
 * the record. */
gw_keys_status gw_key_store_create(gw_key_store *st, const gw_key_spec *spec, int64_t now,
                                   gw_key_record *out, char secret[GW_KEY_SECRET_LEN + 1],
                                   char *err, size_t errlen);

/* One key by id, revoked ones included (they stay for audit). */
gw_keys_status gw_key_store_get(gw_key_store *st, const char *id, gw_key_record *out);

/* Keys in id order, after after_id (NULL: from the start), at most limit (0: all), only those of
 * tenant and project when given; revoked ones only with include_revoked. fn gets each record (it
 * is cleared after fn returns; fn copies what it keeps) and stops the walk by returning nonzero. */
typedef struct gw_key_list_opts {
    const char *tenant, *project, *after_id;
    size_t limit;
    int include_revoked;
} gw_key_list_opts;
gw_keys_status gw_key_store_list(gw_key_store *st, const gw_key_list_opts *opts,
                                 int (*fn)(const gw_key_record *rec, void *ctx), void *ctx,
                                 char *err, size_t errlen);

/* A partial change (the admin API's PATCH): only the fields named in set. */
enum {
    GW_KEY_SET_NAME = 1 << 0,
    GW_KEY_SET_DISABLED = 1 << 1,
    GW_KEY_SET_MODELS = 1 << 2,
    GW_KEY_SET_EXPIRES = 1 << 3, /* expires 0: never */
    GW_KEY_SET_LIMITS = 1 << 4,
    GW_KEY_SET_QUOTA = 1 << 5, /* period GW_KEY_PERIOD_NONE removes it */
};
typedef struct gw_key_update {
    unsigned set;
    const char *name;
    int disabled;
    const char *const *models;
    size_t model_count;
    int64_t expires;
    gw_key_limits limits;
    gw_key_quota quota;
} gw_key_update;
gw_keys_status gw_key_store_update(gw_key_store *st, const char *id, const gw_key_update *u,
                                   int64_t now, gw_key_record *out, char *err, size_t errlen);

/* A new secret for the key; the old one stops matching as soon as the next snapshot is
 * published (no overlap: a caller that wants one creates a second key instead). */
gw_keys_status gw_key_store_rotate(gw_key_store *st, const char *id, int64_t now,
                                   gw_key_record *out, char secret[GW_KEY_SECRET_LEN + 1],
                                   char *err, size_t errlen);

/* Revokes for good: the row stays (who had which key, until when) but never matches again.
 * Revoking a revoked key is a success that keeps the first time. */
gw_keys_status gw_key_store_revoke(gw_key_store *st, const char *id, int64_t now,
                                   gw_key_record *out, char *err, size_t errlen);

/* Live (not revoked) keys. */
size_t gw_key_store_live_count(gw_key_store *st);

/* 1 when another connection (the `aigw keys` CLI, another process) changed the database since
 * the last call, so the control thread knows to rebuild the snapshot; SQLite's data_version,
 * one cheap query, fit for a timer of a second. */
int gw_key_store_changed(gw_key_store *st);

#endif
