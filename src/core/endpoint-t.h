/* One endpoint of a channel (one address of one engine instance) and its health. It lives
 * outside the config snapshot, so its state survives a reload that keeps it; snapshots hold
 * references. Every field the workers touch is atomic: the request path takes no lock. */
#ifndef AIGW_CORE_ENDPOINT_T_H
#define AIGW_CORE_ENDPOINT_T_H

#include <stdatomic.h>
#include <stdint.h>

typedef enum {
    GW_ENDPOINT_HEALTHY,
    GW_ENDPOINT_EJECTED, /* failed: skipped until ejected_until_ns, then one probe */
    GW_ENDPOINT_PROBING, /* the one request that finds out whether it recovered */
} gw_endpoint_state;

struct gw_h1_address;

typedef struct gw_endpoint {
    char *key;      /* "channel\nbase_url": one state per channel and address */
    char *base_url; /* as configured (or discovered); the adapter appends its paths */
    /* base_url as the gateway's own HTTP/1.1 client reaches it (upstream/h1_address.h); NULL:
     * curl serves it (https, a name to resolve, a proxy) */
    struct gw_h1_address *h1;
    atomic_int refs; /* snapshots, endpoint sets and attempts that hold it; 0: swept */
    atomic_int state;
    atomic_int in_flight; /* attempts running now, over every worker */
    atomic_int consecutive_failures;
    atomic_int backoff_ms;
    _Atomic int64_t ejected_until_ns;
    _Atomic(const char *) last_error; /* a static code, e.g. "upstream_timeout" */
    _Atomic int64_t last_error_ns;
    atomic_uint_fast64_t requests, failures;
    struct gw_endpoint *next; /* the registry's list (control thread only) */
} gw_endpoint;

/* The endpoints a discovered channel has now. Swapped whole by the control thread when DNS
 * says the set changed; a worker reads the pointer once per pick. An old set is freed only a
 * grace period after it was replaced, far longer than any pick takes. */
typedef struct gw_endpoint_set {
    size_t count;
    gw_endpoint *eps[];
} gw_endpoint_set;

/* Where a discovered channel's endpoints come from (its discovery runs outside the snapshot, so
 * a reload does not restart it). */
typedef struct gw_endpoint_source {
    _Atomic(gw_endpoint_set *) current;
    atomic_uint cursor;
    atomic_int in_flight; /* attempts on the channel now, over every worker: max_connections */
} gw_endpoint_source;

#endif
