/* The usage and request-log store, behind one ops table: the store writer's side (open, write a
 * batch of records with their rollups, one step of retention, close) and the admin reader's
 * side (usage totals grouped by dimensions, Top-N, timelines, the request search, one request's
 * full chain, its captured answer). The writer (meter.c) and the reader (reader.c) know no
 * database; a backend is a set of these functions.
 *
 * metering.store names the backend: a file path is SQLite (db*.c, the one built today); a URL
 * with a scheme (postgres://...) names a backend this build may not have, and the config loader
 * refuses it with gw_meter_store_backend's message. docs/metering.md says what a backend
 * implements, and how a PostgreSQL one would map it.
 *
 * Reads return rows through callbacks, not text: the answers' JSON and CSV are written once,
 * for every backend, by usage_query.c and request_query.c. */
#ifndef AIGW_METER_STORE_H
#define AIGW_METER_STORE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "meter/record-t.h"
#include "meter/request_query.h"
#include "meter/usage_query.h"

/* What a write or a retention step answers. */
enum {
    GW_METER_STORE_OK = 0,
    GW_METER_STORE_BUSY = 1, /* another connection holds the write lock: try the batch again */
    GW_METER_STORE_ERROR = -1,
};

typedef struct gw_meter_store_ops gw_meter_store_ops;

/* A backend's write connection (the writer thread's only) and read connection (the reader
 * thread's only). A backend's own structs begin with one of these. */
typedef struct gw_meter_store {
    const gw_meter_store_ops *ops;
} gw_meter_store;

struct gw_meter_reads {
    const gw_meter_store_ops *ops;
};

struct gw_meter_store_ops {
    const char *name; /* "sqlite": for logs */

    /* --- the writer's side: one connection, on the writer thread --- */

    /* Opens (creating what is missing: the file, the tables, a migration) the store that
     * locator names. busy_ms: how long a write waits for another connection's lock before it
     * answers GW_METER_STORE_BUSY (the writer keeps the batch and tries again). NULL and err. */
    gw_meter_store *(*open)(const char *locator, int busy_ms, char *err, size_t cap);
    /* In one transaction: a request row for each record (its attempts, its capture when it has
     * one, already redacted), and the records' usage added to the minute, hour and day rollups
     * of their (tenant, project, key, model). All or nothing: OK, BUSY (nothing written), or
     * ERROR with err (nothing written; the writer counts the batch as failed). */
    int (*write)(gw_meter_store *st, const gw_request_record *recs, size_t n, char *err,
                 size_t cap);
    /* The size of the request log (rows and captures), as retention by size counts it. */
    int64_t (*log_bytes)(const gw_meter_store *st);
    /* One bounded step of retention (at most a few thousand rows, so the writer goes back to
     * its queue soon): request rows and their captures older than before_ms (0: none), then the
     * oldest while the log is over max_bytes (0: no bound; trim to 90%), then per-minute rollups
     * older than minute_before_s (0: none). *deleted: request rows deleted. 1 more to do, 0
     * done, or BUSY / ERROR. */
    int (*retain)(gw_meter_store *st, int64_t before_ms, int64_t max_bytes, int64_t minute_before_s,
                  uint64_t *deleted, char *err, size_t cap);
    void (*close)(gw_meter_store *st);

    /* --- the reader's side: one connection, on the reader thread --- */

    /* Opens the store read-only (it exists: the writer made it) and checks its schema. A query
     * running when gw_now_ns() passes *deadline_ns is cut and answers GW_METER_READ_TIMEOUT
     * (the reader sets it before each query, and to 0 to stop). NULL and err. */
    gw_meter_reads *(*reads_open)(const char *locator, const _Atomic int64_t *deadline_ns,
                                  char *err, size_t cap);
    void (*reads_close)(gw_meter_reads *rd);
    /* Usage from the rollups over [q->from_s, q->to_s) (whole minutes: gw_usage_segments tiles
     * it with days, hours and minutes), at most limit rows, each through fn (which returns
     * nonzero to stop early). A row's dim[i] is the value of q->group[i].
     *   totals: one row per group of q->group, ordered by the group values (bytewise); without
     *           a group exactly one row (zeros when nothing was used).
     *   top: one row per value of q->top_by (dim[0]), by q->metric descending (tokens: prompt +
     *        completion), ties by the value.
     *   timeline: rows of q->bucket's rollups whose start t is in [from floored to the bucket,
     *             to), one per t and group, ordered by t, then the group values. */
    int (*usage_totals)(gw_meter_reads *rd, const gw_usage_query *q, size_t limit,
                        gw_usage_row_fn fn, void *ud, char *err, size_t cap);
    int (*usage_top)(gw_meter_reads *rd, const gw_usage_query *q, size_t limit, gw_usage_row_fn fn,
                     void *ud, char *err, size_t cap);
    int (*usage_timeline)(gw_meter_reads *rd, const gw_usage_query *q, size_t limit,
                          gw_usage_row_fn fn, void *ud, char *err, size_t cap);
    /* Requests matching q (its filters and cursor: rows strictly after (cursor_time_ms,
     * cursor_seq) in this order), newest first: time_ms descending, then seq descending; at
     * most limit rows through fn. The row's list fields are set (gw_request_row). */
    int (*requests_search)(gw_meter_reads *rd, const gw_requests_query *q, size_t limit,
                           gw_request_row_fn fn, void *ud, char *err, size_t cap);
    /* The latest request with that id (ids may repeat across restarts), every field of the
     * row, through fn once: OK, GW_METER_READ_NONE, or an error. */
    int (*request_detail)(gw_meter_reads *rd, const char *id, gw_request_row_fn fn, void *ud,
                          char *err, size_t cap);
    /* The captured answer of the latest request with that id, its events decoded into out
     * (gw_replay: owned buffers): OK, GW_METER_READ_NONE, GW_METER_READ_NO_CAPTURE, or an
     * error. */
    int (*replay_load)(gw_meter_reads *rd, const char *id, gw_replay *out, char *err, size_t cap);
};

/* The backend locator names: a path is SQLite. NULL with err (a sentence naming the locator's
 * scheme) when it names a backend this build does not have. */
const gw_meter_store_ops *gw_meter_store_backend(const char *locator, char *err, size_t cap);

extern const gw_meter_store_ops gw_meter_store_sqlite;

#endif
