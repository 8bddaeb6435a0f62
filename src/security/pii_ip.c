/* IP addresses. IPv4 is parsed here (four parts 0-255, up to three digits each; no neighbour
 * that would make it part of a longer dotted run such as "1.2.3.4.5" or "v1.2.3.4"). IPv6 has
 * too many spellings to parse by hand: candidate tokens (runs of hex digits, colons and dots)
 * go to inet_pton, which is exact; times ("12:30:45") and C++ scopes ("std::map") fail it.
 * A token needs a decimal digit: real addresses have them, code such as "a::b" has none. */
#include <arpa/inet.h>
#include <string.h>

#include "security/pii_internal.h"

enum { IPV6_TEXT_MAX = 45 }; /* INET6_ADDRSTRLEN less its NUL */

/* An IPv4 part at *i: 1-3 digits, at most 255. */
static int octet(const char *t, size_t len, size_t *i) {
    size_t e = pii_digits_end(t, len, *i);
    if (e == *i || e - *i > 3) return 0;
    int v = 0;
    for (size_t k = *i; k < e; k++)
        v = v * 10 + (t[k] - '0');
    *i = e;
    return v <= 255;
}

static size_t ipv4_at(const char *t, size_t len, size_t s) {
    if (s > 0 && (pii_word((unsigned char)t[s - 1]) || t[s - 1] == '.')) return 0;
    size_t i = s;
    for (int part = 0; part < 4; part++) {
        if (part > 0) {
            if (i >= len || t[i] != '.') return 0;
            i++;
        }
        if (!octet(t, len, &i)) return 0;
    }
    return pii_number_ends(t, len, i) ? i : 0;
}

int pii_find_ipv4(const char *t, size_t len, size_t from, size_t limit, gw_pii_span *span) {
    size_t i = from;
    while (i < limit) {
        if (!pii_digit((unsigned char)t[i])) {
            i++;
            continue;
        }
        size_t e = ipv4_at(t, len, i);
        if (e) return pii_found(span, i, e, GW_PII_IP);
        i = pii_digits_end(t, len, i); /* a part cannot start inside a digit run */
    }
    return 0;
}

static int v6_char(unsigned char c) {
    return pii_hex(c) || c == ':' || c == '.';
}

/* The IPv6 address in the token t[s, e), trailing punctuation left out. Returns its end, or
 * 0. */
static size_t ipv6_token(const char *t, size_t s, size_t e) {
    while (e > s && t[e - 1] == '.')
        e--;                                                   /* a full stop after the address */
    if (e - s >= 2 && t[e - 1] == ':' && t[e - 2] != ':') e--; /* "fe80::1:" before a port */
    if (e - s > IPV6_TEXT_MAX || e - s < 3) return 0;
    size_t colons = 0, hex = 0, digits = 0;
    for (size_t k = s; k < e; k++) {
        colons += t[k] == ':';
        hex += pii_hex((unsigned char)t[k]);
        digits += pii_digit((unsigned char)t[k]);
    }
    /* "a::b" and "dead::beef" parse, but in text they are code, not addresses */
    if (colons < 2 || hex < 2 || digits == 0) return 0;
    char buf[IPV6_TEXT_MAX + 1];
    memcpy(buf, t + s, e - s);
    buf[e - s] = '\0';
    unsigned char addr[16];
    return inet_pton(AF_INET6, buf, addr) == 1 ? e : 0;
}

int pii_find_ipv6(const char *t, size_t len, size_t from, size_t limit, gw_pii_span *span) {
    size_t i = from;
    while (i < limit) {
        unsigned char c = (unsigned char)t[i];
        if (!(pii_hex(c) || c == ':')) {
            i++;
            continue;
        }
        size_t e = i;
        while (e < len && v6_char((unsigned char)t[e]))
            e++;
        /* a token glued to letters ("std::vector") or a run we entered midway is no address */
        int starts =
            i == 0 || !(pii_word((unsigned char)t[i - 1]) || v6_char((unsigned char)t[i - 1]));
        if (starts && (e == len || !pii_word((unsigned char)t[e]))) {
            size_t end = ipv6_token(t, i, e);
            if (end) return pii_found(span, i, end, GW_PII_IP);
        }
        i = e;
    }
    return 0;
}

int gw_pii_find_ip(const char *text, size_t len, size_t from, gw_pii_span *span) {
    gw_pii_span v4, v6;
    int has4 = pii_find_ipv4(text, len, from, len, &v4),
        has6 = pii_find_ipv6(text, len, from, len, &v6);
    if (has4 && has6) {
        /* "::ffff:10.0.0.1" holds an IPv4 too: the earlier, then the longer one wins */
        if (v6.start < v4.start || (v6.start == v4.start && v6.end > v4.end)) has4 = 0;
    }
    *span = has4 ? v4 : v6;
    return has4 || has6;
}
