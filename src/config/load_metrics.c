#include "config/load_metrics.h"

#include "meter/metrics.h"

static void h_require_token(loader *ld, yaml_node_t *v, void *t) {
    ld_bool(ld, v, "metrics.require_token", &((gw_metrics_conf *)t)->require_token);
}
static void h_tenant_label(loader *ld, yaml_node_t *v, void *t) {
    ld_bool(ld, v, "metrics.tenant_label", &((gw_metrics_conf *)t)->tenant_label);
}
static void h_max_tenants(loader *ld, yaml_node_t *v, void *t) {
    long x;
    if (ld_int(ld, v, "metrics.max_tenants", 1, GW_METRICS_MAX_TENANTS, &x) == 0)
        ((gw_metrics_conf *)t)->max_tenants = (int)x;
}
static void h_max_series(loader *ld, yaml_node_t *v, void *t) {
    long x;
    if (ld_int(ld, v, "metrics.max_series", 2, GW_METRICS_MAX_SERIES, &x) == 0)
        ((gw_metrics_conf *)t)->max_series = (int)x;
}

void ld_metrics(loader *ld, yaml_node_t *v, void *t) {
    gw_config *cfg = t;
    gw_metrics_conf *mc = gw_arena_alloc(&cfg->arena, sizeof *mc);
    *mc = gw_metrics_conf_default;
    static const key_spec specs[] = {{"require_token", h_require_token},
                                     {"tenant_label", h_tenant_label},
                                     {"max_tenants", h_max_tenants},
                                     {"max_series", h_max_series},
                                     {NULL, NULL}};
    ld_walk_mapping(ld, v, "metrics", specs, mc);
    cfg->metrics = mc;
}
