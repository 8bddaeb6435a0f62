#ifndef AIGW_CORE_CONFIG_H
#define AIGW_CORE_CONFIG_H

#include <stdint.h>

#include "core/config-t.h"

/* FNV-1a of a model name, for the snapshot's model index. */
uint32_t gw_config_name_hash(const char *s, size_t len);

const gw_model *gw_config_find_model(const gw_config *cfg, const char *name, size_t len);

/* Whether name is the config's: a model, or another name it defines for metrics and logs (an
 * MCP tool, "mcp:<server>/<tool>"). What callers make up is neither. */
int gw_config_knows_name(const gw_config *cfg, const char *name, size_t len);

/* The channel's endpoints now: its static list, or its discovered set (possibly empty). */
static inline gw_endpoint *const *gw_channel_endpoints(const gw_channel *ch, size_t *count) {
    if (!ch->source) {
        *count = ch->endpoint_count;
        return ch->endpoints;
    }
    gw_endpoint_set *set = atomic_load_explicit(&ch->source->current, memory_order_acquire);
    *count = set ? set->count : 0;
    return set ? set->eps : NULL;
}

/* Whether the channel has max_connections requests in flight already (checked, then counted
 * when the attempt starts: workers picking at the same moment may pass it by a few). */
static inline int gw_channel_full(const gw_channel *ch) {
    return ch->source && atomic_load_explicit(&ch->source->in_flight, memory_order_relaxed) >=
                             ch->max_connections;
}

static inline gw_config *gw_config_ref(gw_config *cfg) {
    atomic_fetch_add_explicit(&cfg->refs, 1, memory_order_relaxed);
    return cfg;
}
void gw_config_unref(gw_config *cfg);

/* A worker's hold on the snapshot its requests start with: one reference for all of them, and
 * a plain count of the requests, which only the worker's thread touches. An atomic count per
 * request was a cache line every worker wrote twice a request. When the worker moves to a newer
 * snapshot it retires the hold, which lets the reference go with its last request. */
typedef struct gw_config_hold {
    gw_config *cfg;
    size_t requests;
    int retired;
} gw_config_hold;

/* Takes over the reference the caller passes; NULL (the reference dropped) when out of memory. */
gw_config_hold *gw_config_hold_new(gw_config *cfg);
void gw_config_hold_retire(gw_config_hold *h);
/* A request starts on the hold's snapshot, and ends. */
static inline gw_config *gw_config_hold_take(gw_config_hold *h) {
    h->requests++;
    return h->cfg;
}
void gw_config_hold_drop(gw_config_hold *h);

#endif
