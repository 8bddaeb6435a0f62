/* A worker's upstream connection pools, one per channel, as nginx keeps one keep-alive cache per
 * upstream block and worker. A channel's pool holds its connections of both clients: the
 * gateway's own HTTP/1.1 client (upstream/h1_client.h: plain http to a literal address) and
 * curl (everything else), each on a list or multi handle of the channel's own. Either way the
 * pool keeps at most `keepalive` idle connections (the least recently used one beyond it is
 * closed when a transfer ends) and closes one idle for `keepalive_timeout_ms`, also on a worker
 * that serves nothing more. */
#ifndef AIGW_UPSTREAM_CHANNEL_POOLS_H
#define AIGW_UPSTREAM_CHANNEL_POOLS_H

#include <curl/curl.h>

#include "core/config-t.h"
#include "upstream/curl_multi.h"
#include "upstream/h1_client.h"

struct event_base;
typedef struct gw_channel_pools gw_channel_pools;

gw_channel_pools *gw_channel_pools_new(struct event_base *base, gw_curl_done_cb on_done);
void gw_channel_pools_free(gw_channel_pools *p);

/* The snapshot's channels and their settings, at start and after each reload (on the worker's
 * thread). A channel the snapshot no longer has keeps its pool until its transfers end; then
 * its connections are closed. `cfg` must outlive the next call (the worker holds it). */
void gw_channel_pools_configure(gw_channel_pools *p, const gw_config *cfg);

/* Starts a curl transfer (its options set) on the channel's pool; curl_multi_add_handle's
 * code. */
CURLMcode gw_channel_pools_add(gw_channel_pools *p, const gw_channel *ch, CURL *easy);
/* Takes a transfer added with gw_channel_pools_add off its pool, finished or not. */
void gw_channel_pools_remove(gw_channel_pools *p, const gw_channel *ch, CURL *easy);

/* An exchange of the own client begins on the channel: counted, and the channel's idle list
 * returned for it (NULL, nothing counted, when out of memory). Once it has ended or been
 * cancelled, gw_channel_pools_h1_end. */
gw_h1_idle *gw_channel_pools_h1_begin(gw_channel_pools *p, const gw_channel *ch);
void gw_channel_pools_h1_end(gw_channel_pools *p, const gw_channel *ch);

/* Easy handles are reused over every channel: a reset handle keeps its buffers. */
CURL *gw_channel_pools_easy_get(gw_channel_pools *p);
void gw_channel_pools_easy_put(gw_channel_pools *p, CURL *easy);

#endif
