/* Time zones the request path may need by name (the zones of quotas kept with keys in the key
 * store): loaded on the control thread when keys are published, then read by any worker without
 * a lock. Append-only and bounded; a zone once loaded stays until the process ends. */
#ifndef AIGW_SECURITY_ZONES_H
#define AIGW_SECURITY_ZONES_H

#include <stddef.h>

#include "security/schedule_tz.h"

enum { GW_ZONES_MAX = 64 };

/* Loads the zone unless it is there (control thread only). 0, or -1 with err (unknown zone, or
 * GW_ZONES_MAX zones already). "" and "UTC" need no loading. */
int gw_zones_add(const char *name, char *err, size_t errlen);

/* The zone of that name, or NULL (UTC) when it is "" or "UTC" or was never loaded. Any thread. */
const gw_tz *gw_zones_find(const char *name);

#endif
