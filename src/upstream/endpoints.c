#include "upstream/endpoints.h"

#include <event2/buffer.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/log.h"
#include "upstream/h1_address.h"

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static gw_endpoint *registry;
static _Atomic(gw_endpoint_health_hook) health_hook;
static void *_Atomic health_hook_ud;

void gw_endpoints_set_health_hook(gw_endpoint_health_hook hook, void *ud) {
    atomic_store(&health_hook_ud, ud);
    atomic_store(&health_hook, hook);
}

static void tell_health(const char *channel, const gw_endpoint *ep, int up, const char *code) {
    gw_endpoint_health_hook hook = atomic_load_explicit(&health_hook, memory_order_acquire);
    if (hook) hook(channel, ep->base_url, up, code, atomic_load(&health_hook_ud));
}

static void endpoint_free(gw_endpoint *ep) {
    free(ep->h1);
    free(ep->base_url);
    free(ep->key);
    free(ep);
}

static gw_endpoint *endpoint_new(const char *key, const char *base_url) {
    gw_endpoint *ep = calloc(1, sizeof *ep);
    if (!ep) return NULL;
    ep->key = strdup(key);
    ep->base_url = strdup(base_url);
    if (!ep->key || !ep->base_url) {
        endpoint_free(ep);
        return NULL;
    }
    gw_h1_address h1;
    if (!gw_h1_proxy_in_environment() && gw_h1_address_parse(base_url, &h1) == 0 &&
        (ep->h1 = malloc(sizeof h1)))
        *ep->h1 = h1; /* without it (no memory either) curl serves the endpoint */
    atomic_init(&ep->state, GW_ENDPOINT_HEALTHY);
    return ep;
}

gw_endpoint *gw_endpoints_acquire(const char *channel, const char *base_url) {
    char key[1024];
    if (snprintf(key, sizeof key, "%s\n%s", channel, base_url) >= (int)sizeof key) return NULL;
    pthread_mutex_lock(&registry_lock);
    gw_endpoint *ep = registry;
    while (ep && strcmp(ep->key, key))
        ep = ep->next;
    if (!ep && (ep = endpoint_new(key, base_url))) {
        ep->next = registry;
        registry = ep;
    }
    if (ep) {
        atomic_fetch_add(&ep->refs, 1);
    }
    pthread_mutex_unlock(&registry_lock);
    return ep;
}

void gw_endpoint_release(gw_endpoint *ep) {
    if (ep) atomic_fetch_sub_explicit(&ep->refs, 1, memory_order_acq_rel);
}

static void sweep(int all) {
    pthread_mutex_lock(&registry_lock);
    for (gw_endpoint **p = &registry; *p;) {
        gw_endpoint *ep = *p;
        if (all || atomic_load(&ep->refs) == 0) {
            *p = ep->next;
            endpoint_free(ep);
        } else {
            p = &ep->next;
        }
    }
    pthread_mutex_unlock(&registry_lock);
}

void gw_endpoints_sweep(void) {
    sweep(0);
}

void gw_endpoints_free_all(void) {
    sweep(1);
}

int gw_endpoint_usable(const gw_endpoint *ep, int64_t now_ns) {
    int state = atomic_load_explicit(&ep->state, memory_order_relaxed);
    if (state == GW_ENDPOINT_HEALTHY) return 1;
    if (state == GW_ENDPOINT_PROBING) return 0;
    return now_ns >= atomic_load_explicit(&ep->ejected_until_ns, memory_order_relaxed);
}

int gw_endpoint_claim(gw_endpoint *ep, int64_t now_ns) {
    int state = atomic_load_explicit(&ep->state, memory_order_relaxed);
    if (state == GW_ENDPOINT_HEALTHY) return 1;
    if (state != GW_ENDPOINT_EJECTED ||
        now_ns < atomic_load_explicit(&ep->ejected_until_ns, memory_order_relaxed))
        return 0;
    int expected = GW_ENDPOINT_EJECTED; /* one probe: whoever swaps the state first */
    return atomic_compare_exchange_strong(&ep->state, &expected, GW_ENDPOINT_PROBING);
}

static void log_transition(const char *event, const char *channel, const gw_endpoint *ep,
                           const char *code, int backoff_ms) {
    char name[256], url[512];
    gw_json_escape(name, sizeof name, channel, strlen(channel));
    gw_json_escape(url, sizeof url, ep->base_url, strlen(ep->base_url));
    gw_log(backoff_ms ? GW_LOG_WARN : GW_LOG_INFO, event,
           "\"channel\":\"%s\",\"endpoint\":\"%s\",\"reason\":\"%s\",\"backoff_ms\":%d", name, url,
           code ? code : "", backoff_ms);
}

void gw_endpoint_report(gw_endpoint *ep, const gw_health_policy *policy, const char *channel,
                        int failed, const char *code, int64_t now_ns) {
    atomic_fetch_add_explicit(&ep->requests, 1, memory_order_relaxed);
    if (!failed) {
        atomic_store_explicit(&ep->consecutive_failures, 0, memory_order_relaxed);
        int state = atomic_exchange(&ep->state, GW_ENDPOINT_HEALTHY);
        if (state != GW_ENDPOINT_HEALTHY) {
            atomic_store(&ep->backoff_ms, 0);
            log_transition("endpoint_recovered", channel, ep, NULL, 0);
            tell_health(channel, ep, 1, NULL);
        }
        return;
    }
    atomic_fetch_add_explicit(&ep->failures, 1, memory_order_relaxed);
    atomic_store_explicit(&ep->last_error, code, memory_order_relaxed);
    atomic_store_explicit(&ep->last_error_ns, now_ns, memory_order_relaxed);
    int fails = atomic_fetch_add(&ep->consecutive_failures, 1) + 1;
    int state = atomic_load(&ep->state);
    if (state == GW_ENDPOINT_HEALTHY && fails < policy->failures) return;
    if (state == GW_ENDPOINT_EJECTED) return; /* a request that began before the ejection */
    /* eject, or after a failed probe eject again for twice as long */
    int backoff = atomic_load(&ep->backoff_ms);
    backoff = backoff ? backoff * 2 : policy->backoff_ms;
    if (backoff > policy->max_backoff_ms) backoff = policy->max_backoff_ms;
    atomic_store(&ep->backoff_ms, backoff);
    atomic_store(&ep->ejected_until_ns, now_ns + (int64_t)backoff * 1000000);
    atomic_store(&ep->state, GW_ENDPOINT_EJECTED);
    log_transition("endpoint_ejected", channel, ep, code, backoff);
    if (state == GW_ENDPOINT_HEALTHY) tell_health(channel, ep, 0, code); /* not a failed probe */
}

static int skipped(const gw_endpoint *ep, gw_endpoint *const *skip, size_t skip_count) {
    for (size_t i = 0; i < skip_count; i++)
        if (skip[i] == ep) return 1;
    return 0;
}

int gw_channel_usable(const gw_channel *ch, gw_endpoint *const *skip, size_t skip_count,
                      int64_t now_ns) {
    if (gw_channel_full(ch)) return 0;
    size_t n;
    gw_endpoint *const *eps = gw_channel_endpoints(ch, &n);
    for (size_t i = 0; i < n; i++)
        if (!skipped(eps[i], skip, skip_count) && gw_endpoint_usable(eps[i], now_ns)) return 1;
    return 0;
}

gw_endpoint *gw_channel_pick_endpoint(const gw_channel *ch, gw_endpoint *const *skip,
                                      size_t skip_count, int64_t now_ns) {
    size_t n;
    gw_endpoint *const *eps = gw_channel_endpoints(ch, &n);
    if (n == 0) return NULL;
    /* least outstanding requests; equal loads taken in turn from a rotating start */
    atomic_uint *cursor = ch->source ? &ch->source->cursor : ch->endpoint_cursor;
    size_t start = n > 1 ? atomic_fetch_add_explicit(cursor, 1, memory_order_relaxed) % n : 0;
    for (int tries = 0; tries < 2; tries++) {
        gw_endpoint *best = NULL;
        int best_load = 0;
        for (size_t k = 0; k < n; k++) {
            gw_endpoint *ep = eps[(start + k) % n];
            if (skipped(ep, skip, skip_count) || !gw_endpoint_usable(ep, now_ns)) continue;
            int load = atomic_load_explicit(&ep->in_flight, memory_order_relaxed);
            if (!best || load < best_load) {
                best = ep;
                best_load = load;
            }
        }
        if (!best) return NULL;
        if (gw_endpoint_claim(best, now_ns)) return best;
        /* another worker took the probe meanwhile: look once more */
    }
    return NULL;
}

void gw_endpoint_describe(const gw_endpoint *ep, struct evbuffer *out, int64_t now_ns) {
    static const char *const states[] = {"healthy", "ejected", "probing"};
    char url[512];
    gw_json_escape(url, sizeof url, ep->base_url, strlen(ep->base_url));
    int state = atomic_load(&ep->state);
    int64_t until = atomic_load(&ep->ejected_until_ns);
    const char *err = atomic_load(&ep->last_error);
    int64_t err_ns = atomic_load(&ep->last_error_ns);
    evbuffer_add_printf(
        out,
        "{\"url\":\"%s\",\"state\":\"%s\",\"in_flight\":%d,\"consecutive_failures\":%d,"
        "\"retry_in_ms\":%lld,\"requests\":%llu,\"failures\":%llu,\"last_error\":%s%s%s,"
        "\"last_error_ago_ms\":%lld}",
        url, states[state < 0 || state > 2 ? 0 : state], atomic_load(&ep->in_flight),
        atomic_load(&ep->consecutive_failures),
        state == GW_ENDPOINT_EJECTED && until > now_ns ? (long long)((until - now_ns) / 1000000)
                                                       : 0LL,
        (unsigned long long)atomic_load(&ep->requests),
        (unsigned long long)atomic_load(&ep->failures), err ? "\"" : "", err ? err : "null",
        err ? "\"" : "", err ? (long long)((now_ns - err_ns) / 1000000) : -1LL);
}
