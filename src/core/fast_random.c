#include "core/fast_random.h"

#include <sys/random.h>
#include <time.h>

void gw_fast_random_seed(gw_fast_random *g) {
    uint64_t seed = 0;
    if (getrandom(&seed, sizeof seed, 0) != (ssize_t)sizeof seed) {
        struct timespec ts; /* no entropy source: ids need only be unique, not secret */
        clock_gettime(CLOCK_REALTIME, &ts);
        seed = (uint64_t)ts.tv_sec * 1000000007ULL ^ (uint64_t)ts.tv_nsec ^ (uint64_t)(uintptr_t)g;
    }
    g->state = seed;
}
