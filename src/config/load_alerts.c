#include "config/load_alerts.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"

#define INT_FIELD(fn, type, field, what, min, max)                                                 \
    static void fn(loader *ld, yaml_node_t *v, void *t) {                                          \
        long x;                                                                                    \
        if (ld_int(ld, v, what, min, max, &x) == 0) ((type *)t)->field = (int)x;                   \
    }

/* A decimal number within [min, max] (amounts, factors, fractions). */
static int ld_number(loader *ld, yaml_node_t *node, const char *what, double min, double max,
                     double *out) {
    if (ld_expect_kind(ld, node, YAML_SCALAR_NODE, what) < 0) return -1;
    const char *s = (const char *)node->data.scalar.value;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v) || v < min || v > max) {
        ld_error(ld, node, "expected a number from %g to %g for %s, found '%s'", min, max, what, s);
        return -1;
    }
    *out = v;
    return 0;
}

/* --- webhooks --- */
static const gw_alert_webhook webhook_defaults = {
    .timeout_ms = 5000, .max_retries = 3, .backoff_ms = 1000, .max_backoff_ms = 60000};

static int webhook_url_ok(loader *ld, yaml_node_t *node, const char *url) {
    if ((strncmp(url, "http://", 7) && strncmp(url, "https://", 8)) || strlen(url) > 1000 ||
        strpbrk(url, " \r\n")) {
        ld_error(ld, node, "expected an http:// or https:// URL for a webhook, found '%s'", url);
        return 0;
    }
    return 1;
}

static void h_wh_url(loader *ld, yaml_node_t *v, void *t) {
    const char *url = ld_string(ld, v, "metering.alerts.webhooks url");
    if (url && webhook_url_ok(ld, v, url)) ((gw_alert_webhook *)t)->url = url;
}
INT_FIELD(h_wh_timeout, gw_alert_webhook, timeout_ms, "metering.alerts.webhooks timeout_ms", 100,
          600000)
INT_FIELD(h_wh_retries, gw_alert_webhook, max_retries, "metering.alerts.webhooks max_retries", 0,
          100)
INT_FIELD(h_wh_backoff, gw_alert_webhook, backoff_ms, "metering.alerts.webhooks backoff_ms", 1,
          3600000)
INT_FIELD(h_wh_max_backoff, gw_alert_webhook, max_backoff_ms,
          "metering.alerts.webhooks max_backoff_ms", 1, 86400000)

static int header_name_ok(const char *s) {
    if (!*s) return 0;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && !strchr("!#$%&'*+-.^_`|~", *s)) return 0;
    return 1;
}

static void h_wh_headers(loader *ld, yaml_node_t *v, void *t) {
    gw_alert_webhook *w = t;
    if (ld_expect_kind(ld, v, YAML_MAPPING_NODE, "metering.alerts.webhooks headers") < 0) return;
    size_t n = (size_t)(v->data.mapping.pairs.top - v->data.mapping.pairs.start);
    if (n > GW_ALERT_MAX_HEADERS) {
        ld_error(ld, v, "at most %d headers for a webhook", GW_ALERT_MAX_HEADERS);
        return;
    }
    gw_arena *arena = &ld->cfg->arena;
    w->headers = gw_arena_alloc(arena, (n ? n : 1) * sizeof *w->headers);
    w->header_count = 0;
    for (yaml_node_pair_t *p = v->data.mapping.pairs.start; p < v->data.mapping.pairs.top; p++) {
        yaml_node_t *key = ld_node(ld, p->key), *val = ld_node(ld, p->value);
        if (ld_duplicate_key(ld, v, p, "metering.alerts.webhooks headers")) continue;
        const char *name = ld_string(ld, key, "a header name");
        const char *value = ld_string(ld, val, "a header value");
        if (!name || !value) continue;
        if (!header_name_ok(name) || strpbrk(value, "\r\n")) {
            ld_error(ld, key, "invalid webhook header '%s' (a token name, a one-line value)", name);
            continue;
        }
        size_t len = strlen(name) + strlen(value) + 3;
        char *line = gw_arena_alloc(arena, len);
        snprintf(line, len, "%s: %s", name, value);
        w->headers[w->header_count++] = line;
    }
}

static void read_webhook(loader *ld, yaml_node_t *item, gw_alert_webhook *w) {
    static const key_spec specs[] = {{"url", h_wh_url},
                                     {"headers", h_wh_headers},
                                     {"timeout_ms", h_wh_timeout},
                                     {"max_retries", h_wh_retries},
                                     {"backoff_ms", h_wh_backoff},
                                     {"max_backoff_ms", h_wh_max_backoff},
                                     {NULL, NULL}};
    *w = webhook_defaults;
    if (item->type == YAML_SCALAR_NODE) {
        h_wh_url(ld, item, w);
        return;
    }
    if (item->type != YAML_MAPPING_NODE) {
        ld_error(ld, item,
                 "expected a URL or a mapping {url, headers, ...} for a webhook, found %s",
                 ld_node_kind(item));
        return;
    }
    ld_walk_mapping(ld, item, "a webhook", specs, w);
    if (!w->url) ld_error(ld, item, "a webhook needs a url");
    if (w->max_backoff_ms < w->backoff_ms) w->max_backoff_ms = w->backoff_ms;
}

static void h_webhooks(loader *ld, yaml_node_t *v, void *t) {
    gw_alerts_conf *c = t;
    if (ld_expect_kind(ld, v, YAML_SEQUENCE_NODE, "metering.alerts.webhooks") < 0) return;
    for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top;
         it++) {
        yaml_node_t *item = ld_node(ld, *it);
        if (c->webhook_count == GW_ALERT_MAX_WEBHOOKS) {
            ld_error(ld, item, "at most %d webhooks", GW_ALERT_MAX_WEBHOOKS);
            return;
        }
        read_webhook(ld, item, &c->webhooks[c->webhook_count++]);
    }
}

/* --- dimensions --- */
static int dim_named(const char *s, gw_alert_dim *out) {
    static const char *const names[] = {"total", "tenant", "project", "key", "model"};
    for (int i = 0; i < 5; i++)
        if (!strcmp(s, names[i])) {
            *out = (gw_alert_dim)i;
            return 0;
        }
    return -1;
}

/* by: tenant, or by: [tenant, model] */
static void read_dims(loader *ld, yaml_node_t *v, const char *what, gw_alert_dim *dims,
                      size_t *count) {
    yaml_node_item_t one = 0, *start = &one, *top = &one + 1;
    if (v->type == YAML_SEQUENCE_NODE) {
        start = v->data.sequence.items.start;
        top = v->data.sequence.items.top;
    } else if (ld_expect_kind(ld, v, YAML_SCALAR_NODE, what) < 0) {
        return;
    }
    *count = 0;
    for (yaml_node_item_t *it = start; it < top; it++) {
        yaml_node_t *node = v->type == YAML_SEQUENCE_NODE ? ld_node(ld, *it) : v;
        const char *s = ld_string(ld, node, what);
        gw_alert_dim d;
        if (!s) continue;
        if (dim_named(s, &d) < 0) {
            ld_error(ld, node, "expected total, tenant, project, key or model for %s, found '%s'",
                     what, s);
            continue;
        }
        int seen = 0;
        for (size_t i = 0; i < *count; i++)
            seen |= dims[i] == d;
        if (seen) {
            ld_error(ld, node, "'%s' is named twice in %s", s, what);
            continue;
        }
        dims[(*count)++] = d; /* five names, each at most once: fits */
    }
    if (*count == 0) ld_error(ld, v, "%s names no dimension", what);
}

/* --- budgets --- */
typedef struct budget_draft {
    gw_alert_budget *b;
    yaml_node_t *scope_node, *period_node;
} budget_draft;

static void budget_scope(loader *ld, yaml_node_t *v, budget_draft *d, gw_alert_dim by) {
    if (d->scope_node) {
        ld_error(ld, ld->current_key,
                 "a budget names one of tenant, project or key (the first is at line %zu)",
                 d->scope_node->start_mark.line + 1);
        return;
    }
    d->scope_node = ld->current_key;
    const char *value = ld_string(ld, v, "a budget's subject");
    if (value && !*value) ld_error(ld, v, "a budget's subject is empty (\"*\" means each one)");
    d->b->by = by;
    d->b->value = value;
}
static void h_b_tenant(loader *ld, yaml_node_t *v, void *t) {
    budget_scope(ld, v, t, GW_ALERT_BY_TENANT);
}
static void h_b_project(loader *ld, yaml_node_t *v, void *t) {
    budget_scope(ld, v, t, GW_ALERT_BY_PROJECT);
}
static void h_b_key(loader *ld, yaml_node_t *v, void *t) {
    budget_scope(ld, v, t, GW_ALERT_BY_KEY);
}

static void budget_period(loader *ld, yaml_node_t *v, budget_draft *d, int daily) {
    if (d->period_node) {
        ld_error(ld, ld->current_key, "a budget is either monthly or daily, not both");
        return;
    }
    d->period_node = ld->current_key;
    d->b->daily = daily;
    ld_number(ld, v, daily ? "a daily budget" : "a monthly budget", 1e-9, 1e15, &d->b->amount);
}
static void h_b_monthly(loader *ld, yaml_node_t *v, void *t) {
    budget_period(ld, v, t, 0);
}
static void h_b_daily(loader *ld, yaml_node_t *v, void *t) {
    budget_period(ld, v, t, 1);
}

static void h_b_at(loader *ld, yaml_node_t *v, void *t) {
    gw_alert_budget *b = ((budget_draft *)t)->b;
    if (ld_expect_kind(ld, v, YAML_SEQUENCE_NODE, "a budget's at (percents)") < 0) return;
    b->at_count = 0;
    for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top;
         it++) {
        yaml_node_t *node = ld_node(ld, *it);
        long pct;
        if (b->at_count == GW_ALERT_MAX_THRESHOLDS) {
            ld_error(ld, node, "at most %d thresholds in a budget", GW_ALERT_MAX_THRESHOLDS);
            return;
        }
        if (ld_int(ld, node, "a budget threshold (percent)", 1, 1000, &pct) < 0) continue;
        if (b->at_count && pct <= b->at[b->at_count - 1]) {
            ld_error(ld, node, "a budget's thresholds go up: %ld after %d", pct,
                     b->at[b->at_count - 1]);
            continue;
        }
        b->at[b->at_count++] = (int)pct;
    }
    if (b->at_count == 0) ld_error(ld, v, "a budget's at names no threshold");
}

static void h_budgets(loader *ld, yaml_node_t *v, void *t) {
    static const key_spec specs[] = {{"tenant", h_b_tenant},
                                     {"project", h_b_project},
                                     {"key", h_b_key},
                                     {"monthly", h_b_monthly},
                                     {"daily", h_b_daily},
                                     {"at", h_b_at},
                                     {NULL, NULL}};
    gw_alerts_conf *c = t;
    if (ld_expect_kind(ld, v, YAML_SEQUENCE_NODE, "metering.alerts.budgets") < 0) return;
    size_t n = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
    if (n > GW_ALERT_MAX_BUDGETS) {
        ld_error(ld, v, "at most %d budgets", GW_ALERT_MAX_BUDGETS);
        return;
    }
    c->budgets = gw_arena_alloc(&ld->cfg->arena, (n ? n : 1) * sizeof *c->budgets);
    for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top;
         it++) {
        yaml_node_t *item = ld_node(ld, *it);
        gw_alert_budget *b = &c->budgets[c->budget_count++];
        *b = (gw_alert_budget){.at = {50, 80, 100}, .at_count = 3};
        budget_draft d = {.b = b};
        ld_walk_mapping(ld, item, "a budget", specs, &d);
        if (item->type != YAML_MAPPING_NODE) continue;
        if (!d.scope_node)
            ld_error(ld, item, "a budget needs tenant, project or key (\"*\": each one)");
        if (!d.period_node) ld_error(ld, item, "a budget needs monthly or daily (an amount)");
    }
}

/* --- anomaly --- */
INT_FIELD(h_an_window, gw_alert_anomaly, window_minutes, "metering.alerts.anomaly.window_minutes",
          1, 1440)
INT_FIELD(h_an_baseline, gw_alert_anomaly, baseline_days, "metering.alerts.anomaly.baseline_days",
          1, 90)
static void h_an_factor(loader *ld, yaml_node_t *v, void *t) {
    ld_number(ld, v, "metering.alerts.anomaly.factor", 1.0, 1e6, &((gw_alert_anomaly *)t)->factor);
}
static void h_an_z(loader *ld, yaml_node_t *v, void *t) {
    ld_number(ld, v, "metering.alerts.anomaly.z", 0.1, 1000, &((gw_alert_anomaly *)t)->z);
}
static void h_an_min_cost(loader *ld, yaml_node_t *v, void *t) {
    ld_number(ld, v, "metering.alerts.anomaly.min_cost", 0, 1e15,
              &((gw_alert_anomaly *)t)->min_cost);
}
static void h_an_by(loader *ld, yaml_node_t *v, void *t) {
    gw_alert_anomaly *a = t;
    read_dims(ld, v, "metering.alerts.anomaly.by", a->by, &a->by_count);
}
static void h_anomaly(loader *ld, yaml_node_t *v, void *t) {
    static const key_spec specs[] = {{"window_minutes", h_an_window},
                                     {"baseline_days", h_an_baseline},
                                     {"factor", h_an_factor},
                                     {"z", h_an_z},
                                     {"min_cost", h_an_min_cost},
                                     {"by", h_an_by},
                                     {NULL, NULL}};
    gw_alert_anomaly *a = &((gw_alerts_conf *)t)->anomaly;
    a->on = 1;
    ld_walk_mapping(ld, v, "metering.alerts.anomaly", specs, a);
    if ((long)a->window_minutes > (long)a->baseline_days * 1440)
        ld_error(ld, v, "metering.alerts.anomaly: the window is longer than the baseline");
}

/* --- error rate --- */
INT_FIELD(h_er_window, gw_alert_error_rate, window_minutes,
          "metering.alerts.error_rate.window_minutes", 1, 1440)
static void h_er_threshold(loader *ld, yaml_node_t *v, void *t) {
    ld_number(ld, v, "metering.alerts.error_rate.threshold (a fraction)", 1e-6, 1.0,
              &((gw_alert_error_rate *)t)->threshold);
}
static void h_er_min(loader *ld, yaml_node_t *v, void *t) {
    ld_int(ld, v, "metering.alerts.error_rate.min_requests", 1, 1000000000,
           &((gw_alert_error_rate *)t)->min_requests);
}
static void h_er_by(loader *ld, yaml_node_t *v, void *t) {
    gw_alert_error_rate *e = t;
    read_dims(ld, v, "metering.alerts.error_rate.by", e->by, &e->by_count);
}
static void h_error_rate(loader *ld, yaml_node_t *v, void *t) {
    static const key_spec specs[] = {{"window_minutes", h_er_window},
                                     {"threshold", h_er_threshold},
                                     {"min_requests", h_er_min},
                                     {"by", h_er_by},
                                     {NULL, NULL}};
    gw_alert_error_rate *e = &((gw_alerts_conf *)t)->error_rate;
    e->on = 1;
    ld_walk_mapping(ld, v, "metering.alerts.error_rate", specs, e);
}

/* --- the section --- */
INT_FIELD(h_every, gw_alerts_conf, evaluate_every_ms, "metering.alerts.evaluate_every_ms", 1000,
          86400000)
INT_FIELD(h_max_pending, gw_alerts_conf, max_pending, "metering.alerts.max_pending", 1, 100000)
INT_FIELD(h_history_days, gw_alerts_conf, history_days, "metering.alerts.history_days", 32, 3650)
INT_FIELD(h_history_max, gw_alerts_conf, history_max, "metering.alerts.history_max", 100, 10000000)
static void h_endpoints(loader *ld, yaml_node_t *v, void *t) {
    ld_bool(ld, v, "metering.alerts.endpoints", &((gw_alerts_conf *)t)->endpoints);
}
static void h_channels(loader *ld, yaml_node_t *v, void *t) {
    ld_bool(ld, v, "metering.alerts.channels", &((gw_alerts_conf *)t)->channels);
}

void ld_metering_alerts(loader *ld, yaml_node_t *v, gw_alerts_conf **out) {
    static const key_spec specs[] = {{"webhooks", h_webhooks},
                                     {"budgets", h_budgets},
                                     {"anomaly", h_anomaly},
                                     {"error_rate", h_error_rate},
                                     {"evaluate_every_ms", h_every},
                                     {"endpoints", h_endpoints},
                                     {"channels", h_channels},
                                     {"max_pending", h_max_pending},
                                     {"history_days", h_history_days},
                                     {"history_max", h_history_max},
                                     {NULL, NULL}};
    gw_alerts_conf *c = gw_arena_alloc(&ld->cfg->arena, sizeof *c);
    c->evaluate_every_ms = 60000;
    c->endpoints = 1;
    c->channels = 1;
    c->max_pending = 1000;
    c->history_days = 90;
    c->history_max = 100000;
    c->anomaly = (gw_alert_anomaly){.window_minutes = 60,
                                    .baseline_days = 7,
                                    .factor = 3,
                                    .min_cost = 1,
                                    .by = {GW_ALERT_BY_TENANT},
                                    .by_count = 1};
    c->error_rate = (gw_alert_error_rate){.window_minutes = 5,
                                          .threshold = 0.05,
                                          .min_requests = 20,
                                          .by = {GW_ALERT_BY_MODEL},
                                          .by_count = 1};
    ld_walk_mapping(ld, v, "metering.alerts", specs, c);
    *out = c;
}
