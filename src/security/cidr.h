/* IP addresses and CIDR blocks as the access lists write them: "10.0.0.0/8", "2001:db8::/32",
 * bare addresses ("127.0.0.1" is /32, "::1" is /128). An IPv4-mapped IPv6 address
 * ("::ffff:10.1.2.3", what a dual-stack socket reports for an IPv4 client) is IPv4 here, in
 * entries and in lookups alike, so one IPv4 entry covers a client however it arrived. */
#ifndef AIGW_SECURITY_CIDR_H
#define AIGW_SECURITY_CIDR_H

#include <stddef.h>
#include <stdint.h>

struct sockaddr;

enum {
    GW_IP_TEXT_MAX = 45,   /* the longest address text: an IPv6 with a dotted IPv4 tail */
    GW_CIDR_TEXT_MAX = 64, /* the longest entry text accepted */
};

typedef struct gw_ip {
    int family;        /* AF_INET or AF_INET6; 0 for no address */
    uint8_t bytes[16]; /* network order; IPv4 in the first 4 */
} gw_ip;

typedef struct gw_cidr {
    gw_ip addr;      /* bits after the prefix are zero */
    unsigned prefix; /* 0-32 or 0-128 */
} gw_cidr;

/* An address alone: dotted IPv4 (no leading zeros: "010" is octal to some parsers) or IPv6;
 * no brackets, port, zone ("%eth0") or whitespace. 0, or -1 when text is not one. */
int gw_ip_parse(const char *text, size_t len, gw_ip *out);

/* A socket's address (AF_INET, AF_INET6); -1 and family 0 for any other family. */
int gw_ip_from_sockaddr(const struct sockaddr *sa, gw_ip *out);

/* The address as text ("" for no address) into out, at least GW_IP_TEXT_MAX + 1 bytes. */
const char *gw_ip_format(const gw_ip *ip, char *out, size_t outlen);

/* One entry. 0, or -1 with err naming the entry and what is wrong with it:
 * "\"10.0.0.1/8\": bits are set after the /8 prefix (10.0.0.0/8 covers the block)". Refused:
 * an empty or over-long entry, a bad address, a prefix that is not a plain decimal within the
 * family's width, bits after the prefix (which say the writer meant something else), and an
 * IPv4-mapped block wider than the mapped space (a prefix under /96). */
int gw_cidr_parse(const char *text, size_t len, gw_cidr *out, char *err, size_t errlen);

#endif
