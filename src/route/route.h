/* Which channel serves a request. One function, so smart routing (weights, tiers, rules,
 * failover, load) replaces its body and nothing else. */
#ifndef AIGW_ROUTE_ROUTE_H
#define AIGW_ROUTE_ROUTE_H

#include "core/request-t.h"

const gw_channel *gw_route_pick(gw_req *r);

#endif
