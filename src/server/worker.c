#include "server/worker.h"
#include "route/rules.h"

#include <event2/event.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/api_routes.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/drain_watch.h"
#include "core/fd_limit.h"
#include "core/fd_slots.h"
#include "core/wake.h"
#include "core/http_server.h"
#include "core/log.h"
#include "filters/request.h"
#include "filters/access_log.h"
#include "security/cidr_list.h"
#include "security/jwt_cache.h"
#include "security/pii.h"
#include "security/words.h"
#include "filters/switches.h"
#include "store/keyset.h"
#include "upstream/channel_pools.h"
#include "upstream/attempt.h"
#include "mcp/mcp_worker.h"

enum {
    DRAIN_POLL_MS = 20,
    /* after the deadline (or a second signal) cut what runs, the error events and 503s that
     * say so get this long to reach their clients before the connections close */
    CUT_FLUSH_MS = 1000,
    FORCED_CUT_FLUSH_MS = 200,
};

/* Client connections of the whole process, over every worker's HTTP and HTTPS listeners, for
 * server.max_connections. The workers are separate structs owned by the control thread, so the
 * one counter lives here; it is only changed by atomic add and subtract (http_server.c). */
static gw_http_conn_pool api_connections;

/* server.max_connections, lowered when the descriptors would not suffice (core/fd_limit.h).
 * Worker 0 says so, at startup and on each reload that keeps it lowered. */
static int client_cap(const gw_worker *w, const gw_config *cfg) {
    long soft = gw_fd_limit_raise();
    int cap = gw_fd_limit_client_cap(cfg->max_connections, soft, w->process_workers);
    if (cap < cfg->max_connections && w->index == 0)
        gw_log_warn("connection_limit_lowered",
                    "\"configured\":%d,\"effective\":%d,\"fd_limit\":%ld,\"message\":\"not "
                    "enough file descriptors for server.max_connections; raise the hard "
                    "RLIMIT_NOFILE (ulimit -Hn, LimitNOFILE=)\"",
                    cfg->max_connections, cap, soft);
    return cap;
}

/* The access line of a request the filter chain never saw: answered by the HTTP layer or a
 * fixed route. A response cut before it ended counts as the client's leaving (499). */
static void on_response_done(gw_http_req *req, void *ud) {
    gw_worker *w = ud;
    if (req->access_logged || !w->cfg->access_log_on) return;
    if (!req->finished) req->status = 499;
    int probe = req->path && ((req->path_len == 8 && !memcmp(req->path, "/healthz", 8)) ||
                              (req->path_len == 7 && !memcmp(req->path, "/readyz", 7)));
    gw_access_log_plain(req, probe);
}

/* access: before anything of a connection is read. A trusted proxy's own address passes: the
 * clients behind it are judged per request by their X-Forwarded-For (filters/ip_access.c). */
static int on_accept(const struct sockaddr *sa, void *ud) {
    const gw_config *cfg = ((gw_worker *)ud)->cfg;
    if (!cfg->access_allow && !cfg->access_deny) return 0;
    gw_ip ip;
    if (gw_ip_from_sockaddr(sa, &ip) < 0) return 403;
    if (cfg->trusted_proxies && gw_cidr_match_ip(cfg->trusted_proxies, &ip)) return 0;
    return gw_cidr_allowed(cfg->access_allow, cfg->access_deny, &ip) ? 0 : 403;
}

static gw_http_settings settings_of(gw_worker *w, const gw_config *cfg) {
    return (gw_http_settings){.max_body_bytes = cfg->max_body_bytes,
                              .max_header_bytes = cfg->max_header_bytes,
                              .keepalive_timeout_ms = cfg->keepalive_timeout_ms,
                              .client_timeout_ms = cfg->client_timeout_ms,
                              .request_timeout_ms = cfg->request_timeout_ms,
                              .max_connections = client_cap(w, cfg),
                              .pool = &api_connections,
                              .thread_state = &w->http_state,
                              .on_response_done = on_response_done,
                              .on_accept = on_accept};
}

/* The workers of the process in a drain: how many still serve, and how many of those have
 * nothing open. A worker's listeners are in the port's SO_REUSEPORT group, and the kernel
 * spreads new connections over the group's sockets: one closed while the other workers still
 * serve resets the connections queued on it, and new requests during the drain (which the drain
 * promises to serve) failed. So an idle worker keeps accepting until every worker is idle; then
 * they all close within a poll of each other. Process-wide, as api_connections. */
static atomic_int workers_serving, workers_idle;

static void count_idle(gw_worker *w, int idle) {
    if (idle == w->counted_idle) return;
    atomic_fetch_add(&workers_idle, idle ? 1 : -1);
    w->counted_idle = idle;
}

static void finish_drain(gw_worker *w) {
    count_idle(w, 0);
    atomic_fetch_sub(&workers_serving, 1);
    /* whatever is still open now is closed; its clients see the connection end */
    gw_http_server_free(w->http);
    gw_http_server_free(w->https);
    w->http = w->https = NULL;
    event_base_loopexit(w->base, NULL);
}

/* The deadline passed, or a second signal came: no new connections, and every running request
 * ends now with an explicit error in its own protocol (never a silent cut), logged as the
 * server's doing rather than the client's. */
static void cut_running(gw_worker *w, int flush_ms) {
    w->cutting = 1;
    w->drain_deadline_ns = gw_now_ns() + (int64_t)flush_ms * 1000000;
    if (w->http) gw_http_server_stop_accepting(w->http);
    if (w->https) gw_http_server_stop_accepting(w->https);
    for (struct gw_req *r = w->requests, *next; r; r = next) {
        next = r->next;
        gw_req_cut_for_shutdown(r);
    }
}

static void on_drain_poll(evutil_socket_t fd, short what, void *arg) {
    gw_worker *w = arg;
    (void)fd;
    (void)what;
    size_t open = (w->http ? gw_http_server_connections(w->http) : 0) +
                  (w->https ? gw_http_server_connections(w->https) : 0);
    int idle = open == 0 && w->active_requests == 0;
    count_idle(w, idle);
    if (idle && atomic_load(&workers_idle) >= atomic_load(&workers_serving)) {
        finish_drain(w);
        return;
    }
    if (!w->cutting && (atomic_load(&w->stop_now) || gw_now_ns() >= w->drain_deadline_ns)) {
        cut_running(w, atomic_load(&w->stop_now) ? FORCED_CUT_FLUSH_MS : CUT_FLUSH_MS);
    } else if (w->cutting && gw_now_ns() >= w->drain_deadline_ns) {
        finish_drain(w);
        return;
    }
    struct timeval tv = {0, DRAIN_POLL_MS * 1000};
    evtimer_add(w->drain_timer, &tv);
}

/* The control thread's posts: a new snapshot, a stop. Each is an atomic the control thread set
 * before it signalled w->wakeup (core/wake.h), so this sees every post made before the signal. */
static void on_wakeup(void *arg) {
    gw_worker *w = arg;
    gw_config *next = atomic_exchange(&w->pending_cfg, NULL);
    if (next) {
        /* the new snapshot's TLS context first: the old one goes with the old snapshot */
        if (w->https && next->tls_ctx) gw_http_server_set_tls(w->https, next->tls_ctx);
        gw_config_unref(w->cfg); /* requests in flight hold their own references */
        w->cfg = next;
        gw_config_hold_retire(w->cfg_hold); /* goes with the last request that started on it */
        w->cfg_hold = gw_config_hold_new(gw_config_ref(next));
        gw_http_settings st = settings_of(w, next);
        if (w->http) gw_http_server_set_settings(w->http, &st);
        if (w->https) gw_http_server_set_settings(w->https, &st);
        gw_channel_pools_configure(w->pools, next);
    }
    if (atomic_load(&w->stop_requested) && !w->draining) {
        w->draining = 1;
        w->drain_deadline_ns = gw_now_ns() + (int64_t)w->cfg->shutdown_timeout_ms * 1000000;
        if (w->http) gw_http_server_drain(w->http);
        if (w->https) gw_http_server_drain(w->https);
        /* long-lived streams end now rather than hold the drain until its deadline */
        gw_drain_watch_notify(&w->drain_watches);
        on_drain_poll(-1, 0, w);
    } else if (w->draining && atomic_load(&w->stop_now) && !w->cutting) {
        on_drain_poll(-1, 0, w); /* a second signal during the drain */
    }
}

static void handle_http(gw_http_req *req, void *ud) {
    gw_api_dispatch(ud, req);
}

int gw_worker_init(gw_worker *w, int index, gw_config *cfg, SSL_CTX *tls) {
    memset(w, 0, sizeof *w);
    w->index = index;
    w->cfg = gw_config_ref(cfg);
    w->cfg_hold = gw_config_hold_new(gw_config_ref(cfg)); /* NULL: requests count atomically */
    w->tls = tls;
    w->http_state.connections_refused = &w->stats.connections_refused;
    /* the same count the control thread starts (server.c) */
    w->process_workers = cfg->workers > 0 ? cfg->workers : (int)sysconf(_SC_NPROCESSORS_ONLN);
    struct event_config *ec = event_config_new();
    if (!ec) {
        snprintf(w->error, sizeof w->error, "cannot create an event loop");
        return -1;
    }
    event_config_set_flag(ec, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
    /* No lock: only this worker's thread touches its base (once it runs; before, the thread
     * that makes it, and after, the one that joined it). Other threads reach the worker through
     * atomics and lock-free queues, and wake it through w->wakeup and its MCP inbox's wake,
     * eventfds (core/wake.h), never through a libevent call; so event_add, event_del and
     * event_active on the request path cost no mutex. */
    event_config_set_flag(ec, EVENT_BASE_FLAG_NOLOCK);
    w->base = event_base_new_with_config(ec);
    event_config_free(ec);
    gw_fast_random_seed(&w->rng);
    w->id_prefix = (uint32_t)gw_fast_random_next(&w->rng);
    w->tokener = json_tokener_new_ex(128);
    w->rules_scratch = gw_rules_scratch_new();
    w->keys_inbox = calloc(1, sizeof *w->keys_inbox);
    if (!w->base || !w->tokener || !w->rules_scratch || !w->keys_inbox) {
        snprintf(w->error, sizeof w->error, "cannot create an event loop");
        return -1;
    }
    json_tokener_set_flags(w->tokener, JSON_TOKENER_STRICT);
    w->wakeup = gw_wake_new(w->base, on_wakeup, w);
    w->drain_timer = evtimer_new(w->base, on_drain_poll, w);
    w->pools = gw_channel_pools_new(w->base, gw_attempt_on_curl_done);
    w->mcp = gw_mcp_worker_new(w);
    if (!w->wakeup || !w->drain_timer || !w->pools || !w->mcp) {
        snprintf(w->error, sizeof w->error, "cannot create the worker's handles");
        return -1;
    }
    gw_channel_pools_configure(w->pools, cfg);
    gw_http_settings st = settings_of(w, cfg);
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

/* glibc grows a thread's heap one mprotect at a time, by what the allocation that ran out needs
 * (a page, as a rule; M_TOP_PAD applies to the main heap only): a burst of new streams paid
 * about four a stream while its memory reached a new high. The heap shrinks without giving that
 * room up, so growing it once at start, in pieces under the mmap threshold freed again at once,
 * leaves this much to grow into for nothing. The pages are handed back as the pieces are freed
 * (the heap trims its top), so it costs no resident memory. Nearly all of a heap (glibc maps
 * 64 MB for one): with 16 MB, 4,000 streams on one worker still cost 1.3-2.7 mprotects a
 * stream past it; with 60 MB, 0.3. */
enum { HEAP_RESERVE_BYTES = 60 << 20, HEAP_RESERVE_PIECE = 64 << 10 };

static void reserve_heap(void) {
    enum { PIECES = HEAP_RESERVE_BYTES / HEAP_RESERVE_PIECE };
    void *pieces[PIECES];
    size_t n = 0;
    while (n < PIECES && (pieces[n] = malloc(HEAP_RESERVE_PIECE)))
        n++;
    for (size_t i = 0; i < n; i++) /* in order: each merges with the one before, the last with
                                      the top, which is trimmed once */
        free(pieces[i]);
}

static void *worker_main(void *arg) {
    gw_worker *w = arg;
    reserve_heap();              /* on this thread: its allocations come from its own arena */
    gw_fd_slots_enable(w->base); /* a changelist base (gw_worker_init) */
    event_base_loop(w->base, 0);
    atomic_store(&w->exited, 1);
    return NULL;
}

int gw_worker_spawn(gw_worker *w) {
    atomic_fetch_add(&workers_serving, 1); /* before it runs: it may drain at once */
    if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
        atomic_fetch_sub(&workers_serving, 1);
        snprintf(w->error, sizeof w->error, "cannot start a thread");
        return -1;
    }
    char name[16]; /* the kernel's limit, with its NUL */
    snprintf(name, sizeof name, "aigw-w%d", w->index);
    pthread_setname_np(w->thread, name); /* top -H, perf and the bench tell the threads apart */
    return 0;
}

int gw_worker_exited(gw_worker *w) {
    return atomic_load(&w->exited);
}

void gw_worker_post_config(gw_worker *w, gw_config *cfg) {
    gw_config *old = atomic_exchange(&w->pending_cfg, cfg);
    if (old) gw_config_unref(old); /* never picked up: superseded */
    gw_wake_signal(w->wakeup);     /* after the exchange: the worker sees cfg */
}

void gw_worker_request_stop(gw_worker *w, int now) {
    if (now) atomic_store(&w->stop_now, 1);
    atomic_store(&w->stop_requested, 1);
    gw_wake_signal(w->wakeup); /* after the stores: the worker sees them */
}

void gw_worker_join(gw_worker *w) {
    pthread_join(w->thread, NULL);
}

void gw_worker_destroy(gw_worker *w) {
    gw_http_server_free(w->http);
    gw_http_server_free(w->https);
    gw_mcp_worker_free(w->mcp); /* its transfers before the multi they run on */
    gw_channel_pools_free(w->pools);
    gw_wake_free(w->wakeup); /* joined: no one signals any more (server.c stops all first) */
    if (w->drain_timer) event_free(w->drain_timer);
    if (w->tokener) json_tokener_free(w->tokener);
    gw_rules_scratch_free(w->rules_scratch);
    gw_words_scratch_free(w->words_scratch);
    gw_pii_scratch_free(w->pii_scratch);
    gw_jwt_cache_free(w->jwt_cache);
    if (w->keys_inbox) gw_keyset_inbox_clear(w->keys_inbox);
    free(w->keys_inbox);
    gw_keyset_unref(w->keys);
    gw_switches_unref(atomic_exchange(&w->switches_inbox, NULL));
    gw_switches_unref(w->switches);
    gw_config_unref(atomic_exchange(&w->pending_cfg, NULL));
    gw_config_hold_retire(w->cfg_hold); /* every request has ended */
    gw_config_unref(w->cfg);
    if (w->base) event_base_free(w->base);
    gw_block_cache_clear(&w->free_requests); /* after all that could end a request */
    gw_block_cache_clear(&w->free_attempts);
    gw_strbuf_free(&w->spare_frames);
    free(w->spare_body);
    gw_http_thread_state_clear(&w->http_state);
    memset(w, 0, sizeof *w);
}
