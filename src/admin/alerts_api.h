/* The admin API's alerts: GET /admin/alerts?from=&to=&type=&limit= (the history, newest first)
 * and POST /admin/alerts/test (a test alert to every webhook). */
#ifndef AIGW_ADMIN_ALERTS_API_H
#define AIGW_ADMIN_ALERTS_API_H

#include <stddef.h>

#include "core/http_server.h"

struct gw_alerts;

/* rest: what follows /admin/alerts in the path ("" or "/test"); alerts NULL: not configured. */
void gw_admin_alerts(gw_http_req *req, struct gw_alerts *alerts, const char *rest, size_t rest_len);

#endif
