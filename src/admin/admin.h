/* The admin listener: health, readiness and config reload, behind a bearer admin token.
 * It runs on the control thread's loop, apart from the API ports. */
#ifndef AIGW_ADMIN_ADMIN_H
#define AIGW_ADMIN_ADMIN_H

#include <stddef.h>

#include "core/config-t.h"

struct event_base;
typedef struct gw_server gw_server;
typedef struct gw_http_server gw_http_server;

gw_http_server *gw_admin_start(gw_server *s, struct event_base *base, const gw_config *cfg,
                               char *err, size_t errlen);
void gw_admin_stop(gw_http_server *admin);

#endif
