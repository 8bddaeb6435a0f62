/* Which handler an API-port request goes to: the OpenAI endpoints through the filter chain,
 * the model list and health answered locally, and OpenAI-shaped 404/405 for the rest. */
#ifndef AIGW_SERVER_API_ROUTES_H
#define AIGW_SERVER_API_ROUTES_H

#include "core/worker-t.h"

typedef struct gw_http_req gw_http_req;

void gw_api_dispatch(gw_worker *w, gw_http_req *req);

#endif
