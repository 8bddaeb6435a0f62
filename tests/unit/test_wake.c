/* core/wake.c: signals from other threads reach a lock-free loop's callback, none is lost (a
 * post is always followed by a callback that sees it), bursts coalesce, and gw_wake_again runs
 * the callback once more from the owner. The loop's base is made with EVENT_BASE_FLAG_NOLOCK,
 * as a worker's is. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <event2/event.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

#include "core/wake.h"

enum { PRODUCERS = 4, POSTS = 20000, ROUNDS = 20000, LIMIT_S = 60 };

static struct event_base *nolock_base(void) {
    struct event_config *ec = event_config_new();
    event_config_set_flag(ec, EVENT_BASE_FLAG_NOLOCK);
    struct event_base *base = event_base_new_with_config(ec);
    event_config_free(ec);
    assert_non_null(base);
    return base;
}

typedef struct shared {
    struct event_base *base;
    gw_wake *wake;
    atomic_long posted; /* by the producers, before each signal */
    atomic_long seen;   /* by the callback: what it found posted */
    long callbacks;
    atomic_int give_up; /* the loop ended before the producers were done */
} shared;

/* ---- a burst from several threads: the last post is seen ---- */

static void on_burst(void *ud) {
    shared *s = ud;
    s->callbacks++;
    long now = atomic_load(&s->posted);
    atomic_store(&s->seen, now);
    if (now == (long)PRODUCERS * POSTS) event_base_loopexit(s->base, NULL);
}

static void *burst_producer(void *arg) {
    shared *s = arg;
    for (int i = 0; i < POSTS; i++) {
        atomic_fetch_add(&s->posted, 1);
        gw_wake_signal(s->wake);
    }
    return NULL;
}

static void limit_cb(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    shared *s = arg;
    atomic_store(&s->give_up, 1);
    event_base_loopexit(s->base, NULL);
}

static void test_burst_from_threads(void **state) {
    (void)state;
    shared s = {.base = nolock_base()};
    s.wake = gw_wake_new(s.base, on_burst, &s);
    assert_non_null(s.wake);
    struct event *limit = evtimer_new(s.base, limit_cb, &s);
    struct timeval tv = {LIMIT_S, 0};
    evtimer_add(limit, &tv);
    pthread_t t[PRODUCERS];
    for (int i = 0; i < PRODUCERS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, burst_producer, &s), 0);
    event_base_dispatch(s.base);
    for (int i = 0; i < PRODUCERS; i++)
        pthread_join(t[i], NULL);
    assert_int_equal(atomic_load(&s.give_up), 0);
    assert_int_equal(atomic_load(&s.seen), (long)PRODUCERS * POSTS);
    /* a burst coalesces: at most one callback per signal, and in practice far fewer */
    assert_true(s.callbacks >= 1 && s.callbacks <= (long)PRODUCERS * POSTS);
    event_free(limit);
    gw_wake_free(s.wake);
    event_base_free(s.base);
}

/* ---- ping-pong: each post waits for the callback that sees it, so a lost wake-up hangs ---- */

static void on_round(void *ud) {
    shared *s = ud;
    s->callbacks++;
    long now = atomic_load(&s->posted);
    atomic_store(&s->seen, now);
    if (now == ROUNDS) {
        event_base_loopexit(s->base, NULL);
        return;
    }
    /* still in the callback when the next post and its signal come (a busy worker): that
     * signal must bring another callback; a bounded wait, the producer may be slow */
    for (int spin = 0; spin < 2000 && atomic_load(&s->posted) == now; spin++)
        sched_yield();
}

static void *round_producer(void *arg) {
    shared *s = arg;
    for (long k = 1; k <= ROUNDS; k++) {
        atomic_store(&s->posted, k);
        gw_wake_signal(s->wake);
        while (atomic_load(&s->seen) < k) {
            if (atomic_load(&s->give_up)) return NULL;
            sched_yield();
        }
    }
    return NULL;
}

static void test_no_wakeup_lost(void **state) {
    (void)state;
    shared s = {.base = nolock_base()};
    s.wake = gw_wake_new(s.base, on_round, &s);
    assert_non_null(s.wake);
    struct event *limit = evtimer_new(s.base, limit_cb, &s);
    struct timeval tv = {LIMIT_S, 0};
    evtimer_add(limit, &tv);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, round_producer, &s), 0);
    event_base_dispatch(s.base);
    atomic_store(&s.give_up, atomic_load(&s.give_up) || atomic_load(&s.seen) < ROUNDS);
    pthread_join(t, NULL);
    assert_int_equal(atomic_load(&s.seen), ROUNDS);
    assert_true(s.callbacks >= ROUNDS); /* one post a round: every one needed its callback */
    event_free(limit);
    gw_wake_free(s.wake);
    event_base_free(s.base);
}

/* ---- gw_wake_again: the owner asks for one more turn, with nothing written ---- */

static void on_again(void *ud) {
    shared *s = ud;
    if (++s->callbacks == 1)
        gw_wake_again(s->wake);
    else
        event_base_loopexit(s->base, NULL);
}

static void test_again_from_owner(void **state) {
    (void)state;
    shared s = {.base = nolock_base()};
    s.wake = gw_wake_new(s.base, on_again, &s);
    assert_non_null(s.wake);
    struct event *limit = evtimer_new(s.base, limit_cb, &s);
    struct timeval tv = {LIMIT_S, 0};
    evtimer_add(limit, &tv);
    gw_wake_signal(s.wake); /* from the owner too: a write like any other */
    event_base_dispatch(s.base);
    assert_int_equal(atomic_load(&s.give_up), 0);
    assert_int_equal(s.callbacks, 2);
    event_free(limit);
    gw_wake_free(s.wake);
    event_base_free(s.base);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_burst_from_threads),
        cmocka_unit_test(test_no_wakeup_lost),
        cmocka_unit_test(test_again_from_owner),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
