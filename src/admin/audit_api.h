/* The admin API's audit trail: GET /admin/audit?limit=N&since=UNIX&before=ID, the admin actions
 * the store kept, newest first, a bounded page at a time. Runs on the control thread. */
#ifndef AIGW_ADMIN_AUDIT_API_H
#define AIGW_ADMIN_AUDIT_API_H

#include "core/http_server.h"

enum { GW_AUDIT_PAGE_DEFAULT = 100, GW_AUDIT_PAGE_MAX = 1000 };

void gw_admin_audit_list(gw_http_req *req);

#endif
