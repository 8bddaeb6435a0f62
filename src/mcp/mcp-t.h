/* Types of the MCP bridge's configuration (mcp: in the config), part of a config snapshot and
 * as immutable: each MCP server at its path, with its REST tools (written in the config or made
 * from an OpenAPI document) and the upstream MCP servers it fronts. Built by
 * src/config/load_mcp.c in the snapshot's arena. */
#ifndef AIGW_MCP_MCP_T_H
#define AIGW_MCP_MCP_T_H

#include <stddef.h>
#include <stdint.h>

#include "core/http_routes.h"

struct gw_schema;
struct gw_limit_rule;

/* Bounds of the bridge (see README, mcp:). */
enum {
    GW_MCP_SESSIONS_MAX = 65536, /* mcp.max_sessions at most: the session table's size */
    GW_MCP_TOOLS_MAX = 1024,     /* tools of one server (its own and those it proxies) */
    GW_MCP_NAME_MAX = 64,        /* a tool's name, ^[a-zA-Z0-9_-]{1,64}$ */
    GW_MCP_UPSTREAMS_MAX = 16,   /* proxied servers of one server */
    GW_MCP_WORKERS_MAX = 256,    /* workers that can own sessions */
};

/* A text with {name} holes filled from a tool call's arguments: a URL (values percent-encoded),
 * a header value (CR and LF refused) or a result (values as text). */
typedef struct gw_mcp_template_part {
    const char *text; /* a literal, or an argument's name (or a result field's path) */
    size_t len;
    int is_arg;
} gw_mcp_template_part;

typedef struct gw_mcp_template {
    gw_mcp_template_part *parts;
    size_t count;
} gw_mcp_template;

/* The upstream credentials of REST tools and proxied servers: the gateway adds them to its own
 * requests; callers never see them. */
typedef struct gw_mcp_credentials {
    const char *header_line; /* the whole line: "Authorization: Bearer ...", "X-Api-Key: ..." */
} gw_mcp_credentials;

typedef enum { GW_MCP_BODY_NONE, GW_MCP_BODY_JSON, GW_MCP_BODY_FORM } gw_mcp_body_kind;

typedef struct gw_mcp_header_template {
    const char *name;
    gw_mcp_template value;
} gw_mcp_header_template;

/* How one tool call becomes a REST request and its answer a tool result. Arguments named in
 * the URL, query or headers go there; with a body, all the others form it. */
typedef struct gw_mcp_rest {
    const char *method; /* "GET", "POST", ... */
    gw_mcp_template url;
    const char **query; /* arguments sent as query parameters (when present) */
    size_t query_count;
    gw_mcp_header_template *headers;
    size_t header_count;
    gw_mcp_body_kind body;
    const char
        *body_arg; /* the body is this argument's value, whole (an OpenAPI non-object body) */
    const gw_mcp_credentials *auth; /* NULL: none */
    int timeout_ms;
    /* the result: the whole body, a field of it (a JSON pointer), or a template of its fields */
    const char *result_pointer;
    gw_mcp_template result_template;
    int has_result_template;
} gw_mcp_rest;

typedef struct gw_mcp_tool {
    const char *name;
    size_t name_len;
    const char *description;
    const char *list_json; /* its object in tools/list, built once */
    size_t list_json_len;
    const struct gw_schema *schema; /* the arguments' schema, compiled */
    const char *schema_json;        /* as tools/list shows it */
    gw_mcp_rest rest;
} gw_mcp_tool;

typedef enum { GW_MCP_UPSTREAM_STREAMABLE, GW_MCP_UPSTREAM_SSE } gw_mcp_upstream_transport;

/* An upstream MCP server fronted by a gateway server: its tools appear as <name>_<tool>. */
typedef struct gw_mcp_upstream {
    const char *name;
    size_t name_len;
    const char *url;
    gw_mcp_upstream_transport transport;
    const char **allow; /* globs of its tool names (theirs, unprefixed); none: all */
    size_t allow_count;
    const gw_mcp_credentials *auth;
    int timeout_ms;
} gw_mcp_upstream;

typedef struct gw_mcp_server {
    const char *name;
    const char *path; /* "/mcp/crm": POST, GET, DELETE there; legacy SSE at path/sse */
    size_t path_len;
    const char *sse_post_path; /* path/messages: where legacy SSE clients post */
    const char *instructions;  /* NULL: none */
    const char *name_json;     /* serverInfo's name, as a JSON literal */
    uint32_t id;               /* a hash of the path: a session names the server it was made on */
    gw_mcp_tool *tools;
    size_t tool_count;
    gw_mcp_upstream *upstreams;
    size_t upstream_count;
    uint32_t *tool_slots; /* its tools by name (tool_index.c): index + 1, 0 empty */
    uint32_t tool_slot_mask;
    const char *tools_json; /* the tools/list array of its own tools, built once */
    size_t tools_json_len;
    const struct gw_limit_rule *rate; /* calls per window (rate_limit:); NULL: none */
    int index;
    int line;
} gw_mcp_server;

typedef struct gw_mcp_conf {
    gw_mcp_server *servers;
    size_t server_count;
    gw_http_route *routes; /* each server's routes, for the API listener (server/api_routes.c) */
    size_t route_count;
    int max_sessions;        /* Streamable HTTP and SSE sessions over all workers */
    int session_idle_ms;     /* a session without a request (or an open stream) this long ends */
    size_t max_result_bytes; /* a REST or upstream answer, read whole */
    const char **allowed_origins; /* browsers' Origin values accepted besides the Host's own */
    size_t allowed_origin_count;
    int timeout_ms; /* a tool call's upstream exchange, unless the tool says */
} gw_mcp_conf;

/* The kinds of route (gw_http_route.kind) a server gets. */
enum {
    GW_MCP_ROUTE_POST,
    GW_MCP_ROUTE_GET,
    GW_MCP_ROUTE_DELETE,
    GW_MCP_ROUTE_SSE,
    GW_MCP_ROUTE_SSE_POST
};

#endif
