/* metering: store, prices, queue_size, batch, capture, retention, alerts. */
#include "config/load_metering.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "config/load_alerts.h"
#include "filters/capture_pii.h"
#include "filters/pii_guard.h"
#include "meter/metering-t.h"
#include "meter/price.h"
#include "meter/store.h"

enum { MAX_PRICES = 4096 };

static gw_metering_conf *conf_of(void *t) {
    return t;
}

/* A price: a number from 0 to 1e9 (per million tokens). */
static int ld_price_number(loader *ld, yaml_node_t *v, const char *what, double *out) {
    if (ld_expect_kind(ld, v, YAML_SCALAR_NODE, what) < 0) return -1;
    const char *s = (const char *)v->data.scalar.value;
    char *end;
    errno = 0;
    double d = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(d) || d < 0 || d > 1e9) {
        ld_error(ld, v, "expected a price per million tokens from 0 to 1e9 for %s, found '%s'",
                 what, s);
        return -1;
    }
    *out = d;
    return 0;
}

static void h_p_input(loader *ld, yaml_node_t *v, void *t) {
    ld_price_number(ld, v, "metering.prices input", &((gw_price *)t)->input);
}
static void h_p_output(loader *ld, yaml_node_t *v, void *t) {
    ld_price_number(ld, v, "metering.prices output", &((gw_price *)t)->output);
}
static void h_p_cached(loader *ld, yaml_node_t *v, void *t) {
    ld_price_number(ld, v, "metering.prices cached_input", &((gw_price *)t)->cached_input);
}
static void h_p_currency(loader *ld, yaml_node_t *v, void *t) {
    const char *c = ld_string(ld, v, "metering.prices currency");
    if (!c) return;
    size_t len = strlen(c);
    int ok = len >= 1 && len < sizeof((gw_price *)t)->currency;
    for (size_t i = 0; ok && i < len; i++)
        ok = isalnum((unsigned char)c[i]);
    if (!ok) {
        ld_error(ld, v,
                 "expected a currency code of 1 to 7 letters (USD, CNY) for "
                 "metering.prices currency, found '%s'",
                 c);
        return;
    }
    memcpy(((gw_price *)t)->currency, c, len + 1);
}

/* prices: {model: {input, output, cached_input, currency}, ...}; "*" prices the others. */
static void h_prices(loader *ld, yaml_node_t *v, void *t) {
    gw_metering_conf *c = conf_of(t);
    if (ld_expect_kind(ld, v, YAML_MAPPING_NODE, "metering.prices") < 0) return;
    size_t n = (size_t)(v->data.mapping.pairs.top - v->data.mapping.pairs.start);
    if (n > MAX_PRICES) {
        ld_error(ld, v, "metering.prices has %zu models, at most %d", n, MAX_PRICES);
        return;
    }
    c->prices = gw_arena_alloc(&ld->cfg->arena, (n ? n : 1) * sizeof *c->prices);
    static const key_spec specs[] = {{"input", h_p_input},
                                     {"output", h_p_output},
                                     {"cached_input", h_p_cached},
                                     {"currency", h_p_currency},
                                     {NULL, NULL}};
    for (yaml_node_pair_t *p = v->data.mapping.pairs.start; p < v->data.mapping.pairs.top; p++) {
        yaml_node_t *key = ld_node(ld, p->key), *value = ld_node(ld, p->value);
        if (key->type != YAML_SCALAR_NODE || key->data.scalar.length == 0) {
            ld_error(ld, key, "expected a model name in metering.prices");
            continue;
        }
        if (ld_duplicate_key(ld, v, p, "metering.prices")) continue;
        gw_price *price = &c->prices[c->price_count++];
        price->model = gw_arena_strndup(&ld->cfg->arena, (const char *)key->data.scalar.value,
                                        key->data.scalar.length);
        price->cached_input = -1;
        memcpy(price->currency, "USD", 4);
        ld_walk_mapping(ld, value, "a metering.prices entry", specs, price);
        if (price->cached_input < 0) price->cached_input = price->input;
    }
    size_t dup;
    if (gw_price_index(c, &ld->cfg->arena, &dup) < 0)
        ld_error(ld, v, "metering.prices names the model '%s' twice", c->prices[dup].model);
}

/* A file path (SQLite); a URL names another backend (meter/store.h), refused when this build
 * does not have it. */
static void h_store(loader *ld, yaml_node_t *v, void *t) {
    const char *path = ld_string(ld, v, "metering.store");
    char why[300];
    if (path && !*path)
        ld_error(ld, v, "metering.store is empty");
    else if (path && !gw_meter_store_backend(path, why, sizeof why))
        ld_error(ld, v, "metering.store: %s", why);
    else if (path)
        conf_of(t)->store = path;
}

static void h_queue_size(loader *ld, yaml_node_t *v, void *t) {
    long n;
    if (ld_int(ld, v, "metering.queue_size", 16, 1 << 20, &n) < 0) return;
    uint32_t q = 16;
    while (q < (uint32_t)n)
        q <<= 1; /* the queue's slots are a power of two */
    conf_of(t)->queue_size = q;
}

static void h_batch(loader *ld, yaml_node_t *v, void *t) {
    long n;
    if (ld_int(ld, v, "metering.batch", 1, 4096, &n) == 0) conf_of(t)->batch = (uint32_t)n;
}

static void h_c_bodies(loader *ld, yaml_node_t *v, void *t) {
    ld_bool(ld, v, "metering.capture.bodies", &((gw_capture_conf *)t)->bodies);
}
static void h_c_streams(loader *ld, yaml_node_t *v, void *t) {
    ld_bool(ld, v, "metering.capture.streams", &((gw_capture_conf *)t)->streams);
}
static void h_c_redact(loader *ld, yaml_node_t *v, void *t) {
    ld_bool(ld, v, "metering.capture.redact_pii", &((gw_capture_conf *)t)->redact_pii);
}
static void h_c_max_body(loader *ld, yaml_node_t *v, void *t) {
    long n;
    if (ld_int(ld, v, "metering.capture.max_body_bytes", 0, 64L << 20, &n) == 0)
        ((gw_capture_conf *)t)->max_body_bytes = (size_t)n;
}
static void h_c_max_stream(loader *ld, yaml_node_t *v, void *t) {
    long n;
    if (ld_int(ld, v, "metering.capture.max_stream_bytes", 0, 64L << 20, &n) == 0)
        ((gw_capture_conf *)t)->max_stream_bytes = (size_t)n;
}

static void h_capture(loader *ld, yaml_node_t *v, void *t) {
    static const key_spec specs[] = {
        {"bodies", h_c_bodies},     {"max_body_bytes", h_c_max_body},
        {"streams", h_c_streams},   {"max_stream_bytes", h_c_max_stream},
        {"redact_pii", h_c_redact}, {NULL, NULL}};
    ld_walk_mapping(ld, v, "metering.capture", specs, &conf_of(t)->capture);
}

static void h_r_days(loader *ld, yaml_node_t *v, void *t) {
    long n;
    if (ld_int(ld, v, "metering.retention.days", 0, 36500, &n) == 0)
        ((gw_retention_conf *)t)->days = (int)n;
}
static void h_r_max_mb(loader *ld, yaml_node_t *v, void *t) {
    long n;
    if (ld_int(ld, v, "metering.retention.max_mb", 0, 16L << 20, &n) == 0)
        ((gw_retention_conf *)t)->max_mb = n;
}
static void h_r_minute_days(loader *ld, yaml_node_t *v, void *t) {
    long n;
    if (ld_int(ld, v, "metering.retention.minute_rollup_days", 0, 36500, &n) == 0)
        ((gw_retention_conf *)t)->minute_rollup_days = (int)n;
}
static void h_r_interval(loader *ld, yaml_node_t *v, void *t) {
    long n;
    if (ld_int(ld, v, "metering.retention.interval_ms", 10, 86400000, &n) == 0)
        ((gw_retention_conf *)t)->interval_ms = (int)n;
}

static void h_retention(loader *ld, yaml_node_t *v, void *t) {
    static const key_spec specs[] = {{"days", h_r_days},
                                     {"max_mb", h_r_max_mb},
                                     {"minute_rollup_days", h_r_minute_days},
                                     {"interval_ms", h_r_interval},
                                     {NULL, NULL}};
    ld_walk_mapping(ld, v, "metering.retention", specs, &conf_of(t)->retention);
}

/* alerts: parsed by the alerts' own loader (config/load_alerts.c). */
static void h_alerts(loader *ld, yaml_node_t *v, void *t) {
    ld_metering_alerts(ld, v, &conf_of(t)->alerts);
}

void ld_metering(loader *ld, yaml_node_t *node, void *target) {
    gw_config *cfg = target;
    gw_metering_conf *c = gw_arena_alloc(&cfg->arena, sizeof *c);
    c->queue_size = 4096;
    c->batch = 256;
    c->capture = (gw_capture_conf){.bodies = 0,
                                   .max_body_bytes = 64 * 1024,
                                   .streams = 0,
                                   .max_stream_bytes = 1024 * 1024,
                                   .redact_pii = 1};
    c->retention = (gw_retention_conf){
        .days = 30, .max_mb = 1024, .minute_rollup_days = 35, .interval_ms = 60000};
    c->line = (int)node->start_mark.line + 1;
    /* an empty section (metering: with nothing under it) turns metering on with the defaults */
    if (!(node->type == YAML_SCALAR_NODE && node->data.scalar.length == 0)) {
        static const key_spec specs[] = {{"store", h_store},           {"prices", h_prices},
                                         {"queue_size", h_queue_size}, {"batch", h_batch},
                                         {"capture", h_capture},       {"retention", h_retention},
                                         {"alerts", h_alerts},         {NULL, NULL}};
        ld_walk_mapping(ld, node, "metering", specs, c);
    }
    if (!c->price_slots) {
        size_t dup;
        gw_price_index(c, &cfg->arena, &dup); /* an empty index: every lookup is a miss */
    }
    cfg->metering = c;
}

void ld_metering_finish(loader *ld) {
    gw_config *cfg = ld->cfg;
    gw_metering_conf *c = cfg->metering;
    if (!c) return;
    if (!c->store) c->store = cfg->store_path;
    /* captures are masked with every built-in detector and guards.pii's own patterns */
    gw_capture_conf *k = &c->capture;
    if ((k->bodies || k->streams) && k->redact_pii && !ld->errs->count) {
        const gw_pii_guard_conf *g = cfg->pii_guard;
        char err[300];
        k->redactor = gw_capture_pii_redactor_new(g ? g->custom : NULL, g ? g->custom_count : 0,
                                                  err, sizeof err);
        if (!k->redactor) {
            yaml_node_t where = {.start_mark = {.line = (size_t)(c->line - 1)}};
            ld_error(ld, &where, "metering.capture.redact_pii: %s", err);
        }
    }
}

void ld_metering_release(gw_config *cfg) {
    if (cfg->metering) gw_capture_redactor_unref(cfg->metering->capture.redactor);
}
