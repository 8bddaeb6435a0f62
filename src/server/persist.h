/* What outlives a restart when the store is open (store/keys.h): quota spent counts and budget
 * overrides, and the operator's switches (the audit trail is written by admin/audit.c itself).
 * All of it on the control thread, never on the request path: workers count quotas in the
 * shared lock-free table (security/quota.h) as always; once a second the control thread compares
 * each slot with what it last saved and writes the ones that changed, in one transaction. */
#ifndef AIGW_SERVER_PERSIST_H
#define AIGW_SERVER_PERSIST_H

#include <stddef.h>
#include <stdint.h>

#include "filters/switches.h"
#include "security/quota.h"
#include "store/keys.h"

typedef struct gw_persist gw_persist;

/* At start, with the store open, before any worker or the admin API runs: the quota table
 * takes the stored hash seed (or the store keeps the table's), the counts saved for periods
 * that have not ended (and every budget override) go back into the table, and *switches gets
 * the set of what was off (NULL when nothing; the caller's reference). NULL and err when the
 * store cannot be read. */
gw_persist *gw_persist_open(gw_key_store *st, gw_quota_table *quotas, int64_t now,
                            gw_switches **switches, char *err, size_t errlen);
void gw_persist_free(gw_persist *p);

/* Writes the quota counts that changed since the last save; at most a few thousand rows a call
 * unless all (then every change: at shutdown, and for an admin's change). A store failure is
 * logged and what failed is tried again at the next call. 0, or -1 when something was not
 * written. */
int gw_persist_save_quotas(gw_persist *p, int64_t now, int all);

/* A switch turned off or on again, in the store before the workers hear of it. */
int gw_persist_switch(gw_persist *p, gw_switch_kind kind, const char *value, int off, int64_t now);

#endif
