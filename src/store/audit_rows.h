/* The audit trail in the store: one row per admin action (who, what, on what, the answer's
 * status), so `GET /admin/audit` can show what was done, across restarts. Never a secret: the
 * caller passes only names and ids. The newest `keep` rows are kept; older ones are dropped as
 * new ones come, so the table has a bound. Control thread only. */
#ifndef AIGW_STORE_AUDIT_ROWS_H
#define AIGW_STORE_AUDIT_ROWS_H

#include <stddef.h>
#include <stdint.h>

#include "store/keys.h"

enum {
    GW_AUDIT_KEEP_DEFAULT = 100000,
    GW_AUDIT_TEXT_MAX = 512, /* client, action and target are cut to this many bytes */
};

typedef struct gw_store_audit_entry {
    int64_t id;   /* set by the store, increasing */
    int64_t time; /* Unix seconds */
    const char *client, *action, *target;
    int status;
} gw_store_audit_entry;

/* Appends e (its id is ignored), then drops what is older than the newest keep rows. 0, or -1
 * and err. */
int gw_store_audit_add(gw_key_store *st, const gw_store_audit_entry *e, size_t keep, char *err,
                       size_t errlen);

/* Newest first: entries at or after since (Unix seconds; 0: any), with an id below before_id
 * (0: any; the id of the last entry of a page asks for the next page), at most limit. fn gets
 * each (its strings last until fn returns) and stops the walk by returning nonzero. */
typedef struct gw_store_audit_query {
    int64_t since, before_id;
    size_t limit;
} gw_store_audit_query;
int gw_store_audit_list(gw_key_store *st, const gw_store_audit_query *q,
                        int (*fn)(const gw_store_audit_entry *e, void *ctx), void *ctx, char *err,
                        size_t errlen);

#endif
