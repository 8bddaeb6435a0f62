/* The SQLite backend's request-log reads: the search, one request's full chain (the request row
 * joined with its capture), and a captured answer decoded for replay. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "meter/db_impl.h"

/* --- search --- */

static const char list_columns[] =
    "seq, id, time_ms, trace_id, tenant, project, key_id, model, upstream_model, channel, path,"
    " stream, status, error_code, prompt_tokens, completion_tokens, cached_tokens,"
    " reasoning_tokens, estimated, cost, currency, first_token_us, latency_us, attempt_count,"
    " captured";

/* An optional microsecond time: NULL as -1 (never happened). */
static int64_t column_us(sqlite3_stmt *s, int col) {
    return sqlite3_column_type(s, col) == SQLITE_NULL ? -1 : sqlite3_column_int64(s, col);
}

static void list_row(sqlite3_stmt *s, gw_request_row *row) {
    row->seq = sqlite3_column_int64(s, 0);
    row->id = gw_meter_db_text(s, 1);
    row->time_ms = sqlite3_column_int64(s, 2);
    row->trace_id = gw_meter_db_text(s, 3);
    row->tenant = gw_meter_db_text(s, 4);
    row->project = gw_meter_db_text(s, 5);
    row->key_id = gw_meter_db_text(s, 6);
    row->model = gw_meter_db_text(s, 7);
    row->upstream_model = gw_meter_db_text(s, 8);
    row->channel = gw_meter_db_text(s, 9);
    row->path = gw_meter_db_text(s, 10);
    row->stream = sqlite3_column_int(s, 11);
    row->status = sqlite3_column_int(s, 12);
    row->error_code = gw_meter_db_text(s, 13);
    row->prompt_tokens = sqlite3_column_int64(s, 14);
    row->completion_tokens = sqlite3_column_int64(s, 15);
    row->cached_tokens = sqlite3_column_int64(s, 16);
    row->reasoning_tokens = sqlite3_column_int64(s, 17);
    row->estimated = sqlite3_column_int(s, 18);
    row->cost = sqlite3_column_double(s, 19);
    row->currency = gw_meter_db_text(s, 20);
    row->first_token_us = column_us(s, 21);
    row->latency_us = column_us(s, 22);
    row->attempt_count = sqlite3_column_int64(s, 23);
    row->captured = sqlite3_column_int(s, 24);
}

int gw_meter_db_requests_search(gw_meter_reads *rd, const gw_requests_query *q, size_t limit,
                                gw_request_row_fn fn, void *ud, char *err, size_t cap) {
    gw_meter_db_reads *r = (gw_meter_db_reads *)rd;
    char sql[1024];
    int n = snprintf(sql, sizeof sql, "SELECT %s FROM requests WHERE time_ms >= ? AND time_ms < ?",
                     list_columns);
    if (*q->tenant) n += snprintf(sql + n, sizeof sql - (size_t)n, " AND tenant = ?");
    if (*q->key) n += snprintf(sql + n, sizeof sql - (size_t)n, " AND key_id = ?");
    if (*q->model) n += snprintf(sql + n, sizeof sql - (size_t)n, " AND model = ?");
    if (q->status_max)
        n += snprintf(sql + n, sizeof sql - (size_t)n, " AND status BETWEEN ? AND ?");
    if (q->has_cursor)
        n += snprintf(sql + n, sizeof sql - (size_t)n,
                      " AND (time_ms < ? OR (time_ms = ? AND seq < ?))");
    snprintf(sql + n, sizeof sql - (size_t)n, " ORDER BY time_ms DESC, seq DESC LIMIT ?");
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(r->db, sql, -1, &s, NULL) != SQLITE_OK)
        return gw_meter_db_read_error(r, err, cap);
    int at = 1;
    sqlite3_bind_int64(s, at++, q->from_ms);
    sqlite3_bind_int64(s, at++, q->to_ms);
    if (*q->tenant) sqlite3_bind_text(s, at++, q->tenant, -1, SQLITE_STATIC);
    if (*q->key) sqlite3_bind_text(s, at++, q->key, -1, SQLITE_STATIC);
    if (*q->model) sqlite3_bind_text(s, at++, q->model, -1, SQLITE_STATIC);
    if (q->status_max) {
        sqlite3_bind_int(s, at++, q->status_min);
        sqlite3_bind_int(s, at++, q->status_max);
    }
    if (q->has_cursor) {
        sqlite3_bind_int64(s, at++, q->cursor_time_ms);
        sqlite3_bind_int64(s, at++, q->cursor_time_ms);
        sqlite3_bind_int64(s, at++, q->cursor_seq);
    }
    sqlite3_bind_int64(s, at, (int64_t)limit);
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        gw_request_row row = {0};
        list_row(s, &row);
        if (fn(ud, &row)) break;
    }
    rc = rc == SQLITE_ROW || rc == SQLITE_DONE ? GW_METER_READ_OK
                                               : gw_meter_db_read_error(r, err, cap);
    sqlite3_finalize(s);
    return rc;
}

/* --- one request's full chain --- */

static const char detail_sql[] =
    "SELECT r.id, r.time_ms, r.trace_id, r.span_id, r.parent_id, r.tenant, r.project, r.key_id,"
    " r.client_ip, r.path, r.protocol, r.model, r.upstream_model, r.channel, r.endpoint, r.stream,"
    " r.status, r.error_code, r.refused_by, r.prompt_tokens, r.completion_tokens,"
    " r.cached_tokens, r.cache_creation_tokens, r.reasoning_tokens, r.usage_known, r.estimated,"
    " r.cost, r.currency, r.first_token_us, r.latency_us, r.stream_events, r.max_gap_us,"
    " r.attempts, c.request_body, length(c.response), c.response_chunks, c.truncated, r.captured,"
    " r.seq, r.attempt_count"
    " FROM requests r LEFT JOIN request_captures c USING (seq) WHERE r.id = ?"
    " ORDER BY r.seq DESC LIMIT 1";

int gw_meter_db_request_detail(gw_meter_reads *rd, const char *id, gw_request_row_fn fn, void *ud,
                               char *err, size_t cap) {
    gw_meter_db_reads *r = (gw_meter_db_reads *)rd;
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(r->db, detail_sql, -1, &s, NULL) != SQLITE_OK)
        return gw_meter_db_read_error(r, err, cap);
    sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    if (rc != SQLITE_ROW) {
        rc = rc == SQLITE_DONE ? GW_METER_READ_NONE : gw_meter_db_read_error(r, err, cap);
        sqlite3_finalize(s);
        return rc;
    }
    gw_request_row row = {0};
    row.id = gw_meter_db_text(s, 0);
    row.time_ms = sqlite3_column_int64(s, 1);
    row.trace_id = gw_meter_db_text(s, 2);
    row.span_id = gw_meter_db_text(s, 3);
    row.parent_id = gw_meter_db_text(s, 4);
    row.tenant = gw_meter_db_text(s, 5);
    row.project = gw_meter_db_text(s, 6);
    row.key_id = gw_meter_db_text(s, 7);
    row.client_ip = gw_meter_db_text(s, 8);
    row.path = gw_meter_db_text(s, 9);
    row.protocol = gw_meter_db_text(s, 10);
    row.model = gw_meter_db_text(s, 11);
    row.upstream_model = gw_meter_db_text(s, 12);
    row.channel = gw_meter_db_text(s, 13);
    row.endpoint = gw_meter_db_text(s, 14);
    row.stream = sqlite3_column_int(s, 15);
    row.status = sqlite3_column_int(s, 16);
    row.error_code = gw_meter_db_text(s, 17);
    row.refused_by = sqlite3_column_int(s, 18);
    row.prompt_tokens = sqlite3_column_int64(s, 19);
    row.completion_tokens = sqlite3_column_int64(s, 20);
    row.cached_tokens = sqlite3_column_int64(s, 21);
    row.cache_creation_tokens = sqlite3_column_int64(s, 22);
    row.reasoning_tokens = sqlite3_column_int64(s, 23);
    row.usage_known = sqlite3_column_int(s, 24);
    row.estimated = sqlite3_column_int(s, 25);
    row.cost = sqlite3_column_double(s, 26);
    row.currency = gw_meter_db_text(s, 27);
    row.first_token_us = column_us(s, 28);
    row.latency_us = column_us(s, 29);
    row.stream_events = sqlite3_column_int64(s, 30);
    row.max_gap_us = column_us(s, 31);
    row.attempts = gw_meter_db_text(s, 32);
    row.has_request_body = sqlite3_column_type(s, 33) != SQLITE_NULL;
    const void *body = sqlite3_column_blob(s, 33);
    row.request_body = (gw_text){body ? body : "", (size_t)sqlite3_column_bytes(s, 33)};
    row.response_bytes = sqlite3_column_int64(s, 34);
    row.response_events = sqlite3_column_int64(s, 35);
    row.truncated = sqlite3_column_int(s, 36);
    row.captured = sqlite3_column_int(s, 37);
    row.seq = sqlite3_column_int64(s, 38);
    row.attempt_count = sqlite3_column_int64(s, 39);
    fn(ud, &row);
    sqlite3_finalize(s);
    return GW_METER_READ_OK;
}

/* --- a captured answer --- */

static uint64_t get_le(const unsigned char *p, int bytes) {
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

int gw_meter_db_replay_load(gw_meter_reads *rd, const char *id, gw_replay *out, char *err,
                            size_t cap) {
    gw_meter_db_reads *r = (gw_meter_db_reads *)rd;
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(r->db,
                           "SELECT r.stream, r.path, c.response, c.response_chunks, c.truncated"
                           " FROM requests r LEFT JOIN request_captures c USING (seq)"
                           " WHERE r.id = ? ORDER BY r.seq DESC LIMIT 1",
                           -1, &s, NULL) != SQLITE_OK)
        return gw_meter_db_read_error(r, err, cap);
    sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    if (rc != SQLITE_ROW) {
        rc = rc == SQLITE_DONE ? GW_METER_READ_NONE : gw_meter_db_read_error(r, err, cap);
        sqlite3_finalize(s);
        return rc;
    }
    out->stream = sqlite3_column_int(s, 0);
    const char *path = (const char *)sqlite3_column_text(s, 1);
    snprintf(out->path, sizeof out->path, "%s", path ? path : "");
    out->truncated = sqlite3_column_int(s, 4);
    const unsigned char *blob = sqlite3_column_blob(s, 2);
    size_t len = (size_t)sqlite3_column_bytes(s, 2);
    int64_t announced = sqlite3_column_int64(s, 3);
    if (!blob || !len || announced <= 0) {
        sqlite3_finalize(s);
        return GW_METER_READ_NO_CAPTURE;
    }
    out->data = malloc(len);
    size_t max_events = len / 12;
    out->events = calloc(max_events ? max_events : 1, sizeof *out->events);
    if (!out->data || !out->events) {
        sqlite3_finalize(s);
        snprintf(err, cap, "out of memory");
        return GW_METER_READ_ERROR;
    }
    memcpy(out->data, blob, len);
    out->data_len = len;
    sqlite3_finalize(s);
    /* t_us (8 bytes), len (4 bytes), the event: as the writer encoded them */
    const unsigned char *p = (const unsigned char *)out->data;
    for (size_t off = 0; off + 12 <= len && out->count < max_events;) {
        gw_replay_event *ev = &out->events[out->count];
        ev->t_us = (int64_t)get_le(p + off, 8);
        ev->len = (uint32_t)get_le(p + off + 8, 4);
        ev->offset = off + 12;
        if (ev->len > len - ev->offset) break; /* a damaged blob: what came before stays */
        off = ev->offset + ev->len;
        out->count++;
    }
    return GW_METER_READ_OK;
}
