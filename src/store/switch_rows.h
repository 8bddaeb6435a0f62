/* The operator's switches in the store (tenants and models turned off through the admin API),
 * so they hold across a restart. A switch is a row while it is off; turning it on again deletes
 * the row. kind is "tenant" or "model". Control thread only. */
#ifndef AIGW_STORE_SWITCH_ROWS_H
#define AIGW_STORE_SWITCH_ROWS_H

#include <stddef.h>
#include <stdint.h>

#include "store/keys.h"

/* off: the row is written (since now, Unix seconds; an existing one keeps its time); else it
 * goes. 0, or -1 and err. */
int gw_store_switch_set(gw_key_store *st, const char *kind, const char *value, int off, int64_t now,
                        char *err, size_t errlen);

/* fn gets each switch that is off, oldest first; returns nonzero to stop. 0, or -1 and err. */
int gw_store_switch_load(gw_key_store *st,
                         int (*fn)(const char *kind, const char *value, void *ctx), void *ctx,
                         char *err, size_t errlen);

#endif
