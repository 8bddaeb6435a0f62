/* One pool a channel; its own client's idle connections are a list (upstream/h1_client.c)
 * whose cap and timeout are kept here, closed by the same sweep as curl's.
 *
 * What curl 7.88 does with a multi handle's connections, and how the pools bound them:
 * - Its connection cache holds every connection, busy and idle. When a transfer ends and the
 *   cache holds more than CURLMOPT_MAXCONNECTS, the least recently used idle connection is
 *   closed. So a fixed cap would also close connections under load (a cap of 32 with 64
 *   requests running closes one connection per finished request): the cap is kept at the
 *   transfers running plus `keepalive` - 1, which leaves `keepalive` idle once they end.
 * - Idle connections are only pruned (CURLOPT_MAXAGE_CONN, whole seconds) when a transfer
 *   starts, at most once a second; nothing is closed while the multi handle sits unused. So a
 *   per-worker timer closes the pool of a channel that has run nothing for
 *   keepalive_timeout_ms: every connection in it has been idle that long, and curl_multi_cleanup
 *   closes them all. The channel's next transfer gets a fresh multi handle.
 * One multi handle per channel is what makes the cap a channel's: curl's cache and its LRU are
 * per multi handle. Its cost (a few hash tables) is paid only by channels that are used. */
#include "upstream/channel_pools.h"

#include <event2/event.h>
#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"

enum {
    EASY_POOL_MAX = 64,
    /* after a burst (this many transfers since the last trim), once the worker has run none
     * for TRIM_IDLE_MS, freed heap goes back to the system */
    TRIM_MIN_TRANSFERS = 1000,
    TRIM_IDLE_MS = 1000,
};

typedef struct pool {
    char *name;           /* the channel's, kept across reloads */
    gw_curl_multi *multi; /* NULL until a transfer needs it, and after its idle close */
    gw_curl_done_cb on_done;
    long max_connections; /* the channel's, per host: a bound that queues in curl */
    int keepalive;
    int keepalive_timeout_ms;
    long in_flight;      /* transfers added and not removed */
    int64_t idle_since;  /* when in_flight last fell to 0 */
    int retired;         /* its channel left the config: close as soon as nothing runs */
    long cache_size_set; /* the CURLMOPT_MAXCONNECTS last given, to skip repeating it */
    gw_h1_idle h1;       /* the own client's idle connections */
    long h1_in_flight;   /* its exchanges running */
} pool;

struct gw_channel_pools {
    struct event_base *base;
    gw_curl_done_cb on_done;
    pool **pools;
    size_t count, cap;
    /* the current snapshot's channels, so a channel of it finds its pool by its index */
    const gw_channel *channels;
    size_t channel_count;
    pool **by_index;
    struct event *sweep;
    int64_t sweep_due;  /* 0: not armed */
    long in_flight;     /* over every pool */
    int64_t idle_since; /* when in_flight last fell to 0 */
    long started_since_trim;
    CURL *easy[EASY_POOL_MAX];
    int easy_count;
};

/* curl closes the least recently used idle connection when a transfer ends over this */
static void apply_cache_size(pool *pl) {
    if (!pl->multi) return;
    long size = pl->in_flight + pl->keepalive - 1;
    if (size < 1) size = 1; /* 0 would mean no limit */
    if (size == pl->cache_size_set) return;
    gw_curl_multi_set_cache_size(pl->multi, size);
    pl->cache_size_set = size;
}

static void close_pool(pool *pl) {
    gw_curl_multi_free(pl->multi); /* closes every connection it holds */
    pl->multi = NULL;
    pl->cache_size_set = 0;
}

static void pool_free(pool *pl) {
    if (!pl) return;
    close_pool(pl);
    gw_h1_idle_close_all(&pl->h1);
    free(pl->name);
    free(pl);
}

static void arm_sweep(gw_channel_pools *p, int64_t due) {
    if (p->sweep_due && p->sweep_due <= due) return; /* the earlier sweep re-arms for this one */
    int64_t wait_ns = due - gw_now_ns();
    if (wait_ns < 0) wait_ns = 0;
    struct timeval tv = {(time_t)(wait_ns / 1000000000),
                         (suseconds_t)(wait_ns % 1000000000 / 1000)};
    evtimer_add(p->sweep, &tv);
    p->sweep_due = due;
}

static int64_t close_due(const pool *pl) {
    return pl->retired ? pl->idle_since
                       : pl->idle_since + (int64_t)pl->keepalive_timeout_ms * 1000000;
}

/* Closes the pools idle past their timeout, drops retired ones that hold nothing, and re-arms
 * for the next pool that will be due. */
static void on_sweep(evutil_socket_t fd, short what, void *arg) {
    gw_channel_pools *p = arg;
    (void)fd;
    (void)what;
    p->sweep_due = 0;
    int64_t now = gw_now_ns(), next = 0;
    size_t kept = 0;
    for (size_t i = 0; i < p->count; i++) {
        pool *pl = p->pools[i];
        if (pl->multi && pl->in_flight == 0) {
            int64_t due = close_due(pl);
            if (due <= now)
                close_pool(pl);
            else if (!next || due < next)
                next = due;
        }
        if (pl->retired) {
            gw_h1_idle_close_all(&pl->h1);
        } else if (pl->h1.head) {
            int64_t due = gw_h1_idle_expire(&pl->h1, now);
            if (due && (!next || due < next)) next = due;
        }
        if (pl->retired && !pl->multi && pl->in_flight == 0 && pl->h1_in_flight == 0) {
            pool_free(pl);
            continue;
        }
        p->pools[kept++] = pl;
    }
    p->count = kept;
    if (p->in_flight == 0 && p->started_since_trim >= TRIM_MIN_TRANSFERS) { /* both clients' */
        int64_t due = p->idle_since + (int64_t)TRIM_IDLE_MS * 1000000;
        if (due <= now) {
            /* glibc keeps freed memory for reuse (and a burst's buffers are freed in pieces):
             * give it back, or RSS stays at the burst's high-water mark */
            malloc_trim(0);
            p->started_since_trim = 0;
        } else if (!next || due < next) {
            next = due;
        }
    }
    if (next) arm_sweep(p, next);
}

static pool *pool_new(gw_channel_pools *p, const char *name) {
    if (p->count == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 8;
        pool **pools = realloc(p->pools, cap * sizeof *pools);
        if (!pools) return NULL;
        p->pools = pools;
        p->cap = cap;
    }
    pool *pl = calloc(1, sizeof *pl);
    if (!pl || !(pl->name = strdup(name))) {
        free(pl);
        return NULL;
    }
    pl->on_done = p->on_done;
    gw_h1_idle_init(&pl->h1, p->base);
    p->pools[p->count++] = pl;
    return pl;
}

static void pool_settings(pool *pl, const gw_channel *ch) {
    pl->max_connections = ch->max_connections;
    pl->keepalive = ch->keepalive;
    pl->keepalive_timeout_ms = ch->keepalive_timeout_ms;
    pl->h1.keepalive = ch->keepalive;
    pl->h1.keepalive_timeout_ms = ch->keepalive_timeout_ms;
    gw_h1_idle_trim(&pl->h1); /* a reload may have lowered the cap */
    if (pl->multi) gw_curl_multi_set_max_connections(pl->multi, pl->max_connections);
    pl->cache_size_set = 0; /* set again below: set_max_connections changed it */
    apply_cache_size(pl);
}

static pool *find_by_name(gw_channel_pools *p, const char *name) {
    for (size_t i = 0; i < p->count; i++)
        if (!strcmp(p->pools[i]->name, name)) return p->pools[i];
    return NULL;
}

/* The channel's pool: by index for the current snapshot's channels; by name for a request that
 * still runs on an older one (made, retired, when its channel has left the config). */
static pool *pool_of(gw_channel_pools *p, const gw_channel *ch) {
    uintptr_t at = (uintptr_t)ch, first = (uintptr_t)p->channels;
    if (p->channels && at >= first && at < first + p->channel_count * sizeof *ch) {
        pool *pl = p->by_index[(at - first) / sizeof *ch];
        if (pl) return pl;
    }
    pool *pl = find_by_name(p, ch->name);
    if (!pl && (pl = pool_new(p, ch->name))) {
        pool_settings(pl, ch);
        pl->retired = 1;
    }
    return pl;
}

void gw_channel_pools_configure(gw_channel_pools *p, const gw_config *cfg) {
    pool **by_index = calloc(cfg->channel_count ? cfg->channel_count : 1, sizeof *by_index);
    if (!by_index) { /* out of memory: every channel is then found by its name */
        free(p->by_index);
        p->by_index = NULL;
        p->channels = NULL;
        p->channel_count = 0;
        return;
    }
    for (size_t i = 0; i < p->count; i++)
        p->pools[i]->retired = 1;
    for (size_t i = 0; i < cfg->channel_count; i++) {
        const gw_channel *ch = &cfg->channels[i];
        pool *pl = find_by_name(p, ch->name);
        if (!pl && !(pl = pool_new(p, ch->name))) continue;
        pl->retired = 0;
        pool_settings(pl, ch);
        by_index[i] = pl;
    }
    free(p->by_index);
    p->by_index = by_index;
    p->channels = cfg->channels;
    p->channel_count = cfg->channel_count;
    for (size_t i = 0; i < p->count; i++)
        if (p->pools[i]->retired && (p->pools[i]->in_flight == 0 || p->pools[i]->h1.head)) {
            arm_sweep(p, gw_now_ns()); /* a pool whose channel left closes now */
            break;
        }
}

/* Whole seconds, as curl counts them: a connection idle for keepalive_timeout_ms or more is not
 * reused (curl drops it when it sees it idle over the value, in whole seconds). */
static long max_age_seconds(int timeout_ms) {
    long s = (timeout_ms + 999) / 1000 - 1;
    return s < 0 ? 0 : s;
}

CURLMcode gw_channel_pools_add(gw_channel_pools *p, const gw_channel *ch, CURL *easy) {
    pool *pl = pool_of(p, ch);
    if (!pl) return CURLM_OUT_OF_MEMORY;
    if (!pl->multi) {
        pl->multi = gw_curl_multi_new(p->base, pl->max_connections, pl->on_done);
        if (!pl->multi) return CURLM_OUT_OF_MEMORY;
        gw_curl_multi_park_idle_sockets(pl->multi);
        pl->cache_size_set = 0;
    }
    gw_curl_multi_prepare_easy(pl->multi, easy);
    curl_easy_setopt(easy, CURLOPT_MAXAGE_CONN, max_age_seconds(pl->keepalive_timeout_ms));
    if (pl->keepalive == 0) curl_easy_setopt(easy, CURLOPT_FORBID_REUSE, 1L);
    pl->in_flight++;
    apply_cache_size(pl);
    CURLMcode mc = curl_multi_add_handle(gw_curl_multi_handle(pl->multi), easy);
    if (mc != CURLM_OK) {
        pl->in_flight--;
        apply_cache_size(pl);
        return mc;
    }
    p->in_flight++;
    p->started_since_trim++;
    return mc;
}

void gw_channel_pools_remove(gw_channel_pools *p, const gw_channel *ch, CURL *easy) {
    pool *pl = pool_of(p, ch);
    if (!pl || !pl->multi) return;
    curl_multi_remove_handle(gw_curl_multi_handle(pl->multi), easy);
    if (pl->in_flight > 0) pl->in_flight--;
    if (p->in_flight > 0) p->in_flight--;
    apply_cache_size(pl);
    if (pl->in_flight == 0) {
        pl->idle_since = gw_now_ns();
        /* never closed here: this may run inside the multi handle's own completion loop */
        arm_sweep(p, close_due(pl));
    }
    if (p->in_flight == 0) {
        p->idle_since = pl->idle_since;
        if (p->started_since_trim >= TRIM_MIN_TRANSFERS)
            arm_sweep(p, p->idle_since + (int64_t)TRIM_IDLE_MS * 1000000);
    }
}

gw_h1_idle *gw_channel_pools_h1_begin(gw_channel_pools *p, const gw_channel *ch) {
    pool *pl = pool_of(p, ch);
    if (!pl) return NULL;
    pl->h1_in_flight++;
    p->in_flight++;
    p->started_since_trim++;
    return &pl->h1;
}

void gw_channel_pools_h1_end(gw_channel_pools *p, const gw_channel *ch) {
    pool *pl = pool_of(p, ch);
    if (!pl) return;
    if (pl->h1_in_flight > 0) pl->h1_in_flight--;
    if (p->in_flight > 0) p->in_flight--;
    int64_t now = gw_now_ns();
    if (pl->retired && pl->h1_in_flight == 0)
        arm_sweep(p, now); /* its channel left: its connections close now */
    else if (pl->h1.head)
        arm_sweep(p, gw_h1_idle_next_due(&pl->h1));
    if (p->in_flight == 0) {
        p->idle_since = now;
        if (p->started_since_trim >= TRIM_MIN_TRANSFERS)
            arm_sweep(p, p->idle_since + (int64_t)TRIM_IDLE_MS * 1000000);
    }
}

CURL *gw_channel_pools_easy_get(gw_channel_pools *p) {
    if (p->easy_count) return p->easy[--p->easy_count];
    return curl_easy_init();
}

void gw_channel_pools_easy_put(gw_channel_pools *p, CURL *easy) {
    if (p->easy_count < EASY_POOL_MAX) {
        curl_easy_reset(easy);
        p->easy[p->easy_count++] = easy;
    } else {
        curl_easy_cleanup(easy);
    }
}

gw_channel_pools *gw_channel_pools_new(struct event_base *base, gw_curl_done_cb on_done) {
    gw_channel_pools *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->base = base;
    p->on_done = on_done;
    p->sweep = evtimer_new(base, on_sweep, p);
    if (!p->sweep) {
        free(p);
        return NULL;
    }
    return p;
}

void gw_channel_pools_free(gw_channel_pools *p) {
    if (!p) return;
    for (size_t i = 0; i < p->count; i++)
        pool_free(p->pools[i]);
    free(p->pools);
    free(p->by_index);
    while (p->easy_count)
        curl_easy_cleanup(p->easy[--p->easy_count]);
    event_free(p->sweep);
    free(p);
}
