/* The audit log of admin actions: one JSON line (event "audit") per change made through the
 * admin API, naming who (the client address), what and on what; secrets never appear. */
#ifndef AIGW_ADMIN_AUDIT_H
#define AIGW_ADMIN_AUDIT_H

#include "core/http_server.h"

/* action: a fixed name ("key.create"); target: what it acted on (escaped here), may be NULL;
 * status: the answer's. */
void gw_admin_audit(const gw_http_req *req, const char *action, const char *target, int status);

#endif
