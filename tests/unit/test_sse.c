/* SSE framing as engines really send it: split anywhere, with and without the space after
 * "data:", CRLF, comments, multi-line data, and no trailing blank line at the end. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "core/sse.h"

typedef struct collected {
    char events[16][128];
    char names[16][32];
    int count;
} collected;

static int collect(void *ud, const char *event, size_t event_len, const char *data, size_t len) {
    collected *c = ud;
    if (c->count >= 16) return 1;
    snprintf(c->events[c->count], sizeof c->events[0], "%.*s", (int)len, data);
    snprintf(c->names[c->count], sizeof c->names[0], "%.*s", (int)event_len, event);
    c->count++;
    return 0;
}

static const char stream[] = "data: {\"a\":1}\n\n"
                             ": keep-alive\n\n"
                             "data:{\"tgi\":true}\r\n\r\n"
                             "event: message_start\ndata: {\"x\":\n"
                             "data: 2}\n\n"
                             "data: [DONE]\n\n";

static void check_stream(const collected *c) {
    assert_int_equal(c->count, 4);
    assert_string_equal(c->events[0], "{\"a\":1}");
    assert_string_equal(c->events[1], "{\"tgi\":true}");
    assert_string_equal(c->events[2], "{\"x\":\n2}");
    assert_string_equal(c->names[2], "message_start");
    assert_string_equal(c->events[3], "[DONE]");
}

static void parses_whole_stream(void **state) {
    (void)state;
    collected c = {0};
    gw_sse_parser p;
    gw_sse_init(&p, 4096, collect, &c);
    assert_int_equal(gw_sse_feed(&p, stream, sizeof stream - 1), 0);
    check_stream(&c);
    gw_sse_free(&p);
}

static void parses_stream_split_at_every_byte(void **state) {
    (void)state;
    for (size_t split = 1; split < sizeof stream - 1; split++) {
        collected c = {0};
        gw_sse_parser p;
        gw_sse_init(&p, 4096, collect, &c);
        assert_int_equal(gw_sse_feed(&p, stream, split), 0);
        assert_int_equal(gw_sse_feed(&p, stream + split, sizeof stream - 1 - split), 0);
        check_stream(&c);
        gw_sse_free(&p);
    }
}

static void finish_dispatches_unterminated_event(void **state) {
    (void)state;
    collected c = {0};
    gw_sse_parser p;
    gw_sse_init(&p, 4096, collect, &c);
    assert_int_equal(gw_sse_feed(&p, "data: {\"last\":1}", 16), 0);
    assert_int_equal(c.count, 0);
    assert_int_equal(gw_sse_finish(&p), 0);
    assert_int_equal(c.count, 1);
    assert_string_equal(c.events[0], "{\"last\":1}");
    gw_sse_free(&p);
}

static void rejects_event_over_bound(void **state) {
    (void)state;
    collected c = {0};
    gw_sse_parser p;
    gw_sse_init(&p, 32, collect, &c);
    char big[100];
    memset(big, 'x', sizeof big);
    memcpy(big, "data: ", 6);
    assert_int_equal(gw_sse_feed(&p, big, sizeof big), -1);
    gw_sse_free(&p);
}

static int count_only(void *ud, const char *event, size_t event_len, const char *data, size_t len) {
    (void)event;
    (void)event_len;
    (void)data;
    *(size_t *)ud = len;
    return 0;
}

/* The bound is on the event's data, exactly, however the bytes arrive: an event of max_event
 * bytes passes fed one byte at a time, one more byte fails. */
static void bound_is_exact_when_split(void **state) {
    (void)state;
    enum { MAX = 300 };
    for (size_t size = MAX; size <= MAX + 1; size++) {
        char text[MAX + 16];
        memcpy(text, "data: ", 6);
        memset(text + 6, 'y', size);
        memcpy(text + 6 + size, "\r\n\r\n", 4);
        size_t got = 0;
        gw_sse_parser p;
        gw_sse_init(&p, MAX, count_only, &got);
        int rc = 0;
        for (size_t i = 0; i < size + 10 && rc == 0; i++)
            rc = gw_sse_feed(&p, text + i, 1);
        if (size == MAX) {
            assert_int_equal(rc, 0);
            assert_int_equal(got, MAX);
        } else {
            assert_int_equal(rc, -1);
        }
        gw_sse_free(&p);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parses_whole_stream),
        cmocka_unit_test(parses_stream_split_at_every_byte),
        cmocka_unit_test(finish_dispatches_unterminated_event),
        cmocka_unit_test(rejects_event_over_bound),
        cmocka_unit_test(bound_is_exact_when_split),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
