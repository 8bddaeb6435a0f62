/* Billing: the price table of metering.prices, looked up per request on the worker thread (a
 * hash probe and a compare, no allocation), and the cost of a request's usage. */
#ifndef AIGW_METER_PRICE_H
#define AIGW_METER_PRICE_H

#include <stddef.h>

#include "core/arena.h"
#include "core/protocol-t.h"
#include "meter/metering-t.h"

/* The price of model: its own entry, else the "*" entry, else NULL. c may be NULL. */
const gw_price *gw_price_find(const gw_metering_conf *c, const char *model, size_t len);

/* The cost of usage u of model, in *currency (set to the price's currency, or NULL when the
 * model has no price: the cost is 0 then). Cached input tokens are billed at cached_input and
 * not again at input (prompt_tokens includes them); reasoning tokens are part of completion
 * tokens and billed with them. Prices are per million tokens. */
double gw_meter_cost(const gw_metering_conf *c, const char *model, const gw_usage *u,
                     const char **currency);

/* Builds the lookup index over c->prices in arena (at load); -1 when two entries name the same
 * model (*dup gets its index). */
int gw_price_index(gw_metering_conf *c, gw_arena *arena, size_t *dup);

#endif
