/* The SQLite backend's usage reads: sums over usage_rollup, the range tiled with the rollups of
 * each bucket (gw_usage_segments). The SQL is built in a fixed buffer from fixed pieces only:
 * no caller's text goes into it, values are bound. */
#include <stdio.h>
#include <string.h>

#include "meter/db_impl.h"

static const char *const dim_columns[GW_DIM_COUNT] = {"tenant", "project", "key_id", "model"};

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

static int bind_segments(sqlite3_stmt *s, int at, const gw_usage_segment *seg, size_t n) {
    for (size_t i = 0; i < n; i++) {
        sqlite3_bind_text(s, at++, gw_usage_bucket_name(seg[i].bucket), -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, at++, seg[i].from);
        sqlite3_bind_int64(s, at++, seg[i].to);
    }
    return at;
}

/* Steps s, handing each row ([t,] dims..., the sums) to fn until it stops. */
static int each_row(gw_meter_db_reads *r, sqlite3_stmt *s, int timeline, size_t dims,
                    gw_usage_row_fn fn, void *ud, char *err, size_t cap) {
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        gw_usage_row row = {0};
        int col = 0;
        if (timeline) row.t = sqlite3_column_int64(s, col++);
        for (size_t i = 0; i < dims; i++, col++)
            row.dim[i] = gw_meter_db_text(s, col);
        row.requests = sqlite3_column_int64(s, col);
        row.errors = sqlite3_column_int64(s, col + 1);
        row.prompt_tokens = sqlite3_column_int64(s, col + 2);
        row.completion_tokens = sqlite3_column_int64(s, col + 3);
        row.cached_tokens = sqlite3_column_int64(s, col + 4);
        row.reasoning_tokens = sqlite3_column_int64(s, col + 5);
        row.cost = sqlite3_column_double(s, col + 6);
        row.estimated_requests = sqlite3_column_int64(s, col + 7);
        if (fn(ud, &row)) break;
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        rc = gw_meter_db_read_error(r, err, cap);
    else
        rc = GW_METER_READ_OK;
    sqlite3_finalize(s);
    return rc;
}

int gw_meter_db_usage_totals(gw_meter_reads *rd, const gw_usage_query *q, size_t limit,
                             gw_usage_row_fn fn, void *ud, char *err, size_t cap) {
    gw_meter_db_reads *r = (gw_meter_db_reads *)rd;
    gw_usage_segment seg[5];
    size_t nseg = gw_usage_segments(q->from_s, q->to_s, seg);
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
    if (sqlite3_prepare_v2(r->db, sql.s, -1, &s, NULL) != SQLITE_OK)
        return gw_meter_db_read_error(r, err, cap);
    int at = bind_segments(s, 1, seg, nseg);
    sqlite3_bind_int64(s, at, (int64_t)limit);
    return each_row(r, s, 0, q->group_count, fn, ud, err, cap);
}

int gw_meter_db_usage_top(gw_meter_reads *rd, const gw_usage_query *q, size_t limit,
                          gw_usage_row_fn fn, void *ud, char *err, size_t cap) {
    static const char *const order[] = {"sum(prompt_tokens) + sum(completion_tokens)", "sum(cost)",
                                        "sum(requests)"};
    gw_meter_db_reads *r = (gw_meter_db_reads *)rd;
    gw_usage_segment seg[5];
    size_t nseg = gw_usage_segments(q->from_s, q->to_s, seg);
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
    if (sqlite3_prepare_v2(r->db, sql.s, -1, &s, NULL) != SQLITE_OK)
        return gw_meter_db_read_error(r, err, cap);
    int at = bind_segments(s, 1, seg, nseg);
    sqlite3_bind_int64(s, at, (int64_t)limit);
    return each_row(r, s, 0, 1, fn, ud, err, cap);
}

int gw_meter_db_usage_timeline(gw_meter_reads *rd, const gw_usage_query *q, size_t limit,
                               gw_usage_row_fn fn, void *ud, char *err, size_t cap) {
    gw_meter_db_reads *r = (gw_meter_db_reads *)rd;
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
    if (sqlite3_prepare_v2(r->db, sql.s, -1, &s, NULL) != SQLITE_OK)
        return gw_meter_db_read_error(r, err, cap);
    int64_t size = gw_usage_bucket_seconds(q->bucket);
    sqlite3_bind_text(s, 1, gw_usage_bucket_name(q->bucket), -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, gw_usage_floor(q->from_s, size));
    sqlite3_bind_int64(s, 3, q->to_s);
    sqlite3_bind_int64(s, 4, (int64_t)limit);
    return each_row(r, s, 1, q->group_count, fn, ud, err, cap);
}
