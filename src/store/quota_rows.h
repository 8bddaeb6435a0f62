/* Quota spent counts in the store, so a restart does not hand every subject a fresh budget.
 *
 * The quota table (security/quota.h) knows a subject only by a 64-bit hash of (quota, subject
 * value) under a seed; rows are kept under that hash, and the seed is kept too, so the next
 * process hashes the same subject to the same row. A row carries its period (the number's low
 * bits and the Unix ns at which it ends): a count whose period ended is never loaded, so a
 * restart in the next period starts it at 0. Written by the control thread a second after a
 * change (and at once for an admin's change), never by a request. */
#ifndef AIGW_STORE_QUOTA_ROWS_H
#define AIGW_STORE_QUOTA_ROWS_H

#include <stddef.h>
#include <stdint.h>

#include "store/keys.h"

typedef struct gw_store_quota_row {
    uint64_t subject;   /* the quota table's hash */
    uint16_t period;    /* low bits of the period's number */
    int64_t period_end; /* Unix ns */
    uint64_t spent;
    uint64_t budget; /* the subject's own budget + 1; 0: the configured one */
} gw_store_quota_row;

/* The stored seed: 1 and *seed, 0 when none is stored yet, -1 and err on failure. */
int gw_store_quota_seed(gw_key_store *st, uint64_t *seed, char *err, size_t errlen);
int gw_store_quota_set_seed(gw_key_store *st, uint64_t seed, char *err, size_t errlen);

/* Writes rows (each replaces the subject's row) in one transaction. 0, or -1 and err (nothing
 * written). */
int gw_store_quota_save(gw_key_store *st, const gw_store_quota_row *rows, size_t n, int64_t now,
                        char *err, size_t errlen);

/* Drops the rows whose period ended by now (Unix ns) and that keep no budget of their own: they
 * would never be loaded again. 0, or -1 and err. */
int gw_store_quota_prune(gw_key_store *st, int64_t now, char *err, size_t errlen);

/* Calls fn with each row a process starting at now needs: those whose period has not ended,
 * and those with a budget of their own (it holds across periods). fn stops the walk by returning
 * nonzero. 0, or -1 and err. */
int gw_store_quota_load(gw_key_store *st, int64_t now,
                        int (*fn)(const gw_store_quota_row *row, void *ctx), void *ctx, char *err,
                        size_t errlen);

#endif
