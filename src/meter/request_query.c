#include "meter/request_query.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "meter/reader.h"
#include "meter/record-t.h"
#include "meter/store.h"
#include "meter/time_parse.h"

/* A backend's failure as the answer says it. */
static int read_failed(int rc, char *err, size_t cap) {
    if (rc == GW_METER_READ_TIMEOUT)
        snprintf(err, cap, "the query took longer than %d s: narrow the range or add filters",
                 GW_READER_QUERY_LIMIT_MS / 1000);
    return rc == GW_METER_READ_TIMEOUT ? rc : GW_METER_READ_ERROR;
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

static void field_str(gw_strbuf *out, const char *name, gw_text v) {
    key(out, name);
    add_str(out, v.s, v.len);
}

/* "" as null: for optional texts (an error code, a parent span) */
static void field_str_or_null(gw_strbuf *out, const char *name, gw_text v) {
    key(out, name);
    if (!v.len)
        gw_strbuf_adds(out, "null");
    else
        add_str(out, v.s, v.len);
}

static void field_int(gw_strbuf *out, const char *name, int64_t v) {
    key(out, name);
    gw_strbuf_add_int(out, v);
}

static void field_bool(gw_strbuf *out, const char *name, int v) {
    key(out, name);
    gw_strbuf_adds(out, v ? "true" : "false");
}

static void add_double(gw_strbuf *out, double v, const char *fmt) {
    char num[40];
    int n = snprintf(num, sizeof num, fmt, v);
    gw_strbuf_add(out, num, (size_t)n);
}

/* microseconds as milliseconds; negative (never happened) as null */
static void field_ms(gw_strbuf *out, const char *name, int64_t us) {
    key(out, name);
    if (us < 0)
        gw_strbuf_adds(out, "null");
    else
        add_double(out, (double)us / 1000.0, "%.3f");
}

static void field_time(gw_strbuf *out, int64_t ms) {
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

/* A page of the search: its rows, and where the next page starts. */
typedef struct list_writer {
    gw_strbuf *out;
    size_t rows, limit;
    int more;
    int64_t last_time, last_seq;
} list_writer;

static int list_row(void *ud, const gw_request_row *row) {
    list_writer *w = ud;
    if (w->rows == w->limit) { /* one more than the page was asked for */
        w->more = 1;
        return 1;
    }
    gw_strbuf *out = w->out;
    gw_strbuf_adds(out, w->rows == 0 ? "{\"id\":" : ",{\"id\":");
    add_str(out, row->id.s, row->id.len);
    field_time(out, row->time_ms);
    field_str(out, "trace_id", row->trace_id);
    field_str(out, "tenant", row->tenant);
    field_str(out, "project", row->project);
    field_str(out, "key", row->key_id);
    field_str(out, "model", row->model);
    field_str(out, "upstream_model", row->upstream_model);
    field_str(out, "channel", row->channel);
    field_str(out, "path", row->path);
    field_bool(out, "stream", row->stream);
    field_int(out, "status", row->status);
    field_str_or_null(out, "error", row->error_code);
    field_int(out, "prompt_tokens", row->prompt_tokens);
    field_int(out, "completion_tokens", row->completion_tokens);
    field_int(out, "cached_tokens", row->cached_tokens);
    field_int(out, "reasoning_tokens", row->reasoning_tokens);
    field_bool(out, "estimated", row->estimated);
    key(out, "cost");
    add_double(out, row->cost, "%.15g");
    field_str_or_null(out, "currency", row->currency);
    field_ms(out, "first_token_ms", row->first_token_us);
    field_ms(out, "latency_ms", row->latency_us);
    field_int(out, "attempts", row->attempt_count);
    field_bool(out, "captured", row->captured);
    gw_strbuf_add(out, "}", 1);
    w->last_seq = row->seq;
    w->last_time = row->time_ms;
    w->rows++;
    return 0;
}

int gw_requests_search(gw_meter_reads *rd, const gw_requests_query *q, gw_strbuf *out, char *err,
                       size_t cap) {
    gw_strbuf_adds(out, "{\"object\":\"list\",\"data\":[");
    list_writer w = {.out = out, .limit = q->limit};
    int rc = rd->ops->requests_search(rd, q, q->limit + 1, list_row, &w, err, cap);
    if (rc < 0) return read_failed(rc, err, cap);
    gw_strbuf_adds(out, w.more ? "],\"has_more\":true,\"next_cursor\":\"" : "],\"has_more\":false");
    if (w.more) {
        gw_strbuf_add_int(out, w.last_time);
        gw_strbuf_add(out, "_", 1);
        gw_strbuf_add_int(out, w.last_seq);
        gw_strbuf_adds(out, "\"}");
    } else {
        gw_strbuf_adds(out, ",\"next_cursor\":null}");
    }
    return 0;
}

/* --- one request's full chain --- */

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

static int detail_row(void *ud, const gw_request_row *row) {
    gw_strbuf *out = ud;
    gw_strbuf_adds(out, "{\"object\":\"request\",\"id\":");
    add_str(out, row->id.s, row->id.len);
    field_time(out, row->time_ms);
    /* W3C trace context: the gateway's span is the parent of every upstream attempt */
    gw_strbuf_adds(out, ",\"trace\":{\"trace_id\":");
    add_str(out, row->trace_id.s, row->trace_id.len);
    field_str(out, "span_id", row->span_id);
    field_str_or_null(out, "parent_id", row->parent_id);
    key(out, "traceparent");
    if (row->trace_id.len == 32 && row->span_id.len == 16) {
        gw_strbuf_adds(out, "\"00-");
        gw_strbuf_add(out, row->trace_id.s, 32);
        gw_strbuf_add(out, "-", 1);
        gw_strbuf_add(out, row->span_id.s, 16);
        gw_strbuf_adds(out, "-01\"");
    } else {
        gw_strbuf_adds(out, "null");
    }
    gw_strbuf_adds(out, "},\"identity\":{\"tenant\":");
    add_str(out, row->tenant.s, row->tenant.len);
    field_str(out, "project", row->project);
    field_str(out, "key", row->key_id);
    field_str(out, "client_ip", row->client_ip);
    gw_strbuf_adds(out, "},\"request\":{\"path\":");
    add_str(out, row->path.s, row->path.len);
    field_str(out, "protocol", row->protocol);
    field_str(out, "model", row->model);
    field_bool(out, "stream", row->stream);
    gw_strbuf_adds(out, "},\"route\":{\"upstream_model\":");
    add_str(out, row->upstream_model.s, row->upstream_model.len);
    field_str(out, "channel", row->channel);
    field_str(out, "endpoint", row->endpoint);
    gw_strbuf_add(out, "}", 1);
    field_int(out, "status", row->status);
    field_str_or_null(out, "error", row->error_code);
    key(out, "refused_by");
    const char *refused = refusal_name(row->refused_by);
    if (refused)
        add_str(out, refused, strlen(refused));
    else
        gw_strbuf_adds(out, "null");
    gw_strbuf_adds(out, ",\"usage\":{\"prompt_tokens\":");
    gw_strbuf_add_int(out, row->prompt_tokens);
    field_int(out, "completion_tokens", row->completion_tokens);
    field_int(out, "total_tokens", row->prompt_tokens + row->completion_tokens);
    field_int(out, "cached_tokens", row->cached_tokens);
    field_int(out, "cache_creation_tokens", row->cache_creation_tokens);
    field_int(out, "reasoning_tokens", row->reasoning_tokens);
    field_bool(out, "reported", row->usage_known);
    field_bool(out, "estimated", row->estimated);
    gw_strbuf_add(out, "}", 1);
    key(out, "cost");
    add_double(out, row->cost, "%.15g");
    field_str_or_null(out, "currency", row->currency);
    gw_strbuf_adds(out, ",\"timings\":{\"first_token_ms\":");
    if (row->first_token_us < 0)
        gw_strbuf_adds(out, "null");
    else
        add_double(out, (double)row->first_token_us / 1000.0, "%.3f");
    field_ms(out, "latency_ms", row->latency_us);
    field_int(out, "stream_events", row->stream_events);
    field_ms(out, "max_gap_ms", row->max_gap_us);
    gw_strbuf_add(out, "}", 1);
    key(out, "attempts"); /* written by the writer as JSON: in as it is */
    if (row->attempts.len)
        gw_strbuf_add(out, row->attempts.s, row->attempts.len);
    else
        gw_strbuf_adds(out, "[]");
    key(out, "capture");
    if (!row->captured) {
        gw_strbuf_adds(out, "null");
    } else {
        gw_strbuf_adds(out, "{\"request_body\":");
        if (!row->has_request_body ||
            !valid_utf8((const unsigned char *)row->request_body.s, row->request_body.len))
            gw_strbuf_adds(out, "null");
        else
            add_str(out, row->request_body.s, row->request_body.len);
        field_int(out, "request_body_bytes", (int64_t)row->request_body.len);
        field_int(out, "response_bytes", row->response_bytes);
        field_int(out, "response_events", row->response_events);
        field_bool(out, "truncated", row->truncated);
        gw_strbuf_add(out, "}", 1);
    }
    gw_strbuf_add(out, "}", 1);
    return 0;
}

int gw_request_detail(gw_meter_reads *rd, const char *id, gw_strbuf *out, char *err, size_t cap) {
    int rc = rd->ops->request_detail(rd, id, detail_row, out, err, cap);
    return rc < 0 ? read_failed(rc, err, cap) : rc;
}

/* --- a captured answer --- */

int gw_replay_load(gw_meter_reads *rd, const char *id, gw_replay *out, char *err, size_t cap) {
    memset(out, 0, sizeof *out);
    int rc = rd->ops->replay_load(rd, id, out, err, cap);
    if (rc < 0) {
        gw_replay_free(out);
        return read_failed(rc, err, cap);
    }
    return rc;
}

void gw_replay_free(gw_replay *r) {
    free(r->data);
    free(r->events);
    r->data = NULL;
    r->events = NULL;
    r->count = 0;
}
