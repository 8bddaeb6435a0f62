#include "upstream/pools.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/log.h"
#include "upstream/discovery.h"
#include "upstream/endpoints.h"

/* A replaced set stays readable this long: a worker reads the set pointer and takes an endpoint
 * reference within one pick, microseconds; this is the margin for that. */
enum { SET_GRACE_MS = 10000 };

typedef struct retired_set {
    gw_endpoint_set *set;
    int64_t retired_ns;
    struct retired_set *next;
} retired_set;

typedef struct pool {
    gw_endpoint_source source; /* first: a source is a pool */
    char *key, *channel, *scheme, *path;
    gw_discovery_spec spec;
    char **resolvers;
    gw_discovery *discovery;
    atomic_int refs;
    int is_static; /* the config's list, changed only through the admin API */
    retired_set *retired;
    struct pool *next;
} pool;

static pool *pools; /* control thread only */

static void free_set(gw_endpoint_set *set) {
    if (!set) return;
    for (size_t i = 0; i < set->count; i++)
        gw_endpoint_release(set->eps[i]);
    free(set);
}

static void free_retired(pool *p, int all) {
    int64_t now = gw_now_ns();
    for (retired_set **r = &p->retired; *r;) {
        retired_set *old = *r;
        if (all || now - old->retired_ns >= (int64_t)SET_GRACE_MS * 1000000) {
            *r = old->next;
            free_set(old->set);
            free(old);
        } else {
            r = &old->next;
        }
    }
}

static void pool_free(pool *p) {
    if (p->discovery) gw_discovery_stop(p->discovery);
    free_set(atomic_exchange(&p->source.current, NULL));
    free_retired(p, 1);
    for (size_t i = 0; i < p->spec.resolver_count; i++)
        free(p->resolvers[i]);
    free(p->resolvers);
    free((char *)p->spec.name);
    free(p->key);
    free(p->channel);
    free(p->scheme);
    free(p->path);
    free(p);
}

gw_endpoint_source *gw_pools_acquire(const char *channel, const gw_discovery_config *dc) {
    size_t klen = strlen(channel) + 1 + strlen(dc->key) + 1;
    char *key = malloc(klen);
    if (!key) return NULL;
    snprintf(key, klen, "%s\n%s", channel, dc->key);
    for (pool *p = pools; p; p = p->next) {
        if (!strcmp(p->key, key)) {
            free(key);
            atomic_fetch_add(&p->refs, 1);
            return &p->source;
        }
    }
    pool *p = calloc(1, sizeof *p);
    if (!p) {
        free(key);
        return NULL;
    }
    p->key = key;
    p->channel = strdup(channel);
    p->scheme = strdup(dc->scheme);
    p->path = strdup(dc->path);
    p->spec.name = strdup(dc->dns ? dc->dns : "");
    p->resolvers = calloc(dc->resolver_count ? dc->resolver_count : 1, sizeof(char *));
    int ok = p->channel && p->scheme && p->path && p->spec.name && p->resolvers;
    for (size_t i = 0; ok && i < dc->resolver_count; i++)
        ok = (p->resolvers[p->spec.resolver_count++] = strdup(dc->resolvers[i])) != NULL;
    if (!ok) {
        pool_free(p);
        return NULL;
    }
    if (!dc->dns) { /* a static list: no discovery */
        p->is_static = 1;
        atomic_init(&p->refs, 1);
        p->next = pools;
        pools = p;
        return &p->source;
    }
    p->spec.port = dc->port;
    p->spec.use_srv = dc->srv;
    p->spec.resolvers = (const char *const *)p->resolvers;
    p->spec.interval_ms = dc->interval_ms;
    atomic_init(&p->refs, 1);
    p->next = pools;
    pools = p;
    return &p->source;
}

void gw_pools_release(gw_endpoint_source *source) {
    if (source) atomic_fetch_sub_explicit(&((pool *)source)->refs, 1, memory_order_acq_rel);
}

/* The new set replaces the current one whole; the old one is freed after the grace. */
static void swap_set(pool *p, gw_endpoint_set *set, retired_set *r) {
    r->set = atomic_exchange_explicit(&p->source.current, set, memory_order_acq_rel);
    r->retired_ns = gw_now_ns();
    r->next = p->retired;
    p->retired = r;
}

gw_endpoint_source *gw_pools_acquire_static(const char *channel, gw_endpoint *const *eps,
                                            size_t count) {
    /* the key is the list: a reload with the same list keeps the admin API's changes */
    size_t klen = 16;
    for (size_t i = 0; i < count; i++)
        klen += strlen(eps[i]->base_url) + 1;
    char *key = malloc(klen);
    if (!key) return NULL;
    size_t n = (size_t)snprintf(key, klen, "static");
    for (size_t i = 0; i < count; i++)
        n += (size_t)snprintf(key + n, klen - n, "|%s", eps[i]->base_url);
    gw_discovery_config dc = {.key = key, .scheme = "", .path = ""};
    gw_endpoint_source *src = gw_pools_acquire(channel, &dc);
    free(key);
    /* a pool that has a set was made by an earlier load: it keeps that set */
    if (!src || atomic_load(&src->current)) return src;
    gw_endpoint_set *set = malloc(sizeof *set + (count ? count : 1) * sizeof(gw_endpoint *));
    retired_set *r = malloc(sizeof *r);
    if (!set || !r) {
        free(set);
        free(r);
        gw_pools_release(src);
        return NULL;
    }
    set->count = count;
    for (size_t i = 0; i < count; i++) {
        atomic_fetch_add(&eps[i]->refs, 1);
        set->eps[i] = eps[i];
    }
    swap_set((pool *)src, set, r);
    return src;
}

int gw_pools_change(gw_endpoint_source *source, const char *url, int add, char *err,
                    size_t errlen) {
    pool *p = (pool *)source;
    if (!p->is_static) {
        snprintf(err, errlen, "the endpoints of this channel come from DNS discovery");
        return 409;
    }
    gw_endpoint_set *cur = atomic_load(&p->source.current);
    size_t n = cur ? cur->count : 0, at = n;
    for (size_t i = 0; i < n; i++)
        if (!strcmp(cur->eps[i]->base_url, url)) at = i;
    if (add && at < n) {
        snprintf(err, errlen, "the channel has this endpoint already");
        return 409;
    }
    if (!add && at == n) {
        snprintf(err, errlen, "the channel has no such endpoint");
        return 404;
    }
    if (add && n >= 256) {
        snprintf(err, errlen, "the channel has 256 endpoints, the most it may have");
        return 409;
    }
    gw_endpoint_set *set = malloc(sizeof *set + (n + 1) * sizeof(gw_endpoint *));
    retired_set *r = malloc(sizeof *r);
    gw_endpoint *added = add ? gw_endpoints_acquire(p->channel, url) : NULL;
    if (!set || !r || (add && !added)) {
        free(set);
        free(r);
        gw_endpoint_release(added);
        snprintf(err, errlen, "out of memory");
        return 503;
    }
    set->count = 0;
    for (size_t i = 0; i < n; i++) {
        if (i == at) continue;
        atomic_fetch_add(&cur->eps[i]->refs, 1);
        set->eps[set->count++] = cur->eps[i];
    }
    if (added) set->eps[set->count++] = added;
    swap_set(p, set, r);
    char channel[256], esc[512];
    gw_json_escape(channel, sizeof channel, p->channel, strlen(p->channel));
    gw_json_escape(esc, sizeof esc, url, strlen(url));
    gw_log_info(add ? "endpoint_added" : "endpoint_removed",
                "\"channel\":\"%s\",\"endpoint\":\"%s\",\"endpoints\":%zu", channel, esc,
                set->count);
    free_retired(p, 0);
    return 0;
}

/* DNS changed the set: the new one replaces it whole; the old one is freed after the grace. */
static void on_discovered(void *ud, const gw_discovered_endpoint *eps, size_t count,
                          const char *error) {
    pool *p = ud;
    gw_endpoint_set *set = malloc(sizeof *set + (count ? count : 1) * sizeof(gw_endpoint *));
    retired_set *r = malloc(sizeof *r);
    if (!set || !r) {
        free(set);
        free(r);
        gw_log_error("discovery_failed", "\"message\":\"out of memory\"");
        return;
    }
    set->count = 0;
    for (size_t i = 0; i < count; i++) {
        char base[GW_DISCOVERY_ADDRESS_MAX + 512];
        snprintf(base, sizeof base, "%s://%s%s", p->scheme, eps[i].address, p->path);
        gw_endpoint *ep = gw_endpoints_acquire(p->channel, base);
        if (ep) set->eps[set->count++] = ep;
    }
    swap_set(p, set, r);
    char channel[256], err[512] = "";
    gw_json_escape(channel, sizeof channel, p->channel, strlen(p->channel));
    if (error) gw_json_escape(err, sizeof err, error, strlen(error));
    gw_log(error ? GW_LOG_WARN : GW_LOG_INFO, "endpoints_discovered",
           "\"channel\":\"%s\",\"endpoints\":%zu,\"error\":%s%s%s", channel, set->count,
           error ? "\"" : "", error ? err : "null", error ? "\"" : "");
    free_retired(p, 0);
}

void gw_pools_sync(struct event_base *base) {
    for (pool **pp = &pools; *pp;) {
        pool *p = *pp;
        if (atomic_load(&p->refs) == 0) {
            *pp = p->next;
            pool_free(p);
            continue;
        }
        if (!p->discovery && !p->is_static && base) {
            char err[256];
            p->discovery = gw_discovery_start(base, &p->spec, on_discovered, p, err, sizeof err);
            if (!p->discovery) {
                char channel[256], esc[512];
                gw_json_escape(channel, sizeof channel, p->channel, strlen(p->channel));
                gw_json_escape(esc, sizeof esc, err, strlen(err));
                gw_log_error("discovery_failed", "\"channel\":\"%s\",\"message\":\"%s\"", channel,
                             esc);
            }
        }
        free_retired(p, 0);
        pp = &p->next;
    }
    gw_endpoints_sweep();
}

void gw_pools_stop_all(void) {
    for (pool *p = pools; p; p = p->next) {
        if (p->discovery) gw_discovery_stop(p->discovery);
        p->discovery = NULL;
    }
}

void gw_pools_free_all(void) {
    while (pools) {
        pool *p = pools;
        pools = p->next;
        pool_free(p);
    }
}
