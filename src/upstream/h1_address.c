#include "upstream/h1_address.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* A decimal port, 1-65535, spanning [p, end). */
static int parse_port(const char *p, const char *end, unsigned *port) {
    if (p == end || end - p > 5) return -1;
    unsigned v = 0;
    for (; p < end; p++) {
        if (*p < '0' || *p > '9') return -1;
        v = v * 10 + (unsigned)(*p - '0');
    }
    if (v == 0 || v > 65535) return -1;
    *port = v;
    return 0;
}

int gw_h1_address_parse(const char *base_url, gw_h1_address *out) {
    if (strncasecmp(base_url, "http://", 7)) return -1;
    const char *host = base_url + 7;
    const char *slash = strchr(host, '/');
    const char *authority_end = slash ? slash : host + strlen(host);
    if (memchr(host, '@', (size_t)(authority_end - host))) return -1; /* user info: curl's */
    const char *path = authority_end;
    if (strpbrk(path, "?#") || strlen(path) >= sizeof out->path) return -1;
    char literal[INET6_ADDRSTRLEN];
    const char *host_end, *port_at = NULL;
    int v6 = host[0] == '[';
    if (v6) {
        const char *close = memchr(host, ']', (size_t)(authority_end - host));
        if (!close) return -1;
        host_end = close + 1;
        if (host_end < authority_end) {
            if (*host_end != ':') return -1;
            port_at = host_end + 1;
        }
        if ((size_t)(close - host - 1) >= sizeof literal) return -1;
        memcpy(literal, host + 1, (size_t)(close - host - 1));
        literal[close - host - 1] = '\0';
    } else {
        const char *colon = memchr(host, ':', (size_t)(authority_end - host));
        host_end = colon ? colon : authority_end;
        if (colon) port_at = colon + 1;
        if ((size_t)(host_end - host) >= sizeof literal) return -1;
        memcpy(literal, host, (size_t)(host_end - host));
        literal[host_end - host] = '\0';
    }
    unsigned port = 80;
    if (port_at && parse_port(port_at, authority_end, &port) < 0) return -1;
    memset(out, 0, sizeof *out);
    if (v6) {
        struct sockaddr_in6 *sa = (struct sockaddr_in6 *)&out->addr;
        /* a zone ("fe80::1%eth0") is not parsed here: curl takes it */
        if (inet_pton(AF_INET6, literal, &sa->sin6_addr) != 1) return -1;
        sa->sin6_family = AF_INET6;
        sa->sin6_port = htons((uint16_t)port);
        out->addr_len = sizeof *sa;
    } else {
        struct sockaddr_in *sa = (struct sockaddr_in *)&out->addr;
        /* inet_pton takes only the dotted quad: a name ("localhost", "vllm") is for curl */
        if (inet_pton(AF_INET, literal, &sa->sin_addr) != 1) return -1;
        sa->sin_family = AF_INET;
        sa->sin_port = htons((uint16_t)port);
        out->addr_len = sizeof *sa;
    }
    size_t authority_len = (size_t)(authority_end - host);
    if (authority_len >= sizeof out->host) return -1;
    memcpy(out->host, host, authority_len); /* as written: what curl sends as Host */
    out->host[authority_len] = '\0';
    size_t path_len = strlen(path);
    while (path_len && path[path_len - 1] == '/')
        path_len--;
    memcpy(out->path, path, path_len);
    out->path[path_len] = '\0';
    return 0;
}

int gw_h1_proxy_in_environment(void) {
    /* curl reads http_proxy (not HTTP_PROXY, for CGI's sake) and all_proxy in either case */
    static const char *const names[] = {"http_proxy", "all_proxy", "ALL_PROXY"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        const char *v = getenv(names[i]);
        if (v && *v) return 1;
    }
    return 0;
}
