/* The parser of metering.alerts (alerts/alerts-t.h): called by the metering: section's parser
 * with the value node of `alerts`. Internal to src/config/. */
#ifndef AIGW_CONFIG_LOAD_ALERTS_H
#define AIGW_CONFIG_LOAD_ALERTS_H

#include "alerts/alerts-t.h"
#include "config/loader.h"

/* Reads the mapping into a new gw_alerts_conf in the config's arena (defaults filled in) and
 * sets *out; errors go to the loader with file:line:column. */
void ld_metering_alerts(loader *ld, yaml_node_t *v, gw_alerts_conf **out);

#endif
