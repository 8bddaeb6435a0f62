/* X-Forwarded-For walked right to left through trusted proxies (see client_address.h). */
#include "security/client_address.h"

#include <string.h>
#include <sys/socket.h>

/* the longest element read: "[v6]:port" with a little space around; anything longer is not an
 * address, and the bound keeps the work per request fixed whatever the header's length */
enum { HOP_MAX_CHARS = GW_IP_TEXT_MAX + 16 };

static int is_ows(char c) {
    return c == ' ' || c == '\t';
}

static int all_digits(const char *s, size_t len) {
    if (len == 0 || len > 5) return 0;
    for (size_t i = 0; i < len; i++)
        if (s[i] < '0' || s[i] > '9') return 0;
    return 1;
}

/* One element, spaces trimmed: "a.b.c.d", "a.b.c.d:port", "v6", "[v6]", "[v6]:port". */
static int parse_hop(const char *s, size_t len, gw_ip *out) {
    while (len && is_ows(s[0]))
        s++, len--;
    while (len && is_ows(s[len - 1]))
        len--;
    if (len == 0) return -1;
    if (s[0] == '[') {
        const char *close = memchr(s, ']', len);
        if (!close) return -1;
        size_t after = len - (size_t)(close - s) - 1;
        if (after && (close[1] != ':' || !all_digits(close + 2, after - 1))) return -1;
        if (gw_ip_parse(s + 1, (size_t)(close - s) - 1, out) != 0) return -1;
        return 0;
    }
    const char *colon = memchr(s, ':', len);
    if (colon && !memchr(colon + 1, ':', len - (size_t)(colon - s) - 1)) {
        /* exactly one colon: IPv4 with a port (an IPv6 address has at least two) */
        size_t host = (size_t)(colon - s);
        if (!all_digits(colon + 1, len - host - 1)) return -1;
        return gw_ip_parse(s, host, out); /* no colon left: IPv4 or nothing */
    }
    return gw_ip_parse(s, len, out);
}

/* Walks one header line right to left from *out (the address reached so far). 1 when the line
 * was read to its start with every hop trusted (the walk may go on into the line before), 0 when
 * it stopped: at the client, a malformed element or the hop bound. */
static int walk_line(const char *xff, size_t len, const gw_cidr_list *trusted, gw_ip *out,
                     int *taken) {
    size_t end = len; /* the current element is xff[start, end) */
    for (;;) {
        if (!gw_cidr_match_ip(trusted, out) || *taken >= GW_XFF_MAX_HOPS) return 0;
        size_t start = end;
        while (start > 0 && xff[start - 1] != ',' && end - start <= HOP_MAX_CHARS)
            start--;
        gw_ip hop;
        if (end - start > HOP_MAX_CHARS || parse_hop(xff + start, end - start, &hop) != 0) return 0;
        *out = hop;
        ++*taken;
        if (start == 0) return 1; /* the line's leftmost element */
        end = start - 1;          /* skip the comma */
    }
}

int gw_client_address(const struct sockaddr *peer, const char *xff, size_t xff_len,
                      const gw_cidr_list *trusted, gw_ip *out) {
    gw_xff_line line = {xff, xff_len};
    return gw_client_address_lines(peer, &line, xff ? 1 : 0, trusted, out);
}

int gw_client_address_lines(const struct sockaddr *peer, const gw_xff_line *lines, size_t n,
                            const gw_cidr_list *trusted, gw_ip *out) {
    if (gw_ip_from_sockaddr(peer, out) != 0) return -1;
    int taken = 0;
    /* the last line is the nearest proxy's; an empty line is an empty element, and stops */
    for (size_t i = n; i > 0; i--)
        if (!walk_line(lines[i - 1].value, lines[i - 1].len, trusted, out, &taken)) break;
    return taken;
}
