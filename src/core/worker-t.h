/* A worker: one thread, one event loop, its own listeners (SO_REUSEPORT), its own curl multi
 * handle and its own config reference. Nothing here is shared with another worker, so the
 * request path takes no lock. */
#ifndef AIGW_CORE_WORKER_T_H
#define AIGW_CORE_WORKER_T_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "core/config-t.h"

struct event_base;
struct event;
struct json_tokener;
typedef struct gw_http_server gw_http_server;
typedef struct gw_curl_multi gw_curl_multi;
typedef struct ssl_ctx_st SSL_CTX;

typedef struct gw_worker_stats {
    atomic_uint_fast64_t requests;
    atomic_uint_fast64_t upstream_errors;
    atomic_uint_fast64_t client_aborts;
} gw_worker_stats;

typedef struct gw_worker {
    int index;
    pthread_t thread;
    struct event_base *base;
    gw_http_server *http, *https;
    gw_curl_multi *curl;
    gw_config *cfg;                   /* owned reference, swapped only on this thread */
    _Atomic(gw_config *) pending_cfg; /* handed over by the control thread */
    atomic_int stop_requested;
    atomic_int exited;    /* the loop has returned: joinable at once */
    struct event *wakeup; /* activated by the control thread */
    struct event *drain_timer;
    int draining;
    int64_t drain_deadline_ns;
    struct json_tokener *tokener; /* reused for every request body */
    uint64_t request_seq;
    size_t active_requests;
    SSL_CTX *tls;
    gw_worker_stats stats;
    char error[256]; /* why it failed to start */
} gw_worker;

#endif
