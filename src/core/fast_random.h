/* A per-thread pseudo-random generator for ids that must be unique, not secret (trace and span
 * ids): splitmix64, seeded once from the OS. A syscall per request would cost more than the id
 * is worth; gw_random_hex (core/random.h) is for secrets. */
#ifndef AIGW_CORE_FAST_RANDOM_H
#define AIGW_CORE_FAST_RANDOM_H

#include <stdint.h>

typedef struct gw_fast_random {
    uint64_t state;
} gw_fast_random;

void gw_fast_random_seed(gw_fast_random *g);

static inline uint64_t gw_fast_random_next(gw_fast_random *g) {
    uint64_t z = (g->state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

#endif
