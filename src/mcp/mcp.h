/* The MCP bridge's public face: the route handlers a config's MCP servers are served by (the
 * config loader builds each server's routes from them), and the report of every finished tool
 * call, where metering and metrics attach. */
#ifndef AIGW_MCP_MCP_H
#define AIGW_MCP_MCP_H

#include <stdint.h>

#include "core/http_routes.h"
#include "mcp/mcp-t.h"

struct gw_arena;

/* Indexes a loaded server's tools by name (tool_index.c), in the snapshot's arena. */
void gw_mcp_tools_index(gw_mcp_server *s, struct gw_arena *arena);
/* Its own (REST) tool of that name, or NULL. */
const gw_mcp_tool *gw_mcp_tool_find(const gw_mcp_server *s, const char *name, size_t len);

/* Indexed by GW_MCP_ROUTE_* (mcp-t.h); route.data is the gw_mcp_server. */
extern const gw_http_route_handler gw_mcp_route_handlers[];

struct gw_worker;
struct gw_trace;
struct gw_config;

/* One finished tool call, as the access log, metering, metrics and the hook see it. */
typedef struct gw_mcp_call_report {
    struct gw_worker *worker;  /* the worker it ran on (its meter and metrics) */
    const char *server;        /* the gateway's MCP server */
    const char *path;          /* the server's path */
    const char *tool;          /* as the caller named it (prefixed for a proxied one) */
    const char *upstream;      /* the proxied server's name, or NULL for a REST tool */
    const char *upstream_tool; /* the tool's name at the proxied server; NULL for a REST tool */
    /* where the call went: the REST API's or the proxied server's host[:port]; "" when it was
     * refused or failed before any upstream was asked */
    const char *endpoint;
    /* "ok", "tool_error" (isError: the REST API or upstream said no, or invalid arguments),
     * "error" (a JSON-RPC error), "refused" (key, permission or limit), "client_gone" */
    const char *status;
    /* the request record's view: 200 for a result (isError too), else the failure's HTTP-ish
     * status (400, 403, 429, 499, 502, 503, 504); error_code "" for a plain success */
    int http_status;
    const char *error_code;
    int upstream_status;                        /* the REST API's HTTP status; 0 when none */
    int64_t latency_ns;                         /* from the request's arrival to the answer */
    int64_t upstream_start_ns, upstream_end_ns; /* from the arrival; -1: never asked */
    const char *request_id;                     /* the caller's X-Request-Id, or the gateway's */
    const struct gw_trace *trace;               /* the call's span (W3C trace context) */
    const char *key_id; /* the caller's key id or token subject; "" when anonymous */
    const char *tenant, *project;
    const char *client;    /* the client's address (behind trusted proxies: X-Forwarded-For's) */
    const char *transport; /* "stateless", "streamable_http" or "sse" */
} gw_mcp_call_report;

typedef void (*gw_mcp_call_hook)(const gw_mcp_call_report *report, void *ud);

/* Called on the worker's thread for every tool call that ended: writes its access-log line
 * ("event":"mcp_call"), makes it a request record for metering and metrics (mcp/metering.c:
 * the worker's meter queue and metrics table, model "mcp:<server>/<tool>") and hands the
 * report to the hook, if one is set. Keep the hook short and
 * lock-free: it runs on the request path. */
void gw_mcp_on_call_done(const gw_mcp_call_report *report);
/* Whether name is "mcp:<server>/<tool>" of one of cfg's servers' tools (proxied ones: the
 * upstream's prefix and a name its allow-list takes), for gw_config.knows_name: such names get
 * a metrics label of their own. */
int gw_mcp_knows_name(const struct gw_config *cfg, const char *name, size_t len);
/* Sets (or, with NULL, clears) the hook; once, before the workers start. */
void gw_mcp_set_call_hook(gw_mcp_call_hook hook, void *ud);

#endif
