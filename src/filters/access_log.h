/* The access log's line for a request no filter chain ran for: answered by the HTTP layer
 * itself (400, 408, 413, 431) or by a fixed route (404, 405, /v1/models, health probes). */
#ifndef AIGW_FILTERS_ACCESS_LOG_H
#define AIGW_FILTERS_ACCESS_LOG_H

#include "core/http_server.h"

/* Writes one access line unless the request's own handler already did (req->access_logged).
 * Health probes are logged at debug level, so load balancers do not flood the log. */
void gw_access_log_plain(const gw_http_req *req, int health_probe);

#endif
