/* The settings of rate limits (limits:), parsed by the config loader. */
#ifndef AIGW_FILTERS_LIMITS_H
#define AIGW_FILTERS_LIMITS_H

#include <stddef.h>

#include "security/quota.h"
#include "security/ratelimit.h"
#include "security/schedule_tz.h"

enum { GW_LIMITS_MAX_RULES = 64, GW_LIMITS_MAX_ZONES = 16, GW_QUOTAS_MAX = 16 };

typedef struct gw_limits_conf {
    gw_limit_rule rules[GW_LIMITS_MAX_RULES];
    gw_limit_when whens[GW_LIMITS_MAX_RULES];
    size_t rule_count;
    gw_tz *zones[GW_LIMITS_MAX_ZONES]; /* owned by the snapshot */
    size_t zone_count;
    gw_quota_rule quotas[GW_QUOTAS_MAX]; /* quotas:, token budgets per period */
    size_t quota_count;
} gw_limits_conf;

/* The counters every snapshot's limits share, so a reload does not give every caller a fresh
 * allowance. Made by the config loader (control thread) when a config has limits or keys, before
 * any worker can ask; workers only read the pointer. */
gw_limit_table *gw_limits_table(void);
/* The same for quotas' spent counts. */
gw_quota_table *gw_quotas_table(void);

#endif
