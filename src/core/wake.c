#include "core/wake.h"

#include <event2/event.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

struct gw_wake {
    /* 1 from the first signal until the owner's next callback clears it: the signals between
     * write nothing */
    atomic_int signalled;
    int fd; /* eventfd, nonblocking: read by the owner, written by any thread */
    struct event *ev;
    gw_wake_cb cb;
    void *ud;
};

static void on_ready(evutil_socket_t fd, short what, void *arg) {
    gw_wake *wk = arg;
    (void)what;
    uint64_t count;
    /* resets the counter; EAGAIN when a gw_wake_again or a spent write brought us here */
    ssize_t got = read((int)fd, &count, sizeof count);
    (void)got;
    /* After the drain, before the callback. Cleared before the drain instead, a signal could
     * set the flag and write between the clear and the read: the read would take its write,
     * the flag would stay set with nothing left to read, and every later signal would skip its
     * write (a lost wake-up; tests/unit/test_wake.c shows it). Here every write read is
     * followed by a clear, so a set flag always has a write still to come or unread. The
     * exchange (an acquire) synchronizes with each signal before it: the callback sees their
     * posts. A signal after it writes again, and the loop runs the callback once more. */
    atomic_exchange_explicit(&wk->signalled, 0, memory_order_acq_rel);
    wk->cb(wk->ud);
}

gw_wake *gw_wake_new(struct event_base *base, gw_wake_cb cb, void *ud) {
    gw_wake *wk = calloc(1, sizeof *wk);
    if (!wk) return NULL;
    atomic_init(&wk->signalled, 0);
    wk->cb = cb;
    wk->ud = ud;
    wk->fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (wk->fd >= 0) wk->ev = event_new(base, wk->fd, EV_READ | EV_PERSIST, on_ready, wk);
    if (!wk->ev || event_add(wk->ev, NULL) < 0) {
        gw_wake_free(wk);
        return NULL;
    }
    return wk;
}

void gw_wake_signal(gw_wake *wk) {
    /* release: the post made before this is visible to the callback that clears the flag */
    if (atomic_exchange_explicit(&wk->signalled, 1, memory_order_acq_rel)) return;
    uint64_t one = 1;
    /* nonblocking, and the counter cannot reach its limit: one write per callback at most */
    ssize_t put = write(wk->fd, &one, sizeof one);
    (void)put;
}

void gw_wake_again(gw_wake *wk) {
    event_active(wk->ev, EV_READ, 0);
}

void gw_wake_free(gw_wake *wk) {
    if (!wk) return;
    if (wk->ev) event_free(wk->ev);
    if (wk->fd >= 0) close(wk->fd);
    free(wk);
}
