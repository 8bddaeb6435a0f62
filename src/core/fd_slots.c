#include "core/fd_slots.h"

#include <event2/event.h>
#include <event2/event_struct.h>

enum { SLOT_BLOCK = 1024 };

/* What this thread's base has records for: a worker owns one base, and only its thread watches
 * descriptors on it. */
static _Thread_local int reserved_upto;
static _Thread_local const struct event_base *reserved_for;

void gw_fd_slots_enable(struct event_base *base) {
    reserved_for = base;
    reserved_upto = 0;
}

void gw_fd_slots_reserve(struct event_base *base, int fd) {
    if (reserved_for != base || fd < reserved_upto) return;
    int upto = (fd / SLOT_BLOCK + 1) * SLOT_BLOCK;
    /* An add then a delete in the same loop turn: libevent's changelist (the worker bases use
     * it) makes the record and cancels the change before it reaches epoll, so the numbers, open
     * or not, are never touched. */
    for (int n = reserved_upto; n < upto; n++) {
        struct event ev;
        if (event_assign(&ev, base, n, EV_READ, NULL, NULL) < 0) continue;
        if (event_add(&ev, NULL) == 0) event_del(&ev);
    }
    reserved_upto = upto;
}
