/* A bounded multi-producer multi-consumer queue of fixed-size slots (Dmitry Vyukov's bounded
 * MPMC queue): every slot is allocated once, a push copies an element into a slot and a pop
 * copies it out. No lock: a producer claims a slot with one compare-and-swap on the enqueue
 * position and publishes it with a release store of the slot's sequence number, so a worker
 * thread never waits on another thread, and a full queue answers at once. */
#ifndef AIGW_METER_RING_H
#define AIGW_METER_RING_H

#include <stddef.h>
#include <stdint.h>

typedef struct gw_ring gw_ring;

/* capacity is rounded up to a power of two (at least 2); NULL when memory runs out. */
gw_ring *gw_ring_new(size_t capacity, size_t elem_size);
void gw_ring_free(gw_ring *r);

/* Copies elem into a free slot: 0, or -1 at once when every slot is taken. */
int gw_ring_push(gw_ring *r, const void *elem);
/* The same for the first len bytes of elem (len <= the element size): a pop copies out only
 * these, and leaves the rest of its out as it was. */
int gw_ring_push_bytes(gw_ring *r, const void *elem, size_t len);
/* Copies the oldest published element out (the bytes its push carried): 0, or -1 when there is
 * none. */
int gw_ring_pop(gw_ring *r, void *out);

/* Returns the memory of the free slots' elements to the system (their pages leave RSS until
 * pushes reach them again): for the consumer to call when the queue has been idle a while. It
 * works only on an empty queue, and claims the free slots a chunk at a time, as a producer
 * claims one, so a push meanwhile finds the slots not yet claimed free; the release stops
 * there, and that chunk's claimed slots travel the queue as holes that a pop skips. Returns the
 * slots released. */
size_t gw_ring_release_free(gw_ring *r);

size_t gw_ring_capacity(const gw_ring *r);
/* Elements pushed since creation: successful pushes only, never fewer than the last answer. */
uint64_t gw_ring_pushed(gw_ring *r);
/* Elements in the queue now (claimed, not yet popped); a snapshot that may be stale at once. */
size_t gw_ring_depth(const gw_ring *r);

#endif
