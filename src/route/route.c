#include "route/route.h"

#include <string.h>

#include "core/config.h"

#include "upstream/endpoints.h"

size_t gw_route_swrr_schedule(const int *weights, size_t n, uint32_t *out) {
    long total = 0, current[64] = {0};
    if (n > 64) n = 64; /* the loader refuses more targets than this in one tier */
    for (size_t i = 0; i < n; i++)
        total += weights[i];
    for (long step = 0; step < total; step++) {
        size_t best = 0;
        for (size_t i = 0; i < n; i++) {
            current[i] += weights[i];
            if (weights[i] > 0 && (weights[best] == 0 || current[i] > current[best])) best = i;
        }
        current[best] -= total;
        out[step] = (uint32_t)best;
    }
    return (size_t)total;
}

static gw_endpoint *least_loaded_untried(const gw_channel *ch, gw_endpoint *const *tried,
                                         size_t tried_count) {
    gw_endpoint *best = NULL;
    size_t n;
    gw_endpoint *const *eps = gw_channel_endpoints(ch, &n);
    for (size_t i = 0; i < n; i++) {
        gw_endpoint *ep = eps[i];
        int seen = 0;
        for (size_t k = 0; k < tried_count && !seen; k++)
            seen = tried[k] == ep;
        if (seen) continue;
        if (!best || atomic_load(&ep->in_flight) < atomic_load(&best->in_flight)) best = ep;
    }
    return best;
}

/* Takes a place in the channel's max_connections before an endpoint is picked (a pick may claim
 * an ejected endpoint's one probe): add first, give back when over, so workers picking at the
 * same moment never pass the cap together. The attempt gives the place back when it ends. */
static int reserve(const gw_channel *ch) {
    if (!ch->source) return 1;
    int before = atomic_fetch_add_explicit(&ch->source->in_flight, 1, memory_order_relaxed);
    if (before < ch->max_connections) return 1;
    atomic_fetch_sub_explicit(&ch->source->in_flight, 1, memory_order_relaxed);
    return 0;
}

static void unreserve(const gw_channel *ch) {
    if (ch->source) atomic_fetch_sub_explicit(&ch->source->in_flight, 1, memory_order_relaxed);
}

int gw_route_next(const gw_target_group *group, gw_endpoint *const *tried, size_t tried_count,
                  int64_t now_ns, gw_route_choice *out) {
    for (size_t t = 0; t < group->tier_count; t++) {
        const gw_tier *tier = &group->tiers[t];
        if (tier->period == 0) continue; /* every target of the tier drained (weight 0) */
        size_t start =
            atomic_fetch_add_explicit(tier->cursor, 1, memory_order_relaxed) % tier->period;
        for (size_t k = 0; k < tier->period; k++) {
            const gw_target *target = &group->targets[tier->schedule[(start + k) % tier->period]];
            if (!gw_channel_usable(target->channel, tried, tried_count, now_ns) ||
                !reserve(target->channel))
                continue;
            gw_endpoint *ep = gw_channel_pick_endpoint(target->channel, tried, tried_count, now_ns);
            if (ep) {
                *out = (gw_route_choice){target, ep};
                return 0;
            }
            unreserve(target->channel);
        }
    }
    /* nothing healthy: the lowest tier's least loaded endpoint not tried yet */
    for (size_t t = 0; t < group->tier_count; t++) {
        const gw_tier *tier = &group->tiers[t];
        for (size_t k = 0; k < tier->period; k++) {
            const gw_target *target = &group->targets[tier->schedule[k]];
            gw_endpoint *ep = least_loaded_untried(target->channel, tried, tried_count);
            if (ep && reserve(target->channel)) { /* a cap holds even in an outage */
                *out = (gw_route_choice){target, ep};
                return 0;
            }
        }
    }
    return -1;
}
