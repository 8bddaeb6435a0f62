#ifndef AIGW_CORE_CONFIG_H
#define AIGW_CORE_CONFIG_H

#include "core/config-t.h"

extern const char gw_default_config_yaml[];

/* Loads and validates a config; path NULL means the embedded default. On failure returns NULL
 * and fills errs with "file:line:column: what was expected" lines. `sim_base_url` is the URL
 * that "builtin:sim" channels resolve to (NULL when the simulator is not running). */
gw_config *gw_config_load(const char *path, const char *sim_base_url, gw_config_errors *errs);
gw_config *gw_config_load_string(const char *name, const char *yaml, size_t len,
                                 const char *sim_base_url, gw_config_errors *errs);

/* Whether any channel uses the in-process simulator (so main knows to start it first). */
int gw_config_wants_sim(const gw_config *cfg);

const gw_model *gw_config_find_model(const gw_config *cfg, const char *name, size_t len);

static inline gw_config *gw_config_ref(gw_config *cfg) {
    atomic_fetch_add_explicit(&cfg->refs, 1, memory_order_relaxed);
    return cfg;
}
void gw_config_unref(gw_config *cfg);

#endif
