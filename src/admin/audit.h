/* The audit log of admin actions: one JSON line (event "audit") per change made through the
 * admin API, naming who (the client address), what and on what, and, when the store is open,
 * the same as a row of its audit table (store/audit_rows.h), which GET /admin/audit reads.
 * Secrets never appear: targets are ids and names, and a URL loses its user:password@. */
#ifndef AIGW_ADMIN_AUDIT_H
#define AIGW_ADMIN_AUDIT_H

#include <stddef.h>

#include "core/http_server.h"

struct gw_key_store;

/* action: a fixed name ("key.create"); target: what it acted on (escaped here), may be NULL;
 * status: the answer's. */
void gw_admin_audit(const gw_http_req *req, const char *action, const char *target, int status);

/* Where entries are kept from now on besides the log (NULL: the log only). The control thread
 * sets it when it opens the store and clears it before closing it; the admin API runs on the
 * same thread. */
void gw_admin_audit_use_store(struct gw_key_store *st);
struct gw_key_store *gw_admin_audit_store(void);

/* target with the userinfo of a URL in it (scheme://user:password@host) taken out, into out. */
void gw_admin_audit_redact(const char *target, char *out, size_t cap);

#endif
