/* PLACEHOLDER until the alerts land: metering.alerts (webhooks, budgets, anomaly) is accepted by
 * the metering section and handed here, and refused with a clear error rather than silently
 * ignored. The alerts' own loader replaces this file. */
#include "config/load_alerts.h"

void ld_metering_alerts(loader *ld, yaml_node_t *node, gw_metering_conf *conf) {
    (void)conf;
    ld_error(ld, node, "metering.alerts is not built yet");
}
