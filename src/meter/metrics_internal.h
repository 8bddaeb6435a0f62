/* The layout of the metrics tables, shared by the workers' side (metrics.c) and the scrape
 * (metrics_collect.c). Internal to src/meter/. */
#ifndef AIGW_METER_METRICS_INTERNAL_H
#define AIGW_METER_METRICS_INTERNAL_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "meter/metrics.h"

enum {
    /* the status label: exact codes a dashboard asks for, then classes */
    GW_METRICS_STATUSES = 20,
    GW_METRICS_TOKEN_TYPES = 4, /* prompt, completion, cached, reasoning */
    /* currency labels, process-wide; the last one is "other" */
    GW_METRICS_CURRENCIES = 8,
    GW_METRICS_HISTS = 3,
    GW_METRICS_MAX_BOUNDS = 13, /* finite bucket bounds of the largest histogram */
    GW_METRICS_TENANT_SLOTS = 4096,
    GW_METRICS_INDEX = 2 * GW_METRICS_MAX_SERIES, /* a worker's open-addressing index */
};

typedef enum { GW_HIST_DURATION, GW_HIST_FIRST_TOKEN, GW_HIST_GAP } gw_hist_kind;

/* A histogram's fixed buckets, upper bounds in microseconds (observations are whole
 * microseconds, so the sum is exact). */
typedef struct gw_hist_def {
    const char *name, *help;
    size_t bounds;
    int64_t bound_us[GW_METRICS_MAX_BOUNDS];
} gw_hist_def;

extern const gw_hist_def gw_hist_defs[GW_METRICS_HISTS];
extern const char *const gw_metrics_status_names[GW_METRICS_STATUSES];
extern const char *const gw_metrics_token_types[GW_METRICS_TOKEN_TYPES];

/* Counts per bucket (not cumulative: the scrape adds them up), the last one past every
 * bound (+Inf). */
typedef struct gw_hist_cells {
    atomic_uint_fast64_t bucket[GW_METRICS_MAX_BOUNDS + 1];
    atomic_uint_fast64_t sum_us;
} gw_hist_cells;

/* One (model, channel, tenant) of one worker. The names never change once the series is
 * published; the cells are written by the worker alone. */
typedef struct gw_series {
    char model[GW_RECORD_NAME], channel[GW_RECORD_SHORT], tenant[GW_RECORD_NAME];
    uint32_t hash;
    atomic_uint_fast64_t requests[GW_METRICS_STATUSES];
    atomic_uint_fast64_t tokens[GW_METRICS_TOKEN_TYPES];
    atomic_uint_fast64_t cost[GW_METRICS_CURRENCIES]; /* a double's bits */
    atomic_uint_fast64_t estimated, attempts, failovers;
    gw_hist_cells hist[GW_METRICS_HISTS];
} gw_series;

struct gw_worker_metrics {
    gw_metrics *mx;
    gw_config *const *cfg;
    const gw_worker_stats *stats;
    /* series[0 .. count) are complete: the worker stores count with release after filling a
     * series, the scrape loads it with acquire */
    gw_series *series[GW_METRICS_MAX_SERIES];
    atomic_size_t count;
    uint16_t index[GW_METRICS_INDEX]; /* series + 1, 0 empty; the worker's alone */
    atomic_uint_fast64_t refusals[GW_REFUSED_COUNT];
};

struct gw_metrics {
    int worker_count;
    gw_worker_metrics *workers;
    /* tenants admitted to a label of their own: inserted with a compare-and-swap by whichever
     * worker sees one first, never removed */
    _Atomic(char *) tenants[GW_METRICS_TENANT_SLOTS];
    atomic_int tenant_count;
    _Atomic(char *) currencies[GW_METRICS_CURRENCIES - 1];
    gw_metrics_queue_fn store_queue;
    void *store_queue_ud;
};

/* Bumps a cell its owner alone writes: a plain load and store, no read-modify-write. */
static inline void gw_cell_add(atomic_uint_fast64_t *cell, uint64_t n) {
    atomic_store_explicit(cell, atomic_load_explicit(cell, memory_order_relaxed) + n,
                          memory_order_relaxed);
}
static inline uint64_t gw_cell_get(const atomic_uint_fast64_t *cell) {
    return atomic_load_explicit((atomic_uint_fast64_t *)cell, memory_order_relaxed);
}

/* The families the scrape writes, each one file: the request series (metrics_collect.c), the
 * endpoints (metrics_endpoints.c), the process (metrics_process.c). */
int gw_metrics_write_requests(const gw_metrics *mx, struct evbuffer *out);
void gw_metrics_write_endpoints(const gw_config *cfg, struct evbuffer *out);
void gw_metrics_write_process(struct evbuffer *out);

#endif
