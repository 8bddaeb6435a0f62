/* A wake-up that other threads give an event loop which takes no lock. A worker's event_base is
 * made with EVENT_BASE_FLAG_NOLOCK (server/worker.c), so no other thread may call event_active,
 * event_add or anything else on it. What another thread has for the worker (a new config
 * snapshot, a stop, an MCP note) it leaves in an atomic or a lock-free queue the worker owns,
 * then signals the worker's gw_wake: eight bytes written to an eventfd that the worker's loop
 * watches with a persistent EV_READ event. The worker drains the eventfd and runs the callback,
 * which takes whatever was left.
 *
 * Only the first signal after each callback writes: later ones see the flag set and return, so
 * a burst of posts costs one write(2) and one wake-up. The owner drains the eventfd, then
 * clears the flag with an atomic exchange, then runs the callback: a signal whose exchange came
 * before that clear synchronizes with it (the callback sees the data posted before the signal),
 * and a signal after it writes the eventfd again (the loop runs the callback once more). So no
 * post is left without a callback that sees it. (Clearing before the drain would lose
 * wake-ups: see wake.c.) */
#ifndef AIGW_CORE_WAKE_H
#define AIGW_CORE_WAKE_H

struct event_base;
typedef struct gw_wake gw_wake;

/* On the loop's owner, after the posted data is read (what the signal announces). */
typedef void (*gw_wake_cb)(void *ud);

/* Before the loop's thread starts, or on it. NULL when the eventfd or the event cannot be
 * made. */
gw_wake *gw_wake_new(struct event_base *base, gw_wake_cb cb, void *ud);
/* From any thread, after the data it announces is published (an atomic store or a queue push):
 * the callback runs on the loop's thread afterwards. Never blocks, takes no lock. */
void gw_wake_signal(gw_wake *wk);
/* From the owner's thread only: the callback runs again on the next loop turn, without a
 * system call (e.g. a callback that left work behind so as not to starve the loop). */
void gw_wake_again(gw_wake *wk);
/* From the owner's thread, or after it has been joined; and after every thread that could
 * signal has stopped. NULL is a no-op. */
void gw_wake_free(gw_wake *wk);

#endif
