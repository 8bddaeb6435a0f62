/* The admin API's quotas: GET /admin/quotas/{by}/{value} (budget, spent, remaining and the
 * period of one subject: a key id, a tenant or a project) and PATCH the same with {"spent":N}
 * or {"budget":N} ({"budget":null} goes back to the configured one). */
#ifndef AIGW_ADMIN_QUOTAS_API_H
#define AIGW_ADMIN_QUOTAS_API_H

#include <stddef.h>

#include "core/config-t.h"
#include "core/http_server.h"

/* rest: what follows "/admin/quotas" in the path. changed (may be NULL) runs after a PATCH
 * changed a count or a budget, to save it at once. */
void gw_admin_quotas(gw_http_req *req, const gw_config *cfg, const char *rest, size_t rest_len,
                     void (*changed)(void *ud), void *ud);

#endif
