/* A worker's share of the MCP bridge: its inbox (what other workers send to the streams it
 * holds), those streams, the sessions it made (swept when idle), the tool calls in flight and
 * its connections to upstream MCP servers. Made and freed by the worker (server/worker.c). */
#ifndef AIGW_MCP_MCP_WORKER_H
#define AIGW_MCP_MCP_WORKER_H

#include "core/worker-t.h"

typedef struct gw_mcp_worker gw_mcp_worker;

/* Before the worker's thread starts (the inbox must exist before any other worker posts). */
gw_mcp_worker *gw_mcp_worker_new(gw_worker *w);
/* After every worker's loop has ended. Ends the transfers still running. */
void gw_mcp_worker_free(gw_mcp_worker *mw);

#endif
