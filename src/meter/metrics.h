/* Prometheus metrics. Each worker owns a table of series keyed by name (model, channel, tenant)
 * and only that worker writes it: an observation is a relaxed load and a relaxed store per cell
 * (plain moves), never a lock or a read-modify-write. The scrape, on the control thread, sums
 * relaxed loads over every worker's table. Series are keyed by name, not by a snapshot's index,
 * so a reload keeps every count (a counter never goes backwards within a process); the tables
 * are bounded, and what does not fit is counted under "other". */
#ifndef AIGW_METER_METRICS_H
#define AIGW_METER_METRICS_H

#include <stdint.h>

#include "core/config-t.h"
#include "core/worker-t.h"
#include "meter/record-t.h"

struct evbuffer;

/* `metrics:` of the config (NULL in the snapshot: the defaults). */
typedef struct gw_metrics_conf {
    int require_token; /* GET /metrics asks for the admin token too */
    int tenant_label;  /* request series carry the caller's tenant */
    int max_tenants;   /* tenants with a label of their own, process-wide; the rest: "other" */
    int max_series;    /* (model, channel, tenant) series per worker; the rest: "other" */
} gw_metrics_conf;

enum {
    GW_METRICS_MAX_SERIES = 4096, /* the largest max_series */
    GW_METRICS_MAX_TENANTS = 2000,
    GW_METRICS_NO_SERIES = UINT32_MAX,
};

extern const gw_metrics_conf gw_metrics_conf_default;

static inline const gw_metrics_conf *gw_metrics_conf_of(const gw_config *cfg) {
    return cfg && cfg->metrics ? cfg->metrics : &gw_metrics_conf_default;
}

typedef struct gw_metrics gw_metrics;               /* the process's: every worker's table */
typedef struct gw_worker_metrics gw_worker_metrics; /* one worker's */

/* Control thread, before the workers run. */
gw_metrics *gw_metrics_new(int workers);
void gw_metrics_free(gw_metrics *mx);
/* Worker i's table. cfg: where that worker keeps its current snapshot (read on its own thread,
 * for `metrics:` and to tell a configured model from a name a caller made up); NULL accepts
 * every name. stats: the worker's own counters, read at each scrape (may be NULL). */
gw_worker_metrics *gw_metrics_worker(gw_metrics *mx, int i, gw_config *const *cfg,
                                     const gw_worker_stats *stats);

/* --- the worker's side: its own thread only; m may be NULL (then nothing is counted) --- */

/* One finished request: its requests, tokens, cost, duration, first token, attempts,
 * failovers and refusal. No allocation once its series exists. */
void gw_metrics_observe(gw_worker_metrics *m, const gw_request_record *rec);
/* The series of (model, channel, tenant) as gw_metrics_observe would pick it, for observations
 * made while a request runs: look it up once (at a stream's first event), then each gap is an
 * array increment. GW_METRICS_NO_SERIES when nothing can be counted. */
uint32_t gw_metrics_series(gw_worker_metrics *m, const char *model, const char *channel,
                           const char *tenant);
/* One pause between two stream events sent to the caller. */
void gw_metrics_observe_gap(gw_worker_metrics *m, uint32_t series, int64_t gap_us);

/* --- the store writer's queue, read at each scrape (control thread) --- */
typedef struct gw_metrics_queue_stats {
    uint64_t depth;    /* records waiting now */
    uint64_t capacity; /* the queue's bound */
    uint64_t dropped;  /* records refused because the queue was full, since start */
    uint64_t written;  /* records the writer stored, since start */
} gw_metrics_queue_stats;
/* Fills *out; must be safe to call from the control thread while the queue runs. */
typedef void (*gw_metrics_queue_fn)(void *ud, gw_metrics_queue_stats *out);
void gw_metrics_set_store_queue(gw_metrics *mx, gw_metrics_queue_fn fn, void *ud);

/* --- the scrape: control thread --- */

/* Every metric in Prometheus' text format 0.0.4: the request series summed over the workers,
 * refusals, the workers' connection counters, the store queue, the health of cfg's endpoints,
 * the process. -1 when out of memory. */
int gw_metrics_write(const gw_metrics *mx, const gw_config *cfg, struct evbuffer *out);

#endif
