#include "meter/ring.h"

#include <stdalign.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

enum {
    CACHE_LINE = 64,
    /* Slots are released this many at a time: a push meanwhile finds the rest free. With a
     * stride that is a multiple of 64 bytes, a chunk that starts at a multiple of 64 slots is a
     * whole number of 4 KiB pages. */
    RELEASE_CHUNK = 64,
};

/* The length a hole carries: slots the releaser claimed, published only to be skipped. */
#define HOLE SIZE_MAX

/* A slot's header: its sequence number and the bytes its push carried. seq == position: free
 * for the producer of that position; seq == position + 1: published, for the consumer of that
 * position. The header stores seq less its slot's index, so a fresh header holds 0. The headers
 * live apart from the elements: releasing an element's pages (gw_ring_release_free) must not
 * be undone by the next write of its header. */
typedef struct cell {
    _Atomic size_t seq_less_index;
    size_t len; /* written before seq is published, read after */
} cell;

/* One mapping, zeroed and page-aligned: the headers, then the elements from a page boundary.
 * Nothing is written at start, so a queue's memory (4096 records of 5.3 KiB: 21 MiB) counts in
 * RSS only as far as records have reached it, and again only that far after a release. */
struct gw_ring {
    /* producers and the consumer each on their own cache line: a push does not bounce the line
     * the writer thread polls */
    alignas(CACHE_LINE) _Atomic size_t enqueue_pos;
    alignas(CACHE_LINE) _Atomic size_t dequeue_pos;
    _Atomic uint64_t holes;       /* positions the releaser took: not pushes */
    _Atomic uint64_t pushed_seen; /* gw_ring_pushed's last answer: it never goes back */
    alignas(CACHE_LINE) size_t mask;
    size_t elem_size, stride, page;
    size_t map_bytes;
    cell *cells;
    unsigned char *elems;
};

static inline cell *cell_at(const gw_ring *r, size_t pos) {
    return &r->cells[pos & r->mask];
}

static inline unsigned char *elem_at(const gw_ring *r, size_t pos) {
    return r->elems + (pos & r->mask) * r->stride;
}

static inline size_t seq_of(const gw_ring *r, const cell *c, size_t pos) {
    return atomic_load_explicit(&c->seq_less_index, memory_order_acquire) + (pos & r->mask);
}

static inline void publish(const gw_ring *r, cell *c, size_t pos, size_t seq) {
    atomic_store_explicit(&c->seq_less_index, seq - (pos & r->mask), memory_order_release);
}

static size_t round_up(size_t n, size_t to) {
    return (n + to - 1) / to * to;
}

gw_ring *gw_ring_new(size_t capacity, size_t elem_size) {
    size_t cap = 2;
    while (cap < capacity && cap < ((size_t)1 << 30))
        cap <<= 1;
    gw_ring *r = aligned_alloc(CACHE_LINE, sizeof *r);
    if (!r) return NULL;
    memset(r, 0, sizeof *r);
    long page = sysconf(_SC_PAGESIZE);
    r->page = page > 0 ? (size_t)page : 4096;
    r->mask = cap - 1;
    r->elem_size = elem_size;
    r->stride = round_up(elem_size ? elem_size : 1, CACHE_LINE);
    size_t cells_bytes = round_up(cap * sizeof(cell), r->page);
    r->map_bytes = cells_bytes + cap * r->stride;
    void *map = mmap(NULL, r->map_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
                     0); /* zeroed, page-aligned, and not in RSS until written */
    if (map == MAP_FAILED) {
        free(r);
        return NULL;
    }
    r->cells = map;
    r->elems = (unsigned char *)map + cells_bytes;
    atomic_init(&r->enqueue_pos, 0);
    atomic_init(&r->dequeue_pos, 0);
    atomic_init(&r->holes, 0);
    atomic_init(&r->pushed_seen, 0);
    return r;
}

void gw_ring_free(gw_ring *r) {
    if (!r) return;
    munmap(r->cells, r->map_bytes);
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
    memcpy(elem_at(r, pos), elem, len);
    c->len = len;
    publish(r, c, pos, pos + 1);
    return 0;
}

/* Takes the published slot at the head of the queue: its position, or -1 when the head is not
 * published (empty, or its producer has not finished its copy). holes_only: only a hole. */
static int take_head(gw_ring *r, int holes_only, size_t *taken) {
    size_t pos = atomic_load_explicit(&r->dequeue_pos, memory_order_relaxed);
    for (;;) {
        cell *c = cell_at(r, pos);
        size_t seq = seq_of(r, c, pos);
        intptr_t dif = (intptr_t)seq - (intptr_t)(pos + 1);
        if (dif == 0) {
            if (holes_only && c->len != HOLE) return -1;
            if (atomic_compare_exchange_weak_explicit(&r->dequeue_pos, &pos, pos + 1,
                                                      memory_order_relaxed, memory_order_relaxed)) {
                *taken = pos;
                return 0;
            }
        } else if (dif < 0) {
            return -1;
        } else {
            pos = atomic_load_explicit(&r->dequeue_pos, memory_order_relaxed);
        }
    }
}

int gw_ring_pop(gw_ring *r, void *out) {
    size_t pos;
    for (;;) {
        if (take_head(r, 0, &pos) < 0) return -1;
        cell *c = cell_at(r, pos);
        size_t len = c->len;
        if (len != HOLE) memcpy(out, elem_at(r, pos), len);
        publish(r, c, pos, pos + r->mask + 1);
        if (len != HOLE) return 0;
    }
}

/* Claims up to want free slots from the enqueue position, as one producer would claim one: the
 * first position, and how many (0 when the queue is full there). */
static size_t claim_free(gw_ring *r, size_t want, size_t *first) {
    size_t pos = atomic_load_explicit(&r->enqueue_pos, memory_order_relaxed);
    for (;;) {
        size_t n = 0;
        /* a free slot past the enqueue position stays free until that position is claimed */
        while (n < want && seq_of(r, cell_at(r, pos + n), pos + n) == pos + n)
            n++;
        if (!n) return 0;
        /* holes first: gw_ring_pushed, which reads enqueue_pos first, may count too few for a
         * moment (and holds its last answer), never too many */
        atomic_fetch_add(&r->holes, n);
        if (atomic_compare_exchange_strong(&r->enqueue_pos, &pos, pos + n)) {
            *first = pos;
            return n;
        }
        atomic_fetch_sub(&r->holes, n);
    }
}

size_t gw_ring_release_free(gw_ring *r) {
    size_t cap = r->mask + 1, done = 0;
    while (done < cap) {
        size_t in = atomic_load_explicit(&r->enqueue_pos, memory_order_relaxed);
        /* only an empty queue: holes claimed behind a record would wait for its pop */
        if (atomic_load_explicit(&r->dequeue_pos, memory_order_relaxed) != in) break;
        size_t index = in & r->mask;
        size_t want = RELEASE_CHUNK - index % RELEASE_CHUNK, first;
        if (want > cap - done) want = cap - done;
        if (want > cap - index) want = cap - index; /* one contiguous run of elements */
        size_t n = claim_free(r, want, &first);
        if (!n) break; /* the queue is full from here */
        /* the whole pages of the claimed elements: the edges may be a neighbour's */
        uintptr_t from = (uintptr_t)elem_at(r, first), to = from + n * r->stride;
        from = round_up(from, r->page);
        to = to / r->page * r->page;
        if (to > from) madvise((void *)from, to - from, MADV_DONTNEED);
        for (size_t i = 0; i < n; i++) {
            cell *c = cell_at(r, first + i);
            c->len = HOLE;
            publish(r, c, first + i, first + i + 1);
        }
        done += n;
        /* take the holes back while they lead the queue; behind a record they wait for the
         * consumer's pop, which skips them, and this pass ends */
        size_t pos;
        size_t dropped = 0;
        while (dropped < n && take_head(r, 1, &pos) == 0) {
            publish(r, cell_at(r, pos), pos, pos + r->mask + 1);
            dropped++;
        }
        if (dropped < n) break;
    }
    return done;
}

size_t gw_ring_capacity(const gw_ring *r) {
    return r->mask + 1;
}

uint64_t gw_ring_pushed(gw_ring *r) {
    uint64_t in = atomic_load(&r->enqueue_pos), holes = atomic_load(&r->holes);
    uint64_t pushed = in - holes,
             seen = atomic_load_explicit(&r->pushed_seen, memory_order_relaxed);
    while (pushed > seen &&
           !atomic_compare_exchange_weak_explicit(&r->pushed_seen, &seen, pushed,
                                                  memory_order_relaxed, memory_order_relaxed)) {
    }
    return pushed > seen ? pushed : seen;
}

size_t gw_ring_depth(const gw_ring *r) {
    size_t out = atomic_load_explicit(&r->dequeue_pos, memory_order_relaxed);
    size_t in = atomic_load_explicit(&r->enqueue_pos, memory_order_relaxed);
    return in > out ? in - out : 0;
}
