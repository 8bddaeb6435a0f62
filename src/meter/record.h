/* What every holder of a request record may do with it: release its captures, and walk the
 * packed stream events of a capture. */
#ifndef AIGW_METER_RECORD_H
#define AIGW_METER_RECORD_H

#include <stddef.h>

#include "meter/record-t.h"

/* Frees the captured bodies, drops the redactor's reference and clears the pointers; a record
 * without captures is left alone. */
void gw_record_free_capture(gw_capture *c);

/* The size a chunk of len data bytes takes in gw_capture.response: its header and data, padded
 * to 8 bytes so the next chunk's t_us is aligned. The producer appends chunks at these steps. */
static inline size_t gw_capture_chunk_size(size_t len) {
    return (offsetof(gw_capture_chunk, data) + len + 7) & ~(size_t)7;
}

/* The chunk at *offset in a packed response of len bytes, and *offset moved past it; NULL at the
 * end or when what is left cannot hold the chunk it announces. */
const gw_capture_chunk *gw_capture_next(const char *response, size_t len, size_t *offset);

#endif
