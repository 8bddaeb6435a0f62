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

/* A read holding exactly one event (the usual one from an engine) is handed on whole: every
 * line ending, a missing space, an empty value, and what is not one event (two events, an
 * unfinished one, a named one, one after a held line) read as the general parser reads them. */
static void one_event_per_read_reads_the_same(void **state) {
    (void)state;
    static const struct {
        const char *in, *first, *name;
        int count;
    } cases[] = {
        {"data: {\"a\":1}\n\n", "{\"a\":1}", "", 1},
        {"data:{\"a\":1}\r\n\r\n", "{\"a\":1}", "", 1},
        {"data: x\r\n\n", "x", "", 1},
        {"data: x\n\r\n", "x", "", 1},
        {"data:  two spaces\n\n", " two spaces", "", 1},
        {"data:\n\n", "", "", 1},
        {"data: \r\n\r\n", "", "", 1},
        {"data: a\n\ndata: b\n\n", "a", "", 2},
        {"data: a\ndata: b\n\n", "a\nb", "", 1},
        {"data: a\n", "", "", 0},
        {"data: a\r\n\r", "", "", 0},
        {"data: a\n\n\n", "a", "", 1},
        {"event: e\ndata: a\n\n", "a", "e", 1},
        {"data: a\rb\n\n", "a\rb", "", 1},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        collected c = {0};
        gw_sse_parser p;
        gw_sse_init(&p, 4096, collect, &c);
        assert_int_equal(gw_sse_feed(&p, cases[k].in, strlen(cases[k].in)), 0);
        assert_int_equal(c.count, cases[k].count);
        if (c.count) {
            assert_string_equal(c.events[0], cases[k].first);
            assert_string_equal(c.names[0], cases[k].name);
        }
        gw_sse_free(&p);
    }
    /* after a line held from the read before, the next read is not an event of its own */
    collected c = {0};
    gw_sse_parser p;
    gw_sse_init(&p, 4096, collect, &c);
    assert_int_equal(gw_sse_feed(&p, "data: a\n", 8), 0);
    assert_int_equal(gw_sse_feed(&p, "data: b\n\n", 9), 0);
    assert_int_equal(c.count, 1);
    assert_string_equal(c.events[0], "a\nb");
    gw_sse_free(&p);
}

static void one_event_per_read_keeps_the_bound(void **state) {
    (void)state;
    enum { MAX = 300 };
    for (size_t size = MAX; size <= MAX + 1; size++) {
        char text[MAX + 16];
        memcpy(text, "data: ", 6);
        memset(text + 6, 'y', size);
        memcpy(text + 6 + size, "\n\n", 2);
        size_t got = 0;
        gw_sse_parser p;
        gw_sse_init(&p, MAX, count_only, &got);
        int rc = gw_sse_feed(&p, text, 6 + size + 2);
        assert_int_equal(rc, size == MAX ? 0 : -1);
        if (size == MAX) assert_int_equal(got, MAX);
        gw_sse_free(&p);
    }
}

static int stop_with_seven(void *ud, const char *event, size_t event_len, const char *data,
                           size_t len) {
    (void)event;
    (void)event_len;
    (void)data;
    (void)len;
    ++*(int *)ud;
    return 7;
}

static void one_event_per_read_passes_the_stop_on(void **state) {
    (void)state;
    int calls = 0;
    gw_sse_parser p;
    gw_sse_init(&p, 4096, stop_with_seven, &calls);
    assert_int_equal(gw_sse_feed(&p, "data: a\n\n", 9), 7);
    assert_int_equal(calls, 1);
    /* a stop on the first of two events in one read: the second is not handed on */
    gw_sse_reset(&p);
    assert_int_equal(gw_sse_feed(&p, "data: a\n\ndata: b\n\n", 18), 7);
    assert_int_equal(calls, 2);
    gw_sse_free(&p);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parses_whole_stream),
        cmocka_unit_test(parses_stream_split_at_every_byte),
        cmocka_unit_test(finish_dispatches_unterminated_event),
        cmocka_unit_test(rejects_event_over_bound),
        cmocka_unit_test(bound_is_exact_when_split),
        cmocka_unit_test(one_event_per_read_reads_the_same),
        cmocka_unit_test(one_event_per_read_keeps_the_bound),
        cmocka_unit_test(one_event_per_read_passes_the_stop_on),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
