#include "upstream/curl_multi.h"

#include <event2/event.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

enum { EASY_POOL_MAX = 64, WATCH_BUCKETS = 64 };

/* One socket curl asked to watch. With parking on, a socket curl lets go of at the end of a
 * transfer (an idle pooled connection) stays registered for reading: its next transfer, on the
 * same connection, then costs no epoll_ctl at all (before: an ADD at its start, a DEL at its
 * end). A parked socket that turns readable (the engine closed it) is let go; curl sees the
 * close itself when it next checks the connection. Every socket closes through close_socket
 * (CURLOPT_CLOSESOCKETFUNCTION), which drops its watch first, so no registration outlives its
 * descriptor. */
typedef struct socket_watch {
    gw_curl_multi *m;
    struct event *ev;
    curl_socket_t fd;
    short kind; /* what ev is registered for */
    int parked; /* curl let go of it; kept registered for the connection's next transfer */
    struct socket_watch *next; /* in m->watches[fd % WATCH_BUCKETS] */
} socket_watch;

struct gw_curl_multi {
    struct event_base *base;
    CURLM *multi;
    struct event *timer;
    int timer_now; /* the timer's event is active: it runs in this turn (curl said 0 ms) */
    gw_curl_done_cb on_done;
    CURL *pool[EASY_POOL_MAX];
    int pool_count;
    int park;                             /* keep idle connections' sockets registered */
    socket_watch *watches[WATCH_BUCKETS]; /* every watch, by descriptor */
};

static socket_watch **watch_slot(gw_curl_multi *m, curl_socket_t fd) {
    socket_watch **at = &m->watches[(unsigned)fd % WATCH_BUCKETS];
    while (*at && (*at)->fd != fd)
        at = &(*at)->next;
    return at;
}

static void watch_free(gw_curl_multi *m, socket_watch *w) {
    socket_watch **at = watch_slot(m, w->fd);
    if (*at == w) *at = w->next;
    event_free(w->ev);
    free(w);
}

static void check_done(gw_curl_multi *m) {
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(m->multi, &left))) {
        if (msg->msg != CURLMSG_DONE) continue;
        /* read the result before the handle is removed: removal invalidates msg */
        CURLcode result = msg->data.result;
        char *priv = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
        if ((uintptr_t)priv & 1) { /* a job of another handler (curl_multi.h) */
            gw_curl_job *job = (gw_curl_job *)(priv - 1);
            job->done(job, msg->easy_handle, result);
        } else {
            m->on_done(msg->easy_handle, result);
        }
    }
}

static void on_socket_event(evutil_socket_t fd, short what, void *arg) {
    socket_watch *w = arg;
    gw_curl_multi *m = w->m; /* w may be freed inside socket_action */
    if (w->parked) {         /* an idle connection spoke: no transfer is there to read it */
        watch_free(m, w);
        return;
    }
    int action =
        ((what & EV_READ) ? CURL_CSELECT_IN : 0) | ((what & EV_WRITE) ? CURL_CSELECT_OUT : 0);
    int running;
    curl_multi_socket_action(m->multi, fd, action, &running);
    check_done(m);
}

static void on_timeout(evutil_socket_t fd, short what, void *arg) {
    gw_curl_multi *m = arg;
    (void)fd;
    (void)what;
    m->timer_now = 0;
    int running;
    curl_multi_socket_action(m->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_done(m);
}

static int socket_cb(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp) {
    gw_curl_multi *m = userp;
    socket_watch *w = socketp;
    (void)easy;
    if (what == CURL_POLL_REMOVE) {
        if (!w) return 0;
        curl_multi_assign(m->multi, s, NULL);
        if (m->park && w->kind == (EV_READ | EV_PERSIST)) {
            w->parked = 1;
            return 0;
        }
        watch_free(m, w);
        return 0;
    }
    short kind = EV_PERSIST | ((what & CURL_POLL_IN) ? EV_READ : 0) |
                 ((what & CURL_POLL_OUT) ? EV_WRITE : 0);
    if (!w && (w = *watch_slot(m, s))) { /* parked: the connection's next transfer */
        w->parked = 0;
        curl_multi_assign(m->multi, s, w);
    }
    if (!w) {
        w = calloc(1, sizeof *w);
        if (!w) return -1;
        w->m = m;
        w->fd = s;
        w->ev = event_new(m->base, s, kind, on_socket_event, w);
        if (!w->ev) {
            free(w);
            return -1;
        }
        w->kind = kind;
        socket_watch **at = watch_slot(m, s);
        w->next = *at;
        *at = w;
        curl_multi_assign(m->multi, s, w);
        event_add(w->ev, NULL);
        return 0;
    }
    if (w->kind != kind) {
        event_del(w->ev);
        event_assign(w->ev, m->base, s, kind, on_socket_event, w);
        event_add(w->ev, NULL);
        w->kind = kind;
    }
    return 0;
}

/* curl closes every socket of a parking multi handle here: its watch goes first, so libevent
 * never keeps a registration for a descriptor that is closed (and maybe reused). curl has
 * already said CURL_POLL_REMOVE for it when it watched it. */
static int close_socket(void *clientp, curl_socket_t fd) {
    gw_curl_multi *m = clientp;
    socket_watch *w = *watch_slot(m, fd);
    if (w) {
        if (w->parked) {
            watch_free(m, w);
        } else { /* still watched: a REMOVE that never came; stop watching, curl frees it */
            event_del(w->ev);
            w->kind = 0;
        }
    }
    return close(fd);
}

/* Only arms the timer: calling curl_multi_socket_action from here re-enters curl.
 * "0 ms" (a transfer added, or work curl left for later) makes the timer's event active: it runs
 * in this turn of the loop, after the callbacks already due, so a request is sent in the turn
 * that read it, with no epoll_wait in between. curl says "0 ms" again on every
 * curl_multi_add_handle (7.88 forgets its last call there); while the event is active that
 * changes nothing. (Re-adding a 0 ms timer instead pushed it back a turn each time: under a
 * burst every turn added transfers, none started until the burst had been read whole, and every
 * stream of the burst began at once, late.) */
static int timer_cb(CURLM *multi, long timeout_ms, void *userp) {
    gw_curl_multi *m = userp;
    (void)multi;
    if (timeout_ms == 0) {
        if (!m->timer_now) event_active(m->timer, EV_TIMEOUT, 0);
        m->timer_now = 1;
        return 0;
    }
    m->timer_now = 0;
    if (timeout_ms < 0) {
        evtimer_del(m->timer);
    } else {
        struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
        evtimer_add(m->timer, &tv); /* also takes it off the active list */
    }
    return 0;
}

gw_curl_multi *gw_curl_multi_new(struct event_base *base, long max_host_connections,
                                 gw_curl_done_cb on_done) {
    gw_curl_multi *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    m->base = base;
    m->on_done = on_done;
    m->multi = curl_multi_init();
    m->timer = evtimer_new(base, on_timeout, m);
    if (!m->multi || !m->timer) {
        gw_curl_multi_free(m);
        return NULL;
    }
    curl_multi_setopt(m->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
    curl_multi_setopt(m->multi, CURLMOPT_SOCKETDATA, m);
    curl_multi_setopt(m->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
    curl_multi_setopt(m->multi, CURLMOPT_TIMERDATA, m);
    gw_curl_multi_set_max_connections(m, max_host_connections);
    return m;
}

void gw_curl_multi_set_max_connections(gw_curl_multi *m, long max_host_connections) {
    /* each worker has its own pool: cap it so N workers do not multiply upstream load */
    curl_multi_setopt(m->multi, CURLMOPT_MAX_HOST_CONNECTIONS, max_host_connections);
    curl_multi_setopt(m->multi, CURLMOPT_MAXCONNECTS, max_host_connections);
}

void gw_curl_multi_park_idle_sockets(gw_curl_multi *m) {
    m->park = 1;
}

void gw_curl_multi_prepare_easy(gw_curl_multi *m, CURL *easy) {
    if (!m->park) return;
    curl_easy_setopt(easy, CURLOPT_CLOSESOCKETFUNCTION, close_socket);
    curl_easy_setopt(easy, CURLOPT_CLOSESOCKETDATA, m);
}

void gw_curl_multi_set_cache_size(gw_curl_multi *m, long connections) {
    curl_multi_setopt(m->multi, CURLMOPT_MAXCONNECTS, connections);
}

CURLM *gw_curl_multi_handle(gw_curl_multi *m) {
    return m->multi;
}

CURL *gw_curl_easy_get(gw_curl_multi *m) {
    if (m->pool_count) return m->pool[--m->pool_count];
    return curl_easy_init();
}

void gw_curl_easy_put(gw_curl_multi *m, CURL *easy) {
    if (m->pool_count < EASY_POOL_MAX) {
        curl_easy_reset(easy);
        m->pool[m->pool_count++] = easy;
    } else {
        curl_easy_cleanup(easy);
    }
}

void gw_curl_multi_free(gw_curl_multi *m) {
    if (!m) return;
    while (m->pool_count)
        curl_easy_cleanup(m->pool[--m->pool_count]);
    if (m->multi) curl_multi_cleanup(m->multi); /* closes its connections: close_socket */
    for (size_t i = 0; i < WATCH_BUCKETS; i++)
        while (m->watches[i])
            watch_free(m, m->watches[i]);
    if (m->timer) event_free(m->timer);
    free(m);
}

void gw_curl_job_add(gw_curl_multi *m, CURL *easy, gw_curl_job *job) {
    curl_easy_setopt(easy, CURLOPT_PRIVATE, (char *)job + 1);
    curl_multi_add_handle(m->multi, easy);
}

struct event_base *gw_curl_multi_base(gw_curl_multi *m) {
    return m->base;
}
