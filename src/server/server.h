/* The control side of the process: loads the config, starts the simulator when a channel
 * wants it, the workers and the admin listener; reloads on SIGHUP or the admin API; drains
 * on SIGTERM. It runs on the main thread and never on the request path. */
#ifndef AIGW_SERVER_SERVER_H
#define AIGW_SERVER_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "core/config-t.h"

typedef struct gw_server gw_server;

typedef struct gw_serve_options {
    const char *config_path; /* NULL: the embedded default */
    int banner;              /* print how to call it, for `make run` */
} gw_serve_options;

int gw_serve(const gw_serve_options *opts); /* returns the exit code */

/* Loads the config again and swaps it in. On failure the old one stays and errs says why; on
 * success `pending` names what waits for a restart. */
int gw_server_reload(gw_server *s, gw_config_errors *errs, gw_restart_pending *pending);
uint64_t gw_server_generation(const gw_server *s);
int gw_server_draining(const gw_server *s);
const gw_config *gw_server_config(const gw_server *s);

#endif
