#ifndef AIGW_CORE_CONFIG_H
#define AIGW_CORE_CONFIG_H

#include <stdint.h>

#include "core/config-t.h"

/* FNV-1a of a model name, for the snapshot's model index. */
uint32_t gw_config_name_hash(const char *s, size_t len);

const gw_model *gw_config_find_model(const gw_config *cfg, const char *name, size_t len);

static inline gw_config *gw_config_ref(gw_config *cfg) {
    atomic_fetch_add_explicit(&cfg->refs, 1, memory_order_relaxed);
    return cfg;
}
void gw_config_unref(gw_config *cfg);

#endif
