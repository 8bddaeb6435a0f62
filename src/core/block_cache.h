/* A thread's bounded cache of freed blocks of one size, for the objects every connection or
 * request allocates and frees (the connection, the request): a block of a few KB misses glibc's
 * tcache and costs _int_malloc and _int_free with consolidation, where taking it back from here
 * costs a few instructions. At most GW_BLOCK_CACHE_MAX blocks are kept, so what a burst
 * allocated beyond that goes back to malloc as it ends. One owner thread, no lock.
 *
 * Under AddressSanitizer a cached block is poisoned, so a use after its owner freed it is
 * reported as a use after free would be. */
#ifndef AIGW_CORE_BLOCK_CACHE_H
#define AIGW_CORE_BLOCK_CACHE_H

#include <stddef.h>
#include <stdlib.h>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define GW_BLOCK_POISON(p, n) ASAN_POISON_MEMORY_REGION(p, n)
#define GW_BLOCK_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#else
#define GW_BLOCK_POISON(p, n) ((void)(p), (void)(n))
#define GW_BLOCK_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

enum { GW_BLOCK_CACHE_MAX = 64 };

typedef struct gw_block_cache {
    size_t size;  /* of every block held */
    size_t count; /* blocks held */
    void *blocks[GW_BLOCK_CACHE_MAX];
} gw_block_cache;

static inline void gw_block_cache_clear(gw_block_cache *c);

/* A block of size bytes, uninitialized: a cached one, else malloc's (NULL when memory ran out).
 * Blocks of another size (a past config's requests) are freed: from now on this size is kept. */
static inline void *gw_block_cache_take(gw_block_cache *c, size_t size) {
    if (c->count == 0) return malloc(size);
    if (c->size != size) {
        gw_block_cache_clear(c);
        return malloc(size);
    }
    void *p = c->blocks[--c->count];
    GW_BLOCK_UNPOISON(p, size);
    return p;
}

/* Gives back a block of size bytes from gw_block_cache_take: kept when there is room and it has
 * the size the cache holds (an empty cache takes any), freed otherwise. */
static inline void gw_block_cache_put(gw_block_cache *c, void *p, size_t size) {
    if (c->count == GW_BLOCK_CACHE_MAX || (c->count > 0 && c->size != size)) {
        free(p);
        return;
    }
    c->size = size;
    c->blocks[c->count++] = p;
    GW_BLOCK_POISON(p, size);
}

/* Frees every block held. */
static inline void gw_block_cache_clear(gw_block_cache *c) {
    while (c->count > 0) {
        void *p = c->blocks[--c->count];
        GW_BLOCK_UNPOISON(p, c->size);
        free(p);
    }
}

#endif
