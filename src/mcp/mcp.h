/* The MCP bridge's public face: the route handlers a config's MCP servers are served by (the
 * config loader builds each server's routes from them), and the report of every finished tool
 * call, where metering and metrics attach. */
#ifndef AIGW_MCP_MCP_H
#define AIGW_MCP_MCP_H

#include <stdint.h>

#include "core/http_routes.h"
#include "mcp/mcp-t.h"

/* Indexed by GW_MCP_ROUTE_* (mcp-t.h); route.data is the gw_mcp_server. */
extern const gw_http_route_handler gw_mcp_route_handlers[];

/* One finished tool call, as the access log and the hook see it. */
typedef struct gw_mcp_call_report {
    const char *server;   /* the gateway's MCP server */
    const char *tool;     /* as the caller named it (prefixed for a proxied one) */
    const char *upstream; /* the proxied server's name, or NULL for a REST tool */
    /* "ok", "tool_error" (isError: the REST API or upstream said no, or invalid arguments),
     * "error" (a JSON-RPC error), "refused" (key, permission or limit), "client_gone" */
    const char *status;
    int upstream_status; /* the REST API's HTTP status; 0 when none */
    int64_t latency_ns;  /* from the request's arrival to the answer */
    const char *key_id;  /* the caller's key id or token subject; "" when anonymous */
    const char *tenant, *project;
    const char *client;    /* the client's address */
    const char *transport; /* "stateless", "streamable_http" or "sse" */
} gw_mcp_call_report;

typedef void (*gw_mcp_call_hook)(const gw_mcp_call_report *report, void *ud);

/* Called on the worker's thread for every tool call that ended: writes its access-log line
 * ("event":"mcp_call") and hands the report to the hook, if one is set. Keep the hook short and
 * lock-free: it runs on the request path. */
void gw_mcp_on_call_done(const gw_mcp_call_report *report);
/* Sets (or, with NULL, clears) the hook; once, before the workers start. */
void gw_mcp_set_call_hook(gw_mcp_call_hook hook, void *ud);

#endif
