/* Types of an immutable configuration snapshot. Workers hold a reference; a reload builds a new
 * snapshot and swaps it in, and a request keeps the one it started with. */
#ifndef AIGW_CORE_CONFIG_T_H
#define AIGW_CORE_CONFIG_T_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/endpoint-t.h"

struct gw_engine_ops;
struct gw_filter_ops;
struct gw_cidr_list;
struct gw_words_guard_conf;
struct gw_pii_guard_conf;
struct gw_auth_conf;
struct gw_limits_conf;
struct gw_metering_conf;
struct gw_metrics_conf;
struct gw_alerts_conf;
struct gw_mcp_conf;
struct curl_slist;
struct ssl_ctx_st;

typedef enum { GW_API_CHAT, GW_API_COMPLETIONS, GW_API_EMBEDDINGS, GW_API_COUNT } gw_api_kind;

typedef struct gw_timeouts {
    int connect_ms;    /* TCP + TLS handshake to the upstream */
    int first_byte_ms; /* request sent -> first response byte (prefill on a loaded engine) */
    int idle_ms;       /* longest gap between two chunks of a response */
    int total_ms;      /* the whole upstream exchange */
} gw_timeouts;

typedef struct gw_listen {
    const char *host; /* NULL when the listener is off */
    int port;
} gw_listen;

/* Passive health: `failures` failures in a row eject an endpoint for `backoff_ms`, doubled at
 * each failed probe up to `max_backoff_ms`. */
typedef struct gw_health_policy {
    int failures;
    int backoff_ms;
    int max_backoff_ms;
    /* active checks, when path is set: GET scheme://host:port path of every endpoint each
     * interval_ms (port: the endpoint's, or another one, as MindIE's management port) */
    const char *path;
    int interval_ms;
    int timeout_ms;
    int port;
    /* probe this base URL instead of the endpoint's own (MindIE's management_url) */
    const char *base_url;
    int active;             /* health.active: check with the engine's own probe */
    const char *probe_path; /* that probe, declared by the engine adapter; NULL: none */
} gw_health_policy;

/* `discovery:` of a channel: the A/AAAA (or SRV) records of a name, re-resolved on their TTL or
 * every interval_ms; each address becomes an endpoint scheme://address:port path. */
typedef struct gw_discovery_config {
    const char *dns;
    int port;
    int srv;
    const char **resolvers;
    size_t resolver_count;
    int interval_ms;
    const char *scheme; /* "http" (default) or "https" */
    const char *path;   /* "/v1" (default) */
    const char *key;    /* all of it as text: the same discovery across reloads */
} gw_discovery_config;

typedef struct gw_channel {
    const char *name;
    const char *type; /* engine adapter name */
    const struct gw_engine_ops *engine;
    const void *engine_conf;      /* the adapter's own settings, parsed once (snapshot arena) */
    const char *base_url;         /* as configured; "builtin:sim" is the in-process simulator */
    const char *api_key;          /* NULL: no Authorization header */
    struct curl_slist *headers;   /* built once by the adapter (auth style, versions), read-only */
    const char **forward_headers; /* client headers passed on; "x-foo-*" matches a prefix */
    size_t forward_header_count;
    gw_timeouts timeouts;
    int max_connections; /* requests in flight to the channel at once, over every worker */
    /* a worker's pool for the channel: idle connections it keeps (the least recently used one
     * beyond is closed), and how long one may stay idle (upstream/channel_pools.c) */
    int keepalive;
    int keepalive_timeout_ms;
    /* http_client: curl: every endpoint through curl, also those the own HTTP/1.1 client would
     * serve (upstream/h1_address.h) */
    int curl_only;
    /* the engine instances: base_url, or the `endpoints` list; each with shared health state */
    const char **endpoint_urls; /* as configured */
    size_t endpoint_url_count;
    gw_endpoint **endpoints; /* what they resolved to (builtin:sim only with the simulator) */
    size_t endpoint_count;
    /* DNS discovery instead of a static list: the endpoints are the source's current set */
    const gw_discovery_config *discovery;
    gw_endpoint_source *source;
    atomic_uint *endpoint_cursor; /* round robin among equally loaded endpoints */
    gw_health_policy health;
    int line;
} gw_channel;

/* One channel a model may be served by: its weight (0 drains it), its priority tier (the lowest
 * tier with a healthy channel serves) and the channel's name for the model. */
typedef struct gw_target {
    const gw_channel *channel;
    int weight;
    int tier;
    const char *upstream_model; /* the name the channel serves; the virtual name when unset */
    size_t upstream_model_len;
    const char *upstream_model_json; /* as a JSON string literal, for splicing */
    size_t upstream_model_json_len;
    int rewrite; /* upstream_model differs from the virtual name */
} gw_target;

/* The targets of one tier in smooth weighted round-robin order: `schedule` lists target
 * indices, each as often as its weight, interleaved; all workers share one cursor, so the
 * split holds across them without a lock. */
typedef struct gw_tier {
    int tier;
    uint32_t *schedule;
    size_t period;
    atomic_uint *cursor;
} gw_tier;

typedef struct gw_target_group {
    gw_target *targets;
    size_t count;
    gw_tier *tiers; /* ascending */
    size_t tier_count;
} gw_target_group;

enum {
    GW_FAILOVER_ON_CONNECT = 1,
    GW_FAILOVER_ON_TIMEOUT = 2,
    GW_FAILOVER_ON_5XX = 4,
    GW_FAILOVER_ON_429 = 8,
};

typedef struct gw_failover {
    unsigned on;     /* GW_FAILOVER_ON_* */
    int attempts;    /* at most this many tries of one request */
    int deadline_ms; /* from the request's arrival: no new try after it, none runs past it */
} gw_failover;

typedef struct gw_model {
    const char *name; /* the virtual name callers use */
    size_t name_len;
    const char *name_json; /* name as a JSON string literal, spliced into responses */
    size_t name_json_len;
    gw_target_group targets;
    /* rules in order, the first that holds picks its own targets (rule_groups[its index]) */
    struct gw_rule_set *rules;
    gw_target_group *rule_groups;
    size_t rule_count;
    gw_failover failover;
    /* access: this model's own client address lists, on top of the global ones; NULL: none */
    struct gw_cidr_list *access_allow, *access_deny;
} gw_model;

enum { GW_MAX_FILTERS = 16 };

/* One filter of a snapshot's request chain and its parsed settings. */
typedef struct gw_filter_slot {
    const struct gw_filter_ops *ops;
    const void *conf; /* in the snapshot's arena; NULL: the filter takes no settings */
} gw_filter_slot;

typedef struct gw_config {
    atomic_int refs;
    gw_arena arena;
    /* run when the last reference goes: releases what the snapshot holds outside its arena */
    void (*release)(struct gw_config *cfg);
    uint64_t generation;
    const char *source; /* file path, or NULL for the embedded default */

    int workers;
    gw_listen http, https, admin;
    const char *tls_cert, *tls_key;
    int tls_self_signed;
    /* the TLS server context of this snapshot, loaded by the control thread (NULL when https is
     * off); a reload reads the pair again, so a rotated certificate applies without a restart */
    struct ssl_ctx_st *tls_ctx;
    const char *admin_token; /* never empty once loaded: generated when not configured */
    int admin_token_generated;
    size_t max_body_bytes;
    size_t max_response_bytes; /* a buffered (non-streamed) upstream answer */
    size_t max_event_bytes;    /* one upstream stream event */
    size_t max_header_bytes;
    int max_connections;    /* client connections of the whole process (API ports) */
    int request_timeout_ms; /* a request's headers and body, from its first byte */
    int shutdown_timeout_ms;
    int keepalive_timeout_ms;
    int client_timeout_ms; /* a client that reads nothing for this long is dropped */
    const char *access_log;
    int access_log_on; /* access_log names a target (not off): decided once, read per request */
    int log_level;

    /* access: the client addresses that may call the API ports (NULL: no such list); deny
     * wins; a trusted proxy's X-Forwarded-For names the client */
    struct gw_cidr_list *access_allow, *access_deny, *trusted_proxies;

    /* guards.words: the sensitive-words guard's settings (filters/words_guard.h); NULL: off */
    struct gw_words_guard_conf *words_guard;
    struct gw_pii_guard_conf *pii_guard; /* guards.pii (filters/pii_guard.h); NULL: off */
    struct gw_auth_conf *auth;           /* auth (filters/auth.h); NULL: mode off */
    struct gw_limits_conf *limits;       /* limits (filters/limits.h); NULL: none */
    const char *store_path; /* store.path: the SQLite database (keys, quotas, switches, audit) */
    int store_path_set;     /* store.path was written: the store opens whatever else is used */
    /* metering (meter/metering-t.h): usage store, prices, captures; NULL: metering off */
    struct gw_metering_conf *metering;
    struct gw_metrics_conf *metrics; /* metrics (meter/metrics.h); NULL: the defaults */
    struct gw_mcp_conf *mcp; /* mcp: the MCP servers and their routes (mcp/mcp-t.h); NULL: none */
    /* names besides the models that metrics may give a label of their own (an MCP tool's
     * "mcp:<server>/<tool>"), judged by the part of the config that makes them; NULL: none */
    int (*knows_name)(const struct gw_config *cfg, const char *name, size_t len);

    /* the request chain, in order, each filter with its settings: a reload builds a new one and
     * a request keeps the chain of the snapshot it started with */
    gw_filter_slot chain[GW_MAX_FILTERS];
    size_t chain_len;

    gw_channel *channels;
    size_t channel_count;
    gw_model *models;
    size_t model_count;
    uint32_t *model_slots; /* open-addressing index into models (+1; 0 is empty) */
    size_t model_slot_mask;
} gw_config;

enum { GW_CONFIG_MAX_ERRORS = 32 };

typedef struct gw_config_errors {
    size_t count;
    char messages[GW_CONFIG_MAX_ERRORS][320];
} gw_config_errors;

/* The settings a reload read but cannot apply before a restart (listen addresses, workers,
 * log.access). */
typedef struct gw_restart_pending {
    const char *names[12]; /* every setting restart_only_changes names fits (8 today) */
    size_t count;
} gw_restart_pending;

#endif
