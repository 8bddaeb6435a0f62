/* Which base URLs the own HTTP/1.1 client takes (plain http to a literal address), and what it
 * makes of them: the address, the Host header as written, the base path without its '/'. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <string.h>

#include "upstream/h1_address.h"

static void ipv4_with_port_and_path(void **state) {
    (void)state;
    gw_h1_address a;
    assert_int_equal(gw_h1_address_parse("http://127.0.0.1:8000/v1/", &a), 0);
    const struct sockaddr_in *sa = (const struct sockaddr_in *)&a.addr;
    assert_int_equal(sa->sin_family, AF_INET);
    assert_int_equal(ntohs(sa->sin_port), 8000);
    assert_int_equal(ntohl(sa->sin_addr.s_addr), 0x7f000001);
    assert_int_equal(a.addr_len, sizeof *sa);
    assert_string_equal(a.host, "127.0.0.1:8000");
    assert_string_equal(a.path, "/v1");
}

static void ipv4_default_port_no_path(void **state) {
    (void)state;
    gw_h1_address a;
    assert_int_equal(gw_h1_address_parse("HTTP://10.1.2.3", &a), 0);
    assert_int_equal(ntohs(((const struct sockaddr_in *)&a.addr)->sin_port), 80);
    assert_string_equal(a.host, "10.1.2.3");
    assert_string_equal(a.path, "");
}

static void ipv6(void **state) {
    (void)state;
    gw_h1_address a;
    assert_int_equal(gw_h1_address_parse("http://[::1]:9001/openai/v1", &a), 0);
    const struct sockaddr_in6 *sa = (const struct sockaddr_in6 *)&a.addr;
    assert_int_equal(sa->sin6_family, AF_INET6);
    assert_int_equal(ntohs(sa->sin6_port), 9001);
    assert_string_equal(a.host, "[::1]:9001");
    assert_string_equal(a.path, "/openai/v1");
}

static void left_to_curl(void **state) {
    (void)state;
    gw_h1_address a;
    const char *curl_urls[] = {
        "https://127.0.0.1:8000/v1", /* TLS */
        "http://localhost:8000/v1",  /* a name to resolve */
        "http://vllm.svc:8000",
        "http://user:pw@127.0.0.1/v1",  /* user info */
        "http://127.0.0.1:8000/v1?x=1", /* a query */
        "http://127.0.0.1:0/v1",        /* no port */
        "http://127.0.0.1:65536/v1",
        "http://127.0.0.1:80a/v1",
        "http://[::1/v1",
        "http://[fe80::1%25eth0]:80/", /* a zone */
        "http://127.1/v1",             /* inet_aton's shorthand: curl's reading */
        "ftp://127.0.0.1/",
        "",
    };
    for (size_t i = 0; i < sizeof curl_urls / sizeof *curl_urls; i++)
        assert_int_equal(gw_h1_address_parse(curl_urls[i], &a), -1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ipv4_with_port_and_path),
        cmocka_unit_test(ipv4_default_port_no_path),
        cmocka_unit_test(ipv6),
        cmocka_unit_test(left_to_curl),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
