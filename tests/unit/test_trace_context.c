/* W3C traceparent: what is continued, what is refused (and so begins a new trace). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "core/trace_context.h"

static int parses(const char *v) {
    gw_trace t;
    return gw_trace_parse(v, strlen(v), &t) == 0;
}

static void valid_version_00_is_read(void **state) {
    (void)state;
    gw_trace t;
    const char *v = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    assert_int_equal(gw_trace_parse(v, strlen(v), &t), 0);
    assert_string_equal(t.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_string_equal(t.parent_id, "00f067aa0ba902b7");
    assert_int_equal(t.flags, 1);
}

static void invalid_forms_are_refused(void **state) {
    (void)state;
    assert_false(parses(""));
    assert_false(parses("garbage"));
    /* all-zero ids, uppercase hex, version ff, a 00 with extra fields, wrong separators */
    assert_false(parses("00-00000000000000000000000000000000-00f067aa0ba902b7-01"));
    assert_false(parses("00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01"));
    assert_false(parses("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"));
    assert_false(parses("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
    assert_false(parses("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra"));
    assert_false(parses("00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
    assert_false(parses("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0"));
    /* a later version may carry more fields after a dash */
    assert_true(parses("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-abc"));
}

static void begin_continues_or_starts(void **state) {
    (void)state;
    gw_trace t;
    const char *v = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00";
    gw_trace_begin(&t, v, strlen(v), 1, 2, 0xabcdef);
    assert_string_equal(t.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_string_equal(t.span_id, "0000000000abcdef");
    char header[GW_TRACEPARENT_LEN + 1];
    gw_trace_header_value(&t, header);
    assert_string_equal(header, "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000abcdef-00");

    gw_trace_begin(&t, NULL, 0, 0x1122334455667788ULL, 0x99aabbccddeeff00ULL, 7);
    assert_string_equal(t.trace_id, "112233445566778899aabbccddeeff00");
    assert_string_equal(t.parent_id, "");
    assert_int_equal(t.flags, 1);
    gw_trace_begin(&t, NULL, 0, 0, 0, 0); /* never an all-zero id */
    assert_string_not_equal(t.trace_id, "00000000000000000000000000000000");
    assert_string_not_equal(t.span_id, "0000000000000000");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(valid_version_00_is_read),
        cmocka_unit_test(invalid_forms_are_refused),
        cmocka_unit_test(begin_continues_or_starts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
