/* libevent keeps a small record for every descriptor number a base has watched (its evmap),
 * made the first time the number is seen and kept until the base is freed. Made one by one during
 * a burst, those records land between the burst's larger, short-lived allocations, and after the
 * burst each one pins a page that is otherwise free: measured, 4,000 streams left one page in two
 * of each worker's heap resident (~33 MB) with 220 KB in use. Reserving the records ahead, a
 * block of numbers at a time, keeps them together. */
#ifndef AIGW_CORE_FD_SLOTS_H
#define AIGW_CORE_FD_SLOTS_H

struct event_base;

/* The calling thread's own base, which uses libevent's changelist
 * (EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST), reserves from now on; on any other base
 * gw_fd_slots_reserve does nothing. Without the changelist every reserved number would be an
 * epoll_ctl ADD and DEL, a warning for each number that is not open: the control loop, which
 * serves the admin API without it, printed a thousand at its first admin connection. */
void gw_fd_slots_enable(struct event_base *base);

/* Before a new descriptor `fd` is watched on `base` (the caller's thread owns it): when base is
 * the thread's enabled one and fd is past what it has reserved, libevent's records for the next
 * block of numbers are made now, together. No system call. */
void gw_fd_slots_reserve(struct event_base *base, int fd);

#endif
