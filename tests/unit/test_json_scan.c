/* The response path trusts this scanner to reject malformed JSON and to find the exact span
 * of a top-level member, so both directions are pinned here. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "core/json_scan.h"

static int scan(const char *text, const char *key, gw_json_scan_result *out) {
    return gw_json_scan(text, strlen(text), key, out);
}

static void finds_top_level_member_span(void **state) {
    (void)state;
    const char *t =
        "{\"id\":\"x\",\"nested\":{\"model\":\"inner\"},\"model\":\"sim-model\",\"n\":1}";
    gw_json_scan_result r;
    assert_int_equal(scan(t, "model", &r), 0);
    assert_int_equal(r.key_count, 1); /* the nested one does not count */
    assert_int_equal(r.value_end - r.value_start, strlen("\"sim-model\""));
    assert_memory_equal(t + r.value_start, "\"sim-model\"", r.value_end - r.value_start);
}

static void counts_duplicates_including_escaped_keys(void **state) {
    (void)state;
    gw_json_scan_result r;
    assert_int_equal(scan("{\"model\":\"a\",\"mod\\u0065l\":\"b\"}", "model", &r), 0);
    assert_int_equal(r.key_count, 2);
    assert_memory_equal("{\"model\":\"a\"" + r.value_start, "\"a\"", 3);
}

static void accepts_valid_documents(void **state) {
    (void)state;
    const char *valid[] = {
        "{}",       "[]", " {\"a\": [1, -2.5e+10, true, false, null, \"\\n\\u00e9\"]} ",
        "\"s\"",    "0",  "{\"big\":123456789012345678901234567890}",
        "[[[[]]]]",
    };
    for (size_t i = 0; i < sizeof valid / sizeof valid[0]; i++) {
        gw_json_scan_result r;
        assert_int_equal(scan(valid[i], NULL, &r), 0);
    }
}

static void rejects_malformed_documents_with_offset(void **state) {
    (void)state;
    struct {
        const char *text;
        size_t offset;
    } bad[] = {
        {"{\"id\":broken", 6},
        {"{\"a\":1,}", 7},
        {"{\"a\" 1}", 5},
        {"[1 2]", 3},
        {"{\"a\":01}", 6},
        {"\"tab\there\"", 4},
        {"{} x", 3},
        {"{\"a\":tru}", 5},
        {"", 0},
        {"{\"a\":\"\\x\"}", 7},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        gw_json_scan_result r;
        assert_int_equal(scan(bad[i].text, "a", &r), -1);
        assert_non_null(r.error);
        assert_int_equal(r.error_offset, bad[i].offset);
    }
}

static void bounds_nesting_depth(void **state) {
    (void)state;
    char deep[600];
    memset(deep, '[', 300);
    memset(deep + 300, ']', 300);
    gw_json_scan_result r;
    assert_int_equal(gw_json_scan(deep, 600, NULL, &r), -1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(finds_top_level_member_span),
        cmocka_unit_test(counts_duplicates_including_escaped_keys),
        cmocka_unit_test(accepts_valid_documents),
        cmocka_unit_test(rejects_malformed_documents_with_offset),
        cmocka_unit_test(bounds_nesting_depth),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
