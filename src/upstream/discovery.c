#include "upstream/discovery.h"

#include "core/log.h"

#include <ares.h>
#include <arpa/inet.h>
#include <ctype.h>
#include <event2/event.h>
#include <netdb.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

enum {
    DNS_CLASS_IN = 1,
    DNS_TYPE_A = 1,
    DNS_TYPE_AAAA = 28,
    DNS_TYPE_SRV = 33,
    DNS_HEADER_BYTES = 12,

    /* One try waits 1 s, the second 2 s (c-ares doubles it): a resolver that does not answer
     * is reported within about 3 s, and a lost UDP packet is retried once. */
    QUERY_TIMEOUT_MS = 1000,
    QUERY_TRIES = 2,

    DEFAULT_MIN_TTL_MS = 1000,
    DEFAULT_MAX_TTL_MS = 30000,
    /* Below this a zero TTL would have the loop query in a tight cycle. */
    SHORTEST_PERIOD_MS = 100,

    /* Each SRV record costs two address queries: this bounds one round's queries. */
    MAX_SRV_RECORDS = 64,
    /* Addresses collected in one round before sorting and deduplication cut the set down. */
    MAX_CANDIDATES = 4 * GW_DISCOVERY_MAX_ENDPOINTS,
    RESOLVER_TEXT_MAX = 64,
    ERROR_MAX = 384, /* a name, a record type and c-ares' message */
};

typedef struct candidate {
    gw_discovered_endpoint ep;
    unsigned char raw[16]; /* the address in network order, for sorting */
} candidate;

/* What one query asked for: an answer becomes endpoints with these fields, and a failure keeps
 * the last set's endpoints that match them. */
typedef struct query_ctx {
    gw_discovery *d;
    int type;
    int port;
    int priority;
    int weight;
    char name[GW_DISCOVERY_NAME_MAX + 1];
} query_ctx;

typedef struct socket_watch {
    gw_discovery *d;
    ares_socket_t fd;
    struct event *ev;
    struct socket_watch *next;
} socket_watch;

struct gw_discovery {
    struct event_base *base;
    ares_channel channel;
    gw_discovery_cb cb;
    void *ud;
    char name[GW_DISCOVERY_NAME_MAX + 1];
    char name_json[2 * GW_DISCOVERY_NAME_MAX + 8]; /* escaped once, for every log line */
    int port;
    int use_srv;
    int interval_ms;
    int min_ttl_ms;
    int max_ttl_ms;

    struct event *ares_timer;    /* c-ares' own timeouts */
    struct event *refresh_timer; /* the next round */
    struct event *notify_event;  /* runs the callback outside c-ares, so it may stop us */
    socket_watch *watches;
    int stopping;

    /* The set in force and the error last reported with it ("" when none). */
    gw_discovered_endpoint *endpoints;
    size_t count;
    char error[ERROR_MAX];
    int retry_ms; /* the next wait after a round without a usable TTL */

    /* The round in flight. */
    int round_running;
    int rerun; /* refresh_now came during a round: its answers may predate what the caller knows */
    int pending;
    candidate *cands;
    size_t cand_count;
    size_t cand_cap;
    size_t cand_dropped;
    uint32_t round_min_ttl_s;
    int round_saw_ttl;
    int round_missing_status; /* NXDOMAIN or NODATA, for the message of an empty set */
    int round_srv_used;       /* SRV records whose targets were looked up */
    int round_srv_skipped;    /* and those cut by MAX_SRV_RECORDS or a name too long */
    size_t round_found;       /* distinct endpoints before the cut to the maximum */
    char round_error[ERROR_MAX];
};

static pthread_once_t ares_once = PTHREAD_ONCE_INIT;
static int ares_init_status = ARES_ENOTINITIALIZED;

static void init_ares_library(void) {
    ares_init_status = ares_library_init(ARES_LIB_INIT_ALL);
}

static const char *type_name(int type) {
    switch (type) {
    case DNS_TYPE_A:
        return "A";
    case DNS_TYPE_AAAA:
        return "AAAA";
    default:
        return "SRV";
    }
}

/* ---- c-ares on libevent ---------------------------------------------------------------- */

static void rearm_ares_timer(gw_discovery *d) {
    struct timeval tv;
    if (ares_timeout(d->channel, NULL, &tv))
        evtimer_add(d->ares_timer, &tv);
    else
        evtimer_del(d->ares_timer);
}

static void on_socket_ready(evutil_socket_t fd, short what, void *arg) {
    socket_watch *w = arg;
    gw_discovery *d = w->d; /* w may be freed inside ares_process_fd */
    ares_process_fd(d->channel, (what & EV_READ) ? fd : ARES_SOCKET_BAD,
                    (what & EV_WRITE) ? fd : ARES_SOCKET_BAD);
    rearm_ares_timer(d);
}

static void on_ares_timeout(evutil_socket_t fd, short what, void *arg) {
    gw_discovery *d = arg;
    (void)fd;
    (void)what;
    ares_process_fd(d->channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
    rearm_ares_timer(d);
}

/* c-ares says which sockets it wants watched, and for what; neither readable nor writable means
 * it closed the socket. */
static void on_socket_state(void *data, ares_socket_t fd, int readable, int writable) {
    gw_discovery *d = data;
    socket_watch **link = &d->watches;
    while (*link && (*link)->fd != fd)
        link = &(*link)->next;
    socket_watch *w = *link;
    if (!readable && !writable) {
        if (w) {
            *link = w->next;
            event_free(w->ev);
            free(w);
        }
        return;
    }
    short kind = EV_PERSIST | (readable ? EV_READ : 0) | (writable ? EV_WRITE : 0);
    if (!w) {
        w = calloc(1, sizeof *w);
        if (w) w->ev = event_new(d->base, fd, kind, on_socket_ready, w);
        if (!w || !w->ev) {
            /* c-ares cannot be told; its timer still ends the query with a timeout */
            free(w);
            gw_log_error("discovery_watch_failed", "\"name\":\"%s\"", d->name_json);
            return;
        }
        w->d = d;
        w->fd = fd;
        w->next = d->watches;
        d->watches = w;
    } else {
        event_del(w->ev);
        event_assign(w->ev, d->base, fd, kind, on_socket_ready, w);
    }
    event_add(w->ev, NULL);
}

/* ---- answers --------------------------------------------------------------------------- */

/* Returns the offset just past the name at pos, or 0 when it runs off the message. */
static size_t skip_name(const unsigned char *msg, size_t len, size_t pos) {
    while (pos < len) {
        unsigned label = msg[pos];
        if (label == 0) return pos + 1;
        if ((label & 0xC0) == 0xC0) return pos + 2 <= len ? pos + 2 : 0; /* a pointer ends it */
        if (label & 0xC0) return 0;
        pos += 1 + label;
    }
    return 0;
}

/* The smallest TTL of the answer section's records. c-ares' SRV parser returns no TTL, so the
 * section is walked here for every type alike (CNAMEs on the way count too). */
static int answer_min_ttl(const unsigned char *msg, int msg_len, uint32_t *ttl_out) {
    if (!msg || msg_len < DNS_HEADER_BYTES) return 0;
    size_t len = (size_t)msg_len, pos = DNS_HEADER_BYTES;
    unsigned questions = (unsigned)msg[4] << 8 | msg[5];
    unsigned answers = (unsigned)msg[6] << 8 | msg[7];
    for (unsigned i = 0; i < questions; i++) {
        pos = skip_name(msg, len, pos);
        if (!pos || pos + 4 > len) return 0;
        pos += 4;
    }
    int found = 0;
    for (unsigned i = 0; i < answers; i++) {
        pos = skip_name(msg, len, pos);
        if (!pos || pos + 10 > len) break;
        uint32_t ttl = (uint32_t)msg[pos + 4] << 24 | (uint32_t)msg[pos + 5] << 16 |
                       (uint32_t)msg[pos + 6] << 8 | msg[pos + 7];
        if (ttl > INT32_MAX) ttl = 0; /* RFC 2181: a TTL with the top bit set means zero */
        size_t rdlength = (size_t)msg[pos + 8] << 8 | msg[pos + 9];
        pos += 10 + rdlength;
        if (pos > len) break;
        if (!found || ttl < *ttl_out) *ttl_out = ttl;
        found = 1;
    }
    return found;
}

static void add_candidate(gw_discovery *d, const query_ctx *q, int family, const void *raw) {
    if (d->cand_count == d->cand_cap) {
        if (d->cand_cap == MAX_CANDIDATES) {
            d->cand_dropped++;
            return;
        }
        size_t cap = d->cand_cap ? 2 * d->cand_cap : 16;
        if (cap > MAX_CANDIDATES) cap = MAX_CANDIDATES;
        candidate *grown = realloc(d->cands, cap * sizeof *grown);
        if (!grown) {
            d->cand_dropped++;
            return;
        }
        d->cands = grown;
        d->cand_cap = cap;
    }
    candidate *c = &d->cands[d->cand_count];
    memset(c, 0, sizeof *c);
    memcpy(c->raw, raw, family == AF_INET ? 4 : 16);
    c->ep.family = family;
    c->ep.port = q->port;
    c->ep.priority = q->priority;
    c->ep.weight = q->weight;
    if (!inet_ntop(family, raw, c->ep.ip, sizeof c->ep.ip)) return;
    snprintf(c->ep.address, sizeof c->ep.address, family == AF_INET6 ? "[%s]:%d" : "%s:%d",
             c->ep.ip, q->port);
    memcpy(c->ep.target, q->name, sizeof c->ep.target);
    d->cand_count++;
}

/* A query that could not be answered keeps, from the set in force, what it would have
 * re-checked: a resolver that flaps must not drop endpoints it merely failed to confirm. */
static void carry_over(gw_discovery *d, const query_ctx *q) {
    for (size_t i = 0; i < d->count; i++) {
        const gw_discovered_endpoint *ep = &d->endpoints[i];
        if (q->type != DNS_TYPE_SRV) {
            int family = q->type == DNS_TYPE_A ? AF_INET : AF_INET6;
            if (ep->family != family || ep->port != q->port || strcmp(ep->target, q->name))
                continue;
        }
        unsigned char raw[16] = {0};
        if (inet_pton(ep->family, ep->ip, raw) != 1) continue;
        query_ctx as_was = *q;
        as_was.port = ep->port;
        memcpy(as_was.name, ep->target, sizeof as_was.name);
        if (q->type == DNS_TYPE_SRV) {
            as_was.priority = ep->priority;
            as_was.weight = ep->weight;
        }
        add_candidate(d, &as_was, ep->family, raw);
    }
}

/* Of several failures the round reports the first in text order, not in order of arrival: the
 * same failures then read the same each round, and the callback is not called again for them. */
static void note_failure(gw_discovery *d, const query_ctx *q, const char *what) {
    char error[ERROR_MAX];
    snprintf(error, sizeof error, "%s %s: %s", q->name, type_name(q->type), what);
    if (!d->round_error[0] || strcmp(error, d->round_error) < 0)
        memcpy(d->round_error, error, sizeof error);
    carry_over(d, q);
}

static void send_query(gw_discovery *d, const char *name, int type, int port, int priority,
                       int weight);

static void take_addresses(gw_discovery *d, const query_ctx *q, const unsigned char *abuf,
                           int alen) {
    struct hostent *host = NULL;
    int status = q->type == DNS_TYPE_A ? ares_parse_a_reply(abuf, alen, &host, NULL, NULL)
                                       : ares_parse_aaaa_reply(abuf, alen, &host, NULL, NULL);
    if (status == ARES_ENODATA) {
        /* only a CNAME, or other types: the name has no address of this family */
        if (!d->round_missing_status) d->round_missing_status = ARES_ENODATA;
    } else if (status != ARES_SUCCESS || !host) {
        note_failure(d, q, ares_strerror(status));
    } else {
        int family = q->type == DNS_TYPE_A ? AF_INET : AF_INET6;
        if (host->h_addrtype == family)
            for (char **addr = host->h_addr_list; addr && *addr; addr++)
                add_candidate(d, q, family, *addr);
    }
    if (host) ares_free_hostent(host);
}

static void copy_lower(char *out, size_t outlen, const char *in) {
    size_t i = 0;
    for (; in[i] && i + 1 < outlen; i++)
        out[i] = (char)tolower((unsigned char)in[i]);
    out[i] = '\0';
}

static void take_srv_records(gw_discovery *d, const query_ctx *q, const unsigned char *abuf,
                             int alen) {
    struct ares_srv_reply *records = NULL;
    int status = ares_parse_srv_reply(abuf, alen, &records);
    if (status == ARES_ENODATA) {
        if (!d->round_missing_status) d->round_missing_status = ARES_ENODATA;
    } else if (status != ARES_SUCCESS) {
        note_failure(d, q, ares_strerror(status));
    } else {
        for (struct ares_srv_reply *r = records; r; r = r->next) {
            size_t len = strlen(r->host);
            /* "." is RFC 2782's "the service is decidedly not available here" */
            if (len == 0 || !strcmp(r->host, ".")) continue;
            if (len > GW_DISCOVERY_NAME_MAX || d->round_srv_used == MAX_SRV_RECORDS) {
                d->round_srv_skipped++;
                continue;
            }
            char target[GW_DISCOVERY_NAME_MAX + 1];
            copy_lower(target, sizeof target, r->host);
            send_query(d, target, DNS_TYPE_A, r->port, r->priority, r->weight);
            send_query(d, target, DNS_TYPE_AAAA, r->port, r->priority, r->weight);
            d->round_srv_used++;
        }
    }
    if (records) ares_free_data(records);
}

static void finish_round(gw_discovery *d);

/* The round ends when its last query has: a count, not a list, since SRV answers add queries. */
static void release_pending(gw_discovery *d) {
    if (--d->pending == 0) finish_round(d);
}

static void on_answer(void *arg, int status, int timeouts, unsigned char *abuf, int alen) {
    query_ctx *q = arg;
    gw_discovery *d = q->d;
    (void)timeouts;
    if (status == ARES_EDESTRUCTION || d->stopping) {
        free(q);
        return;
    }
    if (status == ARES_SUCCESS) {
        uint32_t ttl = 0;
        if (answer_min_ttl(abuf, alen, &ttl) && (!d->round_saw_ttl || ttl < d->round_min_ttl_s)) {
            d->round_min_ttl_s = ttl;
            d->round_saw_ttl = 1;
        }
        if (q->type == DNS_TYPE_SRV)
            take_srv_records(d, q, abuf, alen);
        else
            take_addresses(d, q, abuf, alen);
    } else if (status == ARES_ENOTFOUND || status == ARES_ENODATA) {
        /* the server's answer, not a failure: the name (or this type of record) is gone */
        if (!d->round_missing_status || status == ARES_ENOTFOUND) d->round_missing_status = status;
    } else {
        note_failure(d, q, ares_strerror(status));
    }
    free(q);
    release_pending(d);
}

static void send_query(gw_discovery *d, const char *name, int type, int port, int priority,
                       int weight) {
    query_ctx *q = calloc(1, sizeof *q);
    if (!q) {
        query_ctx failed = {.d = d, .type = type, .port = port};
        snprintf(failed.name, sizeof failed.name, "%s", name);
        note_failure(d, &failed, "out of memory");
        return;
    }
    q->d = d;
    q->type = type;
    q->port = port;
    q->priority = priority;
    q->weight = weight;
    snprintf(q->name, sizeof q->name, "%s", name);
    d->pending++; /* before the call: c-ares may answer a hopeless query at once */
    ares_query(d->channel, q->name, DNS_CLASS_IN, type, on_answer, q);
}

static void start_round(gw_discovery *d) {
    if (d->round_running) {
        d->rerun = 1;
        return;
    }
    d->round_running = 1;
    d->cand_count = 0;
    d->cand_dropped = 0;
    d->round_saw_ttl = 0;
    d->round_min_ttl_s = 0;
    d->round_missing_status = 0;
    d->round_srv_used = 0;
    d->round_srv_skipped = 0;
    d->round_found = 0;
    d->round_error[0] = '\0';
    /* held while the first queries go out, so one answered at once cannot end the round */
    d->pending = 1;
    if (d->use_srv) {
        send_query(d, d->name, DNS_TYPE_SRV, 0, 0, 0);
    } else {
        send_query(d, d->name, DNS_TYPE_A, d->port, 0, 0);
        send_query(d, d->name, DNS_TYPE_AAAA, d->port, 0, 0);
    }
    release_pending(d);
    rearm_ares_timer(d);
}

/* ---- the set --------------------------------------------------------------------------- */

static int compare_candidates(const void *a, const void *b) {
    const candidate *x = a, *y = b;
    if (x->ep.family != y->ep.family) return x->ep.family == AF_INET ? -1 : 1;
    int order = memcmp(x->raw, y->raw, sizeof x->raw);
    if (order) return order;
    if (x->ep.port != y->ep.port) return x->ep.port < y->ep.port ? -1 : 1;
    /* among duplicates the most preferred record sorts first and is the one kept */
    if (x->ep.priority != y->ep.priority) return x->ep.priority < y->ep.priority ? -1 : 1;
    if (x->ep.weight != y->ep.weight) return x->ep.weight > y->ep.weight ? -1 : 1;
    return strcmp(x->ep.target, y->ep.target);
}

static int same_place(const candidate *x, const candidate *y) {
    return x->ep.family == y->ep.family && !memcmp(x->raw, y->raw, sizeof x->raw) &&
           x->ep.port == y->ep.port;
}

/* Sorts, deduplicates and bounds the round's candidates in place; returns how many remain. */
static size_t settle_candidates(gw_discovery *d) {
    if (!d->cand_count) return 0;
    qsort(d->cands, d->cand_count, sizeof *d->cands, compare_candidates);
    size_t kept = 1;
    for (size_t i = 1; i < d->cand_count; i++)
        if (!same_place(&d->cands[kept - 1], &d->cands[i])) d->cands[kept++] = d->cands[i];
    d->round_found = kept + d->cand_dropped;
    return kept > GW_DISCOVERY_MAX_ENDPOINTS ? GW_DISCOVERY_MAX_ENDPOINTS : kept;
}

static int same_set(const gw_discovery *d, size_t count) {
    if (count != d->count) return 0;
    for (size_t i = 0; i < count; i++) {
        const gw_discovered_endpoint *now = &d->endpoints[i], *next = &d->cands[i].ep;
        if (strcmp(now->address, next->address) || now->priority != next->priority ||
            now->weight != next->weight || strcmp(now->target, next->target))
            return 0;
    }
    return 1;
}

static int clamp_ms(long long ms, int low, int high) {
    return ms < low ? low : ms > high ? high : (int)ms;
}

static void schedule_next(gw_discovery *d, int failed, size_t count) {
    int wait_ms;
    if (failed || !count || (!d->interval_ms && !d->round_saw_ttl)) {
        /* nothing to go by: retry soon, then less and less often */
        wait_ms = d->retry_ms;
        d->retry_ms = clamp_ms(2LL * d->retry_ms, d->min_ttl_ms, d->max_ttl_ms);
    } else {
        d->retry_ms = d->min_ttl_ms;
        wait_ms = d->interval_ms
                      ? d->interval_ms
                      : clamp_ms(1000LL * d->round_min_ttl_s, d->min_ttl_ms, d->max_ttl_ms);
    }
    struct timeval tv = {wait_ms / 1000, (wait_ms % 1000) * 1000};
    evtimer_add(d->refresh_timer, &tv);
}

static void finish_round(gw_discovery *d) {
    size_t count = settle_candidates(d);
    int failed = d->round_error[0] != '\0';
    char error[ERROR_MAX] = "";
    if (failed)
        memcpy(error, d->round_error, sizeof error);
    else if (!count)
        snprintf(error, sizeof error, "%s: %s", d->name,
                 d->round_srv_used                           ? "no address for any SRV target"
                 : d->round_missing_status == ARES_ENOTFOUND ? "name not found (NXDOMAIN)"
                                                             : "no records");

    int set_changed = !same_set(d, count);
    int error_changed = strcmp(error, d->error) != 0;
    if (set_changed) {
        for (size_t i = 0; i < count; i++)
            d->endpoints[i] = d->cands[i].ep;
        d->count = count;
        gw_log_info("discovery_changed", "\"name\":\"%s\",\"count\":%zu", d->name_json, count);
        /* with the change only: the same cut every round is no news */
        if (d->round_found > count || d->round_srv_skipped)
            gw_log_warn("discovery_endpoints_cut",
                        "\"name\":\"%s\",\"found\":%zu,\"kept\":%zu,\"srv_records_skipped\":%d",
                        d->name_json, d->round_found, count, d->round_srv_skipped);
    }
    if (error_changed) {
        if (error[0]) {
            char error_json[2 * ERROR_MAX];
            gw_json_escape(error_json, sizeof error_json, error, strlen(error));
            gw_log_warn("discovery_failed", "\"name\":\"%s\",\"error\":\"%s\",\"kept\":%zu",
                        d->name_json, error_json, d->count);
        } else {
            gw_log_info("discovery_recovered", "\"name\":\"%s\",\"count\":%zu", d->name_json,
                        d->count);
        }
        memcpy(d->error, error, sizeof d->error);
    }
    if (set_changed || error_changed) event_active(d->notify_event, EV_TIMEOUT, 0);

    d->round_running = 0;
    if (d->rerun) {
        d->rerun = 0;
        gw_discovery_refresh_now(d);
    } else {
        schedule_next(d, failed, count);
    }
}

/* ---- events and the API ---------------------------------------------------------------- */

static void on_refresh(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    start_round(arg);
}

static void on_notify(evutil_socket_t fd, short what, void *arg) {
    gw_discovery *d = arg;
    (void)fd;
    (void)what;
    /* last: the callback may stop and free d */
    d->cb(d->ud, d->endpoints, d->count, d->error[0] ? d->error : NULL);
}

static gw_discovery *fail_start(gw_discovery *d, char *err, size_t errlen, const char *message) {
    if (err && errlen) snprintf(err, errlen, "%s", message);
    gw_discovery_stop(d);
    return NULL;
}

static int check_period(int value, int *out, int fallback) {
    if (value < 0 || (value > 0 && value < SHORTEST_PERIOD_MS)) return 0;
    *out = value ? value : fallback;
    return 1;
}

static int set_resolvers(gw_discovery *d, const gw_discovery_spec *spec, char *err, size_t errlen) {
    char csv[GW_DISCOVERY_MAX_RESOLVERS * RESOLVER_TEXT_MAX + 1] = "";
    size_t used = 0;
    for (size_t i = 0; i < spec->resolver_count; i++) {
        const char *resolver = spec->resolvers[i];
        size_t len = resolver ? strlen(resolver) : 0;
        /* one at a time first, so the message names the bad one */
        if (!len || len >= RESOLVER_TEXT_MAX || strchr(resolver, ',') ||
            ares_set_servers_ports_csv(d->channel, resolver) != ARES_SUCCESS) {
            if (err && errlen)
                snprintf(err, errlen, "discovery: resolver \"%.*s\" is not ip:port",
                         RESOLVER_TEXT_MAX, resolver ? resolver : "");
            return 0;
        }
        used += (size_t)snprintf(csv + used, sizeof csv - used, "%s%s", i ? "," : "", resolver);
    }
    int status = ares_set_servers_ports_csv(d->channel, csv);
    if (status != ARES_SUCCESS) {
        if (err && errlen) snprintf(err, errlen, "discovery: resolvers: %s", ares_strerror(status));
        return 0;
    }
    return 1;
}

gw_discovery *gw_discovery_start(struct event_base *base, const gw_discovery_spec *spec,
                                 gw_discovery_cb cb, void *ud, char *err, size_t errlen) {
    if (err && errlen) err[0] = '\0';
    if (!base || !spec || !cb) return fail_start(NULL, err, errlen, "no spec");
    size_t name_len = spec->name ? strlen(spec->name) : 0;
    if (name_len && spec->name[name_len - 1] == '.') name_len--; /* the root is implied */
    if (!name_len || name_len > GW_DISCOVERY_NAME_MAX)
        return fail_start(NULL, err, errlen, "the name must have 1 to 253 characters");
    if (!spec->use_srv && (spec->port < 1 || spec->port > 65535))
        return fail_start(NULL, err, errlen, "port must be 1 to 65535");
    if (spec->resolver_count > GW_DISCOVERY_MAX_RESOLVERS ||
        (spec->resolver_count && !spec->resolvers))
        return fail_start(NULL, err, errlen, "at most 16 resolvers");

    gw_discovery *d = calloc(1, sizeof *d);
    if (!d) return fail_start(NULL, err, errlen, "out of memory");
    d->base = base;
    d->cb = cb;
    d->ud = ud;
    copy_lower(d->name, name_len + 1, spec->name);
    gw_json_escape(d->name_json, sizeof d->name_json, d->name, strlen(d->name));
    d->port = spec->use_srv ? 0 : spec->port;
    d->use_srv = spec->use_srv != 0;
    if (!check_period(spec->interval_ms, &d->interval_ms, 0) ||
        !check_period(spec->min_ttl_ms, &d->min_ttl_ms, DEFAULT_MIN_TTL_MS) ||
        !check_period(spec->max_ttl_ms, &d->max_ttl_ms, DEFAULT_MAX_TTL_MS))
        return fail_start(d, err, errlen,
                          "interval_ms, min_ttl_ms and max_ttl_ms must be 0 or at least 100");
    if (d->min_ttl_ms > d->max_ttl_ms)
        return fail_start(d, err, errlen, "min_ttl_ms is above max_ttl_ms");
    d->retry_ms = d->min_ttl_ms;

    d->endpoints = calloc(GW_DISCOVERY_MAX_ENDPOINTS, sizeof *d->endpoints);
    d->ares_timer = evtimer_new(base, on_ares_timeout, d);
    d->refresh_timer = evtimer_new(base, on_refresh, d);
    d->notify_event = event_new(base, -1, 0, on_notify, d);
    if (!d->endpoints || !d->ares_timer || !d->refresh_timer || !d->notify_event)
        return fail_start(d, err, errlen, "out of memory");

    pthread_once(&ares_once, init_ares_library);
    if (ares_init_status != ARES_SUCCESS)
        return fail_start(d, err, errlen, ares_strerror(ares_init_status));

    struct ares_options options;
    memset(&options, 0, sizeof options);
    char lookups[] = "b"; /* DNS only: /etc/hosts must not decide what a channel serves */
    /* NOSEARCH: the name is the one configured, never one with a search domain appended */
    options.flags = ARES_FLAG_NOSEARCH;
    options.timeout = QUERY_TIMEOUT_MS;
    options.tries = QUERY_TRIES;
    options.lookups = lookups;
    options.sock_state_cb = on_socket_state;
    options.sock_state_cb_data = d;
    /* NOROTATE: the resolvers are asked in the order given, the first one first */
    int mask = ARES_OPT_FLAGS | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_LOOKUPS |
               ARES_OPT_SOCK_STATE_CB | ARES_OPT_NOROTATE;
    char no_system_config[] = "/dev/null";
    if (spec->resolver_count) {
        /* named resolvers: nothing of the system's resolv.conf (rotate, ndots, its servers
         * before set_resolvers replaces them) plays a part */
        options.resolvconf_path = no_system_config;
        mask |= ARES_OPT_RESOLVCONF;
    }
    int status = ares_init_options(&d->channel, &options, mask);
    if (status != ARES_SUCCESS) {
        d->channel = NULL;
        return fail_start(d, err, errlen, ares_strerror(status));
    }
    if (spec->resolver_count && !set_resolvers(d, spec, err, errlen)) {
        gw_discovery_stop(d);
        return NULL;
    }

    /* the first round runs from the loop, so the callback never runs inside this call */
    event_active(d->refresh_timer, EV_TIMEOUT, 0);
    return d;
}

void gw_discovery_refresh_now(gw_discovery *d) {
    if (!d) return;
    if (d->round_running) {
        d->rerun = 1;
        return;
    }
    /* dropped first, or the timer still pending would start a second round later */
    evtimer_del(d->refresh_timer);
    event_active(d->refresh_timer, EV_TIMEOUT, 0);
}

void gw_discovery_stop(gw_discovery *d) {
    if (!d) return;
    d->stopping = 1;
    /* ends every query (their callbacks see ARES_EDESTRUCTION and free their context) and
     * closes every socket (the state callback frees its watch) */
    if (d->channel) ares_destroy(d->channel);
    while (d->watches) {
        socket_watch *w = d->watches;
        d->watches = w->next;
        event_free(w->ev);
        free(w);
    }
    if (d->ares_timer) event_free(d->ares_timer);
    if (d->refresh_timer) event_free(d->refresh_timer);
    if (d->notify_event) event_free(d->notify_event);
    free(d->cands);
    free(d->endpoints);
    free(d);
}
