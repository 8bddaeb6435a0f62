/* Redaction of captures before they are stored: an interface the store writer calls on its own
 * thread, implemented above the meter (src/filters/capture_pii.c masks PII with the detectors of
 * src/security/pii.h; the meter depends on core only).
 *
 * A redactor is built once per config snapshot (metering.capture.redact_pii) and is immutable
 * afterwards. A request's record takes a reference to its snapshot's redactor when it has a
 * capture, so the writer redacts with the settings the request ran under, whatever reloads
 * happened since; the last reference frees it (on whichever thread drops it). */
#ifndef AIGW_METER_REDACT_H
#define AIGW_METER_REDACT_H

#include <stdatomic.h>
#include <stddef.h>

#include "meter/record-t.h"

typedef struct gw_capture_redactor gw_capture_redactor;

typedef struct gw_capture_redactor_ops {
    /* Rewrites c's request body and answer (its events, times kept) with what is to be hidden
     * masked, replacing the buffers when something changed. 0, or -1 when memory ran out (c is
     * then as it was: the caller must not store it). scratch: from scratch_new, the calling
     * thread's own, reused across calls. */
    int (*redact)(const gw_capture_redactor *rd, void *scratch, gw_capture *c);
    void *(*scratch_new)(void);
    void (*scratch_free)(void *scratch);
    void (*destroy)(gw_capture_redactor *rd); /* the last reference went */
} gw_capture_redactor_ops;

/* An implementation's struct begins with this. */
struct gw_capture_redactor {
    const gw_capture_redactor_ops *ops;
    atomic_uint refs;
};

static inline gw_capture_redactor *gw_capture_redactor_ref(gw_capture_redactor *rd) {
    if (rd) atomic_fetch_add_explicit(&rd->refs, 1, memory_order_relaxed);
    return rd;
}

static inline void gw_capture_redactor_unref(gw_capture_redactor *rd) {
    if (rd && atomic_fetch_sub_explicit(&rd->refs, 1, memory_order_acq_rel) == 1)
        rd->ops->destroy(rd);
}

#endif
