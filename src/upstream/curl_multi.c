#include "upstream/curl_multi.h"

#include <event2/event.h>
#include <stdlib.h>

enum { EASY_POOL_MAX = 64 };

struct gw_curl_multi {
    struct event_base *base;
    CURLM *multi;
    struct event *timer;
    gw_curl_done_cb on_done;
    CURL *pool[EASY_POOL_MAX];
    int pool_count;
};

typedef struct socket_watch {
    gw_curl_multi *m;
    struct event *ev;
} socket_watch;

static void check_done(gw_curl_multi *m) {
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(m->multi, &left))) {
        if (msg->msg != CURLMSG_DONE) continue;
        /* read the result before the handle is removed: removal invalidates msg */
        CURLcode result = msg->data.result;
        m->on_done(msg->easy_handle, result);
    }
}

static void on_socket_event(evutil_socket_t fd, short what, void *arg) {
    socket_watch *w = arg;
    gw_curl_multi *m = w->m; /* w may be freed inside socket_action */
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
    int running;
    curl_multi_socket_action(m->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_done(m);
}

static int socket_cb(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp) {
    gw_curl_multi *m = userp;
    socket_watch *w = socketp;
    (void)easy;
    if (what == CURL_POLL_REMOVE) {
        if (w) {
            event_free(w->ev);
            free(w);
            curl_multi_assign(m->multi, s, NULL);
        }
        return 0;
    }
    short kind = EV_PERSIST | ((what & CURL_POLL_IN) ? EV_READ : 0) |
                 ((what & CURL_POLL_OUT) ? EV_WRITE : 0);
    if (!w) {
        w = calloc(1, sizeof *w);
        if (!w) return -1;
        w->m = m;
        w->ev = event_new(m->base, s, kind, on_socket_event, w);
        if (!w->ev) {
            free(w);
            return -1;
        }
        curl_multi_assign(m->multi, s, w);
    } else {
        event_del(w->ev);
        event_assign(w->ev, m->base, s, kind, on_socket_event, w);
    }
    event_add(w->ev, NULL);
    return 0;
}

/* Only arms the timer: calling curl_multi_socket_action from here re-enters curl. */
static int timer_cb(CURLM *multi, long timeout_ms, void *userp) {
    gw_curl_multi *m = userp;
    (void)multi;
    if (timeout_ms < 0) {
        evtimer_del(m->timer);
    } else {
        struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
        evtimer_add(m->timer, &tv);
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
    if (m->multi) curl_multi_cleanup(m->multi);
    if (m->timer) event_free(m->timer);
    free(m);
}
