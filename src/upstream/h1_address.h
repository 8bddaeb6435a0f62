/* Which endpoints the gateway's own HTTP/1.1 client serves: a plain `http://` base URL whose
 * host is a literal IPv4 or IPv6 address, so that nothing has to be resolved (a name needs a
 * resolver off the worker thread, which curl has) and nothing encrypted (TLS, like proxies and
 * HTTP/2, stays with curl). Parsed once, when the endpoint is made. */
#ifndef AIGW_UPSTREAM_H1_ADDRESS_H
#define AIGW_UPSTREAM_H1_ADDRESS_H

#include <netinet/in.h>
#include <stddef.h>
#include <sys/socket.h>

typedef struct gw_h1_address {
    struct sockaddr_storage addr;
    socklen_t addr_len;
    char host[64];  /* the Host header's value: "127.0.0.1:8000", "[::1]:8000" */
    char path[512]; /* the base URL's path without its trailing '/': "/v1", or "" */
} gw_h1_address;

/* 0 and *out filled when `base_url` is plain http to a literal address with nothing the client
 * does not handle (user info, a query, a fragment); -1 when it is for curl. */
int gw_h1_address_parse(const char *base_url, gw_h1_address *out);

/* Whether the process's environment names a proxy curl would use for plain http: then every
 * upstream goes through curl, so the proxy is honoured. */
int gw_h1_proxy_in_environment(void);

#endif
