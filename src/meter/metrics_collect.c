/* The scrape: every worker's series summed by name (the same series may live in each worker's
 * table, at different places), then written family by family; with the counters that are not
 * per series (refusals, connections, the store queue). Control thread; allocation is fine
 * here, the request path never waits on it. */
#include <event2/buffer.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "meter/metrics.h"
#include "meter/metrics_internal.h"
#include "meter/metrics_text.h"

typedef struct agg {
    const char *model, *channel, *tenant; /* a worker's series' names: they live as long */
    uint32_t hash;
    uint64_t requests[GW_METRICS_STATUSES];
    uint64_t tokens[GW_METRICS_TOKEN_TYPES];
    double cost[GW_METRICS_CURRENCIES];
    uint64_t estimated, attempts, failovers;
    uint64_t bucket[GW_METRICS_HISTS][GW_METRICS_MAX_BOUNDS + 1];
    uint64_t sum_us[GW_METRICS_HISTS];
} agg;

typedef struct aggs {
    agg *items; /* grown as distinct series come: workers mostly hold the same ones */
    size_t count, cap;
    size_t *index; /* item + 1, 0 empty */
    size_t mask;
} aggs;

static agg *agg_of(aggs *a, const gw_series *s) {
    for (size_t i = s->hash;; i++) {
        size_t *slot = &a->index[i & a->mask];
        if (!*slot) {
            if (a->count == a->cap) {
                agg *more = realloc(a->items, 2 * a->cap * sizeof *more);
                if (!more) return NULL;
                a->items = more;
                a->cap *= 2;
            }
            agg *g = &a->items[a->count++];
            memset(g, 0, sizeof *g);
            g->model = s->model;
            g->channel = s->channel;
            g->tenant = s->tenant;
            g->hash = s->hash;
            *slot = a->count;
            return g;
        }
        agg *g = &a->items[*slot - 1];
        if (g->hash == s->hash && !strcmp(g->model, s->model) && !strcmp(g->channel, s->channel) &&
            !strcmp(g->tenant, s->tenant))
            return g;
    }
}

static void add_series(agg *g, const gw_series *s) {
    for (int i = 0; i < GW_METRICS_STATUSES; i++)
        g->requests[i] += gw_cell_get(&s->requests[i]);
    for (int i = 0; i < GW_METRICS_TOKEN_TYPES; i++)
        g->tokens[i] += gw_cell_get(&s->tokens[i]);
    for (int i = 0; i < GW_METRICS_CURRENCIES; i++) {
        uint64_t bits = gw_cell_get(&s->cost[i]);
        double v;
        memcpy(&v, &bits, sizeof v);
        g->cost[i] += v;
    }
    g->estimated += gw_cell_get(&s->estimated);
    g->attempts += gw_cell_get(&s->attempts);
    g->failovers += gw_cell_get(&s->failovers);
    for (int h = 0; h < GW_METRICS_HISTS; h++) {
        for (size_t b = 0; b <= gw_hist_defs[h].bounds; b++)
            g->bucket[h][b] += gw_cell_get(&s->hist[h].bucket[b]);
        g->sum_us[h] += gw_cell_get(&s->hist[h].sum_us);
    }
}

static int agg_order(const void *pa, const void *pb) {
    const agg *a = pa, *b = pb;
    int c = strcmp(a->model, b->model);
    if (!c) c = strcmp(a->channel, b->channel);
    return c ? c : strcmp(a->tenant, b->tenant);
}

/* model, channel, then tenant when the series has one, then `extra` */
static size_t series_labels(gw_prom_label *l, const agg *g, const char *extra_name,
                            const char *extra_value) {
    size_t n = 0;
    l[n++] = (gw_prom_label){"model", g->model};
    l[n++] = (gw_prom_label){"channel", g->channel};
    if (g->tenant[0]) l[n++] = (gw_prom_label){"tenant", g->tenant};
    if (extra_name) l[n++] = (gw_prom_label){extra_name, extra_value};
    return n;
}

static void write_series(const aggs *a, const gw_metrics *mx, struct evbuffer *out) {
    gw_prom_label l[4];
    gw_prom_family(out, "aigw_requests_total", "counter",
                   "Requests that ended, by the status the caller got (499: it left first).");
    for (size_t i = 0; i < a->count; i++)
        for (int st = 0; st < GW_METRICS_STATUSES; st++)
            if (a->items[i].requests[st])
                gw_prom_sample_u64(
                    out, "aigw_requests_total", l,
                    series_labels(l, &a->items[i], "status", gw_metrics_status_names[st]),
                    a->items[i].requests[st]);
    gw_prom_family(out, "aigw_tokens_total", "counter",
                   "Tokens of ended requests by type: prompt (cached included), completion "
                   "(reasoning included), cached, reasoning.");
    for (size_t i = 0; i < a->count; i++)
        for (int t = 0; t < GW_METRICS_TOKEN_TYPES; t++)
            gw_prom_sample_u64(out, "aigw_tokens_total", l,
                               series_labels(l, &a->items[i], "type", gw_metrics_token_types[t]),
                               a->items[i].tokens[t]);
    gw_prom_family(out, "aigw_usage_estimated_total", "counter",
                   "Requests whose tokens the gateway estimated (the engine reported none, or "
                   "the stream was cut).");
    for (size_t i = 0; i < a->count; i++)
        gw_prom_sample_u64(out, "aigw_usage_estimated_total", l,
                           series_labels(l, &a->items[i], NULL, NULL), a->items[i].estimated);
    gw_prom_family(out, "aigw_cost_total", "counter",
                   "Cost of ended requests, in the currency of the model's price.");
    for (int c = 0; c < GW_METRICS_CURRENCIES; c++) {
        const char *currency =
            c < GW_METRICS_CURRENCIES - 1
                ? atomic_load_explicit(&((gw_metrics *)mx)->currencies[c], memory_order_acquire)
                : "other";
        if (!currency) continue;
        for (size_t i = 0; i < a->count; i++)
            if (a->items[i].cost[c] > 0)
                gw_prom_sample(out, "aigw_cost_total", l,
                               series_labels(l, &a->items[i], "currency", currency),
                               a->items[i].cost[c]);
    }
    for (int h = 0; h < GW_METRICS_HISTS; h++) {
        const gw_hist_def *d = &gw_hist_defs[h];
        gw_prom_family(out, d->name, "histogram", d->help);
        for (size_t i = 0; i < a->count; i++) {
            const agg *g = &a->items[i];
            uint64_t count = 0;
            for (size_t b = 0; b <= d->bounds; b++)
                count += g->bucket[h][b];
            if (count)
                gw_prom_histogram(out, d->name, l, series_labels(l, g, NULL, NULL), d->bound_us,
                                  d->bounds, g->bucket[h], g->sum_us[h]);
        }
    }
    gw_prom_family(out, "aigw_attempts_total", "counter",
                   "Tries at a channel (the first one and each failover), by the channel tried.");
    for (size_t i = 0; i < a->count; i++)
        gw_prom_sample_u64(out, "aigw_attempts_total", l,
                           series_labels(l, &a->items[i], NULL, NULL), a->items[i].attempts);
    gw_prom_family(out, "aigw_failovers_total", "counter",
                   "Attempts that failed and were tried again elsewhere, by the channel that "
                   "failed.");
    for (size_t i = 0; i < a->count; i++)
        gw_prom_sample_u64(out, "aigw_failovers_total", l,
                           series_labels(l, &a->items[i], NULL, NULL), a->items[i].failovers);
}

int gw_metrics_write_requests(const gw_metrics *mx, struct evbuffer *out) {
    /* what each worker has published now: later series wait for the next scrape */
    int workers = mx->worker_count;
    size_t total = 0, *counts = calloc((size_t)(workers > 0 ? workers : 1), sizeof *counts);
    for (int w = 0; counts && w < workers; w++)
        total += counts[w] = atomic_load_explicit(&mx->workers[w].count, memory_order_acquire);
    size_t slots = 16;
    while (slots < 2 * total)
        slots *= 2;
    aggs a = {.items = malloc(64 * sizeof *a.items),
              .cap = 64,
              .index = calloc(slots, sizeof *a.index),
              .mask = slots - 1};
    if (!counts || !a.items || !a.index) {
        free(counts);
        free(a.items);
        free(a.index);
        return -1;
    }
    int oom = 0;
    for (int w = 0; w < workers && !oom; w++)
        for (size_t k = 0; k < counts[w] && !oom; k++) {
            agg *g = agg_of(&a, mx->workers[w].series[k]);
            if (g)
                add_series(g, mx->workers[w].series[k]);
            else
                oom = 1;
        }
    if (oom) {
        free(counts);
        free(a.items);
        free(a.index);
        return -1;
    }
    qsort(a.items, a.count, sizeof *a.items, agg_order);
    write_series(&a, mx, out);
    free(counts);
    free(a.items);
    free(a.index);
    return 0;
}

static const char *const refusal_names[GW_REFUSED_COUNT] = {
    [GW_REFUSED_NONE] = "none",     [GW_REFUSED_IP] = "ip",
    [GW_REFUSED_AUTH] = "auth",     [GW_REFUSED_MODEL_ACCESS] = "model_access",
    [GW_REFUSED_SWITCH] = "switch", [GW_REFUSED_PII] = "pii",
    [GW_REFUSED_WORDS] = "words",   [GW_REFUSED_RATE_LIMIT] = "rate_limit",
    [GW_REFUSED_QUOTA] = "quota",
};

static uint64_t worker_sum(const gw_metrics *mx, size_t offset) {
    uint64_t sum = 0;
    for (int w = 0; w < mx->worker_count; w++)
        if (mx->workers[w].stats)
            sum += gw_cell_get(
                (const atomic_uint_fast64_t *)((const char *)mx->workers[w].stats + offset));
    return sum;
}

static void write_counters(const gw_metrics *mx, struct evbuffer *out) {
    gw_prom_family(out, "aigw_refusals_total", "counter",
                   "Requests a check refused, by the check: ip, auth, model_access, switch, pii, "
                   "words, rate_limit, quota.");
    for (int r = GW_REFUSED_NONE + 1; r < GW_REFUSED_COUNT; r++) {
        uint64_t sum = 0;
        for (int w = 0; w < mx->worker_count; w++)
            sum += gw_cell_get(&mx->workers[w].refusals[r]);
        gw_prom_label l = {"reason", refusal_names[r]};
        gw_prom_sample_u64(out, "aigw_refusals_total", &l, 1, sum);
    }
    gw_prom_family(out, "aigw_worker_requests_total", "counter",
                   "API requests each worker started (how evenly connections spread).");
    for (int w = 0; w < mx->worker_count; w++) {
        char index[16];
        snprintf(index, sizeof index, "%d", w);
        gw_prom_label l = {"worker", index};
        gw_prom_sample_u64(out, "aigw_worker_requests_total", &l, 1,
                           mx->workers[w].stats ? gw_cell_get(&mx->workers[w].stats->requests) : 0);
    }
    static const struct {
        const char *name, *help;
        size_t offset;
    } counters[] = {
        {"aigw_connections_refused_total",
         "API connections refused over server.max_connections (answered 503).",
         offsetof(gw_worker_stats, connections_refused)},
        {"aigw_client_aborts_total", "Requests whose client left before the answer ended.",
         offsetof(gw_worker_stats, client_aborts)},
        {"aigw_upstream_errors_total", "Attempts at an engine that failed.",
         offsetof(gw_worker_stats, upstream_errors)},
    };
    for (size_t i = 0; i < sizeof counters / sizeof counters[0]; i++) {
        gw_prom_family(out, counters[i].name, "counter", counters[i].help);
        gw_prom_sample_u64(out, counters[i].name, NULL, 0, worker_sum(mx, counters[i].offset));
    }
    /* the store writer's queue: zero until a store queue reports (none configured) */
    gw_metrics_queue_stats q = {0};
    if (mx->store_queue) mx->store_queue(mx->store_queue_ud, &q);
    gw_prom_family(out, "aigw_store_queue_depth", "gauge", "Records waiting for the store writer.");
    gw_prom_sample_u64(out, "aigw_store_queue_depth", NULL, 0, q.depth);
    gw_prom_family(out, "aigw_store_queue_capacity", "gauge",
                   "The store writer queue's bound (0: no store).");
    gw_prom_sample_u64(out, "aigw_store_queue_capacity", NULL, 0, q.capacity);
    gw_prom_family(out, "aigw_store_queue_dropped_total", "counter",
                   "Records dropped because the store writer's queue was full.");
    gw_prom_sample_u64(out, "aigw_store_queue_dropped_total", NULL, 0, q.dropped);
    gw_prom_family(out, "aigw_store_written_total", "counter", "Records the store writer stored.");
    gw_prom_sample_u64(out, "aigw_store_written_total", NULL, 0, q.written);
}

int gw_metrics_write(const gw_metrics *mx, const gw_config *cfg, struct evbuffer *out) {
    if (gw_metrics_write_requests(mx, out) < 0) return -1;
    write_counters(mx, out);
    if (cfg) gw_metrics_write_endpoints(cfg, out);
    gw_metrics_write_process(out);
    return 0;
}
