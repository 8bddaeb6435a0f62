/* The admin API's reads of the usage store, off the control thread: a thread of its own with its
 * own read connection to the store's backend (meter/store.h) runs one query at a time, and
 * hands each finished job back to the control loop through an event, so a long query never
 * holds up reloads and health checks. Queued jobs are bounded; each query is cut at a time
 * limit. */
#ifndef AIGW_METER_READER_H
#define AIGW_METER_READER_H

#include <stddef.h>
#include <stdint.h>

#include "meter/store-t.h"

struct event_base;
typedef struct gw_meter_reader gw_meter_reader;

enum {
    GW_READER_MAX_QUEUED = 16,        /* jobs waiting beyond this are refused (503) */
    GW_READER_QUERY_LIMIT_MS = 10000, /* a query running longer is interrupted */
};

/* A job is embedded in the caller's own struct. run goes on the reader thread (only the job's
 * query fields and result are its to touch); done goes on the loop, once, after run, or without
 * run (cancelled set) when the reader stops first. done owns the job from then on. */
typedef struct gw_reader_job gw_reader_job;
struct gw_reader_job {
    void (*run)(gw_reader_job *job, gw_meter_reads *reads);
    void (*done)(gw_reader_job *job);
    int cancelled;
    gw_reader_job *next;
};

/* Opens the store locator names (metering.store) for reading (it must exist: the writer made
 * it) and starts the thread; done callbacks run on loop. NULL and err on failure. */
gw_meter_reader *gw_meter_reader_start(const char *locator, struct event_base *loop, char *err,
                                       size_t cap);
/* Queues job: 0, or -1 when GW_READER_MAX_QUEUED jobs wait already (the job stays the
 * caller's). From the loop's thread. */
int gw_meter_reader_post(gw_meter_reader *r, gw_reader_job *job);
/* Stops the thread after its current query and calls done for every job not yet delivered.
 * From the loop's thread; NULL is a no-op. */
void gw_meter_reader_stop(gw_meter_reader *r);

#endif
