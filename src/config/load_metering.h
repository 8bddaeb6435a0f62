/* The `metering:` section (usage store, prices, the writer's queue, captures, retention; its
 * alerts go to config/load_alerts.h). Internal to src/config/. */
#ifndef AIGW_CONFIG_LOAD_METERING_H
#define AIGW_CONFIG_LOAD_METERING_H

#include "config/loader.h"

/* The top-level `metering` key's handler (target: the gw_config). */
void ld_metering(loader *ld, yaml_node_t *node, void *target);
/* After every section was read: what depends on another section (store defaults to
 * store.path). */
void ld_metering_finish(loader *ld);
/* What the section holds outside the snapshot's arena, when the snapshot goes. */
void ld_metering_release(gw_config *cfg);

#endif
