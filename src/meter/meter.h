/* The store writer: finished request records go off the request path through a bounded queue
 * to a thread of their own that writes them to the store (meter/store.h: SQLite today) in
 * batches, one transaction each: the request log, captures, and the per-minute, hour and day
 * rollups.
 *
 * A worker calls gw_meter_submit when a request ends. It never blocks: a record is copied into
 * a preallocated slot claimed with one atomic compare-and-swap (no lock), and when every slot is
 * taken (the store is slow or locked by another process) the record is dropped and counted. The
 * writer sleeps on an eventfd when it has nothing to do; a producer writes to it only when the
 * writer said it sleeps, once per sleep, so a busy writer costs producers nothing but the copy. */
#ifndef AIGW_METER_METER_H
#define AIGW_METER_METER_H

#include <stddef.h>
#include <stdint.h>

#include "meter/metering-t.h"
#include "meter/record-t.h"

typedef struct gw_meter gw_meter;

typedef struct gw_meter_stats {
    uint64_t submitted;      /* records taken into the queue */
    uint64_t dropped;        /* refused at submit: the queue was full */
    uint64_t written;        /* rows committed to the store */
    uint64_t failed;         /* taken, then lost: the store refused their batch, or stop ran out
                                of time while the store was locked */
    uint64_t queue_depth;    /* records waiting now */
    uint64_t queue_capacity; /* slots */
    uint64_t batches;        /* transactions committed */
    uint64_t retained;       /* request rows deleted by retention */
    uint64_t store_busy;     /* times a batch found the store locked and waited to try again */
} gw_meter_stats;

/* Opens the store conf->store names (creating it and its tables), preallocates conf->queue_size
 * slots and starts the writer thread. NULL and err when the store cannot be opened. */
gw_meter *gw_meter_start(const gw_metering_conf *conf, char *err, size_t cap);

/* From any thread, on the request path: copies rec into the queue and takes ownership of
 * rec->capture's heap pointers, whatever the outcome (freed with the record when written or
 * dropped): the caller forgets them after the call. 0 queued; -1 full (counted as dropped), or
 * m NULL (metering off: the captures are freed, nothing is counted). Never blocks. */
int gw_meter_submit(gw_meter *m, const gw_request_record *rec);

/* Counters for /metrics: read from any thread. */
void gw_meter_get_stats(const gw_meter *m, gw_meter_stats *out);

/* The store the writer writes, as metering.store names it (for the admin API's reader). */
const char *gw_meter_store_path(const gw_meter *m);

/* A reload's retention settings: taken by the writer at its next check. */
void gw_meter_set_retention(gw_meter *m, const gw_retention_conf *r);

/* Writes what is queued, then stops the thread and frees everything. Waits at most timeout_ms
 * for a locked store; what is still unwritten then is counted as failed and logged. Call after
 * every producer stopped. NULL is a no-op. */
void gw_meter_stop(gw_meter *m, int timeout_ms);

#endif
