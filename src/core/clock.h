/* Monotonic time for latencies and timeouts; wall time only for log timestamps. */
#ifndef AIGW_CORE_CLOCK_H
#define AIGW_CORE_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline int64_t gw_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

#endif
