/* The request record: when a request ends, the worker fills one gw_request_record (who, what,
 * route, every attempt, exact or estimated usage, cost, timings, captures) and hands it to the
 * store writer's queue and to the worker's metrics. Nothing slow happens here. */
#ifndef AIGW_FILTERS_METER_H
#define AIGW_FILTERS_METER_H

#include "core/request-t.h"
#include "meter/record-t.h"

/* Fills rec (zeroed first) from a request that has ended. */
void gw_record_from_request(gw_req *r, gw_request_record *rec);

struct evbuffer;

/* Captures for the request log, when metering.capture asks: the body as it goes upstream (after
 * the guards), and what the caller receives (one stream event, or a whole answer). */
void gw_meter_capture_request(gw_req *r);
void gw_meter_capture_response(gw_req *r, struct evbuffer *out, int whole);
/* Whether stream events are captured: they must then pass through an evbuffer. */
int gw_meter_captures_streams(const gw_req *r);

/* A pause of gap_ns between two stream events the caller received, for the gap histogram. */
void gw_meter_observe_gap(gw_req *r, int64_t gap_ns);

/* Which check refused a request, from the error code it answered with. */
gw_refusal gw_refusal_of(const char *error_code);

#endif
