/* Which channel and endpoint serve a request's next attempt: the lowest tier that has a
 * healthy channel, a smooth weighted round robin among that tier's channels (shared by all
 * workers), then the least loaded usable endpoint of the channel. Endpoints a request already
 * tried are skipped, so a retry goes elsewhere. */
#ifndef AIGW_ROUTE_ROUTE_H
#define AIGW_ROUTE_ROUTE_H

#include <stddef.h>
#include <stdint.h>

#include "core/config-t.h"

typedef struct gw_route_choice {
    const gw_target *target;
    gw_endpoint *endpoint;
} gw_route_choice;

/* 0 and a choice (with a place taken in its channel's max_connections, which the attempt gives
 * back), or -1 when no target has an endpoint left to try or a place. When every channel is
 * ejected the lowest tier is tried anyway (fail open: an outage is no reason to refuse a
 * request that might now succeed). */
int gw_route_next(const gw_target_group *group, gw_endpoint *const *tried, size_t tried_count,
                  int64_t now_ns, gw_route_choice *out);

/* The smooth weighted round-robin order (nginx's) of targets with these weights: each index i
 * appears weights[i] times in out, spread evenly. Returns the period (the sum of weights). */
size_t gw_route_swrr_schedule(const int *weights, size_t n, uint32_t *out);

#endif
