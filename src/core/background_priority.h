/* The CPU priority of a background thread that drains a bounded queue (the metering writer):
 * it gives way to the workers while it keeps up, and outweighs them while it is behind.
 *
 * While it keeps up it runs at SCHED_IDLE: a worker, or the upstream or client a request waits
 * on, that wakes on its core takes the core at once. At SCHED_BATCH (a fair share, without
 * preempting anyone when it wakes) a wakeup on its core waited until the thread's slice ran out
 * or it yielded, and the writer's transactions were the slowest 1% of requests at one
 * connection. At SCHED_IDLE alone it would starve on a busy box and its queue would overflow,
 * so a producer that finds the queue past a mark raises it (once: a flag says it is raised) to
 * SCHED_BATCH at nice -10, nine times a worker's weight: on two saturated cores a writer with a
 * fair share did not keep up and its queue dropped records. The thread lowers itself again
 * when it has emptied the queue.
 *
 * Leaving SCHED_IDLE, and a negative nice, need CAP_SYS_NICE or an RLIMIT_NICE of 30 or more
 * (sched(7)). Without either the thread runs at SCHED_BATCH, nice 0, throughout, as it did
 * before. */
#ifndef AIGW_CORE_BACKGROUND_PRIORITY_H
#define AIGW_CORE_BACKGROUND_PRIORITY_H

#include <stdatomic.h>
#include <sys/types.h>

typedef struct gw_background_priority {
    pid_t tid;         /* the thread's, set when it enters */
    int can_idle;      /* the process may raise a thread out of SCHED_IDLE */
    atomic_int raised; /* the thread is at its raised policy (or about to be) */
} gw_background_priority;

/* Before the thread starts: whether it can run at SCHED_IDLE. Returns the policy it will run
 * at while it keeps up, "idle" or "batch", for the log. Until the thread enters, it counts as
 * raised: no producer touches it. */
const char *gw_background_priority_init(gw_background_priority *p);

/* The thread itself, first thing: SCHED_IDLE where it can be raised again, else SCHED_BATCH. */
void gw_background_priority_enter(gw_background_priority *p);

void gw_background_priority_raise_slow(gw_background_priority *p);

/* Any thread: the queue is behind, the thread gets the weight to catch up. A load when it has
 * it already. */
static inline void gw_background_priority_raise(gw_background_priority *p) {
    if (!atomic_load_explicit(&p->raised, memory_order_relaxed))
        gw_background_priority_raise_slow(p);
}

static inline int gw_background_priority_is_raised(gw_background_priority *p) {
    return atomic_load_explicit(&p->raised, memory_order_relaxed);
}

/* The thread itself, once its queue is empty: back to SCHED_IDLE (nothing when it cannot). */
void gw_background_priority_lower(gw_background_priority *p);

#endif
