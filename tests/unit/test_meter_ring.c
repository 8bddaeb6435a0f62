/* The writer's queue (meter/ring.c): bounded, lock-free, first in first out. One thread fills
 * it and sees -1 at exactly its capacity; several producers push at once while a consumer pops,
 * and every element arrives exactly once, in its producer's order; the depth and push counts
 * add up. Releasing the free slots' memory gives their pages back (RSS falls by the queue's
 * size) without losing, reordering or refusing a push made meanwhile. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "meter/ring.h"

typedef struct item {
    uint32_t producer;
    uint32_t seq;
    char payload[200]; /* a wide element: copies must not tear */
} item;

static void fill_payload(item *it) {
    memset(it->payload, (int)(it->producer * 31 + it->seq) & 0xff, sizeof it->payload);
}

static int payload_ok(const item *it) {
    unsigned char want = (unsigned char)((it->producer * 31 + it->seq) & 0xff);
    for (size_t i = 0; i < sizeof it->payload; i++)
        if ((unsigned char)it->payload[i] != want) return 0;
    return 1;
}

static void full_at_capacity_and_fifo(void **state) {
    (void)state;
    gw_ring *r = gw_ring_new(5, sizeof(item)); /* rounded up to 8 */
    assert_non_null(r);
    assert_int_equal(gw_ring_capacity(r), 8);
    item it = {0}, out;
    assert_int_equal(gw_ring_pop(r, &out), -1);
    for (uint32_t i = 0; i < 8; i++) {
        it.seq = i;
        fill_payload(&it);
        assert_int_equal(gw_ring_push(r, &it), 0);
    }
    it.seq = 99;
    assert_int_equal(gw_ring_push(r, &it), -1);
    assert_int_equal(gw_ring_depth(r), 8);
    assert_int_equal(gw_ring_pushed(r), 8);
    /* wrap around several times: order holds, full and empty are seen exactly */
    uint32_t next_in = 8, next_out = 0;
    for (int round = 0; round < 100; round++) {
        for (int k = 0; k < 3; k++) {
            assert_int_equal(gw_ring_pop(r, &out), 0);
            assert_int_equal(out.seq, next_out++);
            assert_true(payload_ok(&out));
        }
        for (int k = 0; k < 3; k++) {
            it.seq = next_in++;
            fill_payload(&it);
            assert_int_equal(gw_ring_push(r, &it), 0);
        }
        assert_int_equal(gw_ring_push(r, &it), -1);
    }
    while (gw_ring_pop(r, &out) == 0)
        assert_int_equal(out.seq, next_out++);
    assert_int_equal(next_out, next_in);
    assert_int_equal(gw_ring_depth(r), 0);
    gw_ring_free(r);
}

enum { PRODUCERS = 4, PER_PRODUCER = 50000 };

typedef struct shared {
    gw_ring *r;
    atomic_uint_fast64_t full; /* pushes refused: the producer tried again */
    atomic_int producers_done;
    uint32_t yield_every; /* a producer yields after so many pushes: bursts with gaps */
} shared;

typedef struct producer_arg {
    shared *sh;
    uint32_t id;
} producer_arg;

/* A push of the first bytes only (a metering record without its unused attempts): the pop
 * copies those and leaves the rest of its out alone; whole pushes after it still carry all. */
static void partial_push_carries_its_bytes(void **state) {
    (void)state;
    gw_ring *r = gw_ring_new(2, sizeof(item));
    assert_non_null(r);
    item in = {.producer = 7, .seq = 9}, out;
    fill_payload(&in);
    size_t head = offsetof(item, payload) + 16;
    for (int lap = 0; lap < 3; lap++) { /* every slot, more than once */
        assert_int_equal(gw_ring_push_bytes(r, &in, head), 0);
        memset(&out, 0x5a, sizeof out);
        assert_int_equal(gw_ring_pop(r, &out), 0);
        assert_int_equal(out.producer, 7);
        assert_int_equal(out.seq, 9);
        assert_memory_equal(out.payload, in.payload, 16);
        for (size_t i = 16; i < sizeof out.payload; i++)
            assert_int_equal((unsigned char)out.payload[i], 0x5a);
        assert_int_equal(gw_ring_push(r, &in), 0);
        assert_int_equal(gw_ring_pop(r, &out), 0);
        assert_true(payload_ok(&out));
    }
    assert_int_equal(gw_ring_push_bytes(r, &in, sizeof in + 100), 0); /* past the size: all */
    assert_int_equal(gw_ring_pop(r, &out), 0);
    assert_true(payload_ok(&out));
    gw_ring_free(r);
}

static void *producer(void *arg) {
    producer_arg *p = arg;
    item it = {.producer = p->id};
    for (uint32_t i = 0; i < PER_PRODUCER; i++) {
        it.seq = i;
        fill_payload(&it);
        while (gw_ring_push(p->sh->r, &it) < 0) {
            atomic_fetch_add(&p->sh->full, 1);
            sched_yield();
        }
        if (p->sh->yield_every && i % p->sh->yield_every == 0) sched_yield();
    }
    atomic_fetch_add(&p->sh->producers_done, 1);
    return NULL;
}

static void start_producers(shared *sh, pthread_t th[PRODUCERS], producer_arg args[PRODUCERS]) {
    for (uint32_t i = 0; i < PRODUCERS; i++) {
        args[i] = (producer_arg){sh, i};
        assert_int_equal(pthread_create(&th[i], NULL, producer, &args[i]), 0);
    }
}

/* An element the consumer took: the next of its producer's, whole. */
static void take(uint32_t next[PRODUCERS], const item *out) {
    assert_true(out->producer < PRODUCERS);
    assert_int_equal(out->seq, next[out->producer]); /* each producer's order, no gap */
    assert_true(payload_ok(out));
    next[out->producer]++;
}

static void join_producers(pthread_t th[PRODUCERS], const uint32_t next[PRODUCERS]) {
    for (uint32_t i = 0; i < PRODUCERS; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(next[i], PER_PRODUCER);
    }
}

static void many_producers_one_consumer(void **state) {
    (void)state;
    shared sh = {.r = gw_ring_new(64, sizeof(item))};
    assert_non_null(sh.r);
    pthread_t th[PRODUCERS];
    producer_arg args[PRODUCERS];
    start_producers(&sh, th, args);
    uint32_t next[PRODUCERS] = {0};
    uint64_t got = 0;
    item out;
    for (;;) {
        if (gw_ring_pop(sh.r, &out) == 0) {
            take(next, &out);
            got++;
            continue;
        }
        if (atomic_load(&sh.producers_done) == PRODUCERS && gw_ring_depth(sh.r) == 0) break;
        sched_yield();
    }
    join_producers(th, next);
    assert_int_equal(got, (uint64_t)PRODUCERS * PER_PRODUCER);
    assert_int_equal(gw_ring_pushed(sh.r), got);
    assert_int_equal(gw_ring_pop(sh.r, &out), -1);
    gw_ring_free(sh.r);
}

/* Producers that never retry: what does not fit is refused at once and counted by the caller,
 * and pushed + refused is everything offered. */
typedef struct dropper_arg {
    gw_ring *r;
    atomic_uint_fast64_t *refused;
} dropper_arg;

static void *dropper(void *arg) {
    dropper_arg *d = arg;
    item it = {0};
    for (uint32_t i = 0; i < 20000; i++) {
        it.seq = i;
        if (gw_ring_push(d->r, &it) < 0) atomic_fetch_add(d->refused, 1);
    }
    return NULL;
}

static void full_queue_refuses_and_counts(void **state) {
    (void)state;
    gw_ring *r = gw_ring_new(128, sizeof(item));
    atomic_uint_fast64_t refused = 0;
    pthread_t th[PRODUCERS];
    dropper_arg d = {r, &refused};
    for (int i = 0; i < PRODUCERS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, dropper, &d), 0);
    for (int i = 0; i < PRODUCERS; i++)
        pthread_join(th[i], NULL);
    /* nobody consumed: exactly the capacity went in, the rest was refused */
    assert_int_equal(gw_ring_pushed(r), 128);
    assert_int_equal(atomic_load(&refused), (uint64_t)PRODUCERS * 20000 - 128);
    assert_int_equal(gw_ring_depth(r), 128);
    gw_ring_free(r);
}

static long rss_kb(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    long size = 0, resident = 0;
    if (f) {
        if (fscanf(f, "%ld %ld", &size, &resident) != 2) resident = 0;
        fclose(f);
    }
    return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

typedef struct big {
    uint32_t seq;
    char payload[5400 - sizeof(uint32_t)]; /* a metering record's size */
} big;

/* A burst through every slot of a 4096-record queue leaves its 21 MiB resident; a release gives
 * it back, the queue still works afterwards, and the push count excludes what the release took. */
static void release_gives_the_pages_back(void **state) {
    (void)state;
    gw_ring *r = gw_ring_new(4096, sizeof(big));
    assert_non_null(r);
    static big in, out;
    memset(in.payload, 7, sizeof in.payload);
    long before = rss_kb();
    for (uint32_t i = 0; i < 4096; i++) { /* a queue as deep as it goes: every slot */
        in.seq = i;
        assert_int_equal(gw_ring_push(r, &in), 0);
    }
    while (gw_ring_pop(r, &out) == 0) {
    }
    long burst = rss_kb();
    assert_true(burst - before > 20000); /* 4096 x 5.3 KiB */
    assert_int_equal(gw_ring_release_free(r), 4096);
    long after = rss_kb();
    assert_true(burst - after > 20000);
    assert_int_equal(gw_ring_pushed(r), 4096);
    assert_int_equal(gw_ring_depth(r), 0);
    assert_int_equal(gw_ring_pop(r, &out), -1);
    /* and on: every slot again, in order, whole */
    for (uint32_t i = 0; i < 4096; i++) {
        in.seq = i;
        assert_int_equal(gw_ring_push(r, &in), 0);
    }
    in.seq = 9999;
    assert_int_equal(gw_ring_push(r, &in), -1); /* full at its capacity still */
    for (uint32_t i = 0; i < 4096; i++) {
        assert_int_equal(gw_ring_pop(r, &out), 0);
        assert_int_equal(out.seq, i);
        assert_int_equal(out.payload[sizeof out.payload - 1], 7);
    }
    assert_int_equal(gw_ring_pushed(r), 8192);
    gw_ring_free(r);
}

/* A queue with records in it is left alone; once empty it releases every slot, and the slots
 * are free for pushes again. */
static void release_waits_for_an_empty_queue(void **state) {
    (void)state;
    gw_ring *r = gw_ring_new(8, sizeof(item));
    item it = {0}, out;
    for (uint32_t i = 0; i < 3; i++) {
        it.seq = i;
        fill_payload(&it);
        assert_int_equal(gw_ring_push(r, &it), 0);
    }
    assert_int_equal(gw_ring_release_free(r), 0);
    for (uint32_t i = 0; i < 3; i++) {
        assert_int_equal(gw_ring_pop(r, &out), 0);
        assert_int_equal(out.seq, i);
    }
    assert_int_equal(gw_ring_release_free(r), 8);
    assert_int_equal(gw_ring_pushed(r), 3);
    assert_int_equal(gw_ring_depth(r), 0);
    for (uint32_t i = 0; i < 8; i++) { /* all eight slots are free again */
        it.seq = 10 + i;
        fill_payload(&it);
        assert_int_equal(gw_ring_push(r, &it), 0);
    }
    assert_int_equal(gw_ring_release_free(r), 0); /* full */
    for (uint32_t i = 0; i < 8; i++) {
        assert_int_equal(gw_ring_pop(r, &out), 0);
        assert_int_equal(out.seq, 10 + i);
        assert_true(payload_ok(&out));
    }
    assert_int_equal(gw_ring_pop(r, &out), -1);
    gw_ring_free(r);
}

/* Producers push while the consumer pops and releases over and over: every element arrives
 * once, in its producer's order, and the push count never goes back. Producers that find the
 * queue full yield and try again (the consumer is slower than four of them). */
static void release_while_producers_push(void **state) {
    (void)state;
    enum { CAP = 1 << 16 };
    shared sh = {.r = gw_ring_new(CAP, sizeof(item)), .yield_every = 16};
    assert_non_null(sh.r);
    pthread_t th[PRODUCERS];
    producer_arg args[PRODUCERS];
    start_producers(&sh, th, args);
    uint32_t next[PRODUCERS] = {0};
    uint64_t got = 0, last_pushed = 0, released = 0;
    item out;
    for (;;) {
        while (gw_ring_pop(sh.r, &out) == 0) {
            take(next, &out);
            got++;
        }
        released += gw_ring_release_free(sh.r);
        uint64_t pushed = gw_ring_pushed(sh.r);
        assert_true(pushed >= last_pushed);
        assert_true(pushed <= (uint64_t)PRODUCERS * PER_PRODUCER);
        last_pushed = pushed;
        if (got == (uint64_t)PRODUCERS * PER_PRODUCER) break;
    }
    join_producers(th, next);
    assert_int_equal(gw_ring_pop(sh.r, &out), -1);
    assert_int_equal(gw_ring_pushed(sh.r), (uint64_t)PRODUCERS * PER_PRODUCER);
    printf("released %llu slots\n", (unsigned long long)released);
    assert_true(released > 0);
    gw_ring_free(sh.r);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(full_at_capacity_and_fifo),
        cmocka_unit_test(partial_push_carries_its_bytes),
        cmocka_unit_test(many_producers_one_consumer),
        cmocka_unit_test(full_queue_refuses_and_counts),
        cmocka_unit_test(release_gives_the_pages_back),
        cmocka_unit_test(release_waits_for_an_empty_queue),
        cmocka_unit_test(release_while_producers_push),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
