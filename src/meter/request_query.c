#include "meter/request_query.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "meter/reader.h"
#include "meter/record-t.h"
#include "meter/time_parse.h"

static int db_error(sqlite3 *db, char *err, size_t cap) {
    if (gw_meter_reader_interrupted(db))
        snprintf(err, cap, "the query took longer than %d s: narrow the range or add filters",
                 GW_READER_QUERY_LIMIT_MS / 1000);
    else
        snprintf(err, cap, "metering store: %s", sqlite3_errmsg(db));
    return -1;
}

/* --- JSON pieces --- */

static void add_str(gw_strbuf *out, const char *s, size_t len) {
    gw_strbuf_add(out, "\"", 1);
    gw_strbuf_add_json_escaped(out, s, len);
    gw_strbuf_add(out, "\"", 1);
}

static void key(gw_strbuf *out, const char *name) {
    gw_strbuf_add(out, ",\"", 2);
    gw_strbuf_adds(out, name);
    gw_strbuf_add(out, "\":", 2);
}

static void col_str(gw_strbuf *out, const char *name, sqlite3_stmt *s, int col) {
    const char *v = (const char *)sqlite3_column_text(s, col);
    key(out, name);
    add_str(out, v ? v : "", v ? (size_t)sqlite3_column_bytes(s, col) : 0);
}

/* "" as null: for optional texts (an error code, a parent span) */
static void col_str_or_null(gw_strbuf *out, const char *name, sqlite3_stmt *s, int col) {
    const char *v = (const char *)sqlite3_column_text(s, col);
    if (!v || !*v) {
        key(out, name);
        gw_strbuf_adds(out, "null");
        return;
    }
    col_str(out, name, s, col);
}

static void col_int(gw_strbuf *out, const char *name, sqlite3_stmt *s, int col) {
    key(out, name);
    gw_strbuf_add_int(out, sqlite3_column_int64(s, col));
}

static void col_bool(gw_strbuf *out, const char *name, sqlite3_stmt *s, int col) {
    key(out, name);
    gw_strbuf_adds(out, sqlite3_column_int(s, col) ? "true" : "false");
}

static void add_double(gw_strbuf *out, double v, const char *fmt) {
    char num[40];
    int n = snprintf(num, sizeof num, fmt, v);
    gw_strbuf_add(out, num, (size_t)n);
}

/* microseconds as milliseconds; negative (never happened) as null */
static void col_ms(gw_strbuf *out, const char *name, sqlite3_stmt *s, int col) {
    key(out, name);
    int64_t us = sqlite3_column_int64(s, col);
    if (us < 0 || sqlite3_column_type(s, col) == SQLITE_NULL)
        gw_strbuf_adds(out, "null");
    else
        add_double(out, (double)us / 1000.0, "%.3f");
}

static void col_time(gw_strbuf *out, sqlite3_stmt *s, int col) {
    int64_t ms = sqlite3_column_int64(s, col);
    char when[32];
    size_t n = gw_time_format(ms, when);
    key(out, "time");
    add_str(out, when, n);
    key(out, "time_ms");
    gw_strbuf_add_int(out, ms);
}

static const char *refusal_name(int r) {
    static const char *const names[GW_REFUSED_COUNT] = {
        NULL, "ip", "auth", "model_access", "switch", "pii", "words", "rate_limit", "quota"};
    return r > 0 && r < GW_REFUSED_COUNT ? names[r] : NULL;
}

/* --- search --- */

int gw_requests_cursor_parse(const char *s, size_t len, int64_t *time_ms, int64_t *seq) {
    int64_t v[2] = {0, 0};
    size_t part = 0, digits = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '_' && part == 0 && digits) {
            part = 1;
            digits = 0;
        } else if (s[i] >= '0' && s[i] <= '9' && digits < 18) {
            v[part] = v[part] * 10 + (s[i] - '0');
            digits++;
        } else {
            return -1;
        }
    }
    if (part != 1 || !digits) return -1;
    *time_ms = v[0];
    *seq = v[1];
    return 0;
}

static const char list_columns[] =
    "seq, id, time_ms, trace_id, tenant, project, key_id, model, upstream_model, channel, path,"
    " stream, status, error_code, prompt_tokens, completion_tokens, cached_tokens,"
    " reasoning_tokens, estimated, cost, currency, first_token_us, latency_us, attempt_count,"
    " captured";

static void list_row(gw_strbuf *out, sqlite3_stmt *s, int first) {
    gw_strbuf_adds(out, first ? "{\"id\":" : ",{\"id\":");
    const char *id = (const char *)sqlite3_column_text(s, 1);
    add_str(out, id ? id : "", id ? (size_t)sqlite3_column_bytes(s, 1) : 0);
    col_time(out, s, 2);
    col_str(out, "trace_id", s, 3);
    col_str(out, "tenant", s, 4);
    col_str(out, "project", s, 5);
    col_str(out, "key", s, 6);
    col_str(out, "model", s, 7);
    col_str(out, "upstream_model", s, 8);
    col_str(out, "channel", s, 9);
    col_str(out, "path", s, 10);
    col_bool(out, "stream", s, 11);
    col_int(out, "status", s, 12);
    col_str_or_null(out, "error", s, 13);
    col_int(out, "prompt_tokens", s, 14);
    col_int(out, "completion_tokens", s, 15);
    col_int(out, "cached_tokens", s, 16);
    col_int(out, "reasoning_tokens", s, 17);
    col_bool(out, "estimated", s, 18);
    key(out, "cost");
    add_double(out, sqlite3_column_double(s, 19), "%.15g");
    col_str_or_null(out, "currency", s, 20);
    col_ms(out, "first_token_ms", s, 21);
    col_ms(out, "latency_ms", s, 22);
    col_int(out, "attempts", s, 23);
    col_bool(out, "captured", s, 24);
    gw_strbuf_add(out, "}", 1);
}

int gw_requests_search(sqlite3 *db, const gw_requests_query *q, gw_strbuf *out, char *err,
                       size_t cap) {
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
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK) return db_error(db, err, cap);
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
    sqlite3_bind_int64(s, at, (int64_t)q->limit + 1);
    gw_strbuf_adds(out, "{\"object\":\"list\",\"data\":[");
    size_t rows = 0;
    int64_t last_time = 0, last_seq = 0;
    int rc, more = 0;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (rows == q->limit) {
            more = 1;
            break;
        }
        list_row(out, s, rows == 0);
        last_seq = sqlite3_column_int64(s, 0);
        last_time = sqlite3_column_int64(s, 2);
        rows++;
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        sqlite3_finalize(s);
        return db_error(db, err, cap);
    }
    sqlite3_finalize(s);
    gw_strbuf_adds(out, more ? "],\"has_more\":true,\"next_cursor\":\"" : "],\"has_more\":false");
    if (more) {
        gw_strbuf_add_int(out, last_time);
        gw_strbuf_add(out, "_", 1);
        gw_strbuf_add_int(out, last_seq);
        gw_strbuf_adds(out, "\"}");
    } else {
        gw_strbuf_adds(out, ",\"next_cursor\":null}");
    }
    return 0;
}

/* --- one request's full chain --- */

static const char detail_sql[] =
    "SELECT r.id, r.time_ms, r.trace_id, r.span_id, r.parent_id, r.tenant, r.project, r.key_id,"
    " r.client_ip, r.path, r.protocol, r.model, r.upstream_model, r.channel, r.endpoint, r.stream,"
    " r.status, r.error_code, r.refused_by, r.prompt_tokens, r.completion_tokens,"
    " r.cached_tokens, r.cache_creation_tokens, r.reasoning_tokens, r.usage_known, r.estimated,"
    " r.cost, r.currency, r.first_token_us, r.latency_us, r.stream_events, r.max_gap_us,"
    " r.attempts, c.request_body, length(c.response), c.response_chunks, c.truncated, r.captured"
    " FROM requests r LEFT JOIN request_captures c USING (seq) WHERE r.id = ?"
    " ORDER BY r.seq DESC LIMIT 1";

/* Whether s[0..len) is UTF-8 (so it can go into JSON as text). */
static int valid_utf8(const unsigned char *s, size_t len) {
    for (size_t i = 0; i < len;) {
        unsigned char c = s[i];
        size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        if (!n || i + n > len || (n == 2 && c < 0xc2)) return 0;
        for (size_t k = 1; k < n; k++)
            if ((s[i + k] & 0xc0) != 0x80) return 0;
        i += n;
    }
    return 1;
}

int gw_request_detail(sqlite3 *db, const char *id, gw_strbuf *out, char *err, size_t cap) {
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(db, detail_sql, -1, &s, NULL) != SQLITE_OK)
        return db_error(db, err, cap);
    sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    if (rc != SQLITE_ROW) {
        sqlite3_finalize(s);
        return rc == SQLITE_DONE ? 1 : db_error(db, err, cap);
    }
    gw_strbuf_adds(out, "{\"object\":\"request\",\"id\":");
    const char *rid = (const char *)sqlite3_column_text(s, 0);
    add_str(out, rid ? rid : "", rid ? (size_t)sqlite3_column_bytes(s, 0) : 0);
    col_time(out, s, 1);
    /* W3C trace context: the gateway's span is the parent of every upstream attempt */
    gw_strbuf_adds(out, ",\"trace\":{\"trace_id\":");
    const char *trace = (const char *)sqlite3_column_text(s, 2);
    add_str(out, trace ? trace : "", trace ? strlen(trace) : 0);
    col_str(out, "span_id", s, 3);
    col_str_or_null(out, "parent_id", s, 4);
    const char *span = (const char *)sqlite3_column_text(s, 3);
    key(out, "traceparent");
    if (trace && strlen(trace) == 32 && span && strlen(span) == 16) {
        gw_strbuf_adds(out, "\"00-");
        gw_strbuf_adds(out, trace);
        gw_strbuf_add(out, "-", 1);
        gw_strbuf_adds(out, span);
        gw_strbuf_adds(out, "-01\"");
    } else {
        gw_strbuf_adds(out, "null");
    }
    gw_strbuf_adds(out, "},\"identity\":{\"tenant\":");
    const char *tenant = (const char *)sqlite3_column_text(s, 5);
    add_str(out, tenant ? tenant : "", tenant ? strlen(tenant) : 0);
    col_str(out, "project", s, 6);
    col_str(out, "key", s, 7);
    col_str(out, "client_ip", s, 8);
    gw_strbuf_adds(out, "},\"request\":{\"path\":");
    const char *path = (const char *)sqlite3_column_text(s, 9);
    add_str(out, path ? path : "", path ? strlen(path) : 0);
    col_str(out, "protocol", s, 10);
    col_str(out, "model", s, 11);
    col_bool(out, "stream", s, 15);
    gw_strbuf_adds(out, "},\"route\":{\"upstream_model\":");
    const char *um = (const char *)sqlite3_column_text(s, 12);
    add_str(out, um ? um : "", um ? strlen(um) : 0);
    col_str(out, "channel", s, 13);
    col_str(out, "endpoint", s, 14);
    gw_strbuf_add(out, "}", 1);
    col_int(out, "status", s, 16);
    col_str_or_null(out, "error", s, 17);
    key(out, "refused_by");
    const char *refused = refusal_name(sqlite3_column_int(s, 18));
    if (refused)
        add_str(out, refused, strlen(refused));
    else
        gw_strbuf_adds(out, "null");
    gw_strbuf_adds(out, ",\"usage\":{\"prompt_tokens\":");
    gw_strbuf_add_int(out, sqlite3_column_int64(s, 19));
    col_int(out, "completion_tokens", s, 20);
    key(out, "total_tokens");
    gw_strbuf_add_int(out, sqlite3_column_int64(s, 19) + sqlite3_column_int64(s, 20));
    col_int(out, "cached_tokens", s, 21);
    col_int(out, "cache_creation_tokens", s, 22);
    col_int(out, "reasoning_tokens", s, 23);
    col_bool(out, "reported", s, 24);
    col_bool(out, "estimated", s, 25);
    gw_strbuf_add(out, "}", 1);
    key(out, "cost");
    add_double(out, sqlite3_column_double(s, 26), "%.15g");
    col_str_or_null(out, "currency", s, 27);
    gw_strbuf_adds(out, ",\"timings\":{\"first_token_ms\":");
    int64_t ft = sqlite3_column_int64(s, 28);
    if (ft < 0)
        gw_strbuf_adds(out, "null");
    else
        add_double(out, (double)ft / 1000.0, "%.3f");
    col_ms(out, "latency_ms", s, 29);
    col_int(out, "stream_events", s, 30);
    col_ms(out, "max_gap_ms", s, 31);
    gw_strbuf_add(out, "}", 1);
    key(out, "attempts"); /* written by the writer as JSON: in as it is */
    const char *attempts = (const char *)sqlite3_column_text(s, 32);
    gw_strbuf_adds(out, attempts && *attempts ? attempts : "[]");
    key(out, "capture");
    if (!sqlite3_column_int(s, 37)) {
        gw_strbuf_adds(out, "null");
    } else {
        const unsigned char *body = sqlite3_column_blob(s, 33);
        size_t body_len = (size_t)sqlite3_column_bytes(s, 33);
        gw_strbuf_adds(out, "{\"request_body\":");
        if (sqlite3_column_type(s, 33) == SQLITE_NULL || !valid_utf8(body, body_len))
            gw_strbuf_adds(out, "null");
        else
            add_str(out, (const char *)body, body_len);
        key(out, "request_body_bytes");
        gw_strbuf_add_int(out, (int64_t)body_len);
        key(out, "response_bytes");
        gw_strbuf_add_int(out, sqlite3_column_int64(s, 34));
        col_int(out, "response_events", s, 35);
        col_bool(out, "truncated", s, 36);
        gw_strbuf_add(out, "}", 1);
    }
    gw_strbuf_add(out, "}", 1);
    sqlite3_finalize(s);
    return 0;
}

/* --- a captured answer --- */

static uint64_t get_le(const unsigned char *p, int bytes) {
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

int gw_replay_load(sqlite3 *db, const char *id, gw_replay *out, char *err, size_t cap) {
    memset(out, 0, sizeof *out);
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(db,
                           "SELECT r.stream, r.path, c.response, c.response_chunks, c.truncated"
                           " FROM requests r LEFT JOIN request_captures c USING (seq)"
                           " WHERE r.id = ? ORDER BY r.seq DESC LIMIT 1",
                           -1, &s, NULL) != SQLITE_OK)
        return db_error(db, err, cap);
    sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    if (rc != SQLITE_ROW) {
        sqlite3_finalize(s);
        return rc == SQLITE_DONE ? 1 : db_error(db, err, cap);
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
        return 2;
    }
    out->data = malloc(len);
    size_t max_events = len / 12;
    out->events = calloc(max_events ? max_events : 1, sizeof *out->events);
    if (!out->data || !out->events) {
        sqlite3_finalize(s);
        gw_replay_free(out);
        snprintf(err, cap, "out of memory");
        return -1;
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
    return 0;
}

void gw_replay_free(gw_replay *r) {
    free(r->data);
    free(r->events);
    r->data = NULL;
    r->events = NULL;
    r->count = 0;
}
