/* The mcp: section of the config (src/mcp/mcp-t.h has its types): MCP servers, their REST tools,
 * OpenAPI imports and proxied upstreams, each checked with file:line:column errors. */
#ifndef AIGW_CONFIG_LOAD_MCP_H
#define AIGW_CONFIG_LOAD_MCP_H

#include "config/loader.h"

/* The handler of the top-level key mcp (target: the gw_config). */
void ld_mcp(loader *ld, yaml_node_t *value, void *target);
/* What a snapshot's MCP config holds outside its arena (compiled schemas), at its release. */
void gw_mcp_conf_release(struct gw_mcp_conf *mc);

#endif
