/* Which client headers may cross the gateway to an engine. */
#ifndef AIGW_CORE_FORWARDING_H
#define AIGW_CORE_FORWARDING_H

#include <stddef.h>

/* Headers that describe one hop or the body's framing, or that the gateway sets itself. Sent
 * on, they would cut the rewritten body to a stale length, desynchronize the pooled upstream
 * connection, make the engine compress what the gateway must read, or hand the caller's
 * credentials to the engine. No forward_headers pattern, "*" included, passes them. */
int gw_header_never_forwarded(const char *name, size_t len);

#endif
