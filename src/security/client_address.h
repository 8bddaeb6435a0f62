/* The client's address behind trusted proxies, from X-Forwarded-For. Each proxy appends the
 * address it received the request from, so the header is read right to left: the peer first,
 * and each hop only while the address that handed it over is a trusted proxy. The first
 * untrusted address is the client; anything left of it was written by the client itself and
 * is ignored, so a forged "X-Forwarded-For: 10.0.0.5" gains nothing. */
#ifndef AIGW_SECURITY_CLIENT_ADDRESS_H
#define AIGW_SECURITY_CLIENT_ADDRESS_H

#include <stddef.h>

#include "security/cidr.h"
#include "security/cidr_list.h"

struct sockaddr;

enum { GW_XFF_MAX_HOPS = 64 }; /* entries read at most; more proxies than this is not a chain */

/* Sets *out to the client's address: the peer, unless the peer is in trusted, in which case
 * xff[0..xff_len) (NULL or empty: no header) is walked right to left as above. An entry is an
 * address, optionally with a port ("1.2.3.4:80", "[2001:db8::1]:80") or in brackets, between
 * commas and optional spaces or tabs. The walk stops, keeping the last address reached (a
 * trusted one), at an entry that is not an address ("unknown", garbage, an empty element) and
 * after GW_XFF_MAX_HOPS entries, so neither a malformed nor an endless header can move the
 * result past a hop that was verified.
 *
 * A request may carry several X-Forwarded-For lines: a proxy may append a line of its own after
 * one the client forged. They form one list (RFC 9110 §5.3), and reading only the first would
 * read the forgery: pass every line, to gw_client_address_lines, or joined by commas here. A
 * join that must be cut keeps the last lines, never the first.
 *
 * Returns how many entries of the header were taken (0: the client is the peer), or -1 when
 * the peer is not IPv4 or IPv6 (out's family is then 0). */
int gw_client_address(const struct sockaddr *peer, const char *xff, size_t xff_len,
                      const gw_cidr_list *trusted, gw_ip *out);

/* One X-Forwarded-For line's value. */
typedef struct gw_xff_line {
    const char *value;
    size_t len;
} gw_xff_line;

/* The same over the request's X-Forwarded-For lines in the order they came (lines[n - 1] is the
 * last, the nearest proxy's), walked as one list without copying them together; an empty line
 * counts as an empty element. */
int gw_client_address_lines(const struct sockaddr *peer, const gw_xff_line *lines, size_t n,
                            const gw_cidr_list *trusted, gw_ip *out);

#endif
