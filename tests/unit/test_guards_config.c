/* guards.pii's where (on:) and custom max_length: defaults, values, and mistakes reported as
 * file:line:column with what was expected. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "config/load.h"
#include "filters/pii_guard.h"
#include "filters/words_guard.h"

static const char base[] = "channels:\n"
                           "  - {name: a, base_url: http://127.0.0.1:1/v1}\n"
                           "models:\n"
                           "  - {name: m, channel: a}\n";

static gw_config *load(const char *guards, gw_config_errors *errs) {
    char yaml[2048];
    snprintf(yaml, sizeof yaml, "%s%s", base, guards);
    return gw_config_load_string("t.yaml", yaml, strlen(yaml), "http://127.0.0.1:1/v1", errs);
}

static int has_error(const gw_config_errors *errs, const char *needle) {
    for (size_t i = 0; i < errs->count; i++)
        if (strstr(errs->messages[i], needle)) return 1;
    for (size_t i = 0; i < errs->count; i++)
        print_message("error: %s\n", errs->messages[i]);
    return 0;
}

static void pii_on_defaults_to_requests(void **state) {
    (void)state;
    gw_config_errors errs;
    gw_config *cfg = load("guards:\n  pii: {email: mask}\n", &errs);
    assert_non_null(cfg);
    assert_true(cfg->pii_guard->on_request);
    assert_false(cfg->pii_guard->on_response);
    assert_int_equal(gw_pii_set_window(cfg->pii_guard->set), 255);
    gw_config_unref(cfg);

    cfg = load("guards:\n  pii:\n    phone: restore\n    on: [response]\n    custom:\n"
               "      - {name: ticket, pattern: \"T-\\\\d+\", max_length: 20}\n",
               &errs);
    assert_non_null(cfg);
    assert_false(cfg->pii_guard->on_request);
    assert_true(cfg->pii_guard->on_response);
    assert_int_equal(gw_pii_set_window(cfg->pii_guard->set), 45); /* phone's 44 is the longest */
    gw_config_unref(cfg);

    cfg = load("guards:\n  pii: {phone: mask, on: [request, response]}\n", &errs);
    assert_non_null(cfg);
    assert_true(cfg->pii_guard->on_request && cfg->pii_guard->on_response);
    gw_config_unref(cfg);
}

static void mistakes_have_positions(void **state) {
    (void)state;
    gw_config_errors errs;
    assert_null(load("guards:\n  pii: {phone: mask, on: [answers]}\n", &errs));
    assert_true(has_error(
        &errs, "t.yaml:6:27: expected request or response in guards.pii.on, found 'answers'"));
    assert_null(load("guards:\n  pii: {phone: mask, on: response}\n", &errs));
    assert_true(has_error(&errs, "t.yaml:6:26: expected a list for guards.pii.on, found a scalar"));
    assert_null(load("guards:\n  pii:\n    custom:\n"
                     "      - {name: t, pattern: x, max_length: 0}\n"
                     "      - {name: u, pattern: y, max_length: 5000}\n"
                     "      - {name: v, pattern: z, max_len: 5}\n",
                     &errs));
    assert_true(has_error(&errs, "t.yaml:8:43: expected an integer from 1 to 4096"));
    assert_true(has_error(&errs, "t.yaml:9:43: expected an integer from 1 to 4096"));
    assert_true(has_error(&errs, "t.yaml:10:31: unknown key 'max_len' in a guards.pii.custom "
                                 "entry (expected one of: name, pattern, action, max_length)"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pii_on_defaults_to_requests),
        cmocka_unit_test(mistakes_have_positions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
