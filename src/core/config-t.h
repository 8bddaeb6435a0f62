/* Types of an immutable configuration snapshot. Workers hold a reference; a reload builds a new
 * snapshot and swaps it in, and a request keeps the one it started with. */
#ifndef AIGW_CORE_CONFIG_T_H
#define AIGW_CORE_CONFIG_T_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"

struct gw_engine_ops;
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

typedef struct gw_channel {
    const char *name;
    const char *type; /* engine adapter name */
    const struct gw_engine_ops *engine;
    const char *base_url;          /* as configured; "builtin:sim" is the in-process simulator */
    const char *api_key;           /* NULL: no Authorization header */
    const char *url[GW_API_COUNT]; /* full upstream URL per API, built once */
    struct curl_slist *headers;    /* Content-Type, Authorization, Expect: built once, read-only */
    const char **forward_headers;  /* client headers passed on; "x-foo-*" matches a prefix */
    size_t forward_header_count;
    gw_timeouts timeouts;
    int max_connections; /* per worker and host */
    int line;
} gw_channel;

typedef struct gw_model {
    const char *name; /* the virtual name callers use */
    size_t name_len;
    const char *name_json; /* name as a JSON string literal, spliced into responses */
    size_t name_json_len;
    const gw_channel *channel;
    const char *upstream_model; /* the name the channel serves; the virtual name when unset */
    size_t upstream_model_len;
    const char *upstream_model_json; /* upstream_model as a JSON string literal, for splicing */
    size_t upstream_model_json_len;
    int rewrite; /* upstream_model differs from name */
} gw_model;

typedef struct gw_config {
    atomic_int refs;
    gw_arena arena;
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
    int log_level;

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
    const char *names[8];
    size_t count;
} gw_restart_pending;

#endif
