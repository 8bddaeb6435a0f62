/* Endpoints and their health. The registry (control thread only, under its own lock, never on
 * the request path) gives each config snapshot the endpoint objects of its channels, the same
 * object for the same channel and address across reloads, so health survives a reload. The
 * request path only reads and updates the objects' atomics: picking the least loaded usable
 * endpoint, counting attempts in flight, and reporting each attempt's result. */
#ifndef AIGW_UPSTREAM_ENDPOINTS_H
#define AIGW_UPSTREAM_ENDPOINTS_H

#include <stddef.h>
#include <stdint.h>

#include "core/config-t.h"

struct evbuffer;

/* The endpoint of `channel` at `base_url`, with a reference for the caller; NULL when out of
 * memory. Control thread. */
gw_endpoint *gw_endpoints_acquire(const char *channel, const char *base_url);
/* Drops a snapshot's reference (any thread: an atomic decrement only). */
void gw_endpoint_release(gw_endpoint *ep);
/* Frees the endpoints no snapshot lists any more. Control thread, after a reload. */
void gw_endpoints_sweep(void);
/* At exit, once no snapshot is left. */
void gw_endpoints_free_all(void);

/* Whether a request may go to the endpoint now: healthy, or ejected with its back-off over
 * (then this call makes it the one probe, and only one caller gets it). */
int gw_endpoint_claim(gw_endpoint *ep, int64_t now_ns);
/* Whether it would be usable, without claiming a probe (for picking a channel). */
int gw_endpoint_usable(const gw_endpoint *ep, int64_t now_ns);
/* The result of an attempt at the endpoint. failed: it could not serve (connect, timeout, 5xx,
 * broken); code names why, for the admin API. */
void gw_endpoint_report(gw_endpoint *ep, const gw_health_policy *policy, const char *channel,
                        int failed, const char *code, int64_t now_ns);

/* The channel's usable endpoint with the fewest attempts in flight, not in `skip` (endpoints a
 * request tried already); NULL when none. Claims a probe when it picks an ejected one. */
gw_endpoint *gw_channel_pick_endpoint(const gw_channel *ch, gw_endpoint *const *skip,
                                      size_t skip_count, int64_t now_ns);
/* Whether the channel has a usable endpoint not in `skip`. */
int gw_channel_usable(const gw_channel *ch, gw_endpoint *const *skip, size_t skip_count,
                      int64_t now_ns);

/* Told when an endpoint goes down (ejected while healthy) or comes back up (healthy again), on
 * the thread that saw it: a worker (a request's result) or the control thread (an active
 * check). It must not block, lock or allocate (the alerts post it to a lock-free queue). Two
 * workers may report the same change: the receiver keeps the state it told last. */
typedef void (*gw_endpoint_health_hook)(const char *channel, const char *base_url, int up,
                                        const char *code, void *ud);
/* Control thread, before the workers start and after they stopped (NULL: none). */
void gw_endpoints_set_health_hook(gw_endpoint_health_hook hook, void *ud);

/* The endpoint as JSON for the admin API. */
void gw_endpoint_describe(const gw_endpoint *ep, struct evbuffer *out, int64_t now_ns);

#endif
