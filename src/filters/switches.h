/* Operator switches: tenants and models turned off everywhere at once through the admin API,
 * whatever the config says. An immutable, reference-counted set: the control thread builds a
 * new one at each change and posts it to every worker; a worker takes it at its next request
 * (one relaxed load when nothing is new), as it takes the key store's keys. */
#ifndef AIGW_FILTERS_SWITCHES_H
#define AIGW_FILTERS_SWITCHES_H

#include <stdatomic.h>
#include <stddef.h>

enum { GW_SWITCHES_MAX = 4096, GW_SWITCH_VALUE_MAX = 128 };

typedef enum { GW_SWITCH_TENANT, GW_SWITCH_MODEL } gw_switch_kind;

typedef struct gw_switch {
    gw_switch_kind kind;
    char value[GW_SWITCH_VALUE_MAX + 1];
} gw_switch;

typedef struct gw_switches {
    atomic_int refs;
    size_t count;
    gw_switch items[]; /* what is off */
} gw_switches;

/* A copy of set (NULL: empty) with (kind, value) turned off (off) or on again; NULL when out
 * of memory or the set is full. One reference, the caller's. */
gw_switches *gw_switches_with(const gw_switches *set, gw_switch_kind kind, const char *value,
                              int off);
/* A set of items[0..n) (at most GW_SWITCHES_MAX, each value at most GW_SWITCH_VALUE_MAX, no
 * two alike: what the store kept); NULL when out of memory or out of bounds. */
gw_switches *gw_switches_from(const gw_switch *items, size_t n);
gw_switches *gw_switches_ref(gw_switches *set);
void gw_switches_unref(gw_switches *set);
int gw_switches_off(const gw_switches *set, gw_switch_kind kind, const char *value, size_t len);

/* A worker's inbox, as the key store's (store/keyset.h). */
void gw_switches_post(_Atomic(gw_switches *) *inbox, gw_switches *set);
gw_switches *gw_switches_take(_Atomic(gw_switches *) *inbox, gw_switches *current);

#endif
