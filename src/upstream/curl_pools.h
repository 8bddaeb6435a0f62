/* A worker's upstream connection pools, one per channel, as nginx keeps one keep-alive cache per
 * upstream block and worker: each channel's transfers run on a curl multi handle of their own,
 * so its pool holds at most `keepalive` idle connections (the least recently used one beyond it
 * is closed when a transfer ends) and an idle one is closed once it has been idle for
 * `keepalive_timeout_ms`, also on a worker that serves nothing more. */
#ifndef AIGW_UPSTREAM_CURL_POOLS_H
#define AIGW_UPSTREAM_CURL_POOLS_H

#include <curl/curl.h>

#include "core/config-t.h"
#include "upstream/curl_multi.h"

struct event_base;
typedef struct gw_curl_pools gw_curl_pools;

gw_curl_pools *gw_curl_pools_new(struct event_base *base, gw_curl_done_cb on_done);
void gw_curl_pools_free(gw_curl_pools *p);

/* The snapshot's channels and their settings, at start and after each reload (on the worker's
 * thread). A channel the snapshot no longer has keeps its pool until its transfers end; then
 * its connections are closed. `cfg` must outlive the next call (the worker holds it). */
void gw_curl_pools_configure(gw_curl_pools *p, const gw_config *cfg);

/* Starts a transfer (its options set) on the channel's pool; curl_multi_add_handle's code. */
CURLMcode gw_curl_pools_add(gw_curl_pools *p, const gw_channel *ch, CURL *easy);
/* Takes a transfer added with gw_curl_pools_add off its pool, finished or not. */
void gw_curl_pools_remove(gw_curl_pools *p, const gw_channel *ch, CURL *easy);

/* Easy handles are reused over every channel: a reset handle keeps its buffers. */
CURL *gw_curl_pools_easy_get(gw_curl_pools *p);
void gw_curl_pools_easy_put(gw_curl_pools *p, CURL *easy);

#endif
