/* Reserving libevent's per-descriptor records ahead must not disturb the watches a worker base
 * has (a descriptor in the reserved block already watched keeps firing) nor the ones it makes
 * after (a descriptor whose record was reserved while closed fires once opened and watched);
 * and on a base the thread did not enable (the control loop's, without libevent's changelist)
 * it must do nothing, where every number reserved would reach epoll_ctl. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <event2/event.h>
#include <unistd.h>

#include "core/fd_slots.h"

static struct event_base *changelist_base(void) {
    struct event_config *ec = event_config_new();
    event_config_set_flag(ec, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
    event_config_set_flag(ec, EVENT_BASE_FLAG_NOLOCK);
    struct event_base *base = event_base_new_with_config(ec);
    event_config_free(ec);
    return base;
}

static void count(evutil_socket_t fd, short what, void *arg) {
    (void)what;
    char byte;
    if (read(fd, &byte, 1) == 1) (*(int *)arg)++;
}

static void watched_and_new_descriptors_still_fire(void **state) {
    (void)state;
    struct event_base *base = changelist_base();
    assert_non_null(base);
    gw_fd_slots_enable(base);
    int before[2], after[2];
    assert_int_equal(pipe(before), 0);
    int fired_before = 0, fired_after = 0;
    struct event *ev_before =
        event_new(base, before[0], EV_READ | EV_PERSIST, count, &fired_before);
    event_add(ev_before, NULL);
    event_base_loop(base, EVLOOP_NONBLOCK); /* its watch reaches epoll */

    /* the block holding both the watched pipe and numbers not open yet */
    gw_fd_slots_reserve(base, before[0]);
    assert_int_equal(write(before[1], "x", 1), 1);
    event_base_loop(base, EVLOOP_NONBLOCK); /* the byte is there: no wait */
    assert_int_equal(fired_before, 1);

    assert_int_equal(pipe(after), 0); /* numbers whose records were reserved while closed */
    gw_fd_slots_reserve(base, after[0]);
    struct event *ev_after = event_new(base, after[0], EV_READ | EV_PERSIST, count, &fired_after);
    event_add(ev_after, NULL);
    assert_int_equal(write(after[1], "y", 1), 1);
    event_base_loop(base, EVLOOP_NONBLOCK); /* the byte is there: no wait */
    assert_int_equal(fired_after, 1);

    /* a block far past the descriptors in use: reserved without a sign of it on the loop */
    gw_fd_slots_reserve(base, 5000);
    assert_int_equal(event_base_loop(base, EVLOOP_NONBLOCK), 0);
    assert_int_equal(fired_before + fired_after, 2);

    event_free(ev_before);
    event_free(ev_after);
    close(before[0]);
    close(before[1]);
    close(after[0]);
    close(after[1]);
    event_base_free(base);
}

static int libevent_warnings;
static void count_warning(int severity, const char *msg) {
    (void)msg;
    if (severity >= EVENT_LOG_WARN) libevent_warnings++;
}

static void a_base_not_enabled_is_left_alone(void **state) {
    (void)state;
    struct event_base *enabled = changelist_base();
    struct event_base *plain = event_base_new(); /* no changelist: every add reaches epoll */
    assert_non_null(enabled);
    assert_non_null(plain);
    gw_fd_slots_enable(enabled);
    event_set_log_callback(count_warning);
    libevent_warnings = 0;
    /* the block of numbers 0-1023, nearly all of them closed: on the plain base each reserved
     * number would be an epoll_ctl ADD that fails, and a warning */
    gw_fd_slots_reserve(plain, 3);
    event_set_log_callback(NULL);
    assert_int_equal(libevent_warnings, 0);
    event_base_free(plain);
    event_base_free(enabled);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(watched_and_new_descriptors_still_fire),
                                       cmocka_unit_test(a_base_not_enabled_is_left_alone)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
