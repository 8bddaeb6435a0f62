/* Capture of a request's bodies for the request log and stream replay: the body sent upstream
 * and the answer as the caller got it, each stream event with its time. Bounded by caps the
 * config sets; past a cap the capture keeps its prefix and says it was truncated. Runs on the
 * worker (a copy into a growing buffer); the record takes the buffers to the store writer. */
#ifndef AIGW_METER_CAPTURE_H
#define AIGW_METER_CAPTURE_H

#include <stddef.h>
#include <stdint.h>

#include "meter/record-t.h"

struct evbuffer;

/* The request body, up to cap bytes. -1 when out of memory (nothing kept). */
int gw_capture_request(gw_capture *c, const char *body, size_t len, size_t cap);

/* One event (or a whole answer) of len bytes from buf, at t_us after arrival, while the
 * response capture stays within cap bytes. -1 when out of memory. */
int gw_capture_response(gw_capture *c, int64_t t_us, struct evbuffer *buf, size_t cap);

/* meter/record.h walks the chunks and frees the buffers (gw_record_free_capture). */

#endif
