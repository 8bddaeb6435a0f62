/* Usage over time from the rollups: totals grouped by any of tenant, project, key and model,
 * Top-N by one of them, and timelines at a chosen bucket; written as JSON or CSV from the rows
 * the store's backend reads (meter/store.h). A range [from, to) is read to the minute, as whole
 * days, hours and minutes: the days inside it from the daily rollups, the hours at its edges
 * from the hourly ones, the minutes at its edges from the per-minute ones (kept for
 * metering.retention.minute_rollup_days). Runs on the reader thread (meter/reader.h). */
#ifndef AIGW_METER_USAGE_QUERY_H
#define AIGW_METER_USAGE_QUERY_H

#include <stddef.h>
#include <stdint.h>

#include "core/strbuf.h"
#include "meter/store-t.h"

typedef enum {
    GW_DIM_TENANT,
    GW_DIM_PROJECT,
    GW_DIM_KEY,
    GW_DIM_MODEL,
    GW_DIM_COUNT,
} gw_usage_dim;

typedef enum { GW_METRIC_TOKENS, GW_METRIC_COST, GW_METRIC_REQUESTS } gw_usage_metric;
typedef enum { GW_BUCKET_MINUTE, GW_BUCKET_HOUR, GW_BUCKET_DAY } gw_usage_bucket;

enum {
    GW_USAGE_MAX_GROUPS = 10000,    /* rows of a totals answer; beyond: truncated */
    GW_USAGE_MAX_TOP = 1000,        /* n of a Top-N */
    GW_USAGE_MAX_POINTS = 10080,    /* buckets of a timeline (a week of minutes) */
    GW_USAGE_MAX_TIMELINE = 100000, /* rows of a timeline; beyond: truncated */
};

typedef struct gw_usage_query {
    int64_t from_s, to_s;             /* [from, to), unix seconds; whole minutes */
    gw_usage_dim group[GW_DIM_COUNT]; /* the grouping dimensions in the caller's order */
    size_t group_count;
    int csv;
    /* top */
    gw_usage_dim top_by;
    gw_usage_metric metric;
    size_t n;
    /* timeline */
    gw_usage_bucket bucket;
    const char *currency; /* shown with the answer when every price is in one; may be NULL */
} gw_usage_query;

/* One row of a usage answer, as a backend reads it: the sums of a group (of a bucket). */
typedef struct gw_usage_row {
    int64_t t;                 /* timeline: the bucket's start, unix seconds; else 0 */
    gw_text dim[GW_DIM_COUNT]; /* the group's values, in the query's order (top: dim[0]) */
    int64_t requests, errors;  /* errors: status >= 500 or 0 */
    int64_t prompt_tokens, completion_tokens, cached_tokens, reasoning_tokens;
    int64_t estimated_requests;
    double cost;
} gw_usage_row;

/* Takes each row: 0 for the next, nonzero to stop. */
typedef int (*gw_usage_row_fn)(void *ud, const gw_usage_row *row);

/* A range as whole days, hours and minutes (at most five pieces: minutes, hours, days, hours,
 * minutes), each read from the rollups of its bucket: what a backend sums for totals and Top-N.
 * Returns how many. */
typedef struct gw_usage_segment {
    gw_usage_bucket bucket;
    int64_t from, to; /* [from, to), unix seconds */
} gw_usage_segment;
size_t gw_usage_segments(int64_t from_s, int64_t to_s, gw_usage_segment out[5]);

/* The parameter names of dimensions, metrics and buckets ("key" for key_id); -1 unknown. */
int gw_usage_dim_parse(const char *s, size_t len);
int gw_usage_metric_parse(const char *s, size_t len);
int gw_usage_bucket_parse(const char *s, size_t len);
const char *gw_usage_dim_name(gw_usage_dim d);
int64_t gw_usage_bucket_seconds(gw_usage_bucket b);
const char *gw_usage_bucket_name(gw_usage_bucket b); /* "minute", "hour", "day" */
/* t rounded down to a multiple of size (t may be negative). */
int64_t gw_usage_floor(int64_t t, int64_t size);

/* Each reads through the store's backend and writes the whole answer into out: 0, or a
 * GW_METER_READ_ERROR / _TIMEOUT with err. */
int gw_usage_totals(gw_meter_reads *rd, const gw_usage_query *q, gw_strbuf *out, char *err,
                    size_t cap);
int gw_usage_top(gw_meter_reads *rd, const gw_usage_query *q, gw_strbuf *out, char *err,
                 size_t cap);
int gw_usage_timeline(gw_meter_reads *rd, const gw_usage_query *q, gw_strbuf *out, char *err,
                      size_t cap);

#endif
