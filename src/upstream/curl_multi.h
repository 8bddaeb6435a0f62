/* libcurl's multi interface driven by a worker's event_base: curl tells which sockets to watch
 * and when to wake it; libevent does the watching. */
#ifndef AIGW_UPSTREAM_CURL_MULTI_H
#define AIGW_UPSTREAM_CURL_MULTI_H

#include <curl/curl.h>

struct event_base;
typedef struct gw_curl_multi gw_curl_multi;

/* Called once per finished transfer with the handle still added; the callee removes it. */
typedef void (*gw_curl_done_cb)(CURL *easy, CURLcode result);

gw_curl_multi *gw_curl_multi_new(struct event_base *base, long max_host_connections,
                                 gw_curl_done_cb on_done);
void gw_curl_multi_free(gw_curl_multi *m);
CURLM *gw_curl_multi_handle(gw_curl_multi *m);
/* The per-host connection cap, again after a reload; it also sets the cache size to it. */
void gw_curl_multi_set_max_connections(gw_curl_multi *m, long max_host_connections);
/* Keeps an idle pooled connection's socket registered with the event loop between transfers
 * (no epoll_ctl per request). Every easy handle added must then go through
 * gw_curl_multi_prepare_easy, which routes its socket closes through the multi handle. */
void gw_curl_multi_park_idle_sockets(gw_curl_multi *m);
void gw_curl_multi_prepare_easy(gw_curl_multi *m, CURL *easy);
/* CURLMOPT_MAXCONNECTS: the connections, busy and idle, the multi handle's cache holds; when a
 * transfer ends over it, curl closes the least recently used idle one (upstream/channel_pools.c).
 */
void gw_curl_multi_set_cache_size(gw_curl_multi *m, long connections);

/* Easy handles are reused: a reset handle keeps its buffers, and the connection pool lives in
 * the multi handle, so reuse costs no reconnect. */
CURL *gw_curl_easy_get(gw_curl_multi *m);
void gw_curl_easy_put(gw_curl_multi *m, CURL *easy);

/* A transfer of a handler other than the proxy's attempts (the plain client, upstream/fetch.h):
 * its CURLOPT_PRIVATE is the job's address plus one, a tag no malloc'd attempt can carry, and
 * the finished transfer goes to the job's own callback instead of the multi's. The job outlives
 * the transfer; the callback removes the handle. */
typedef struct gw_curl_job gw_curl_job;
struct gw_curl_job {
    void (*done)(gw_curl_job *job, CURL *easy, CURLcode result);
};
void gw_curl_job_add(gw_curl_multi *m, CURL *easy, gw_curl_job *job);
struct event_base *gw_curl_multi_base(gw_curl_multi *m);

#endif
