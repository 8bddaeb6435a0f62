#include "meter/usage_query.h"

#include <stdio.h>
#include <string.h>

#include "meter/reader.h"
#include "meter/store.h"
#include "meter/time_parse.h"

static const char *const dim_names[GW_DIM_COUNT] = {"tenant", "project", "key", "model"};

static int name_index(const char *const *names, size_t n, const char *s, size_t len) {
    for (size_t i = 0; i < n; i++)
        if (strlen(names[i]) == len && !memcmp(names[i], s, len)) return (int)i;
    return -1;
}

int gw_usage_dim_parse(const char *s, size_t len) {
    return name_index(dim_names, GW_DIM_COUNT, s, len);
}
int gw_usage_metric_parse(const char *s, size_t len) {
    static const char *const names[] = {"tokens", "cost", "requests"};
    return name_index(names, 3, s, len);
}
int gw_usage_bucket_parse(const char *s, size_t len) {
    static const char *const names[] = {"minute", "hour", "day"};
    return name_index(names, 3, s, len);
}
const char *gw_usage_dim_name(gw_usage_dim d) {
    return dim_names[d];
}
int64_t gw_usage_bucket_seconds(gw_usage_bucket b) {
    return b == GW_BUCKET_MINUTE ? 60 : b == GW_BUCKET_HOUR ? 3600 : 86400;
}
const char *gw_usage_bucket_name(gw_usage_bucket b) {
    return b == GW_BUCKET_MINUTE ? "minute" : b == GW_BUCKET_HOUR ? "hour" : "day";
}

/* --- the range as whole days, hours and minutes --- */

int64_t gw_usage_floor(int64_t t, int64_t size) {
    int64_t q = t / size;
    if (t % size < 0) q--;
    return q * size;
}
static int64_t ceil_to(int64_t t, int64_t size) {
    int64_t f = gw_usage_floor(t, size);
    return f == t ? t : f + size;
}

size_t gw_usage_segments(int64_t from, int64_t to, gw_usage_segment out[5]) {
    size_t n = 0;
    if (from >= to) return 0;
    int64_t h0 = ceil_to(from, 3600), h1 = gw_usage_floor(to, 3600);
    if (h0 >= h1) {
        out[n++] = (gw_usage_segment){GW_BUCKET_MINUTE, from, to};
        return n;
    }
    if (from < h0) out[n++] = (gw_usage_segment){GW_BUCKET_MINUTE, from, h0};
    if (h1 < to) out[n++] = (gw_usage_segment){GW_BUCKET_MINUTE, h1, to};
    int64_t d0 = ceil_to(h0, 86400), d1 = gw_usage_floor(h1, 86400);
    if (d0 >= d1) {
        out[n++] = (gw_usage_segment){GW_BUCKET_HOUR, h0, h1};
        return n;
    }
    if (h0 < d0) out[n++] = (gw_usage_segment){GW_BUCKET_HOUR, h0, d0};
    if (d1 < h1) out[n++] = (gw_usage_segment){GW_BUCKET_HOUR, d1, h1};
    out[n++] = (gw_usage_segment){GW_BUCKET_DAY, d0, d1};
    return n;
}

/* --- writing rows --- */

static void add_cost(gw_strbuf *out, double cost) {
    char num[40];
    int n = snprintf(num, sizeof num, "%.15g", cost);
    gw_strbuf_add(out, num, (size_t)n);
}

static void add_json_string(gw_strbuf *out, const char *s, size_t len) {
    gw_strbuf_add(out, "\"", 1);
    gw_strbuf_add_json_escaped(out, s, len);
    gw_strbuf_add(out, "\"", 1);
}

/* A CSV field: quoted when it holds a separator, a quote or a line break; a leading = + - @ (a
 * spreadsheet formula) is defused with a quote mark, since tenants and keys may come from
 * callers' tokens. */
static void add_csv_field(gw_strbuf *out, const char *s, size_t len) {
    int quote = 0, formula = len && strchr("=+-@\t\r", s[0]);
    for (size_t i = 0; i < len && !quote; i++)
        quote = s[i] == ',' || s[i] == '"' || s[i] == '\n' || s[i] == '\r';
    if (quote || formula) gw_strbuf_add(out, "\"", 1);
    if (formula) gw_strbuf_add(out, "'", 1);
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '"') gw_strbuf_add(out, "\"", 1);
        gw_strbuf_add(out, s + i, 1);
    }
    if (quote || formula) gw_strbuf_add(out, "\"", 1);
}

enum { SUM_COLUMNS = 8 };
static const char *const sum_names[SUM_COLUMNS] = {
    "requests",      "errors",           "prompt_tokens", "completion_tokens",
    "cached_tokens", "reasoning_tokens", "cost",          "estimated_requests"};

static void csv_header(gw_strbuf *out, int timeline, const gw_usage_dim *dims, size_t n) {
    if (timeline) gw_strbuf_adds(out, "t,time,");
    for (size_t i = 0; i < n; i++) {
        gw_strbuf_adds(out, dim_names[dims[i]]);
        gw_strbuf_add(out, ",", 1);
    }
    gw_strbuf_adds(out, "requests,errors,prompt_tokens,completion_tokens,total_tokens,"
                        "cached_tokens,reasoning_tokens,cost,estimated_requests\r\n");
}

/* How rows go into an answer: its format, the dimensions of each row, and a count. */
typedef struct row_writer {
    gw_strbuf *out;
    int csv, timeline;
    const gw_usage_dim *dims;
    size_t n;    /* dimensions */
    size_t rows; /* written */
    size_t max;  /* more than this: truncated */
    int truncated;
} row_writer;

/* One result row: [t,] dims..., the sums. */
static int write_row(void *ud, const gw_usage_row *row) {
    row_writer *w = ud;
    if (w->rows == w->max) { /* one more than the answer holds was asked for */
        w->truncated = 1;
        return 1;
    }
    gw_strbuf *out = w->out;
    int csv = w->csv;
    char when[32];
    if (!csv) gw_strbuf_adds(out, w->rows == 0 ? "{" : ",{");
    w->rows++;
    if (w->timeline) {
        size_t wl = gw_time_format(row->t * 1000, when);
        if (csv) {
            gw_strbuf_add_int(out, row->t);
            gw_strbuf_add(out, ",", 1);
            gw_strbuf_add(out, when, wl);
            gw_strbuf_add(out, ",", 1);
        } else {
            gw_strbuf_adds(out, "\"t\":");
            gw_strbuf_add_int(out, row->t);
            gw_strbuf_adds(out, ",\"time\":\"");
            gw_strbuf_add(out, when, wl);
            gw_strbuf_adds(out, "\",");
        }
    }
    for (size_t i = 0; i < w->n; i++) {
        const gw_text *v = &row->dim[i];
        if (csv) {
            add_csv_field(out, v->s, v->len);
            gw_strbuf_add(out, ",", 1);
        } else {
            gw_strbuf_add(out, "\"", 1);
            gw_strbuf_adds(out, dim_names[w->dims[i]]);
            gw_strbuf_adds(out, "\":");
            add_json_string(out, v->s, v->len);
            gw_strbuf_add(out, ",", 1);
        }
    }
    const int64_t sums[SUM_COLUMNS] = {row->requests,
                                       row->errors,
                                       row->prompt_tokens,
                                       row->completion_tokens,
                                       row->cached_tokens,
                                       row->reasoning_tokens,
                                       0,
                                       row->estimated_requests};
    for (int k = 0; k < SUM_COLUMNS; k++) {
        if (!csv) {
            gw_strbuf_add(out, k ? ",\"" : "\"", k ? 2 : 1);
            gw_strbuf_adds(out, sum_names[k]);
            gw_strbuf_adds(out, "\":");
        } else if (k) {
            gw_strbuf_add(out, ",", 1);
        }
        if (k == 6)
            add_cost(out, row->cost);
        else
            gw_strbuf_add_int(out, sums[k]);
        if (k == 3) { /* total_tokens after completion_tokens */
            gw_strbuf_adds(out, csv ? "," : ",\"total_tokens\":");
            gw_strbuf_add_int(out, row->prompt_tokens + row->completion_tokens);
        }
    }
    gw_strbuf_adds(out, csv ? "\r\n" : "}");
    return 0;
}

/* A backend's failure as the answer says it. */
static int read_failed(int rc, char *err, size_t cap) {
    if (rc == GW_METER_READ_TIMEOUT)
        snprintf(err, cap, "the query took longer than %d s: narrow the range or the grouping",
                 GW_READER_QUERY_LIMIT_MS / 1000);
    return rc == GW_METER_READ_TIMEOUT ? rc : GW_METER_READ_ERROR;
}

static void head_json(gw_strbuf *out, const gw_usage_query *q, const char *object) {
    char from[32], to[32];
    gw_time_format(q->from_s * 1000, from);
    gw_time_format(q->to_s * 1000, to);
    gw_strbuf_adds(out, "{\"object\":\"");
    gw_strbuf_adds(out, object);
    gw_strbuf_adds(out, "\",\"from\":\"");
    gw_strbuf_adds(out, from);
    gw_strbuf_adds(out, "\",\"to\":\"");
    gw_strbuf_adds(out, to);
    gw_strbuf_adds(out, "\",\"currency\":");
    if (q->currency)
        add_json_string(out, q->currency, strlen(q->currency));
    else
        gw_strbuf_adds(out, "null");
}

static void group_json(gw_strbuf *out, const gw_usage_dim *dims, size_t n) {
    gw_strbuf_adds(out, ",\"group_by\":[");
    for (size_t i = 0; i < n; i++) {
        gw_strbuf_adds(out, i ? ",\"" : "\"");
        gw_strbuf_adds(out, dim_names[dims[i]]);
        gw_strbuf_add(out, "\"", 1);
    }
    gw_strbuf_add(out, "]", 1);
}

int gw_usage_totals(gw_meter_reads *rd, const gw_usage_query *q, gw_strbuf *out, char *err,
                    size_t cap) {
    if (q->csv)
        csv_header(out, 0, q->group, q->group_count);
    else {
        head_json(out, q, "usage");
        group_json(out, q->group, q->group_count);
        gw_strbuf_adds(out, ",\"data\":[");
    }
    row_writer w = {.out = out,
                    .csv = q->csv,
                    .dims = q->group,
                    .n = q->group_count,
                    .max = GW_USAGE_MAX_GROUPS};
    int rc = rd->ops->usage_totals(rd, q, GW_USAGE_MAX_GROUPS + 1, write_row, &w, err, cap);
    if (rc < 0) return read_failed(rc, err, cap);
    if (!q->csv)
        gw_strbuf_adds(out, w.truncated ? "],\"truncated\":true}" : "],\"truncated\":false}");
    return 0;
}

int gw_usage_top(gw_meter_reads *rd, const gw_usage_query *q, gw_strbuf *out, char *err,
                 size_t cap) {
    static const char *const metric_names[] = {"tokens", "cost", "requests"};
    if (q->csv)
        csv_header(out, 0, &q->top_by, 1);
    else {
        head_json(out, q, "usage.top");
        gw_strbuf_adds(out, ",\"by\":\"");
        gw_strbuf_adds(out, dim_names[q->top_by]);
        gw_strbuf_adds(out, "\",\"metric\":\"");
        gw_strbuf_adds(out, metric_names[q->metric]);
        gw_strbuf_adds(out, "\",\"data\":[");
    }
    row_writer w = {.out = out, .csv = q->csv, .dims = &q->top_by, .n = 1, .max = q->n};
    int rc = rd->ops->usage_top(rd, q, q->n, write_row, &w, err, cap);
    if (rc < 0) return read_failed(rc, err, cap);
    if (!q->csv) gw_strbuf_adds(out, "]}");
    return 0;
}

int gw_usage_timeline(gw_meter_reads *rd, const gw_usage_query *q, gw_strbuf *out, char *err,
                      size_t cap) {
    if (q->csv)
        csv_header(out, 1, q->group, q->group_count);
    else {
        head_json(out, q, "usage.timeline");
        gw_strbuf_adds(out, ",\"bucket\":\"");
        gw_strbuf_adds(out, gw_usage_bucket_name(q->bucket));
        gw_strbuf_add(out, "\"", 1);
        group_json(out, q->group, q->group_count);
        gw_strbuf_adds(out, ",\"data\":[");
    }
    row_writer w = {.out = out,
                    .csv = q->csv,
                    .timeline = 1,
                    .dims = q->group,
                    .n = q->group_count,
                    .max = GW_USAGE_MAX_TIMELINE};
    int rc = rd->ops->usage_timeline(rd, q, GW_USAGE_MAX_TIMELINE + 1, write_row, &w, err, cap);
    if (rc < 0) return read_failed(rc, err, cap);
    if (!q->csv)
        gw_strbuf_adds(out, w.truncated ? "],\"truncated\":true}" : "],\"truncated\":false}");
    return 0;
}
