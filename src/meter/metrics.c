/* The workers' side of the metrics: per-worker series tables and the observations, which run on
 * the request path (see metrics.h). */
#include "meter/metrics.h"

#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "meter/metrics_internal.h"

const gw_metrics_conf gw_metrics_conf_default = {
    .require_token = 0,
    .tenant_label = 0,
    .max_tenants = 100,
    .max_series = 1000,
};

/* LLM latencies: a whole answer takes from a tenth of a second to minutes; the first token
 * from tens of milliseconds (a warm prefix cache) to a minute (a long prompt on a loaded
 * engine); a gap between tokens is tens of milliseconds when all is well. */
const gw_hist_def gw_hist_defs[GW_METRICS_HISTS] = {
    [GW_HIST_DURATION] = {"aigw_request_duration_seconds",
                          "Time from a request's arrival to its last byte.",
                          13,
                          {100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000, 20000000,
                           30000000, 60000000, 120000000, 300000000, 600000000}},
    [GW_HIST_FIRST_TOKEN] = {"aigw_first_token_seconds",
                             "Time from a request's arrival to its first token (the first "
                             "stream event, or the whole answer).",
                             13,
                             {50000, 100000, 250000, 500000, 750000, 1000000, 2000000, 3000000,
                              5000000, 10000000, 20000000, 30000000, 60000000}},
    [GW_HIST_GAP] = {"aigw_inter_token_gap_seconds",
                     "Pauses between two stream events sent to a caller.",
                     11,
                     {5000, 10000, 20000, 50000, 100000, 200000, 500000, 1000000, 2000000, 5000000,
                      10000000}},
};

const char *const gw_metrics_status_names[GW_METRICS_STATUSES] = {
    "200", "400", "401", "403", "404", "408", "413", "422", "429", "499",
    "500", "502", "503", "504", "1xx", "2xx", "3xx", "4xx", "5xx", "other"};

const char *const gw_metrics_token_types[GW_METRICS_TOKEN_TYPES] = {"prompt", "completion",
                                                                    "cached", "reasoning"};

/* The status label: the codes a dashboard tells apart, else the class. */
static int status_index(int status) {
    switch (status) {
    case 200:
        return 0;
    case 400:
        return 1;
    case 401:
        return 2;
    case 403:
        return 3;
    case 404:
        return 4;
    case 408:
        return 5;
    case 413:
        return 6;
    case 422:
        return 7;
    case 429:
        return 8;
    case 499:
        return 9;
    case 500:
        return 10;
    case 502:
        return 11;
    case 503:
        return 12;
    case 504:
        return 13;
    default:
        return status >= 100 && status < 600 ? 13 + status / 100 : 19;
    }
}

gw_metrics *gw_metrics_new(int workers) {
    gw_metrics *mx = calloc(1, sizeof *mx);
    if (!mx) return NULL;
    mx->workers = calloc((size_t)(workers > 0 ? workers : 1), sizeof *mx->workers);
    if (!mx->workers) {
        free(mx);
        return NULL;
    }
    mx->worker_count = workers;
    for (int i = 0; i < workers; i++)
        mx->workers[i].mx = mx;
    return mx;
}

void gw_metrics_free(gw_metrics *mx) {
    if (!mx) return;
    for (int i = 0; i < mx->worker_count; i++) {
        gw_worker_metrics *m = &mx->workers[i];
        size_t n = atomic_load(&m->count);
        for (size_t k = 0; k < n; k++)
            free(m->series[k]);
    }
    for (size_t i = 0; i < GW_METRICS_TENANT_SLOTS; i++)
        free(atomic_load(&mx->tenants[i]));
    for (size_t i = 0; i < GW_METRICS_CURRENCIES - 1; i++)
        free(atomic_load(&mx->currencies[i]));
    free(mx->workers);
    free(mx);
}

gw_worker_metrics *gw_metrics_worker(gw_metrics *mx, int i, gw_config *const *cfg,
                                     const gw_worker_stats *stats) {
    if (!mx || i < 0 || i >= mx->worker_count) return NULL;
    mx->workers[i].cfg = cfg;
    mx->workers[i].stats = stats;
    return &mx->workers[i];
}

void gw_metrics_set_store_queue(gw_metrics *mx, gw_metrics_queue_fn fn, void *ud) {
    mx->store_queue_ud = ud;
    mx->store_queue = fn;
}

typedef struct series_key {
    const char *model, *channel, *tenant;
    size_t model_len, channel_len, tenant_len;
    uint32_t hash;
} series_key;

/* FNV-1a over a name cut to its field (so lookups and the stored key agree), in the pass that
 * measures it. */
static uint32_t hash_name(uint32_t h, const char *s, size_t field, size_t *len) {
    size_t i = 0;
    for (; i < field - 1 && s[i]; i++)
        h = (h ^ (unsigned char)s[i]) * 16777619u;
    *len = i;
    return (h ^ 0xff) * 16777619u; /* a separator no name holds */
}

static void key_hash(series_key *k) {
    uint32_t h = hash_name(2166136261u, k->model, GW_RECORD_NAME, &k->model_len);
    h = hash_name(h, k->channel, GW_RECORD_SHORT, &k->channel_len);
    k->hash = hash_name(h, k->tenant, GW_RECORD_NAME, &k->tenant_len);
}

static int same(const char *stored, const char *s, size_t len) {
    return !memcmp(stored, s, len) && stored[len] == '\0';
}

static uint32_t find(const gw_worker_metrics *m, const series_key *k) {
    for (size_t i = 0; i < GW_METRICS_INDEX; i++) {
        unsigned slot = m->index[(k->hash + i) & (GW_METRICS_INDEX - 1)];
        if (!slot) return GW_METRICS_NO_SERIES;
        const gw_series *s = m->series[slot - 1];
        if (s->hash == k->hash && same(s->model, k->model, k->model_len) &&
            same(s->channel, k->channel, k->channel_len) &&
            same(s->tenant, k->tenant, k->tenant_len))
            return slot - 1;
    }
    return GW_METRICS_NO_SERIES;
}

/* A new series, published to the scrape once its names are in. */
static uint32_t insert(gw_worker_metrics *m, const series_key *k) {
    size_t n = atomic_load_explicit(&m->count, memory_order_relaxed);
    if (n >= GW_METRICS_MAX_SERIES) return GW_METRICS_NO_SERIES;
    gw_series *s = calloc(1, sizeof *s);
    if (!s) return GW_METRICS_NO_SERIES;
    memcpy(s->model, k->model, k->model_len);
    memcpy(s->channel, k->channel, k->channel_len);
    memcpy(s->tenant, k->tenant, k->tenant_len);
    s->hash = k->hash;
    m->series[n] = s;
    for (size_t i = 0;; i++) { /* the index is twice the table: a free slot is always there */
        uint16_t *slot = &m->index[(k->hash + i) & (GW_METRICS_INDEX - 1)];
        if (!*slot) {
            *slot = (uint16_t)(n + 1);
            break;
        }
    }
    atomic_store_explicit(&m->count, n + 1, memory_order_release);
    return (uint32_t)n;
}

/* Whether a tenant has a label of its own: the first max_tenants the process saw do. Runs only
 * when a worker meets a series it has not counted yet. */
static int tenant_admitted(gw_metrics *mx, const char *tenant, size_t len, int limit) {
    size_t cut;
    uint32_t h = hash_name(2166136261u, tenant, len + 1, &cut);
    for (size_t i = 0; i < GW_METRICS_TENANT_SLOTS; i++) {
        _Atomic(char *) *slot = &mx->tenants[(h + i) & (GW_METRICS_TENANT_SLOTS - 1)];
        char *cur = atomic_load_explicit(slot, memory_order_acquire);
        if (!cur) {
            if (atomic_fetch_add(&mx->tenant_count, 1) >= limit) {
                atomic_fetch_sub(&mx->tenant_count, 1);
                return 0;
            }
            char *mine = strndup(tenant, len);
            if (mine && atomic_compare_exchange_strong(slot, &cur, mine)) return 1;
            atomic_fetch_sub(&mx->tenant_count, 1);
            free(mine);
            if (!cur) return 0; /* out of memory */
            /* another worker took the slot meanwhile: cur is its tenant */
        }
        if (same(cur, tenant, len)) return 1;
    }
    return 0;
}

uint32_t gw_metrics_series(gw_worker_metrics *m, const char *model, const char *channel,
                           const char *tenant) {
    if (!m) return GW_METRICS_NO_SERIES;
    const gw_config *cfg = m->cfg ? *m->cfg : NULL;
    const gw_metrics_conf *conf = gw_metrics_conf_of(cfg);
    series_key k = {.model = model ? model : "",
                    .channel = channel ? channel : "",
                    .tenant = conf->tenant_label && tenant ? tenant : ""};
    key_hash(&k);
    uint32_t id = find(m, &k);
    if (id != GW_METRICS_NO_SERIES) return id;
    /* a series not seen yet: only configured models and admitted tenants get their own label,
     * so what callers send cannot grow the table */
    int changed = 0;
    if (k.model_len && cfg && !gw_config_knows_name(cfg, k.model, k.model_len)) {
        k.model = "";
        changed = 1;
    }
    if (k.tenant_len &&
        !tenant_admitted(m->mx, k.tenant, k.tenant_len,
                         conf->max_tenants < GW_METRICS_MAX_TENANTS ? conf->max_tenants
                                                                    : GW_METRICS_MAX_TENANTS)) {
        k.tenant = "other";
        changed = 1;
    }
    if (changed) {
        key_hash(&k);
        if ((id = find(m, &k)) != GW_METRICS_NO_SERIES) return id;
    }
    size_t limit =
        conf->max_series < GW_METRICS_MAX_SERIES ? (size_t)conf->max_series : GW_METRICS_MAX_SERIES;
    if (atomic_load_explicit(&m->count, memory_order_relaxed) + 1 >= limit) {
        /* full: the last places go to the overflow series */
        k.model = k.channel = "other";
        k.tenant = k.tenant_len ? "other" : "";
        key_hash(&k);
        if ((id = find(m, &k)) != GW_METRICS_NO_SERIES) return id;
    }
    return insert(m, &k);
}

/* Inline: with `kind` a constant the bounds are constants too, and the search a few compares
 * (a stream observes every gap between its events). */
static inline void hist_observe(gw_hist_cells *h, gw_hist_kind kind, int64_t us) {
    const gw_hist_def *d = &gw_hist_defs[kind];
    size_t b = 0;
    while (b < d->bounds && us > d->bound_us[b])
        b++;
    gw_cell_add(&h->bucket[b], 1);
    gw_cell_add(&h->sum_us, (uint64_t)us);
}

void gw_metrics_observe_gap(gw_worker_metrics *m, uint32_t series, int64_t gap_us) {
    if (!m || series >= atomic_load_explicit(&m->count, memory_order_relaxed) || gap_us < 0) return;
    hist_observe(&m->series[series]->hist[GW_HIST_GAP], GW_HIST_GAP, gap_us);
}

/* The currency's label, process-wide: the first seven seen, then "other". */
static int currency_index(gw_metrics *mx, const char *currency) {
    size_t len = strnlen(currency, 8);
    for (int i = 0; i < GW_METRICS_CURRENCIES - 1; i++) {
        _Atomic(char *) *slot = &mx->currencies[i];
        char *cur = atomic_load_explicit(slot, memory_order_acquire);
        if (!cur) {
            char *mine = strndup(currency, len);
            if (mine && atomic_compare_exchange_strong(slot, &cur, mine)) return i;
            free(mine);
            if (!cur) return GW_METRICS_CURRENCIES - 1;
        }
        if (same(cur, currency, len)) return i;
    }
    return GW_METRICS_CURRENCIES - 1;
}

static void add_double(atomic_uint_fast64_t *cell, double v) {
    uint64_t bits = gw_cell_get(cell);
    double sum;
    memcpy(&sum, &bits, sizeof sum);
    sum += v;
    memcpy(&bits, &sum, sizeof bits);
    atomic_store_explicit(cell, bits, memory_order_relaxed);
}

void gw_metrics_observe(gw_worker_metrics *m, const gw_request_record *rec) {
    if (!m) return;
    if (rec->refused_by > GW_REFUSED_NONE && rec->refused_by < GW_REFUSED_COUNT)
        gw_cell_add(&m->refusals[rec->refused_by], 1);
    uint32_t id = gw_metrics_series(m, rec->model, rec->channel, rec->tenant);
    if (id == GW_METRICS_NO_SERIES) return;
    gw_series *s = m->series[id];
    gw_cell_add(&s->requests[status_index(rec->status)], 1);
    const int64_t tokens[GW_METRICS_TOKEN_TYPES] = {
        rec->usage.prompt_tokens, rec->usage.completion_tokens, rec->usage.cached_tokens,
        rec->usage.reasoning_tokens};
    for (int t = 0; t < GW_METRICS_TOKEN_TYPES; t++)
        if (tokens[t] > 0) gw_cell_add(&s->tokens[t], (uint64_t)tokens[t]);
    if (rec->estimated) gw_cell_add(&s->estimated, 1);
    if (rec->cost > 0 && rec->currency[0])
        add_double(&s->cost[currency_index(m->mx, rec->currency)], rec->cost);
    if (rec->latency_us >= 0)
        hist_observe(&s->hist[GW_HIST_DURATION], GW_HIST_DURATION, rec->latency_us);
    if (rec->first_token_us >= 0)
        hist_observe(&s->hist[GW_HIST_FIRST_TOKEN], GW_HIST_FIRST_TOKEN, rec->first_token_us);
    /* each attempt under the channel it went to; a failover is an attempt that was followed by
     * another (the first try of most requests is the channel that served: no lookup) */
    uint32_t n =
        rec->attempt_count < GW_RECORD_MAX_ATTEMPTS ? rec->attempt_count : GW_RECORD_MAX_ATTEMPTS;
    for (uint32_t i = 0; i < n; i++) {
        const char *ch = rec->attempts[i].channel;
        gw_series *as = s;
        if (ch[0] && strcmp(ch, rec->channel)) {
            uint32_t aid = gw_metrics_series(m, rec->model, ch, rec->tenant);
            if (aid == GW_METRICS_NO_SERIES) continue;
            as = m->series[aid];
        }
        gw_cell_add(&as->attempts, 1);
        if (i + 1 < n) gw_cell_add(&as->failovers, 1);
    }
}
