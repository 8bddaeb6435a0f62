/* The admin listener: health, readiness and config reload, behind a bearer admin token.
 * It runs on the control thread's loop, apart from the API ports. */
#ifndef AIGW_ADMIN_ADMIN_H
#define AIGW_ADMIN_ADMIN_H

#include <stddef.h>
#include <stdint.h>

#include "core/config-t.h"

struct event_base;
struct gw_key_store;
struct gw_switches;
struct gw_meter;
struct gw_meter_reader;
struct gw_metrics;
struct gw_alerts;
typedef struct gw_http_server gw_http_server;

/* What the admin API asks of the process that runs it: handed in, so the admin listener knows
 * nothing of the server above it. */
typedef struct gw_admin_ops {
    int (*reload)(void *ud, gw_config_errors *errs, gw_restart_pending *pending);
    uint64_t (*generation)(void *ud);
    int (*draining)(void *ud);
    const gw_config *(*config)(void *ud);
    /* the API keys' store; NULL when authentication takes no keys */
    struct gw_key_store *(*key_store)(void *ud);
    void (*keys_changed)(void *ud); /* publish the store's keys to the workers now */
    /* the operator's switches (filters/switches.h): what is off now, and a change of one */
    const struct gw_switches *(*switches)(void *ud);
    int (*set_switch)(void *ud, int kind, const char *value, int off);
    void (*quotas_changed)(void *ud); /* an admin changed a quota: save it now */
    /* metering (meter/meter.h): the store writer, and the reader the usage and request-log
     * endpoints query through; NULL when metering is off */
    struct gw_meter *(*meter)(void *ud);
    struct gw_meter_reader *(*meter_reader)(void *ud);
    /* the workers' metrics (meter/metrics.h), summed at each GET /metrics; NULL: none */
    const struct gw_metrics *(*metrics)(void *ud);
    struct gw_alerts *(*alerts)(void *ud); /* metering.alerts' service; NULL: none */
} gw_admin_ops;

gw_http_server *gw_admin_start(const gw_admin_ops *ops, void *ud, struct event_base *base,
                               const gw_config *cfg, char *err, size_t errlen);
void gw_admin_stop(gw_http_server *admin);

#endif
