#include "meter/ring.h"

#include <stdalign.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

enum { CACHE_LINE = 64, CELL_HEADER = 16 };

/* A slot: its sequence number, then the element. seq == position: free for the producer of that
 * position; seq == position + 1: published, for the consumer of that position. The slot stores
 * seq less its own index, so a fresh slot holds 0: the slots are mapped zeroed and none is
 * written at start, and a queue's memory (4096 records of 5.3 KiB: 21 MiB) counts in RSS only
 * as far as records have reached it. */
typedef struct cell {
    _Atomic size_t seq_less_index;
    size_t len; /* the bytes the push carried; written before seq is published, read after */
} cell;

struct gw_ring {
    /* producers and the consumer each on their own cache line: a push does not bounce the line
     * the writer thread polls */
    alignas(CACHE_LINE) _Atomic size_t enqueue_pos;
    alignas(CACHE_LINE) _Atomic size_t dequeue_pos;
    alignas(CACHE_LINE) size_t mask;
    size_t elem_size, stride, cells_bytes;
    unsigned char *cells;
};

_Static_assert(sizeof(cell) <= CELL_HEADER, "a slot's header holds its sequence and length");

static inline cell *cell_at(const gw_ring *r, size_t pos) {
    return (cell *)(r->cells + (pos & r->mask) * r->stride);
}

static inline size_t seq_of(const gw_ring *r, const cell *c, size_t pos) {
    return atomic_load_explicit(&c->seq_less_index, memory_order_acquire) + (pos & r->mask);
}

static inline void publish(const gw_ring *r, cell *c, size_t pos, size_t seq) {
    atomic_store_explicit(&c->seq_less_index, seq - (pos & r->mask), memory_order_release);
}

gw_ring *gw_ring_new(size_t capacity, size_t elem_size) {
    size_t cap = 2;
    while (cap < capacity && cap < ((size_t)1 << 30))
        cap <<= 1;
    gw_ring *r = aligned_alloc(CACHE_LINE, sizeof *r);
    if (!r) return NULL;
    memset(r, 0, sizeof *r);
    r->mask = cap - 1;
    r->elem_size = elem_size;
    r->stride = (CELL_HEADER + elem_size + CACHE_LINE - 1) / CACHE_LINE * CACHE_LINE;
    r->cells_bytes = cap * r->stride;
    void *cells = mmap(NULL, r->cells_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                       -1, 0); /* zeroed, page-aligned, and not in RSS until written */
    if (cells == MAP_FAILED) {
        free(r);
        return NULL;
    }
    r->cells = cells;
    atomic_init(&r->enqueue_pos, 0);
    atomic_init(&r->dequeue_pos, 0);
    return r;
}

void gw_ring_free(gw_ring *r) {
    if (!r) return;
    munmap(r->cells, r->cells_bytes);
    free(r);
}

int gw_ring_push(gw_ring *r, const void *elem) {
    return gw_ring_push_bytes(r, elem, r->elem_size);
}

int gw_ring_push_bytes(gw_ring *r, const void *elem, size_t len) {
    if (len > r->elem_size) len = r->elem_size;
    size_t pos = atomic_load_explicit(&r->enqueue_pos, memory_order_relaxed);
    cell *c;
    for (;;) {
        c = cell_at(r, pos);
        size_t seq = seq_of(r, c, pos);
        intptr_t dif = (intptr_t)seq - (intptr_t)pos;
        if (dif == 0) {
            if (atomic_compare_exchange_weak_explicit(&r->enqueue_pos, &pos, pos + 1,
                                                      memory_order_relaxed, memory_order_relaxed))
                break;
            /* another producer took it: pos now holds the position to try */
        } else if (dif < 0) {
            return -1; /* the slot still holds what the consumer has not taken: full */
        } else {
            pos = atomic_load_explicit(&r->enqueue_pos, memory_order_relaxed);
        }
    }
    memcpy((unsigned char *)c + CELL_HEADER, elem, len);
    c->len = len;
    publish(r, c, pos, pos + 1);
    return 0;
}

int gw_ring_pop(gw_ring *r, void *out) {
    size_t pos = atomic_load_explicit(&r->dequeue_pos, memory_order_relaxed);
    cell *c;
    for (;;) {
        c = cell_at(r, pos);
        size_t seq = seq_of(r, c, pos);
        intptr_t dif = (intptr_t)seq - (intptr_t)(pos + 1);
        if (dif == 0) {
            if (atomic_compare_exchange_weak_explicit(&r->dequeue_pos, &pos, pos + 1,
                                                      memory_order_relaxed, memory_order_relaxed))
                break;
        } else if (dif < 0) {
            return -1; /* empty, or the producer of this slot has not finished its copy */
        } else {
            pos = atomic_load_explicit(&r->dequeue_pos, memory_order_relaxed);
        }
    }
    memcpy(out, (unsigned char *)c + CELL_HEADER, c->len);
    publish(r, c, pos, pos + r->mask + 1);
    return 0;
}

size_t gw_ring_capacity(const gw_ring *r) {
    return r->mask + 1;
}

uint64_t gw_ring_pushed(const gw_ring *r) {
    return atomic_load_explicit(&r->enqueue_pos, memory_order_relaxed);
}

size_t gw_ring_depth(const gw_ring *r) {
    size_t out = atomic_load_explicit(&r->dequeue_pos, memory_order_relaxed);
    size_t in = atomic_load_explicit(&r->enqueue_pos, memory_order_relaxed);
    return in > out ? in - out : 0;
}
