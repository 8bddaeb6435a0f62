/* metering.alerts: parsed by its own loader into conf->alerts. Internal to src/config/. */
#ifndef AIGW_CONFIG_LOAD_ALERTS_H
#define AIGW_CONFIG_LOAD_ALERTS_H

#include "config/loader.h"
#include "meter/metering-t.h"

void ld_metering_alerts(loader *ld, yaml_node_t *node, gw_metering_conf *conf);

#endif
