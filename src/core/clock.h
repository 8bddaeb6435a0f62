/* Monotonic time for latencies and timeouts; wall time for log timestamps and for what follows
 * the calendar (rate-limit windows, schedules, key expiry). */
#ifndef AIGW_CORE_CLOCK_H
#define AIGW_CORE_CLOCK_H

#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

/* Added to the wall clock of gw_wall_ns: 0, unless a test moved it (POST /admin/clock, only
 * with AIGW_TEST_CLOCK=1 in the environment) to cross a schedule's boundary without waiting. */
extern _Atomic int64_t gw_clock_offset_ns;

static inline int64_t gw_wall_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec +
           atomic_load_explicit(&gw_clock_offset_ns, memory_order_relaxed);
}

static inline int64_t gw_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

#endif
