/* The headers no forward_headers pattern passes: each of them in any case, and nothing else
 * (names of the same length, prefixes, longer names that begin like one). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <ctype.h>
#include <string.h>

#include "core/forwarding.h"

static const char *const never[] = {"host",
                                    "content-length",
                                    "transfer-encoding",
                                    "connection",
                                    "keep-alive",
                                    "te",
                                    "trailer",
                                    "upgrade",
                                    "expect",
                                    "proxy-connection",
                                    "proxy-authorization",
                                    "proxy-authenticate",
                                    "content-type",
                                    "content-encoding",
                                    "accept-encoding",
                                    "authorization",
                                    "x-api-key",
                                    "http2-settings"};

static int check(const char *name) {
    return gw_header_never_forwarded(name, strlen(name));
}

static void each_name_in_any_case(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof never / sizeof *never; i++) {
        char upper[32];
        size_t len = strlen(never[i]);
        for (size_t j = 0; j <= len; j++)
            upper[j] = (char)toupper((unsigned char)never[i][j]);
        assert_true(check(never[i]));
        assert_true(check(upper));
        upper[0] = (char)tolower((unsigned char)upper[0]); /* mixed */
        assert_true(check(upper));
    }
    assert_true(check("Content-Type"));
    assert_true(check("X-Api-Key"));
}

static void other_names_pass(void **state) {
    (void)state;
    const char *others[] = {"",
                            "t",
                            "tf",
                            "hosts",
                            "hostx",
                            "x-sim-seed",
                            "traceparent",
                            "content-typo",
                            "accept",
                            "user-agent",
                            "x-api-keys",
                            "proxy-connectio",
                            "http2-setup",
                            "authorizatio",
                            "@e",
                            "Xe"};
    for (size_t i = 0; i < sizeof others / sizeof *others; i++)
        assert_false(check(others[i]));
    /* the length given is what counts, not a terminator */
    assert_true(gw_header_never_forwarded("hostname", 4));
    assert_false(gw_header_never_forwarded("host", 3));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(each_name_in_any_case),
        cmocka_unit_test(other_names_pass),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
