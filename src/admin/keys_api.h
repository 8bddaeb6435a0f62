/* The admin API's keys: POST/GET /admin/keys, GET/PATCH/DELETE /admin/keys/{id},
 * POST /admin/keys/{id}/rotate. Runs on the control thread, which owns the store. */
#ifndef AIGW_ADMIN_KEYS_API_H
#define AIGW_ADMIN_KEYS_API_H

#include <stddef.h>

#include "core/http_server.h"

struct gw_key_store;

/* rest: what follows "/admin/keys" in the path ("", "/{id}" or "/{id}/rotate"). changed runs
 * after every change, to publish the store's keys. */
void gw_admin_keys(gw_http_req *req, struct gw_key_store *st, const char *rest, size_t rest_len,
                   void (*changed)(void *ud), void *ud);

#endif
