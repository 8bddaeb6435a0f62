#include "security/zones.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

/* An entry is written whole before the count that publishes it grows (release), and readers
 * load the count (acquire) before the entries: no lock, and no entry ever changes. */
static const gw_tz *zones[GW_ZONES_MAX];
static atomic_size_t zone_count;

static int is_utc(const char *name) {
    return !*name || !strcmp(name, "UTC");
}

const gw_tz *gw_zones_find(const char *name) {
    if (is_utc(name)) return NULL;
    size_t n = atomic_load_explicit(&zone_count, memory_order_acquire);
    for (size_t i = 0; i < n; i++)
        if (!strcmp(gw_tz_name(zones[i]), name)) return zones[i];
    return NULL;
}

int gw_zones_add(const char *name, char *err, size_t errlen) {
    if (is_utc(name) || gw_zones_find(name)) return 0;
    size_t n = atomic_load_explicit(&zone_count, memory_order_relaxed);
    if (n == GW_ZONES_MAX) {
        snprintf(err, errlen, "more than %d time zones in key quotas", GW_ZONES_MAX);
        return -1;
    }
    gw_tz *tz = gw_tz_load(name, err, errlen);
    if (!tz) return -1;
    zones[n] = tz;
    atomic_store_explicit(&zone_count, n + 1, memory_order_release);
    return 0;
}
