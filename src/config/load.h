/* Loading a config file into a snapshot: YAML, validated with file:line:column errors. The
 * loader knows every part a config names (engine types today; routing rules next), so it sits
 * above them; the snapshot's types and lookups are in core/config.h. */
#ifndef AIGW_CONFIG_LOAD_H
#define AIGW_CONFIG_LOAD_H

#include "core/config.h"

extern const char gw_default_config_yaml[];

/* Loads and validates a config; path NULL means the embedded default. On failure returns NULL
 * and fills errs with "file:line:column: what was expected" lines. `sim_base_url` is the URL
 * that "builtin:sim" channels resolve to (NULL when the simulator is not running). */
gw_config *gw_config_load(const char *path, const char *sim_base_url, gw_config_errors *errs);
gw_config *gw_config_load_string(const char *name, const char *yaml, size_t len,
                                 const char *sim_base_url, gw_config_errors *errs);

/* Whether any channel uses the in-process simulator (so main knows to start it first). */
int gw_config_wants_sim(const gw_config *cfg);

#endif
