#include "alerts/alert_health.h"

#include <stdio.h>
#include <string.h>

#include "core/config.h"

void gw_health_ring_init(gw_health_ring *r) {
    for (size_t i = 0; i < GW_HEALTH_RING; i++)
        atomic_init(&r->slots[i].seq, i);
    atomic_init(&r->head, 0);
    r->tail = 0;
    atomic_init(&r->dropped, 0);
}

int gw_health_ring_push(gw_health_ring *r, const char *channel, const char *url, int up,
                        const char *code, int64_t time) {
    size_t pos = atomic_load_explicit(&r->head, memory_order_relaxed);
    for (;;) {
        size_t seq =
            atomic_load_explicit(&r->slots[pos & (GW_HEALTH_RING - 1)].seq, memory_order_acquire);
        intptr_t diff = (intptr_t)seq - (intptr_t)pos;
        if (diff == 0) { /* free: claim it */
            if (atomic_compare_exchange_weak_explicit(&r->head, &pos, pos + 1, memory_order_relaxed,
                                                      memory_order_relaxed))
                break;
        } else if (diff < 0) { /* the consumer has not freed it: full */
            atomic_fetch_add_explicit(&r->dropped, 1, memory_order_relaxed);
            return -1;
        } else {
            pos = atomic_load_explicit(&r->head, memory_order_relaxed);
        }
    }
    gw_health_event *ev = &r->slots[pos & (GW_HEALTH_RING - 1)].ev;
    ev->up = up;
    ev->time = time;
    ev->code = code;
    snprintf(ev->channel, sizeof ev->channel, "%s", channel);
    snprintf(ev->url, sizeof ev->url, "%s", url);
    atomic_store_explicit(&r->slots[pos & (GW_HEALTH_RING - 1)].seq, pos + 1, memory_order_release);
    return 0;
}

int gw_health_ring_pop(gw_health_ring *r, gw_health_event *out) {
    size_t pos = r->tail;
    size_t seq =
        atomic_load_explicit(&r->slots[pos & (GW_HEALTH_RING - 1)].seq, memory_order_acquire);
    if (seq != pos + 1) return 0; /* empty, or a producer is still writing it */
    *out = r->slots[pos & (GW_HEALTH_RING - 1)].ev;
    atomic_store_explicit(&r->slots[pos & (GW_HEALTH_RING - 1)].seq, pos + GW_HEALTH_RING,
                          memory_order_release);
    r->tail = pos + 1;
    return 1;
}

/* The endpoint's entry; a new one (up) when there is room; -1 when the table is full. */
static long find_ep(gw_health_table *t, const char *channel, const char *url, int add) {
    for (size_t i = 0; i < t->ep_count; i++)
        if (!strcmp(t->eps[i].url, url) && !strcmp(t->eps[i].channel, channel)) return (long)i;
    if (!add || t->ep_count == GW_HEALTH_TRACKED) return -1;
    size_t i = t->ep_count++;
    snprintf(t->eps[i].channel, sizeof t->eps[i].channel, "%s", channel);
    snprintf(t->eps[i].url, sizeof t->eps[i].url, "%s", url);
    t->eps[i].down = 0;
    return (long)i;
}

static long find_ch(gw_health_table *t, const char *channel) {
    for (size_t i = 0; i < t->ch_count; i++)
        if (!strcmp(t->chs[i].channel, channel)) return (long)i;
    if (t->ch_count == GW_HEALTH_CHANNELS) return -1;
    size_t i = t->ch_count++;
    snprintf(t->chs[i].channel, sizeof t->chs[i].channel, "%s", channel);
    t->chs[i].down = 0;
    return (long)i;
}

void gw_health_table_apply(gw_health_table *t, const gw_config *cfg, const gw_health_event *ev,
                           gw_health_change *out) {
    memset(out, 0, sizeof *out);
    long e = find_ep(t, ev->channel, ev->url, 1);
    if (e >= 0 && t->eps[e].down == ev->up) { /* a state it was not in: a transition */
        t->eps[e].down = !ev->up;
        out->endpoint_changed = 1;
    } else if (e < 0) {
        out->endpoint_changed = 1; /* untracked: told as it comes */
    }
    /* the channel as the endpoints of the running config stand now, each as last told */
    const gw_channel *ch = NULL;
    for (size_t i = 0; cfg && i < cfg->channel_count && !ch; i++)
        if (!strcmp(cfg->channels[i].name, ev->channel)) ch = &cfg->channels[i];
    if (!ch) return;
    size_t n;
    gw_endpoint *const *eps = gw_channel_endpoints(ch, &n);
    for (size_t i = 0; i < n; i++) {
        long k = find_ep(t, ch->name, eps[i]->base_url, 0);
        out->channel_down_count += k >= 0 && t->eps[k].down;
    }
    out->channel_endpoints = n;
    int down = n > 0 && out->channel_down_count == n;
    long c = find_ch(t, ch->name);
    if (c < 0 || t->chs[c].down == down) return;
    t->chs[c].down = down;
    out->channel_changed = 1;
    out->channel_down = down;
}
