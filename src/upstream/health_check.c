#include "upstream/health_check.h"

#include <curl/curl.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/config.h"
#include "core/log.h"
#include "upstream/curl_multi.h"
#include "upstream/endpoints.h"

enum { TICK_MS = 100 };

/* One check in flight: it holds a reference on its endpoint and on the config (its policy). */
typedef struct probe {
    gw_health_checker *hc;
    gw_endpoint *endpoint;
    gw_config *cfg;
    const gw_channel *channel;
    CURL *easy;
    struct probe *next;
} probe;

struct gw_health_checker {
    struct event_base *base;
    gw_curl_multi *curl;
    struct event *tick;
    gw_config *cfg;
    int64_t *next_ns; /* per channel of cfg: when to check it next */
    probe *running;
};

int gw_health_check_url(const char *base_url, int port, const char *path, char *out,
                        size_t outlen) {
    const char *host = strstr(base_url, "://");
    if (!host) return -1;
    host += 3;
    size_t scheme_len = (size_t)(host - base_url);
    size_t authority = strcspn(host, "/");
    size_t host_len = authority;
    if (port) { /* strip the endpoint's port: the check goes to another one */
        const char *end = host + authority, *colon = end;
        while (colon > host && colon[-1] != ':' && colon[-1] != ']')
            colon--;
        if (colon > host && colon[-1] == ':') host_len = (size_t)(colon - 1 - host);
    }
    int n = port ? snprintf(out, outlen, "%.*s%.*s:%d%s", (int)scheme_len, base_url, (int)host_len,
                            host, port, path)
                 : snprintf(out, outlen, "%.*s%.*s%s", (int)scheme_len, base_url, (int)host_len,
                            host, path);
    return n > 0 && (size_t)n < outlen ? 0 : -1;
}

static void probe_done(CURL *easy, CURLcode result) {
    probe *p = NULL;
    curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&p);
    gw_health_checker *hc = p->hc;
    long status = 0;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
    curl_multi_remove_handle(gw_curl_multi_handle(hc->curl), easy);
    gw_curl_easy_put(hc->curl, easy);
    int ok = result == CURLE_OK && status >= 200 && status < 300;
    gw_endpoint_report(p->endpoint, &p->channel->health, p->channel->name, !ok,
                       result == CURLE_OPERATION_TIMEDOUT ? "health_check_timeout"
                                                          : "health_check_failed",
                       gw_now_ns());
    for (probe **pp = &hc->running; *pp; pp = &(*pp)->next)
        if (*pp == p) {
            *pp = p->next;
            break;
        }
    gw_endpoint_release(p->endpoint);
    gw_config_unref(p->cfg);
    free(p);
}

static size_t discard(char *ptr, size_t size, size_t nmemb, void *ud) {
    (void)ptr;
    (void)ud;
    return size * nmemb; /* the status is the answer; the body is not kept */
}

static void check_endpoint(gw_health_checker *hc, const gw_channel *ch, gw_endpoint *ep) {
    char url[1024];
    const char *base = ch->health.base_url ? ch->health.base_url : ep->base_url;
    if (gw_health_check_url(base, ch->health.port, ch->health.path, url, sizeof url) < 0) return;
    probe *p = calloc(1, sizeof *p);
    CURL *e = p ? gw_curl_easy_get(hc->curl) : NULL;
    if (!e) {
        free(p);
        return;
    }
    *p = (probe){.hc = hc, .endpoint = ep, .cfg = gw_config_ref(hc->cfg), .channel = ch, .easy = e};
    atomic_fetch_add(&ep->refs, 1);
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_PRIVATE, p);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_NOBODY, 0L);
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L); /* vLLM's /metrics style redirects */
    curl_easy_setopt(e, CURLOPT_MAXREDIRS, 3L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)ch->health.timeout_ms);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
    p->next = hc->running;
    hc->running = p;
    if (curl_multi_add_handle(gw_curl_multi_handle(hc->curl), e) != CURLM_OK)
        probe_done(e, CURLE_FAILED_INIT);
}

static void on_tick(evutil_socket_t fd, short what, void *arg) {
    gw_health_checker *hc = arg;
    (void)fd;
    (void)what;
    if (!hc->cfg) return;
    int64_t now = gw_now_ns();
    for (size_t i = 0; i < hc->cfg->channel_count; i++) {
        const gw_channel *ch = &hc->cfg->channels[i];
        if (!ch->health.path || now < hc->next_ns[i]) continue;
        hc->next_ns[i] = now + (int64_t)ch->health.interval_ms * 1000000;
        size_t n;
        gw_endpoint *const *eps = gw_channel_endpoints(ch, &n);
        for (size_t k = 0; k < n; k++) {
            int busy = 0; /* one check per endpoint at a time: a hung engine gets no pile-up */
            for (probe *p = hc->running; p && !busy; p = p->next)
                busy = p->endpoint == eps[k];
            if (!busy) check_endpoint(hc, ch, eps[k]);
        }
    }
}

gw_health_checker *gw_health_checker_new(struct event_base *base) {
    gw_health_checker *hc = calloc(1, sizeof *hc);
    if (!hc) return NULL;
    hc->base = base;
    hc->curl = gw_curl_multi_new(base, 4, probe_done);
    hc->tick = event_new(base, -1, EV_PERSIST, on_tick, hc);
    if (!hc->curl || !hc->tick) {
        gw_health_checker_free(hc);
        return NULL;
    }
    struct timeval tv = {0, TICK_MS * 1000};
    event_add(hc->tick, &tv);
    return hc;
}

void gw_health_checker_set_config(gw_health_checker *hc, gw_config *cfg) {
    /* channel indices may have moved: every channel is checked afresh */
    int64_t *next = calloc(cfg->channel_count ? cfg->channel_count : 1, sizeof *next);
    if (!next) {
        gw_log_error("health_check_failed", "\"message\":\"out of memory\"");
        return; /* the checks go on with the previous config */
    }
    free(hc->next_ns);
    hc->next_ns = next;
    gw_config *old = hc->cfg;
    hc->cfg = gw_config_ref(cfg);
    gw_config_unref(old);
}

void gw_health_checker_free(gw_health_checker *hc) {
    if (!hc) return;
    while (hc->running) {
        probe *p = hc->running;
        hc->running = p->next;
        curl_multi_remove_handle(gw_curl_multi_handle(hc->curl), p->easy);
        curl_easy_cleanup(p->easy);
        gw_endpoint_release(p->endpoint);
        gw_config_unref(p->cfg);
        free(p);
    }
    gw_curl_multi_free(hc->curl); /* after the probes: it cleans up their easy handles */
    if (hc->tick) event_free(hc->tick);
    gw_config_unref(hc->cfg);
    free(hc->next_ns);
    free(hc);
}
