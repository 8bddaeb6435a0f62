/* DNS discovery of a channel's engine endpoints: the A and AAAA records of a name, or its SRV
 * records, resolved with c-ares on a libevent loop (the control thread's, never the request
 * path's) and re-resolved on the records' TTL or a fixed interval.
 *
 * Failure semantics, chosen so a flapping resolver never empties a channel:
 * - a query that fails transiently (timeout, refused connection, SERVFAIL, REFUSED, a malformed
 *   answer) changes nothing: the endpoints it would have re-checked are kept from the last good
 *   set, the others are updated from the queries that did answer, and the error is reported;
 * - an authoritative "does not exist" (NXDOMAIN, or no records of the type) is an answer: the
 *   records are gone. When no endpoint is left, the callback gets the empty set and an error
 *   saying so, since a channel with nothing to serve is worth a log line.
 * Everything here runs on the loop's thread; no function may be called from another thread. */
#ifndef AIGW_UPSTREAM_DISCOVERY_H
#define AIGW_UPSTREAM_DISCOVERY_H

#include <stddef.h>

struct event_base;

enum {
    /* Endpoints beyond this are cut (and logged): a channel is not a fleet directory. */
    GW_DISCOVERY_MAX_ENDPOINTS = 256,
    /* The longest DNS name in presentation form, without the trailing dot (RFC 1035). */
    GW_DISCOVERY_NAME_MAX = 253,
    GW_DISCOVERY_MAX_RESOLVERS = 16,
    /* "[" + the longest IPv6 text + "]:" + port + NUL fits. */
    GW_DISCOVERY_ADDRESS_MAX = 64,
    GW_DISCOVERY_IP_MAX = 46,
};

typedef struct gw_discovered_endpoint {
    char address[GW_DISCOVERY_ADDRESS_MAX]; /* "127.0.0.2:8000" or "[fd00::2]:8000" */
    char ip[GW_DISCOVERY_IP_MAX];           /* "127.0.0.2" or "fd00::2" */
    int family;                             /* AF_INET or AF_INET6 */
    int port;
    /* The SRV record's; 0 for A/AAAA discovery. Of two records naming the same address and
     * port, the set keeps the lower priority, then the higher weight. */
    int priority;
    int weight;
    /* The name the address was resolved from: the spec's name, or the SRV target (lower case);
     * what a TLS connection to the endpoint would verify. */
    char target[GW_DISCOVERY_NAME_MAX + 1];
} gw_discovered_endpoint;

typedef struct gw_discovery_spec {
    const char *name; /* "vllm.internal", or with use_srv "_vllm._tcp.pool.internal" */
    int port;         /* the endpoints' port for A/AAAA; unused with SRV (the records say) */
    int use_srv;
    /* "ip:port" or "[ipv6]:port" (the port defaults to 53). None: the system's resolvers. */
    const char *const *resolvers;
    size_t resolver_count;
    /* > 0: re-resolve every interval_ms whatever the TTL says (at least 100). */
    int interval_ms;
    /* The smallest record TTL is clamped to [min_ttl_ms, max_ttl_ms]; 0 means the default
     * (1000 and 30000), set values are at least 100. After a failed round, or an answer with no
     * records, the retry waits min_ttl_ms, doubling up to max_ttl_ms. */
    int min_ttl_ms;
    int max_ttl_ms;
} gw_discovery_spec;

/* Called on the loop's thread whenever the set or the error changes: eps is the set now in
 * force (sorted by family, address, port; deduplicated), valid only during the call. error is
 * NULL after a clean round; otherwise it says what failed and eps is what was kept. A recovery
 * (the same set, error back to NULL) is reported too; the same failure repeated is not. The
 * callback may call gw_discovery_refresh_now or gw_discovery_stop. */
typedef void (*gw_discovery_cb)(void *ud, const gw_discovered_endpoint *eps, size_t count,
                                const char *error);

typedef struct gw_discovery gw_discovery;

/* Validates the spec and schedules the first resolution on the loop; the callback never runs
 * before this returns. Returns NULL with a message in err on a bad spec or no memory. The spec's
 * strings are copied. */
gw_discovery *gw_discovery_start(struct event_base *base, const gw_discovery_spec *spec,
                                 gw_discovery_cb cb, void *ud, char *err, size_t errlen);

/* Cancels any queries in flight and frees everything; the callback is not called again. */
void gw_discovery_stop(gw_discovery *d);

/* Resolves again at the next loop iteration (or right after the round in flight). */
void gw_discovery_refresh_now(gw_discovery *d);

#endif
