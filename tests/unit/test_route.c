/* The balancer's order and the endpoint health machine, without a network: smooth weighted
 * round robin interleaves (never a burst of one channel), weight 0 drains, failures eject,
 * exactly one request probes an ejected endpoint, and a success brings it back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "route/route.h"
#include "upstream/endpoints.h"
#include "upstream/health_check.h"

static void swrr_interleaves_by_weight(void **state) {
    (void)state;
    uint32_t out[16];
    int weights[] = {3, 1};
    assert_int_equal(gw_route_swrr_schedule(weights, 2, out), 4);
    uint32_t want[] = {0, 0, 1, 0};
    assert_memory_equal(out, want, sizeof want);
    int five[] = {5, 1, 1};
    assert_int_equal(gw_route_swrr_schedule(five, 3, out), 7);
    uint32_t want5[] = {0, 0, 1, 0, 2, 0, 0}; /* nginx's order for 5:1:1 */
    assert_memory_equal(out, want5, sizeof want5);
}

static void weight_zero_drains(void **state) {
    (void)state;
    uint32_t out[8];
    int weights[] = {0, 2};
    assert_int_equal(gw_route_swrr_schedule(weights, 2, out), 2);
    assert_int_equal(out[0], 1);
    assert_int_equal(out[1], 1);
}

static void failures_eject_one_probe_recovers(void **state) {
    (void)state;
    gw_health_policy policy = {.failures = 2, .backoff_ms = 100, .max_backoff_ms = 400};
    gw_endpoint *ep = gw_endpoints_acquire("c", "http://127.0.0.1:1/v1");
    assert_non_null(ep);
    assert_string_equal(ep->base_url, "http://127.0.0.1:1/v1");
    int64_t t = 1000000000;
    gw_endpoint_report(ep, &policy, "c", 1, "upstream_timeout", t);
    assert_true(gw_endpoint_usable(ep, t)); /* one failure is not enough */
    gw_endpoint_report(ep, &policy, "c", 1, "upstream_timeout", t);
    assert_false(gw_endpoint_usable(ep, t));
    assert_false(gw_endpoint_claim(ep, t + 99000000));
    /* the back-off is over: one probe, not two */
    assert_true(gw_endpoint_claim(ep, t + 100000000));
    assert_false(gw_endpoint_claim(ep, t + 100000000));
    /* the probe fails: ejected for twice as long */
    gw_endpoint_report(ep, &policy, "c", 1, "upstream_timeout", t + 100000000);
    assert_false(gw_endpoint_claim(ep, t + 299000000));
    assert_true(gw_endpoint_claim(ep, t + 300000000));
    gw_endpoint_report(ep, &policy, "c", 0, NULL, t + 300000000);
    assert_true(gw_endpoint_usable(ep, t + 300000000));
    assert_int_equal(atomic_load(&ep->consecutive_failures), 0);
    gw_endpoint_release(ep);
    gw_endpoints_free_all();
}

static void health_url_keeps_host_swaps_port(void **state) {
    (void)state;
    char url[256];
    assert_int_equal(gw_health_check_url("http://10.0.0.5:1025/v1", 0, "/health", url, sizeof url),
                     0);
    assert_string_equal(url, "http://10.0.0.5:1025/health");
    assert_int_equal(
        gw_health_check_url("https://[fd00::2]:1025/v1", 1026, "/v2/health/ready", url, sizeof url),
        0);
    assert_string_equal(url,
                        "https://[fd00::2]:1026/v2/health/ready"); /* MindIE's management port */
    assert_int_equal(gw_health_check_url("http://engine/v1", 8080, "/health", url, sizeof url), 0);
    assert_string_equal(url, "http://engine:8080/health");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(swrr_interleaves_by_weight),
        cmocka_unit_test(weight_zero_drains),
        cmocka_unit_test(failures_eject_one_probe_recovers),
        cmocka_unit_test(health_url_keeps_host_swaps_port),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
