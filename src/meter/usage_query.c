#include "meter/usage_query.h"

#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

#include "meter/reader.h"
#include "meter/time_parse.h"

static const char *const dim_names[GW_DIM_COUNT] = {"tenant", "project", "key", "model"};
static const char *const dim_columns[GW_DIM_COUNT] = {"tenant", "project", "key_id", "model"};

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
static const char *bucket_name(gw_usage_bucket b) {
    return b == GW_BUCKET_MINUTE ? "minute" : b == GW_BUCKET_HOUR ? "hour" : "day";
}

/* --- the range as whole days, hours and minutes --- */

typedef struct segment {
    const char *bucket;
    int64_t from, to;
} segment;

static int64_t floor_to(int64_t t, int64_t size) {
    int64_t q = t / size;
    if (t % size < 0) q--;
    return q * size;
}
static int64_t ceil_to(int64_t t, int64_t size) {
    int64_t f = floor_to(t, size);
    return f == t ? t : f + size;
}

/* At most five segments: minutes, hours, days, hours, minutes. */
static size_t segments_of(int64_t from, int64_t to, segment out[5]) {
    size_t n = 0;
    if (from >= to) return 0;
    int64_t h0 = ceil_to(from, 3600), h1 = floor_to(to, 3600);
    if (h0 >= h1) {
        out[n++] = (segment){"minute", from, to};
        return n;
    }
    if (from < h0) out[n++] = (segment){"minute", from, h0};
    if (h1 < to) out[n++] = (segment){"minute", h1, to};
    int64_t d0 = ceil_to(h0, 86400), d1 = floor_to(h1, 86400);
    if (d0 >= d1) {
        out[n++] = (segment){"hour", h0, h1};
        return n;
    }
    if (h0 < d0) out[n++] = (segment){"hour", h0, d0};
    if (d1 < h1) out[n++] = (segment){"hour", d1, h1};
    out[n++] = (segment){"day", d0, d1};
    return n;
}

/* --- SQL text, built in a fixed buffer from fixed pieces only (no caller's text in it) --- */

typedef struct sql_text {
    char s[2048];
    size_t len;
} sql_text;

static void sql_add(sql_text *q, const char *piece) {
    size_t n = strlen(piece);
    if (q->len + n < sizeof q->s) {
        memcpy(q->s + q->len, piece, n + 1);
        q->len += n;
    }
}

static const char sums[] =
    "sum(requests), sum(errors), sum(prompt_tokens), sum(completion_tokens), sum(cached_tokens),"
    " sum(reasoning_tokens), sum(cost), sum(estimated_requests)";
enum { SUM_COLUMNS = 8 };

static void sql_dims(sql_text *q, const gw_usage_dim *dims, size_t n, int trailing_comma) {
    for (size_t i = 0; i < n; i++) {
        sql_add(q, dim_columns[dims[i]]);
        if (i + 1 < n || trailing_comma) sql_add(q, ", ");
    }
}

static void sql_segments(sql_text *q, size_t n) {
    sql_add(q, "(");
    for (size_t i = 0; i < n; i++)
        sql_add(q,
                i ? " OR (bucket = ? AND t >= ? AND t < ?)" : "(bucket = ? AND t >= ? AND t < ?)");
    if (!n) sql_add(q, "0");
    sql_add(q, ")");
}

static int bind_segments(sqlite3_stmt *s, int at, const segment *seg, size_t n) {
    for (size_t i = 0; i < n; i++) {
        sqlite3_bind_text(s, at++, seg[i].bucket, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, at++, seg[i].from);
        sqlite3_bind_int64(s, at++, seg[i].to);
    }
    return at;
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

/* One result row: [t,] dims..., the sums. */
static void write_row(gw_strbuf *out, sqlite3_stmt *s, int csv, int timeline,
                      const gw_usage_dim *dims, size_t n, int first) {
    int col = 0;
    char when[32];
    if (!csv) gw_strbuf_adds(out, first ? "{" : ",{");
    if (timeline) {
        int64_t t = sqlite3_column_int64(s, col++);
        size_t wl = gw_time_format(t * 1000, when);
        if (csv) {
            gw_strbuf_add_int(out, t);
            gw_strbuf_add(out, ",", 1);
            gw_strbuf_add(out, when, wl);
            gw_strbuf_add(out, ",", 1);
        } else {
            gw_strbuf_adds(out, "\"t\":");
            gw_strbuf_add_int(out, t);
            gw_strbuf_adds(out, ",\"time\":\"");
            gw_strbuf_add(out, when, wl);
            gw_strbuf_adds(out, "\",");
        }
    }
    for (size_t i = 0; i < n; i++, col++) {
        const char *v = (const char *)sqlite3_column_text(s, col);
        size_t len = (size_t)sqlite3_column_bytes(s, col);
        if (!v) v = "", len = 0;
        if (csv) {
            add_csv_field(out, v, len);
            gw_strbuf_add(out, ",", 1);
        } else {
            gw_strbuf_add(out, "\"", 1);
            gw_strbuf_adds(out, dim_names[dims[i]]);
            gw_strbuf_adds(out, "\":");
            add_json_string(out, v, len);
            gw_strbuf_add(out, ",", 1);
        }
    }
    int64_t prompt = sqlite3_column_int64(s, col + 2),
            completion = sqlite3_column_int64(s, col + 3);
    for (int k = 0; k < SUM_COLUMNS; k++) {
        if (!csv) {
            gw_strbuf_add(out, k ? ",\"" : "\"", k ? 2 : 1);
            gw_strbuf_adds(out, sum_names[k]);
            gw_strbuf_adds(out, "\":");
        } else if (k) {
            gw_strbuf_add(out, ",", 1);
        }
        if (k == 6)
            add_cost(out, sqlite3_column_double(s, col + k));
        else
            gw_strbuf_add_int(out, sqlite3_column_int64(s, col + k));
        if (k == 3) { /* total_tokens after completion_tokens */
            gw_strbuf_adds(out, csv ? "," : ",\"total_tokens\":");
            gw_strbuf_add_int(out, prompt + completion);
        }
    }
    gw_strbuf_adds(out, csv ? "\r\n" : "}");
}

static int db_error(sqlite3 *db, char *err, size_t cap) {
    if (gw_meter_reader_interrupted(db))
        snprintf(err, cap, "the query took longer than %d s: narrow the range or the grouping",
                 GW_READER_QUERY_LIMIT_MS / 1000);
    else
        snprintf(err, cap, "metering store: %s", sqlite3_errmsg(db));
    return -1;
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

/* Steps s writing each row, at most max (one more is read to know about truncation). */
static int write_rows(sqlite3 *db, sqlite3_stmt *s, gw_strbuf *out, const gw_usage_query *q,
                      int timeline, const gw_usage_dim *dims, size_t n, size_t max, int *truncated,
                      char *err, size_t cap) {
    size_t rows = 0;
    int rc;
    *truncated = 0;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (rows == max) {
            *truncated = 1;
            break;
        }
        write_row(out, s, q->csv, timeline, dims, n, rows == 0);
        rows++;
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return db_error(db, err, cap);
    return 0;
}

int gw_usage_totals(sqlite3 *db, const gw_usage_query *q, gw_strbuf *out, char *err, size_t cap) {
    segment seg[5];
    size_t nseg = segments_of(q->from_s, q->to_s, seg);
    sql_text sql = {0};
    sql_add(&sql, "SELECT ");
    sql_dims(&sql, q->group, q->group_count, 1);
    sql_add(&sql, sums);
    sql_add(&sql, " FROM usage_rollup WHERE ");
    sql_segments(&sql, nseg);
    if (q->group_count) {
        sql_add(&sql, " GROUP BY ");
        sql_dims(&sql, q->group, q->group_count, 0);
        sql_add(&sql, " ORDER BY ");
        sql_dims(&sql, q->group, q->group_count, 0);
    }
    sql_add(&sql, " LIMIT ?");
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(db, sql.s, -1, &s, NULL) != SQLITE_OK) return db_error(db, err, cap);
    int at = bind_segments(s, 1, seg, nseg);
    sqlite3_bind_int64(s, at, GW_USAGE_MAX_GROUPS + 1);
    if (q->csv)
        csv_header(out, 0, q->group, q->group_count);
    else {
        head_json(out, q, "usage");
        group_json(out, q->group, q->group_count);
        gw_strbuf_adds(out, ",\"data\":[");
    }
    int truncated;
    int rc = write_rows(db, s, out, q, 0, q->group, q->group_count, GW_USAGE_MAX_GROUPS, &truncated,
                        err, cap);
    sqlite3_finalize(s);
    if (rc < 0) return -1;
    if (!q->csv)
        gw_strbuf_adds(out, truncated ? "],\"truncated\":true}" : "],\"truncated\":false}");
    return 0;
}

int gw_usage_top(sqlite3 *db, const gw_usage_query *q, gw_strbuf *out, char *err, size_t cap) {
    static const char *const order[] = {"sum(prompt_tokens) + sum(completion_tokens)", "sum(cost)",
                                        "sum(requests)"};
    static const char *const metric_names[] = {"tokens", "cost", "requests"};
    segment seg[5];
    size_t nseg = segments_of(q->from_s, q->to_s, seg);
    sql_text sql = {0};
    sql_add(&sql, "SELECT ");
    sql_add(&sql, dim_columns[q->top_by]);
    sql_add(&sql, ", ");
    sql_add(&sql, sums);
    sql_add(&sql, " FROM usage_rollup WHERE ");
    sql_segments(&sql, nseg);
    sql_add(&sql, " GROUP BY ");
    sql_add(&sql, dim_columns[q->top_by]);
    sql_add(&sql, " ORDER BY ");
    sql_add(&sql, order[q->metric]);
    sql_add(&sql, " DESC, ");
    sql_add(&sql, dim_columns[q->top_by]);
    sql_add(&sql, " LIMIT ?");
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(db, sql.s, -1, &s, NULL) != SQLITE_OK) return db_error(db, err, cap);
    int at = bind_segments(s, 1, seg, nseg);
    sqlite3_bind_int64(s, at, (int64_t)q->n);
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
    int truncated;
    int rc = write_rows(db, s, out, q, 0, &q->top_by, 1, q->n, &truncated, err, cap);
    sqlite3_finalize(s);
    if (rc < 0) return -1;
    if (!q->csv) gw_strbuf_adds(out, "]}");
    return 0;
}

int gw_usage_timeline(sqlite3 *db, const gw_usage_query *q, gw_strbuf *out, char *err, size_t cap) {
    sql_text sql = {0};
    sql_add(&sql, "SELECT t, ");
    sql_dims(&sql, q->group, q->group_count, 1);
    sql_add(&sql, sums);
    sql_add(&sql, " FROM usage_rollup WHERE bucket = ? AND t >= ? AND t < ? GROUP BY t");
    if (q->group_count) sql_add(&sql, ", ");
    sql_dims(&sql, q->group, q->group_count, 0);
    sql_add(&sql, " ORDER BY t");
    if (q->group_count) sql_add(&sql, ", ");
    sql_dims(&sql, q->group, q->group_count, 0);
    sql_add(&sql, " LIMIT ?");
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(db, sql.s, -1, &s, NULL) != SQLITE_OK) return db_error(db, err, cap);
    int64_t size = gw_usage_bucket_seconds(q->bucket);
    sqlite3_bind_text(s, 1, bucket_name(q->bucket), -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, floor_to(q->from_s, size));
    sqlite3_bind_int64(s, 3, q->to_s);
    sqlite3_bind_int64(s, 4, GW_USAGE_MAX_TIMELINE + 1);
    if (q->csv)
        csv_header(out, 1, q->group, q->group_count);
    else {
        head_json(out, q, "usage.timeline");
        gw_strbuf_adds(out, ",\"bucket\":\"");
        gw_strbuf_adds(out, bucket_name(q->bucket));
        gw_strbuf_add(out, "\"", 1);
        group_json(out, q->group, q->group_count);
        gw_strbuf_adds(out, ",\"data\":[");
    }
    int truncated;
    int rc = write_rows(db, s, out, q, 1, q->group, q->group_count, GW_USAGE_MAX_TIMELINE,
                        &truncated, err, cap);
    sqlite3_finalize(s);
    if (rc < 0) return -1;
    if (!q->csv)
        gw_strbuf_adds(out, truncated ? "],\"truncated\":true}" : "],\"truncated\":false}");
    return 0;
}
