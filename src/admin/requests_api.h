/* GET /admin/requests (search the request log), /admin/requests/{id} (one request's full chain)
 * and /admin/requests/{id}/replay (its captured answer: SSE at the original pace, speed=N times
 * faster, speed=0 at once; view=merged assembles it). Read on the metering reader's thread; a
 * replay is paced by timers on the control loop. */
#ifndef AIGW_ADMIN_REQUESTS_API_H
#define AIGW_ADMIN_REQUESTS_API_H

#include <stddef.h>

#include "core/http_server.h"

struct event_base;
struct gw_meter_reader;

/* rest: what follows /admin/requests in the path. base: the loop that paces replays. */
void gw_admin_requests(gw_http_req *req, struct gw_meter_reader *reader, struct event_base *base,
                       const char *rest, size_t rest_len);

#endif
