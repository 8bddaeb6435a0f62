#include "core/worker.h"

#include <event2/event.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#include "core/api_routes.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/http_server.h"
#include "core/log.h"
#include "upstream/curl_multi.h"
#include "upstream/upstream.h"

enum { DRAIN_POLL_MS = 20 };

static gw_http_settings settings_of(const gw_config *cfg) {
    return (gw_http_settings){.max_body_bytes = cfg->max_body_bytes,
                              .max_header_bytes = cfg->max_header_bytes,
                              .keepalive_timeout_ms = cfg->keepalive_timeout_ms,
                              .client_timeout_ms = cfg->client_timeout_ms};
}

static long max_host_connections(const gw_config *cfg) {
    long max = 1;
    for (size_t i = 0; i < cfg->channel_count; i++)
        if (cfg->channels[i].max_connections > max) max = cfg->channels[i].max_connections;
    return max;
}

static void finish_drain(gw_worker *w) {
    /* past the deadline: whatever still runs is cut; its clients see the connection close */
    gw_http_server_free(w->http);
    gw_http_server_free(w->https);
    w->http = w->https = NULL;
    event_base_loopexit(w->base, NULL);
}

static void on_drain_poll(evutil_socket_t fd, short what, void *arg) {
    gw_worker *w = arg;
    (void)fd;
    (void)what;
    size_t open = (w->http ? gw_http_server_connections(w->http) : 0) +
                  (w->https ? gw_http_server_connections(w->https) : 0);
    if ((open == 0 && w->active_requests == 0) || gw_now_ns() >= w->drain_deadline_ns) {
        finish_drain(w);
        return;
    }
    struct timeval tv = {0, DRAIN_POLL_MS * 1000};
    evtimer_add(w->drain_timer, &tv);
}

static void on_wakeup(evutil_socket_t fd, short what, void *arg) {
    gw_worker *w = arg;
    (void)fd;
    (void)what;
    gw_config *next = atomic_exchange(&w->pending_cfg, NULL);
    if (next) {
        gw_config_unref(w->cfg); /* requests in flight hold their own references */
        w->cfg = next;
        gw_http_settings st = settings_of(next);
        if (w->http) gw_http_server_set_settings(w->http, &st);
        if (w->https) gw_http_server_set_settings(w->https, &st);
        gw_curl_multi_set_max_connections(w->curl, max_host_connections(next));
    }
    if (atomic_load(&w->stop_requested) && !w->draining) {
        w->draining = 1;
        w->drain_deadline_ns = gw_now_ns() + (int64_t)w->cfg->shutdown_timeout_ms * 1000000;
        if (w->http) gw_http_server_drain(w->http);
        if (w->https) gw_http_server_drain(w->https);
        on_drain_poll(-1, 0, w);
    }
}

static void handle_http(gw_http_req *req, void *ud) {
    gw_api_dispatch(ud, req);
}

int gw_worker_init(gw_worker *w, int index, gw_config *cfg, SSL_CTX *tls) {
    memset(w, 0, sizeof *w);
    w->index = index;
    w->cfg = gw_config_ref(cfg);
    w->tls = tls;
    struct event_config *ec = event_config_new();
    event_config_set_flag(ec, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
    w->base = event_base_new_with_config(ec);
    event_config_free(ec);
    w->tokener = json_tokener_new_ex(128);
    if (!w->base || !w->tokener) {
        snprintf(w->error, sizeof w->error, "cannot create an event loop");
        return -1;
    }
    json_tokener_set_flags(w->tokener, JSON_TOKENER_STRICT);
    w->wakeup = event_new(w->base, -1, 0, on_wakeup, w);
    w->drain_timer = evtimer_new(w->base, on_drain_poll, w);
    w->curl = gw_curl_multi_new(w->base, max_host_connections(cfg), gw_upstream_on_curl_done);
    if (!w->wakeup || !w->drain_timer || !w->curl) {
        snprintf(w->error, sizeof w->error, "cannot create the worker's handles");
        return -1;
    }
    gw_http_settings st = settings_of(cfg);
    if (cfg->http.host) {
        w->http = gw_http_server_new(w->base, cfg->http.host, cfg->http.port, NULL, &st,
                                     handle_http, w, w->error, sizeof w->error);
        if (!w->http) return -1;
    }
    if (cfg->https.host && tls) {
        w->https = gw_http_server_new(w->base, cfg->https.host, cfg->https.port, tls, &st,
                                      handle_http, w, w->error, sizeof w->error);
        if (!w->https) return -1;
    }
    return 0;
}

static void *worker_main(void *arg) {
    gw_worker *w = arg;
    event_base_loop(w->base, 0);
    atomic_store(&w->exited, 1);
    return NULL;
}

int gw_worker_spawn(gw_worker *w) {
    if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
        snprintf(w->error, sizeof w->error, "cannot start a thread");
        return -1;
    }
    return 0;
}

int gw_worker_exited(gw_worker *w) {
    return atomic_load(&w->exited);
}

void gw_worker_post_config(gw_worker *w, gw_config *cfg) {
    gw_config *old = atomic_exchange(&w->pending_cfg, cfg);
    if (old) gw_config_unref(old); /* never picked up: superseded */
    event_active(w->wakeup, EV_READ, 0);
}

void gw_worker_request_stop(gw_worker *w) {
    atomic_store(&w->stop_requested, 1);
    event_active(w->wakeup, EV_READ, 0);
}

void gw_worker_join(gw_worker *w) {
    pthread_join(w->thread, NULL);
}

void gw_worker_destroy(gw_worker *w) {
    gw_http_server_free(w->http);
    gw_http_server_free(w->https);
    gw_curl_multi_free(w->curl);
    if (w->wakeup) event_free(w->wakeup);
    if (w->drain_timer) event_free(w->drain_timer);
    if (w->tokener) json_tokener_free(w->tokener);
    gw_config_unref(atomic_exchange(&w->pending_cfg, NULL));
    gw_config_unref(w->cfg);
    if (w->base) event_base_free(w->base);
    memset(w, 0, sizeof *w);
}
