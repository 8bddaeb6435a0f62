/* Endpoints going down and up, from the thread that saw it (a worker reporting a request's
 * result, or the control thread's active check) to the alert evaluator: a bounded lock-free
 * queue (many producers, one consumer; Vyukov's ring of sequenced slots) that a producer fills
 * without a lock or an allocation, and a table on the consumer's side that turns the events
 * into endpoint and channel transitions (a channel is down when every endpoint of it is). */
#ifndef AIGW_ALERTS_ALERT_HEALTH_H
#define AIGW_ALERTS_ALERT_HEALTH_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "core/config-t.h"

enum {
    GW_HEALTH_RING = 256, /* a power of two */
    GW_HEALTH_NAME = 128,
    GW_HEALTH_URL = 384,
    GW_HEALTH_TRACKED = 1024, /* endpoints the consumer remembers */
    GW_HEALTH_CHANNELS = 256,
};

typedef struct gw_health_event {
    int up;
    int64_t time;     /* unix seconds of the gateway's wall clock */
    const char *code; /* a static code: why it went down */
    char channel[GW_HEALTH_NAME];
    char url[GW_HEALTH_URL];
} gw_health_event;

typedef struct gw_health_ring {
    struct {
        atomic_size_t seq;
        gw_health_event ev;
    } slots[GW_HEALTH_RING];
    atomic_size_t head; /* producers */
    size_t tail;        /* the consumer's own */
    atomic_uint_fast64_t dropped;
} gw_health_ring;

void gw_health_ring_init(gw_health_ring *r);
/* Any thread, no lock, no allocation: 0, or -1 when the ring is full (counted in dropped). */
int gw_health_ring_push(gw_health_ring *r, const char *channel, const char *url, int up,
                        const char *code, int64_t time);
/* The consumer only: 1 and *out, or 0 when empty. */
int gw_health_ring_pop(gw_health_ring *r, gw_health_event *out);

/* The consumer's view: the last state it told of each endpoint and channel. */
typedef struct gw_health_table {
    struct {
        char channel[GW_HEALTH_NAME], url[GW_HEALTH_URL];
        int down;
    } eps[GW_HEALTH_TRACKED];
    size_t ep_count;
    struct {
        char channel[GW_HEALTH_NAME];
        int down;
    } chs[GW_HEALTH_CHANNELS];
    size_t ch_count;
} gw_health_table;

/* What an event changed: the endpoint's state (1 when it differs from what was told last) and
 * the channel's (every endpoint of it in cfg down, or one back up). */
typedef struct gw_health_change {
    int endpoint_changed;
    int channel_changed, channel_down;
    size_t channel_endpoints, channel_down_count;
} gw_health_change;

void gw_health_table_apply(gw_health_table *t, const gw_config *cfg, const gw_health_event *ev,
                           gw_health_change *out);

#endif
