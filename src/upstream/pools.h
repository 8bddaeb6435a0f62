/* Discovered channels: for each, a DNS discovery running on the control thread and the set of
 * endpoints it found, swapped whole when the records change. A reload that keeps a channel's
 * discovery keeps the running one (same channel, same settings), so its endpoints and their
 * health carry on. Everything here runs on the control thread, except gw_pools_release (an
 * atomic decrement, from whichever thread drops a snapshot). */
#ifndef AIGW_UPSTREAM_POOLS_H
#define AIGW_UPSTREAM_POOLS_H

#include "core/config-t.h"

struct event_base;

/* The source of a discovered channel, with a reference for the snapshot; NULL when out of
 * memory. Its discovery starts at the next gw_pools_sync. */
gw_endpoint_source *gw_pools_acquire(const char *channel, const gw_discovery_config *dc);
void gw_pools_release(gw_endpoint_source *source);
/* The source of a channel with a static list (base_url or endpoints), its set those endpoints.
 * The same channel and list across reloads keep the same source, and with it what the admin
 * API changed. */
gw_endpoint_source *gw_pools_acquire_static(const char *channel, gw_endpoint *const *eps,
                                            size_t count);
/* The admin API: adds (add 1) or removes an endpoint of a static channel. 0, or an HTTP status
 * (404 no such endpoint, 409 present already or a discovered channel, 503) and err. */
int gw_pools_change(gw_endpoint_source *source, const char *url, int add, char *err, size_t errlen);
/* Starts the discoveries of new sources on `base`, stops and frees those no snapshot holds,
 * frees endpoint sets replaced more than a grace period ago. Call after each load, and
 * periodically. */
void gw_pools_sync(struct event_base *base);
/* At exit: stops every discovery (before the loop is freed), then, once no snapshot is left,
 * frees everything. */
void gw_pools_stop_all(void);
void gw_pools_free_all(void);

#endif
