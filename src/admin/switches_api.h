/* The admin API's switches: GET /admin/switches, and POST /admin/switches with
 * {"tenant":"acme","disabled":true} or {"model":"chat","disabled":true} (false turns it on). */
#ifndef AIGW_ADMIN_SWITCHES_API_H
#define AIGW_ADMIN_SWITCHES_API_H

#include "admin/admin.h"
#include "core/http_server.h"

void gw_admin_switches(gw_http_req *req, const gw_admin_ops *ops, void *ud);

#endif
