/* Decimal text without printf (core/decimal.h) against snprintf's, at every length. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/decimal.h"

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

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(every_length_and_the_edges)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
