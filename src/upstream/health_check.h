/* Active health checks: for each channel with health.path, a GET of every endpoint's health
 * path each health.interval_ms, on the control thread's loop with its own curl multi handle
 * (never a worker's). An answer other than 2xx, or none within health.timeout_ms, counts as a
 * failure in the same health machine as the requests' (health.failures in a row eject); a 2xx
 * brings an ejected endpoint back before any request has to probe it. */
#ifndef AIGW_UPSTREAM_HEALTH_CHECK_H
#define AIGW_UPSTREAM_HEALTH_CHECK_H

#include "core/config-t.h"

struct event_base;
typedef struct gw_health_checker gw_health_checker;

gw_health_checker *gw_health_checker_new(struct event_base *base);
/* The running config's channels (after each load): the checker takes a reference. */
void gw_health_checker_set_config(gw_health_checker *hc, gw_config *cfg);
void gw_health_checker_free(gw_health_checker *hc);

/* The URL checked for an endpoint: its scheme, host and port (or `port`), then `path`. */
int gw_health_check_url(const char *base_url, int port, const char *path, char *out, size_t outlen);

#endif
