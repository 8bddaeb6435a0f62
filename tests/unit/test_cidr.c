/* CIDR lists and the client address behind proxies: parsing (and the messages for bad
 * entries), matching at the edges of IPv4 and IPv6 blocks, v4-mapped addresses, merging,
 * allow/deny, X-Forwarded-For walked through trusted proxies (forged entries, malformed ones,
 * the hop bound), a check against a brute-force matcher, and the cost of a lookup. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>

#include "security/cidr.h"
#include "security/cidr_list.h"
#include "security/client_address.h"

/* A list from texts; fails the test when one is refused. */
static gw_cidr_list *list_of(const char *const *texts, size_t n) {
    char err[256];
    gw_cidr_list *l = gw_cidr_list_parse(texts, n, err, sizeof err);
    if (!l) fail_msg("%s", err);
    return l;
}

#define LIST(...)                                                                                  \
    list_of((const char *const[]){__VA_ARGS__},                                                    \
            sizeof((const char *const[]){__VA_ARGS__}) / sizeof(const char *))

static int matches(const gw_cidr_list *l, const char *addr) {
    int m = gw_cidr_match_text(l, addr, strlen(addr));
    if (m < 0) fail_msg("\"%s\" is not an address", addr);
    return m;
}

static struct sockaddr_storage sa_of(const char *addr) {
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    if (strchr(addr, ':')) {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
        in6->sin6_family = AF_INET6;
        assert_int_equal(inet_pton(AF_INET6, addr, &in6->sin6_addr), 1);
    } else {
        struct sockaddr_in *in = (struct sockaddr_in *)&ss;
        in->sin_family = AF_INET;
        assert_int_equal(inet_pton(AF_INET, addr, &in->sin_addr), 1);
    }
    return ss;
}

static void parse_and_format(void **state) {
    (void)state;
    const struct {
        const char *in, *addr;
        unsigned prefix;
        int family;
    } cases[] = {
        {"10.0.0.0/8", "10.0.0.0", 8, AF_INET},
        {"127.0.0.1", "127.0.0.1", 32, AF_INET},
        {"0.0.0.0/0", "0.0.0.0", 0, AF_INET},
        {"::1", "::1", 128, AF_INET6},
        {"::1/128", "::1", 128, AF_INET6},
        {"::/0", "::", 0, AF_INET6},
        {"2001:DB8::/32", "2001:db8::", 32, AF_INET6},
        {"::ffff:10.1.2.3", "10.1.2.3", 32, AF_INET}, /* v4-mapped is IPv4 */
        {"::ffff:10.0.0.0/104", "10.0.0.0", 8, AF_INET},
        {"::ffff:0:0/96", "0.0.0.0", 0, AF_INET},
        {"::10.1.2.3", "::10.1.2.3", 128, AF_INET6}, /* v4-compatible is not mapped */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        gw_cidr c;
        char err[200], text[GW_IP_TEXT_MAX + 1];
        if (gw_cidr_parse(cases[i].in, strlen(cases[i].in), &c, err, sizeof err) != 0)
            fail_msg("%s: %s", cases[i].in, err);
        assert_string_equal(gw_ip_format(&c.addr, text, sizeof text), cases[i].addr);
        assert_int_equal(c.prefix, cases[i].prefix);
        assert_int_equal(c.addr.family, cases[i].family);
    }
}

static void bad_entries_are_named(void **state) {
    (void)state;
    const struct {
        const char *in, *says;
    } cases[] = {
        {"", "empty"},
        {"10.0.0.0/33", "\"10.0.0.0/33\": the prefix length must be a number from 0 to 32"},
        {"::1/129", "from 0 to 128"},
        {"10.0.0.0/", "prefix length"},
        {"10.0.0.0/-1", "prefix length"},
        {"10.0.0.0/+8", "prefix length"},
        {"10.0.0.0/08", "prefix length"},
        {"10.0.0.0/8/8", "prefix length"},
        {"10.0.0.0/ 8", "prefix length"},
        {"10.0.0/8", "\"10.0.0\" is not an IPv4 or IPv6 address"},
        {"10.0.0.256", "not an IPv4 or IPv6 address"},
        {"010.0.0.1", "not an IPv4 or IPv6 address"},
        {"0x0a.0.0.1", "not an IPv4 or IPv6 address"},
        {" 10.0.0.0/8", "not an IPv4 or IPv6 address"},
        {"10.0.0.0 /8", "not an IPv4 or IPv6 address"},
        {"fe80::1%eth0", "not an IPv4 or IPv6 address"},
        {"[::1]", "not an IPv4 or IPv6 address"},
        {"1.2.3.4:80", "not an IPv4 or IPv6 address"},
        {"localhost", "not an IPv4 or IPv6 address"},
        {"10.0.0.1/8", "\"10.0.0.1/8\": bits are set after the prefix (the block is 10.0.0.0/8)"},
        {"2001:db8::1/32", "(the block is 2001:db8::/32)"},
        {"10.6.6.128/24", "(the block is 10.6.6.0/24)"},
        {"::ffff:10.0.0.0/80", "needs a prefix of /96 or more"},
        {"1111:2222:3333:4444:5555:6666:7777:8888/128/extra-text-beyond-the-limit-of-64", "longer"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        gw_cidr c;
        char err[200];
        assert_int_equal(gw_cidr_parse(cases[i].in, strlen(cases[i].in), &c, err, sizeof err), -1);
        if (!strstr(err, cases[i].says)) fail_msg("%s: \"%s\"", cases[i].in, err);
    }
    /* a list names the entry by index */
    char err[256];
    const char *texts[] = {"10.0.0.0/8", "::1", "10.0.0.300"};
    assert_null(gw_cidr_list_parse(texts, 3, err, sizeof err));
    assert_string_equal(err, "entry 2: \"10.0.0.300\": \"10.0.0.300\" is not an IPv4 or IPv6 "
                             "address");
    /* a lookup of something that is not an address */
    gw_cidr_list *l = LIST("0.0.0.0/0");
    assert_int_equal(gw_cidr_match_text(l, "10.0.0.1 ", 9), -1);
    assert_int_equal(gw_cidr_match_text(l, "", 0), -1);
    assert_int_equal(gw_cidr_match_text(l, "10.0.0.1\0", 9), -1);
    gw_cidr_list_free(l);
}

static void ipv4_edges(void **state) {
    (void)state;
    gw_cidr_list *l = LIST("10.0.0.0/8", "192.168.1.7", "172.16.0.0/12", "100.64.0.0/31");
    assert_true(matches(l, "10.0.0.0"));
    assert_true(matches(l, "10.255.255.255"));
    assert_false(matches(l, "9.255.255.255"));
    assert_false(matches(l, "11.0.0.0"));
    assert_true(matches(l, "192.168.1.7"));
    assert_false(matches(l, "192.168.1.6"));
    assert_false(matches(l, "192.168.1.8"));
    assert_true(matches(l, "172.31.255.255"));
    assert_false(matches(l, "172.32.0.0"));
    assert_false(matches(l, "172.15.255.255"));
    assert_true(matches(l, "100.64.0.1"));
    assert_false(matches(l, "100.64.0.2"));
    assert_false(matches(l, "0.0.0.0"));
    assert_false(matches(l, "255.255.255.255"));
    assert_false(matches(l, "::a00:1")); /* 10.0.0.1's bits as IPv6: another address */
    assert_int_equal(gw_cidr_list_count(l), 4);
    gw_cidr_list_free(l);

    l = LIST("0.0.0.0/0");
    assert_true(matches(l, "0.0.0.0"));
    assert_true(matches(l, "255.255.255.255"));
    assert_true(matches(l, "::ffff:8.8.8.8"));
    assert_false(matches(l, "::1"));
    assert_false(matches(l, "2001:db8::1"));
    gw_cidr_list_free(l);

    l = LIST("255.255.255.255", "0.0.0.0/32");
    assert_true(matches(l, "255.255.255.255"));
    assert_false(matches(l, "255.255.255.254"));
    assert_true(matches(l, "0.0.0.0"));
    assert_false(matches(l, "0.0.0.1"));
    gw_cidr_list_free(l);
}

static void ipv6_edges(void **state) {
    (void)state;
    gw_cidr_list *l = LIST("2001:db8::/32", "::1/128", "fd00:0:0:0:8000::/65", "fe80::/10");
    assert_true(matches(l, "2001:db8::"));
    assert_true(matches(l, "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"));
    assert_false(matches(l, "2001:db7:ffff:ffff:ffff:ffff:ffff:ffff"));
    assert_false(matches(l, "2001:db9::"));
    assert_true(matches(l, "::1"));
    assert_false(matches(l, "::2"));
    assert_false(matches(l, "::"));
    assert_false(matches(l, "127.0.0.1")); /* ::1 is not IPv4's loopback */
    /* a /65: the block starts and ends inside the low 64 bits */
    assert_true(matches(l, "fd00::8000:0:0:0"));
    assert_true(matches(l, "fd00::ffff:ffff:ffff:ffff"));
    assert_false(matches(l, "fd00::7fff:ffff:ffff:ffff"));
    assert_false(matches(l, "fd00:0:0:1::"));
    assert_true(matches(l, "febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff"));
    assert_false(matches(l, "fec0::"));
    gw_cidr_list_free(l);

    l = LIST("::/0");
    assert_true(matches(l, "::"));
    assert_true(matches(l, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"));
    /* every IPv6 address, not every address: v4 clients match IPv4 blocks only */
    assert_false(matches(l, "10.0.0.1"));
    assert_false(matches(l, "::ffff:10.0.0.1"));
    gw_cidr_list_free(l);

    l = LIST("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "2001:db8::/63");
    assert_true(matches(l, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"));
    assert_false(matches(l, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe"));
    assert_true(matches(l, "2001:db8:0:1:ffff:ffff:ffff:ffff"));
    assert_false(matches(l, "2001:db8:0:2::"));
    gw_cidr_list_free(l);
}

static void v4_mapped_addresses(void **state) {
    (void)state;
    /* an IPv4 entry covers a client that a dual-stack socket reports as ::ffff:a.b.c.d, and a
     * mapped entry covers a plain IPv4 client */
    gw_cidr_list *l = LIST("127.0.0.0/8", "::ffff:192.0.2.0/120");
    assert_true(matches(l, "::ffff:127.0.0.1"));
    assert_true(matches(l, "192.0.2.255"));
    assert_false(matches(l, "192.0.3.0"));
    struct sockaddr_storage ss = sa_of("::ffff:127.1.2.3");
    assert_true(gw_cidr_match(l, (struct sockaddr *)&ss));
    ss = sa_of("127.1.2.3");
    assert_true(gw_cidr_match(l, (struct sockaddr *)&ss));
    ss = sa_of("::1");
    assert_false(gw_cidr_match(l, (struct sockaddr *)&ss));
    gw_ip ip;
    assert_int_equal(gw_ip_from_sockaddr((struct sockaddr *)&ss, &ip), 0);
    assert_int_equal(ip.family, AF_INET6);
    ss = sa_of("::ffff:192.0.2.9");
    assert_int_equal(gw_ip_from_sockaddr((struct sockaddr *)&ss, &ip), 0);
    assert_int_equal(ip.family, AF_INET);
    /* other families and NULL match nothing */
    struct sockaddr_un un = {.sun_family = AF_UNIX};
    assert_false(gw_cidr_match(l, (struct sockaddr *)&un));
    assert_int_equal(gw_ip_from_sockaddr((struct sockaddr *)&un, &ip), -1);
    assert_false(gw_cidr_match(l, NULL));
    assert_false(gw_cidr_match(NULL, (struct sockaddr *)&ss));
    gw_cidr_list_free(l);
}

static void overlapping_and_adjacent_blocks_merge(void **state) {
    (void)state;
    gw_cidr_list *l = LIST("10.0.0.0/9", "10.128.0.0/9", "10.1.0.0/16", "10.0.0.0/8", "11.0.0.0/8",
                           "255.255.255.254/31", "255.255.255.255", "0.0.0.0/32");
    assert_true(matches(l, "10.127.255.255"));
    assert_true(matches(l, "10.128.0.0"));
    assert_true(matches(l, "11.255.255.255"));
    assert_false(matches(l, "12.0.0.0"));
    assert_true(matches(l, "255.255.255.254"));
    assert_true(matches(l, "255.255.255.255"));
    assert_false(matches(l, "255.255.255.253"));
    assert_true(matches(l, "0.0.0.0"));
    assert_int_equal(gw_cidr_list_count(l), 8);
    gw_cidr_list_free(l);
    /* one address apart is not adjacent */
    l = LIST("192.168.1.7", "192.168.1.9", "::1", "::3", "10.0.0.0/24", "10.0.1.1");
    assert_false(matches(l, "192.168.1.8"));
    assert_false(matches(l, "::2"));
    assert_false(matches(l, "10.0.1.0"));
    assert_true(matches(l, "192.168.1.9"));
    assert_true(matches(l, "::3"));
    gw_cidr_list_free(l);
    /* an empty list matches nothing */
    gw_cidr_list *empty = gw_cidr_list_new(NULL, 0);
    assert_non_null(empty);
    assert_false(matches(empty, "10.0.0.1"));
    assert_false(matches(empty, "::1"));
    gw_cidr_list_free(empty);
}

static void deny_wins_and_empty_allow_allows_all(void **state) {
    (void)state;
    /* the example */
    gw_cidr_list *allow = LIST("10.0.0.0/8", "::1/128", "127.0.0.0/8");
    gw_cidr_list *deny = LIST("10.6.6.0/24");
    gw_cidr_list *empty = gw_cidr_list_new(NULL, 0);
    const struct {
        const char *addr;
        int global, no_allow, no_lists;
    } cases[] = {
        {"10.1.2.3", 1, 1, 1},   {"10.6.6.7", 0, 0, 1},        {"10.6.7.1", 1, 1, 1},
        {"::1", 1, 1, 1},        {"::ffff:10.6.6.1", 0, 0, 1}, {"::ffff:127.0.0.1", 1, 1, 1},
        {"192.0.2.1", 0, 1, 1},  {"2001:db8::1", 0, 1, 1},     {"10.6.6.255", 0, 0, 1},
        {"10.6.5.255", 1, 1, 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        gw_ip ip;
        assert_int_equal(gw_ip_parse(cases[i].addr, strlen(cases[i].addr), &ip), 0);
        if (gw_cidr_allowed(allow, deny, &ip) != cases[i].global ||
            gw_cidr_allowed(empty, deny, &ip) != cases[i].no_allow ||
            gw_cidr_allowed(NULL, NULL, &ip) != cases[i].no_lists)
            fail_msg("%s", cases[i].addr);
    }
    /* deny wins even when allow names the very address */
    gw_cidr_list *both = LIST("10.6.6.6");
    gw_ip ip;
    gw_ip_parse("10.6.6.6", 8, &ip);
    assert_false(gw_cidr_allowed(both, both, &ip));
    /* no address at all: refused by any allow list */
    gw_ip none = {0};
    assert_false(gw_cidr_allowed(allow, NULL, &none));
    assert_true(gw_cidr_allowed(NULL, deny, &none));
    gw_cidr_list_free(both);
    gw_cidr_list_free(allow);
    gw_cidr_list_free(deny);
    gw_cidr_list_free(empty);
}

/* The client for peer and header with trusted; the address as text into out. */
static int client(const char *peer, const char *xff, const gw_cidr_list *trusted, char *out) {
    struct sockaddr_storage ss = sa_of(peer);
    gw_ip ip;
    int taken = gw_client_address((struct sockaddr *)&ss, xff, xff ? strlen(xff) : 0, trusted, &ip);
    gw_ip_format(&ip, out, GW_IP_TEXT_MAX + 1);
    return taken;
}

static void xff_walks_trusted_proxies_only(void **state) {
    (void)state;
    gw_cidr_list *trusted = LIST("10.0.0.1/32", "10.0.1.0/24", "::1", "fd00::/8");
    const struct {
        const char *peer, *xff, *client;
        int taken;
    } cases[] = {
        /* an untrusted peer is the client whatever it claims */
        {"203.0.113.9", "198.51.100.7", "203.0.113.9", 0},
        {"203.0.113.9", NULL, "203.0.113.9", 0},
        /* a trusted peer hands over to the address it appended */
        {"10.0.0.1", "198.51.100.7", "198.51.100.7", 1},
        {"10.0.0.1", NULL, "10.0.0.1", 0},
        {"10.0.0.1", "", "10.0.0.1", 0},
        /* forged entries left of the first untrusted address are ignored */
        {"10.0.0.1", "10.0.1.5, 1.1.1.1, 198.51.100.7", "198.51.100.7", 1},
        {"10.0.0.1", "6.6.6.6,198.51.100.7", "198.51.100.7", 1},
        /* a chain of trusted proxies */
        {"10.0.0.1", "198.51.100.7, 10.0.1.2, 10.0.1.3", "198.51.100.7", 3},
        {"10.0.0.1", "10.0.1.99, 198.51.100.7, 10.0.1.3", "198.51.100.7", 2},
        /* every hop trusted: the leftmost is as far as the header goes */
        {"10.0.0.1", "10.0.1.5, 10.0.1.6", "10.0.1.5", 2},
        /* IPv6 peers and hops, ports, brackets, spaces and tabs */
        {"::1", "2001:db8::7", "2001:db8::7", 1},
        {"::1", "[2001:db8::7]:443", "2001:db8::7", 1},
        {"::1", " [2001:db8::7] ", "2001:db8::7", 1},
        {"::1", "198.51.100.7:5678", "198.51.100.7", 1},
        {"::1", "\t198.51.100.7\t", "198.51.100.7", 1},
        {"fd00::5", "198.51.100.7 , fd12::1", "198.51.100.7", 2},
        {"::ffff:10.0.0.1", "198.51.100.7", "198.51.100.7", 1}, /* mapped peer: IPv4 */
        {"10.0.0.1", "::ffff:198.51.100.7", "198.51.100.7", 1},
        /* malformed: the walk stops at the last verified address */
        {"10.0.0.1", "unknown", "10.0.0.1", 0},
        {"10.0.0.1", "198.51.100.7, garbage, 10.0.1.3", "10.0.1.3", 1},
        {"10.0.0.1", "198.51.100.7,", "10.0.0.1", 0},
        {"10.0.0.1", "198.51.100.7,,10.0.1.3", "10.0.1.3", 1},
        {"10.0.0.1", ",", "10.0.0.1", 0},
        {"10.0.0.1", "   ", "10.0.0.1", 0},
        {"10.0.0.1", "198.51.100.7:", "10.0.0.1", 0},
        {"10.0.0.1", "198.51.100.7:80x", "10.0.0.1", 0},
        {"10.0.0.1", "198.51.100.7:123456", "10.0.0.1", 0},
        {"10.0.0.1", "[2001:db8::7", "10.0.0.1", 0},
        {"10.0.0.1", "[2001:db8::7]x", "10.0.0.1", 0},
        {"10.0.0.1", "[198.51.100.7:80]", "10.0.0.1", 0},
        {"10.0.0.1", "fe80::1%eth0", "10.0.0.1", 0},
        {"10.0.0.1", "198.51.100.7/32", "10.0.0.1", 0},
        {"10.0.0.1", "198.51.100.7 10.0.1.3", "10.0.0.1", 0},
        {"10.0.0.1", "_hidden", "10.0.0.1", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char got[GW_IP_TEXT_MAX + 1];
        int taken = client(cases[i].peer, cases[i].xff, trusted, got);
        if (taken != cases[i].taken || strcmp(got, cases[i].client) != 0)
            fail_msg("peer %s, xff \"%s\": %s after %d hops", cases[i].peer,
                     cases[i].xff ? cases[i].xff : "(none)", got, taken);
    }
    /* no trusted list: the peer, always */
    char got[GW_IP_TEXT_MAX + 1];
    assert_int_equal(client("10.0.0.1", "198.51.100.7", NULL, got), 0);
    assert_string_equal(got, "10.0.0.1");
    /* a peer of another family */
    struct sockaddr_un un = {.sun_family = AF_UNIX};
    gw_ip ip;
    assert_int_equal(gw_client_address((struct sockaddr *)&un, "1.2.3.4", 7, trusted, &ip), -1);
    assert_int_equal(ip.family, 0);
    /* the header's length is the caller's: bytes past it are not read */
    struct sockaddr_storage ss = sa_of("10.0.0.1");
    assert_int_equal(
        gw_client_address((struct sockaddr *)&ss, "198.51.100.7, 10.0.1.3", 12, trusted, &ip), 1);
    assert_string_equal(gw_ip_format(&ip, got, sizeof got), "198.51.100.7");
    gw_cidr_list_free(trusted);
}

static void xff_lines_walk_as_one_list(void **state) {
    (void)state;
    gw_cidr_list *trusted = LIST("10.0.0.1", "10.0.1.0/24");
    struct sockaddr_storage peer = sa_of("10.0.0.1");
    char got[GW_IP_TEXT_MAX + 1];
    gw_ip ip;
    /* the client forged a line; the proxy appended its own: the proxy's line decides */
    gw_xff_line forged[] = {{"10.0.1.77", 9}, {"198.51.100.7", 12}};
    assert_int_equal(gw_client_address_lines((struct sockaddr *)&peer, forged, 2, trusted, &ip), 1);
    assert_string_equal(gw_ip_format(&ip, got, sizeof got), "198.51.100.7");
    /* trusted hops continue into the line before */
    gw_xff_line chain[] = {{"6.6.6.6, 203.0.113.5", 20}, {"10.0.1.2", 8}, {" 10.0.1.3 ", 10}};
    assert_int_equal(gw_client_address_lines((struct sockaddr *)&peer, chain, 3, trusted, &ip), 3);
    assert_string_equal(gw_ip_format(&ip, got, sizeof got), "203.0.113.5");
    /* an empty line is an empty element: the walk stops at the last verified hop */
    gw_xff_line gap[] = {{"203.0.113.5", 11}, {"", 0}, {"10.0.1.3", 8}};
    assert_int_equal(gw_client_address_lines((struct sockaddr *)&peer, gap, 3, trusted, &ip), 1);
    assert_string_equal(gw_ip_format(&ip, got, sizeof got), "10.0.1.3");
    /* no lines: the peer */
    assert_int_equal(gw_client_address_lines((struct sockaddr *)&peer, NULL, 0, trusted, &ip), 0);
    assert_string_equal(gw_ip_format(&ip, got, sizeof got), "10.0.0.1");
    /* the hop bound counts over all lines */
    gw_xff_line many[100];
    for (size_t i = 0; i < 100; i++)
        many[i] = (gw_xff_line){"10.0.1.9", 8};
    many[0] = (gw_xff_line){"198.51.100.7", 12};
    assert_int_equal(gw_client_address_lines((struct sockaddr *)&peer, many, 100, trusted, &ip),
                     GW_XFF_MAX_HOPS);
    assert_string_equal(gw_ip_format(&ip, got, sizeof got), "10.0.1.9");
    gw_cidr_list_free(trusted);
}

static void xff_hop_bound(void **state) {
    (void)state;
    gw_cidr_list *trusted = LIST("10.0.0.0/8");
    char *xff = malloc(200 * 16 + 64);
    char got[GW_IP_TEXT_MAX + 1];
    /* the client behind 63 trusted hops (64 entries) is found */
    size_t len = (size_t)sprintf(xff, "198.51.100.7");
    for (int i = 0; i < 63; i++)
        len += (size_t)sprintf(xff + len, ", 10.0.%d.%d", i / 250, i % 250);
    assert_int_equal(client("10.0.0.1", xff, trusted, got), 64);
    assert_string_equal(got, "198.51.100.7");
    /* behind 64 trusted hops it is not: the walk stops at the 64th entry, a trusted one */
    len = (size_t)sprintf(xff, "198.51.100.7");
    for (int i = 0; i < 64; i++)
        len += (size_t)sprintf(xff + len, ", 10.0.%d.%d", i / 250, i % 250);
    assert_int_equal(client("10.0.0.1", xff, trusted, got), GW_XFF_MAX_HOPS);
    assert_string_equal(got, "10.0.0.0"); /* the 64th entry from the right */
    free(xff);
    /* one enormous element is not scanned to its start */
    size_t big = 1 << 20;
    char *huge = malloc(big + 32);
    memset(huge, '1', big);
    strcpy(huge + big, ", 10.9.9.9");
    assert_int_equal(client("10.0.0.1", huge, trusted, got), 1);
    assert_string_equal(got, "10.9.9.9");
    free(huge);
    gw_cidr_list_free(trusted);
}

/* xorshift64: reproducible pseudo-random numbers */
static uint64_t rnd(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* Whether ip is in block c, bit by bit: the reference the list is checked against. */
static int brute_in(const gw_cidr *c, const gw_ip *ip) {
    if (c->addr.family != ip->family) return 0;
    for (unsigned b = 0; b < c->prefix; b++) {
        int x = (c->addr.bytes[b / 8] >> (7 - b % 8)) & 1,
            y = (ip->bytes[b / 8] >> (7 - b % 8)) & 1;
        if (x != y) return 0;
    }
    return 1;
}

/* A random block: IPv4 mostly, sometimes IPv6 within 2001:db8::/32 so that lookups hit it */
static gw_cidr random_block(uint64_t *s) {
    gw_cidr c;
    memset(&c, 0, sizeof c);
    uint64_t r = rnd(s);
    if (r % 8 == 0) {
        c.addr.family = AF_INET6;
        c.addr.bytes[0] = 0x20, c.addr.bytes[1] = 0x01, c.addr.bytes[2] = 0x0d,
        c.addr.bytes[3] = 0xb8;
        for (int i = 4; i < 16; i++)
            c.addr.bytes[i] = (uint8_t)rnd(s);
        c.prefix = 32 + (unsigned)(rnd(s) % 97);
    } else {
        c.addr.family = AF_INET;
        uint32_t a = (uint32_t)rnd(s);
        memcpy(c.addr.bytes, &a, 4);
        c.prefix = 8 + (unsigned)(rnd(s) % 25);
    }
    /* clear the bits after the prefix, as parsing requires */
    unsigned bytes = c.addr.family == AF_INET ? 4 : 16;
    for (unsigned i = 0; i < bytes; i++) {
        unsigned first = i * 8;
        if (first >= c.prefix)
            c.addr.bytes[i] = 0;
        else if (first + 8 > c.prefix)
            c.addr.bytes[i] &= (uint8_t)(0xff << (first + 8 - c.prefix));
    }
    return c;
}

/* A random address near a random block (inside or just around it) or anywhere. */
static gw_ip random_address(uint64_t *s, const gw_cidr *blocks, size_t n) {
    gw_ip ip;
    const gw_cidr *c = &blocks[rnd(s) % n];
    ip = c->addr;
    unsigned bytes = ip.family == AF_INET ? 4 : 16;
    unsigned from = (unsigned)(rnd(s) % (bytes * 8 + 1)); /* randomize bits from here on */
    for (unsigned b = from; b < bytes * 8; b++)
        if (rnd(s) & 1) ip.bytes[b / 8] ^= (uint8_t)(0x80 >> (b % 8));
    return ip;
}

static void agrees_with_brute_force(void **state) {
    (void)state;
    uint64_t s = 0x9e3779b97f4a7c15u;
    enum { N = 400, LOOKUPS = 20000 };
    gw_cidr blocks[N];
    for (size_t i = 0; i < N; i++)
        blocks[i] = random_block(&s);
    gw_cidr_list *l = gw_cidr_list_new(blocks, N);
    assert_non_null(l);
    size_t hits = 0;
    for (size_t i = 0; i < LOOKUPS; i++) {
        gw_ip ip = random_address(&s, blocks, N);
        int want = 0;
        for (size_t j = 0; j < N && !want; j++)
            want = brute_in(&blocks[j], &ip);
        hits += (size_t)want;
        if (gw_cidr_match_ip(l, &ip) != want) {
            char text[GW_IP_TEXT_MAX + 1];
            fail_msg("%s: want %d", gw_ip_format(&ip, text, sizeof text), want);
        }
    }
    /* both outcomes were exercised */
    assert_true(hits > LOOKUPS / 10 && hits < LOOKUPS - LOOKUPS / 10);
    gw_cidr_list_free(l);
}

static double cpu_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void lookups_are_fast(void **state) {
    (void)state;
    uint64_t s = 42;
    enum { N = 10000, LOOKUPS = 1000000, DISTINCT = 4096 };
    gw_cidr *blocks = malloc(N * sizeof *blocks);
    for (size_t i = 0; i < N; i++)
        blocks[i] = random_block(&s);
    gw_cidr_list *l = gw_cidr_list_new(blocks, N);
    gw_ip *ips = malloc(DISTINCT * sizeof *ips);
    for (size_t i = 0; i < DISTINCT; i++)
        ips[i] = random_address(&s, blocks, N);
    double t0 = cpu_seconds();
    size_t hits = 0;
    for (size_t i = 0; i < LOOKUPS; i++)
        hits += (size_t)gw_cidr_match_ip(l, &ips[i % DISTINCT]);
    double spent = cpu_seconds() - t0;
    print_message("%d lookups in %d entries: %.0f ns each (%zu hits)\n", LOOKUPS, N,
                  spent / LOOKUPS * 1e9, hits);
    /* well under a microsecond each, with room for sanitizers and slow machines */
    assert_true(spent < 1.0);
    assert_true(hits > 0);
    free(ips);
    free(blocks);
    gw_cidr_list_free(l);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parse_and_format),
        cmocka_unit_test(bad_entries_are_named),
        cmocka_unit_test(ipv4_edges),
        cmocka_unit_test(ipv6_edges),
        cmocka_unit_test(v4_mapped_addresses),
        cmocka_unit_test(overlapping_and_adjacent_blocks_merge),
        cmocka_unit_test(deny_wins_and_empty_allow_allows_all),
        cmocka_unit_test(xff_walks_trusted_proxies_only),
        cmocka_unit_test(xff_lines_walk_as_one_list),
        cmocka_unit_test(xff_hop_bound),
        cmocka_unit_test(agrees_with_brute_force),
        cmocka_unit_test(lookups_are_fast),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
