/* Address and CIDR entry parsing (see cidr.h). inet_pton does the address grammar; this file
 * adds what it leaves open: bounds, prefixes, v4-mapped folding, and messages. */
#include "security/cidr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

static const uint8_t v4_mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

/* An IPv6 address given as 16 bytes, folded to IPv4 when it is v4-mapped. */
static void set_v6(gw_ip *out, const uint8_t b[16]) {
    memset(out, 0, sizeof *out);
    if (memcmp(b, v4_mapped_prefix, sizeof v4_mapped_prefix) == 0) {
        out->family = AF_INET;
        memcpy(out->bytes, b + 12, 4);
    } else {
        out->family = AF_INET6;
        memcpy(out->bytes, b, 16);
    }
}

int gw_ip_parse(const char *text, size_t len, gw_ip *out) {
    char buf[GW_IP_TEXT_MAX + 1];
    memset(out, 0, sizeof *out);
    if (!text || len == 0 || len > GW_IP_TEXT_MAX) return -1;
    memcpy(buf, text, len); /* inet_pton wants a NUL-terminated string */
    buf[len] = '\0';
    if (strlen(buf) != len) return -1; /* an embedded NUL would hide the rest */
    if (memchr(buf, ':', len)) {
        uint8_t b[16];
        if (inet_pton(AF_INET6, buf, b) != 1) return -1; /* refuses "%zone" too */
        set_v6(out, b);
        return 0;
    }
    /* glibc's inet_pton takes exactly four decimal parts and refuses leading zeros */
    if (inet_pton(AF_INET, buf, out->bytes) != 1) return -1;
    out->family = AF_INET;
    return 0;
}

int gw_ip_from_sockaddr(const struct sockaddr *sa, gw_ip *out) {
    memset(out, 0, sizeof *out);
    if (!sa) return -1;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        out->family = AF_INET;
        memcpy(out->bytes, &in->sin_addr, 4);
        return 0;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        set_v6(out, in6->sin6_addr.s6_addr);
        return 0;
    }
    return -1;
}

const char *gw_ip_format(const gw_ip *ip, char *out, size_t outlen) {
    if (outlen == 0) return out;
    out[0] = '\0';
    if (ip->family == AF_INET || ip->family == AF_INET6)
        if (!inet_ntop(ip->family, ip->bytes, out, (socklen_t)outlen)) out[0] = '\0';
    return out;
}

/* Whether any bit from `prefix` on is set in the first `bytes` bytes of b. */
static int host_bits_set(const uint8_t *b, size_t bytes, unsigned prefix) {
    for (size_t i = 0; i < bytes; i++) {
        unsigned first = (unsigned)i * 8; /* the bit number of this byte's top bit */
        uint8_t host = first >= prefix       ? 0xff
                       : first + 8 <= prefix ? 0
                                             : (uint8_t)(0xff >> (prefix - first));
        if (b[i] & host) return 1;
    }
    return 0;
}

/* "/n": a plain decimal (no sign, space or leading zero) at most max. -1 when not. */
static int parse_prefix(const char *s, size_t len, unsigned max) {
    if (len == 0 || len > 3 || (len > 1 && s[0] == '0')) return -1;
    unsigned v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    return v <= max ? (int)v : -1;
}

int gw_cidr_parse(const char *text, size_t len, gw_cidr *out, char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    if (errlen) err[0] = '\0';
    if (!text || len == 0) {
        snprintf(err, errlen, "an empty entry");
        return -1;
    }
    int shown = len > GW_CIDR_TEXT_MAX ? GW_CIDR_TEXT_MAX : (int)len; /* for messages */
    if (len > GW_CIDR_TEXT_MAX) {
        snprintf(err, errlen, "\"%.*s...\": longer than %d characters", shown, text,
                 GW_CIDR_TEXT_MAX);
        return -1;
    }
    const char *slash = memchr(text, '/', len);
    size_t addr_len = slash ? (size_t)(slash - text) : len;
    if (gw_ip_parse(text, addr_len, &out->addr) != 0) {
        snprintf(err, errlen, "\"%.*s\": \"%.*s\" is not an IPv4 or IPv6 address", shown, text,
                 (int)addr_len, text);
        return -1;
    }
    /* an IPv6 text that folded to IPv4 counts its prefix over the 128 bits it was written in */
    int written_v6 = memchr(text, ':', addr_len) != NULL;
    unsigned width = written_v6 ? 128 : 32;
    unsigned prefix = width;
    if (slash) {
        int p = parse_prefix(slash + 1, len - addr_len - 1, width);
        if (p < 0) {
            snprintf(err, errlen, "\"%.*s\": the prefix length must be a number from 0 to %u",
                     shown, text, width);
            return -1;
        }
        prefix = (unsigned)p;
    }
    if (written_v6 && out->addr.family == AF_INET) {
        if (prefix < 96) {
            snprintf(err, errlen,
                     "\"%.*s\": an IPv4-mapped block needs a prefix of /96 or more (write the "
                     "IPv4 block)",
                     shown, text);
            return -1;
        }
        prefix -= 96;
    }
    out->prefix = prefix;
    size_t bytes = out->addr.family == AF_INET ? 4 : 16;
    if (host_bits_set(out->addr.bytes, bytes, prefix)) {
        /* 10.0.0.1/8 means either 10.0.0.0/8 or 10.0.0.1/32: refuse rather than guess */
        gw_ip net = out->addr;
        for (size_t i = 0; i < bytes; i++) {
            unsigned first = (unsigned)i * 8;
            if (first >= prefix)
                net.bytes[i] = 0;
            else if (first + 8 > prefix)
                net.bytes[i] &= (uint8_t)(0xff << (first + 8 - prefix));
        }
        char net_text[GW_IP_TEXT_MAX + 1];
        snprintf(err, errlen, "\"%.*s\": bits are set after the prefix (the block is %s/%u)", shown,
                 text, gw_ip_format(&net, net_text, sizeof net_text), prefix);
        return -1;
    }
    return 0;
}
