/* GET /metrics on the admin listener: every metric in Prometheus' text format. */
#ifndef AIGW_ADMIN_METRICS_API_H
#define AIGW_ADMIN_METRICS_API_H

#include "admin/admin.h"
#include "core/http_server.h"

/* token_ok: the request carries the admin token; asked for only with metrics.require_token. */
void gw_admin_metrics(gw_http_req *req, const gw_admin_ops *ops, void *ud, int token_ok);

#endif
