#include "filters/switches.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/worker-t.h"
#include "filters/auth.h"
#include "filters/filter.h"
#include "filters/request.h"

gw_switches *gw_switches_with(const gw_switches *set, gw_switch_kind kind, const char *value,
                              int off) {
    size_t n = set ? set->count : 0;
    if (strlen(value) > GW_SWITCH_VALUE_MAX || (off && n >= GW_SWITCHES_MAX)) return NULL;
    gw_switches *next = malloc(sizeof *next + (n + 1) * sizeof(gw_switch));
    if (!next) return NULL;
    atomic_init(&next->refs, 1);
    next->count = 0;
    for (size_t i = 0; i < n; i++) /* the others, and this one unless it goes on again */
        if (set->items[i].kind != kind || strcmp(set->items[i].value, value))
            next->items[next->count++] = set->items[i];
    if (off) {
        gw_switch *s = &next->items[next->count++];
        s->kind = kind;
        snprintf(s->value, sizeof s->value, "%s", value);
    }
    return next;
}

gw_switches *gw_switches_from(const gw_switch *items, size_t n) {
    if (n > GW_SWITCHES_MAX) return NULL;
    gw_switches *set = malloc(sizeof *set + (n ? n : 1) * sizeof(gw_switch));
    if (!set) return NULL;
    atomic_init(&set->refs, 1);
    set->count = n;
    if (n) memcpy(set->items, items, n * sizeof *items);
    return set;
}

gw_switches *gw_switches_ref(gw_switches *set) {
    if (set) atomic_fetch_add_explicit(&set->refs, 1, memory_order_relaxed);
    return set;
}

void gw_switches_unref(gw_switches *set) {
    if (set && atomic_fetch_sub_explicit(&set->refs, 1, memory_order_acq_rel) == 1) free(set);
}

int gw_switches_off(const gw_switches *set, gw_switch_kind kind, const char *value, size_t len) {
    for (size_t i = 0; set && i < set->count; i++)
        if (set->items[i].kind == kind && strlen(set->items[i].value) == len &&
            !memcmp(set->items[i].value, value, len))
            return 1;
    return 0;
}

/* Each posted set carries a reference of its own, handed over whole by the exchange: a worker
 * never counts a reference on a set the control thread may be dropping. */
void gw_switches_post(_Atomic(gw_switches *) *inbox, gw_switches *set) {
    gw_switches_unref(atomic_exchange(inbox, gw_switches_ref(set)));
}

gw_switches *gw_switches_take(_Atomic(gw_switches *) *inbox, gw_switches *current) {
    if (!atomic_load_explicit(inbox, memory_order_relaxed)) return current;
    gw_switches *next = atomic_exchange(inbox, NULL);
    if (!next) return current;
    gw_switches_unref(current);
    return next;
}

/* After resolve_model (and auth): a tenant or a model the operator turned off is refused. */
static gw_filter_rc switches_request(gw_req *r) {
    gw_worker *w = r->worker;
    w->switches = gw_switches_take(&w->switches_inbox, w->switches);
    const gw_switches *set = w->switches;
    if (!set || !set->count) return GW_FILTER_CONTINUE;
    const gw_auth_identity *who = gw_auth_identity_of(r);
    if (who && who->tenant[0] &&
        gw_switches_off(set, GW_SWITCH_TENANT, who->tenant, strlen(who->tenant))) {
        gw_req_fail(r, 403, "permission_error", "tenant_disabled", NULL,
                    "this tenant is disabled on the gateway (request id %s)", r->id);
        return GW_FILTER_RESPOND;
    }
    if (gw_switches_off(set, GW_SWITCH_MODEL, r->model->name, r->model->name_len)) {
        gw_req_fail(r, 403, "permission_error", "model_disabled", "model",
                    "the model `%s` is disabled on the gateway (request id %s)", r->model->name,
                    r->id);
        return GW_FILTER_RESPOND;
    }
    return GW_FILTER_CONTINUE;
}

const gw_filter_ops gw_filter_switches = {
    .name = "switches",
    .on_request = switches_request,
};
