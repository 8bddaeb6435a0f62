/* The MCP revisions the bridge speaks, and what differs between them where it matters here. */
#ifndef AIGW_MCP_PROTOCOL_H
#define AIGW_MCP_PROTOCOL_H

#include <stddef.h>

typedef enum {
    GW_MCP_V2024_11_05, /* legacy HTTP+SSE */
    GW_MCP_V2025_03_26, /* Streamable HTTP with sessions from here ... */
    GW_MCP_V2025_06_18, /* MCP-Protocol-Version header on every request */
    GW_MCP_V2025_11_25, /* ... to here; invalid arguments become tool errors (isError) */
    GW_MCP_V2026_07_28, /* stateless: _meta on every request, server/discover, Mcp-Method */
    GW_MCP_VERSIONS
} gw_mcp_version;

extern const char *const gw_mcp_versions[GW_MCP_VERSIONS];

enum { GW_MCP_LATEST_LEGACY = GW_MCP_V2025_11_25, GW_MCP_FIRST_MODERN = GW_MCP_V2026_07_28 };

/* The index of a version string; -1 when unknown. */
int gw_mcp_version_find(const char *s, size_t len);
/* A date-shaped version at or after the first modern one (known or not): such a request is
 * judged by the stateless rules, and an unknown one gets UnsupportedProtocolVersion. */
int gw_mcp_version_is_modern_shape(const char *s, size_t len);

#endif
