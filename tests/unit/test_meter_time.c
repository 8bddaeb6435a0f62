/* Times the usage and request APIs take (RFC 3339, a bare date, unix seconds) and write back;
 * URL query parameters (percent-decoding, a name given twice, unknown names). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>
#include <time.h>

#include "admin/query_params.h"
#include "meter/time_parse.h"

static int64_t parse(const char *s) {
    int64_t ms = -42;
    if (gw_time_parse(s, strlen(s), &ms) < 0) return -1;
    return ms;
}

static void rfc3339_and_unix_seconds(void **state) {
    (void)state;
    assert_int_equal(parse("2024-06-01T00:00:00Z"), 1717200000000LL);
    assert_int_equal(parse("2024-06-01t00:00:00z"), 1717200000000LL);
    assert_int_equal(parse("2024-06-01 00:00:00Z"), 1717200000000LL);
    assert_int_equal(parse("2024-06-01"), 1717200000000LL); /* midnight UTC */
    assert_int_equal(parse("2024-06-01T08:00:00+08:00"), 1717200000000LL);
    assert_int_equal(parse("2024-05-31T19:30:00-04:30"), 1717200000000LL);
    assert_int_equal(parse("2024-06-01T00:00:00.5Z"), 1717200000500LL);
    assert_int_equal(parse("2024-06-01T00:00:00.123456789Z"), 1717200000123LL);
    assert_int_equal(parse("1970-01-01T00:00:00Z"), 0);
    assert_int_equal(parse("2024-02-29T12:00:00Z"), 1709208000000LL); /* a leap day */
    assert_int_equal(parse("2016-12-31T23:59:60Z"), 1483228800000LL); /* a leap second */
    assert_int_equal(parse("1717200000"), 1717200000000LL);
    assert_int_equal(parse("1717200000.25"), 1717200000250LL);
    assert_int_equal(parse("0"), 0);
    /* every day of four years round-trips through the civil conversion */
    for (int64_t d = 19000; d < 19000 + 4 * 366; d++) {
        int64_t y;
        unsigned m, day;
        gw_civil_from_days(d, &y, &m, &day);
        assert_int_equal(gw_days_from_civil(y, m, day), d);
    }
    /* and agrees with the C library */
    for (int64_t t = 0; t < 4102444800LL; t += 86400 * 37 + 3671) {
        struct tm tm;
        time_t tt = (time_t)t;
        gmtime_r(&tt, &tm);
        char text[40];
        strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm);
        assert_int_equal(parse(text), t * 1000);
    }
}

static void malformed_times_refused(void **state) {
    (void)state;
    const char *const bad[] = {
        "",
        "yesterday",
        "2024-06-01T00:00:00",  /* no offset */
        "2024-06-01T00:00Z",    /* no seconds */
        "2024-13-01T00:00:00Z", /* month */
        "2023-02-29T00:00:00Z", /* not a leap year */
        "2024-06-31",           /* June has 30 days */
        "2024-06-01T24:00:00Z", /* hour */
        "2024-06-01T00:60:00Z", /* minute */
        "2024-06-01T00:00:00+8:00",
        "2024-06-01T00:00:00+08:00junk",
        "2024-06-01T00:00:00.Z",
        "1969-12-31T23:59:59Z", /* before 1970 */
        "-5",
        "12.",
        "1e9",
        "1717200000x",
        "9999999999999", /* beyond year 9999 */
        "2024-6-1",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t ms;
        if (gw_time_parse(bad[i], strlen(bad[i]), &ms) == 0) fail_msg("accepted '%s'", bad[i]);
    }
}

static void formats_back(void **state) {
    (void)state;
    char out[32];
    assert_int_equal(gw_time_format(1717200000000LL, out), 20);
    assert_string_equal(out, "2024-06-01T00:00:00Z");
    gw_time_format(1717200000123LL, out);
    assert_string_equal(out, "2024-06-01T00:00:00.123Z");
    gw_time_format(0, out);
    assert_string_equal(out, "1970-01-01T00:00:00Z");
    gw_time_format(253402300799000LL, out);
    assert_string_equal(out, "9999-12-31T23:59:59Z");
}

static void query_parameters(void **state) {
    (void)state;
    const char q[] = "from=2024-06-01T00%3A00%3A00Z&group_by=tenant,model&x=a+b&empty=&flag&"
                     "dup=1&dup=2&bad=%zz&nul=%00";
    size_t len = strlen(q);
    char v[64];
    assert_int_equal(gw_query_param(q, len, "from", v, sizeof v), 20);
    assert_string_equal(v, "2024-06-01T00:00:00Z");
    assert_int_equal(gw_query_param(q, len, "group_by", v, sizeof v), 12);
    assert_string_equal(v, "tenant,model");
    assert_int_equal(gw_query_param(q, len, "x", v, sizeof v), 3);
    assert_string_equal(v, "a b");
    assert_int_equal(gw_query_param(q, len, "empty", v, sizeof v), 0);
    assert_int_equal(gw_query_param(q, len, "flag", v, sizeof v), 0);
    assert_int_equal(gw_query_param(q, len, "missing", v, sizeof v), -1);
    assert_int_equal(gw_query_param(q, len, "dup", v, sizeof v), -2);
    assert_int_equal(gw_query_param(q, len, "bad", v, sizeof v), -2);
    assert_int_equal(gw_query_param(q, len, "nul", v, sizeof v), -2);
    assert_int_equal(gw_query_param(q, len, "from", v, 8), -2); /* longer than the buffer */
    assert_int_equal(gw_query_param(NULL, 0, "from", v, sizeof v), -1);
    /* the last byte of a query may be an escape's */
    assert_int_equal(gw_query_param("a=%4", 4, "a", v, sizeof v), -2);
    assert_int_equal(gw_query_param("a=%41", 5, "a", v, sizeof v), 1);
    assert_string_equal(v, "A");

    static const char *const allowed[] = {"from", "to", NULL};
    char bad[32];
    assert_int_equal(gw_query_unknown("from=1&to=2", 11, allowed, bad, sizeof bad), 0);
    assert_int_equal(gw_query_unknown("from=1&tO=2", 11, allowed, bad, sizeof bad), 1);
    assert_string_equal(bad, "tO");
    assert_int_equal(gw_query_unknown("", 0, allowed, bad, sizeof bad), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rfc3339_and_unix_seconds),
        cmocka_unit_test(malformed_times_refused),
        cmocka_unit_test(formats_back),
        cmocka_unit_test(query_parameters),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
