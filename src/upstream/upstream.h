/* One exchange with an upstream channel: send the request through the engine adapter, relay
 * the answer (a whole body, or a stream event by event with backpressure), and map every
 * failure to an OpenAI error or, after the first streamed byte, to an explicit error event. */
#ifndef AIGW_UPSTREAM_UPSTREAM_H
#define AIGW_UPSTREAM_UPSTREAM_H

#include <curl/curl.h>

#include "core/request-t.h"

void gw_upstream_start(gw_req *r);
/* The gateway stops before the exchange ended: a stream that began ends with an error event
 * and [DONE]; otherwise the caller gets a 503. Ends the request; returns 1. */
int gw_upstream_shutdown(gw_req *r);
/* Cancels a transfer still running and frees the state; safe to call twice. */
void gw_upstream_free(gw_req *r);
/* The curl multi glue's completion callback. */
void gw_upstream_on_curl_done(CURL *easy, CURLcode result);

#endif
