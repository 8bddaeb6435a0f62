/* A worker: one thread, one event loop, its own listeners (SO_REUSEPORT), its own upstream
 * connection pools (one pool a channel: the own HTTP/1.1 client's and curl's) and its own config
 * reference. Nothing here is shared with another worker, so the request path takes no lock. */
#ifndef AIGW_CORE_WORKER_T_H
#define AIGW_CORE_WORKER_T_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "core/block_cache.h"
#include "core/config-t.h"
#include "core/fast_random.h"
#include "core/http_server.h"
#include "core/strbuf.h"

struct event_base;
struct event;
struct gw_wake;
struct json_tokener;
struct gw_words;
struct gw_words_scratch;
struct gw_pii_scratch;
struct gw_jwt_cache;
struct gw_keyset;
struct gw_keyset_inbox;
struct gw_switches;
struct gw_meter;
struct gw_worker_metrics;
struct gw_drain_watch;
struct gw_mcp_worker;
typedef struct gw_channel_pools gw_channel_pools;
typedef struct ssl_ctx_st SSL_CTX;

typedef struct gw_worker_stats {
    atomic_uint_fast64_t requests;
    atomic_uint_fast64_t upstream_errors;
    atomic_uint_fast64_t client_aborts;
    atomic_uint_fast64_t connections_refused; /* over server.max_connections: answered 503 */
} gw_worker_stats;

typedef struct gw_worker {
    int index;
    pthread_t thread;
    struct event_base *base;
    gw_http_server *http, *https;
    gw_channel_pools *pools;          /* upstream connections, one pool a channel */
    gw_config *cfg;                   /* owned reference, swapped only on this thread */
    struct gw_config_hold *cfg_hold;  /* cfg again, for requests (core/config.h); may be NULL */
    _Atomic(gw_config *) pending_cfg; /* handed over by the control thread */
    atomic_int stop_requested;
    atomic_int stop_now;    /* a second signal: skip the drain deadline */
    atomic_int exited;      /* the loop has returned: joinable at once */
    struct gw_wake *wakeup; /* signalled by the control thread (core/wake.h) */
    struct event *drain_timer;
    int draining;
    int cutting;      /* past the drain deadline: running requests were ended, output flushes */
    int counted_idle; /* draining with nothing open, and counted so (server/worker.c) */
    int64_t drain_deadline_ns;
    struct json_tokener *tokener;           /* reused for every request body */
    struct gw_rules_scratch *rules_scratch; /* regex match data for routing rules */
    /* the sensitive-words matcher's scratch, fitted to words_scratch_for (a snapshot's) */
    struct gw_words_scratch *words_scratch;
    const struct gw_words *words_scratch_for;
    struct gw_pii_scratch *pii_scratch; /* the PII detectors' match data (any set's) */
    struct gw_jwt_cache *jwt_cache;     /* verified JWTs (auth.jwt.cache_size), made at first use */
    /* the key store's keys: the control thread posts a new snapshot after every change, the
     * worker takes it at the next request that asks for a key */
    struct gw_keyset_inbox *keys_inbox;
    struct gw_keyset *keys;
    /* the operator's switches (tenants, models turned off), posted the same way */
    _Atomic(struct gw_switches *) switches_inbox;
    struct gw_switches *switches;
    /* the store writer's queue (meter/meter.h), the same for every worker; NULL: metering off */
    struct gw_meter *meter;
    uint64_t request_seq;
    gw_fast_random rng; /* trace and span ids */
    uint32_t id_prefix; /* random per worker and start: request ids never repeat */
    size_t active_requests;
    struct gw_req *requests; /* those running, so a drain deadline can end each one properly */
    /* ended requests' blocks, for the next ones (filters/request.c) */
    gw_block_cache free_requests;
    /* ended upstream attempts' blocks, for the next ones (upstream/attempt.c) */
    gw_block_cache free_attempts;
    /* the stream frames buffer an attempt borrows from a read to its flush (upstream/attempt.c) */
    gw_strbuf spare_frames;
    /* a buffered answer's memory, kept for the next one (upstream/attempt.c) */
    char *spare_body;
    size_t spare_body_cap;
    /* long-lived streams (an MCP event stream) told when the drain begins (core/drain_watch.h) */
    struct gw_drain_watch *drain_watches;
    struct gw_mcp_worker *mcp; /* MCP's sessions, streams and upstreams of this worker */
    SSL_CTX *tls;
    gw_worker_stats stats;
    /* this worker's metrics table (meter/metrics.h): it alone writes it */
    struct gw_worker_metrics *metrics;
    gw_http_thread_state http_state; /* shared by this worker's HTTP and HTTPS servers */
    int process_workers;             /* how many workers the process runs: sizes the fd reserve */
    char error[256];                 /* why it failed to start */
} gw_worker;

#endif
