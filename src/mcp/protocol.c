#include "mcp/protocol.h"

#include <string.h>

const char *const gw_mcp_versions[GW_MCP_VERSIONS] = {"2024-11-05", "2025-03-26", "2025-06-18",
                                                      "2025-11-25", "2026-07-28"};

int gw_mcp_version_find(const char *s, size_t len) {
    for (int i = 0; i < GW_MCP_VERSIONS; i++)
        if (strlen(gw_mcp_versions[i]) == len && !memcmp(gw_mcp_versions[i], s, len)) return i;
    return -1;
}

int gw_mcp_version_is_modern_shape(const char *s, size_t len) {
    /* revisions are dates, YYYY-MM-DD: they compare as text */
    return len == 10 && s[4] == '-' && s[7] == '-' &&
           memcmp(s, gw_mcp_versions[GW_MCP_FIRST_MODERN], 10) >= 0;
}
