#ifndef AIGW_SERVER_WORKER_H
#define AIGW_SERVER_WORKER_H

#include "core/worker-t.h"

/* Binds the listeners here, so a port in use is reported before any thread starts. */
int gw_worker_init(gw_worker *w, int index, gw_config *cfg, SSL_CTX *tls);
int gw_worker_spawn(gw_worker *w);
/* From the control thread: hand over a new snapshot (takes the reference). */
void gw_worker_post_config(gw_worker *w, gw_config *cfg);
/* From the control thread: stop accepting, finish what runs, then exit the loop. `now`: do
 * not wait for the drain deadline, end what runs at once (a second signal). */
void gw_worker_request_stop(gw_worker *w, int now);
void gw_worker_join(gw_worker *w);
int gw_worker_exited(gw_worker *w);
void gw_worker_destroy(gw_worker *w);

#endif
