/* Decimal text without printf (core/decimal.h) against snprintf's, at every length. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/decimal.h"
#include "core/strbuf.h"

static void same_as_printf(uint64_t v) {
    char want[32], got[GW_DECIMAL_MAX];
    int n = snprintf(want, sizeof want, "%llu", (unsigned long long)v);
    assert_int_equal(gw_decimal_u64(got, v), (size_t)n);
    assert_string_equal(got, want);
}

static void every_length_and_the_edges(void **state) {
    (void)state;
    uint64_t p = 1;
    for (int digits = 1; digits <= 20; digits++) {
        same_as_printf(p - 1);
        same_as_printf(p);
        same_as_printf(p + 1);
        same_as_printf(p * 7 + 3);
        if (digits < 20) p *= 10;
    }
    same_as_printf(0);
    same_as_printf(UINT64_MAX);
    for (uint64_t v = 0; v < 100000; v++)
        same_as_printf(v * 2654435761u);
}

/* gw_strbuf_add_int writes through it, signs and all. */
static void signed_into_a_buffer(void **state) {
    (void)state;
    static const int64_t values[] = {0,   -1,        1,          -9,        10,
                                     -10, 123456789, -123456789, INT64_MAX, INT64_MIN};
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        gw_strbuf b = {0};
        char want[32];
        snprintf(want, sizeof want, "%lld", (long long)values[i]);
        gw_strbuf_adds(&b, "x");
        gw_strbuf_add_int(&b, values[i]);
        assert_int_equal(b.len, 1 + strlen(want));
        assert_memory_equal(b.data + 1, want, strlen(want));
        gw_strbuf_free(&b);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(every_length_and_the_edges),
                                       cmocka_unit_test(signed_into_a_buffer)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
