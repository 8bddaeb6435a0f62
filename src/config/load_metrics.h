/* `metrics:` of the config: the Prometheus endpoint's settings. Internal to src/config/. */
#ifndef AIGW_CONFIG_LOAD_METRICS_H
#define AIGW_CONFIG_LOAD_METRICS_H

#include "config/loader.h"

/* The top-level handler: target is the gw_config. */
void ld_metrics(loader *ld, yaml_node_t *value, void *target);

#endif
