/* The writer's side of the store: open, and one transaction per batch of records. */
#include "meter/db_impl.h"

#include "store/sqlite_open.h"

#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "meter/db_checkpoint.h"
#include "meter/record.h"

enum {
    OPEN_BUSY_MS = 5000,
    /* The writer offers its core after this many rows of a batch (sched_yield: a few hundred
     * nanoseconds when nobody waits). A batch is hundreds of microseconds of SQLite; a worker
     * or the upstream that a wakeup placed behind it waited for all of it, and that was the
     * slowest 1% of requests at one connection: added p99 about 40% lower with it. It yields
     * at SCHED_IDLE and raised too: without these yields there (tried: 9% of its time at
     * saturation went to them) the queue dropped records in 2 of 4 saturated rounds (1,699 and
     * 3,846), where the same build yielding, and the build before, dropped none. */
    YIELD_EVERY_ROWS = 16,
};

static int exec(sqlite3 *db, const char *sql) {
    return sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}

static int is_busy(int rc) {
    rc &= 0xff;
    return rc == SQLITE_BUSY || rc == SQLITE_LOCKED;
}

int gw_meter_db_begin(gw_meter_db *db, char *err, size_t cap) {
    int rc = sqlite3_exec(db->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    if (rc == SQLITE_OK) return GW_METER_STORE_OK;
    snprintf(err, cap, "metering store: %s", sqlite3_errmsg(db->db));
    return is_busy(rc) ? GW_METER_STORE_BUSY : GW_METER_STORE_ERROR;
}

int gw_meter_db_fail(gw_meter_db *db, char *err, size_t cap) {
    int rc = sqlite3_extended_errcode(db->db);
    snprintf(err, cap, "metering store: %s", sqlite3_errmsg(db->db));
    if (!sqlite3_get_autocommit(db->db)) exec(db->db, "ROLLBACK");
    return is_busy(rc) ? GW_METER_STORE_BUSY : GW_METER_STORE_ERROR;
}

static const char insert_request_sql[] =
    "INSERT INTO requests (id, time_ms, trace_id, span_id, parent_id, tenant, project, key_id,"
    " client_ip, path, protocol, model, upstream_model, channel, endpoint, stream, status,"
    " error_code, refused_by, prompt_tokens, completion_tokens, cached_tokens,"
    " cache_creation_tokens, reasoning_tokens, usage_known, estimated, cost, currency,"
    " first_token_us, latency_us, stream_events, max_gap_us, attempt_count, attempts, captured,"
    " bytes) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)";

static const char insert_capture_sql[] =
    "INSERT INTO request_captures (seq, request_body, response, response_chunks, truncated)"
    " VALUES (?,?,?,?,?)";

static const char upsert_rollup_sql[] =
    "INSERT INTO usage_rollup (bucket, t, tenant, project, key_id, model, requests, errors,"
    " prompt_tokens, completion_tokens, cached_tokens, reasoning_tokens, cost,"
    " estimated_requests) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
    " ON CONFLICT(bucket, t, tenant, project, key_id, model) DO UPDATE SET"
    " requests = requests + excluded.requests, errors = errors + excluded.errors,"
    " prompt_tokens = prompt_tokens + excluded.prompt_tokens,"
    " completion_tokens = completion_tokens + excluded.completion_tokens,"
    " cached_tokens = cached_tokens + excluded.cached_tokens,"
    " reasoning_tokens = reasoning_tokens + excluded.reasoning_tokens,"
    " cost = cost + excluded.cost,"
    " estimated_requests = estimated_requests + excluded.estimated_requests";

gw_meter_db *gw_meter_db_open(const char *path, int busy_ms, char *err, size_t cap) {
    gw_meter_db *db = calloc(1, sizeof *db);
    if (!db) {
        snprintf(err, cap, "metering store: out of memory");
        return NULL;
    }
    db->base.ops = &gw_meter_store_sqlite;
    db->attempts.max = 64 * 1024;
    db->response.max = (size_t)1 << 30;
    /* a short wait at open, where another writer's batch may run; then busy_ms, so a store
     * locked by another process holds the writer back only briefly each time (the batch is
     * kept and tried again while the queue takes the new records). NORMAL in WAL: a power cut
     * may lose the last batches, never corrupt the file; usage is written in bulk and FULL
     * would sync on every batch. */
    db->db = gw_sqlite_open_wal(path, "metering store", OPEN_BUSY_MS, "NORMAL", err, cap);
    if (!db->db) goto bad;
    if (gw_meter_schema_migrate(db->db, err, cap) < 0) goto bad;
    if (sqlite3_prepare_v3(db->db, insert_request_sql, -1, SQLITE_PREPARE_PERSISTENT,
                           &db->insert_request, NULL) != SQLITE_OK ||
        sqlite3_prepare_v3(db->db, insert_capture_sql, -1, SQLITE_PREPARE_PERSISTENT,
                           &db->insert_capture, NULL) != SQLITE_OK ||
        sqlite3_prepare_v3(db->db, upsert_rollup_sql, -1, SQLITE_PREPARE_PERSISTENT,
                           &db->upsert_rollup, NULL) != SQLITE_OK) {
        snprintf(err, cap, "metering store %s: %s", path, sqlite3_errmsg(db->db));
        goto bad;
    }
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(db->db, "SELECT coalesce(sum(bytes), 0) FROM requests", -1, &s, NULL) !=
        SQLITE_OK) {
        snprintf(err, cap, "metering store %s: %s", path, sqlite3_errmsg(db->db));
        goto bad;
    }
    if (sqlite3_step(s) == SQLITE_ROW) db->log_bytes = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    sqlite3_busy_timeout(db->db, busy_ms);
    db->checkpointer = gw_meter_db_checkpointer_start(path, db->db, err, cap);
    if (!db->checkpointer) goto bad;
    return db;
bad:
    gw_meter_db_close(db);
    return NULL;
}

void gw_meter_db_close(gw_meter_db *db) {
    if (!db) return;
    gw_meter_db_checkpointer_stop(db->checkpointer); /* first: it holds a hook on db->db */
    sqlite3_finalize(db->insert_request);
    sqlite3_finalize(db->insert_capture);
    sqlite3_finalize(db->upsert_rollup);
    sqlite3_close(db->db);
    gw_strbuf_free(&db->attempts);
    gw_strbuf_free(&db->response);
    free(db->sums);
    free(db->sums_used);
    free(db);
}

int64_t gw_meter_db_log_bytes(const gw_meter_db *db) {
    return db->log_bytes;
}

/* A fixed-size text field of the record: never read past its array, whatever the producer
 * left in it. */
#define FIELD_LEN(f) strnlen((f), sizeof(f))

static void bind_field(sqlite3_stmt *s, int i, const char *f, size_t cap) {
    sqlite3_bind_text(s, i, f, (int)strnlen(f, cap), SQLITE_STATIC);
}
#define BIND_FIELD(s, i, f) bind_field((s), (i), (f), sizeof(f))

/* A member's `,"name":` as one literal copy (four calls and two strlen a member were a tenth
 * of the row's cost). */
#define ADD_KEY(b, name) gw_strbuf_add((b), ",\"" name "\":", sizeof(",\"" name "\":") - 1)

static void add_json_text(gw_strbuf *b, const char *f, size_t cap) {
    gw_strbuf_add(b, "\"", 1);
    gw_strbuf_add_json_escaped(b, f, strnlen(f, cap));
    gw_strbuf_add(b, "\"", 1);
}
#define ADD_JSON_FIELD(b, name, f)                                                                 \
    do {                                                                                           \
        ADD_KEY(b, name);                                                                          \
        add_json_text((b), (f), sizeof(f));                                                        \
    } while (0)
#define ADD_JSON_INT(b, name, v)                                                                   \
    do {                                                                                           \
        ADD_KEY(b, name);                                                                          \
        gw_strbuf_add_int((b), (v));                                                               \
    } while (0)

/* [{"channel","endpoint","upstream_model","status","error","start_us","first_byte_us",
 * "end_us"}, ...] */
static void attempts_json(gw_strbuf *b, const gw_request_record *rec) {
    gw_strbuf_reset(b);
    gw_strbuf_add(b, "[", 1);
    uint32_t n =
        rec->attempt_count < GW_RECORD_MAX_ATTEMPTS ? rec->attempt_count : GW_RECORD_MAX_ATTEMPTS;
    for (uint32_t i = 0; i < n; i++) {
        const gw_attempt_record *a = &rec->attempts[i];
        gw_strbuf_adds(b, i ? ",{\"n\":" : "{\"n\":");
        gw_strbuf_add_int(b, i + 1);
        ADD_JSON_FIELD(b, "channel", a->channel);
        ADD_JSON_FIELD(b, "endpoint", a->endpoint);
        ADD_JSON_FIELD(b, "upstream_model", a->upstream_model);
        ADD_JSON_INT(b, "status", a->status);
        ADD_JSON_FIELD(b, "error", a->error);
        ADD_JSON_INT(b, "start_us", a->start_us);
        ADD_JSON_INT(b, "first_byte_us", a->first_byte_us);
        ADD_JSON_INT(b, "end_us", a->end_us);
        gw_strbuf_add(b, "}", 1);
    }
    gw_strbuf_add(b, "]", 1);
}

static void put_le(unsigned char *p, uint64_t v, int bytes) {
    for (int i = 0; i < bytes; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

/* The packed events (host layout, padded) as the file keeps them: little-endian, unpadded, so a
 * database moves between machines. Returns the number of events. */
static size_t encode_response(gw_strbuf *b, const gw_capture *c) {
    gw_strbuf_reset(b);
    size_t off = 0, n = 0;
    const gw_capture_chunk *ch;
    while (n < c->response_chunks && (ch = gw_capture_next(c->response, c->response_len, &off))) {
        unsigned char head[12];
        put_le(head, (uint64_t)ch->t_us, 8);
        put_le(head + 8, ch->len, 4);
        gw_strbuf_add(b, (const char *)head, sizeof head);
        gw_strbuf_add(b, ch->data, ch->len);
        n++;
    }
    return n;
}

static int write_one(gw_meter_db *db, const gw_request_record *rec) {
    const gw_capture *c = &rec->capture;
    int captured = c->request_body || c->response;
    attempts_json(&db->attempts, rec);
    if (db->attempts.failed) return -1;
    size_t response_chunks = captured ? encode_response(&db->response, c) : 0;
    if (db->response.failed) return -1;
    int64_t bytes =
        256 + (int64_t)db->attempts.len +
        (int64_t)(FIELD_LEN(rec->id) + FIELD_LEN(rec->tenant) + FIELD_LEN(rec->project) +
                  FIELD_LEN(rec->key_id) + FIELD_LEN(rec->model) + FIELD_LEN(rec->upstream_model) +
                  FIELD_LEN(rec->channel) + FIELD_LEN(rec->endpoint));
    if (captured)
        bytes +=
            64 + (int64_t)(c->request_body ? c->request_body_len : 0) + (int64_t)db->response.len;

    sqlite3_stmt *s = db->insert_request;
    int i = 1;
    BIND_FIELD(s, i++, rec->id);
    sqlite3_bind_int64(s, i++, rec->time_ms);
    BIND_FIELD(s, i++, rec->trace_id);
    BIND_FIELD(s, i++, rec->span_id);
    BIND_FIELD(s, i++, rec->parent_id);
    BIND_FIELD(s, i++, rec->tenant);
    BIND_FIELD(s, i++, rec->project);
    BIND_FIELD(s, i++, rec->key_id);
    BIND_FIELD(s, i++, rec->client_ip);
    BIND_FIELD(s, i++, rec->path);
    BIND_FIELD(s, i++, rec->protocol);
    BIND_FIELD(s, i++, rec->model);
    BIND_FIELD(s, i++, rec->upstream_model);
    BIND_FIELD(s, i++, rec->channel);
    BIND_FIELD(s, i++, rec->endpoint);
    sqlite3_bind_int(s, i++, rec->stream != 0);
    sqlite3_bind_int(s, i++, rec->status);
    BIND_FIELD(s, i++, rec->error_code);
    sqlite3_bind_int(s, i++, rec->refused_by);
    sqlite3_bind_int64(s, i++, rec->usage.prompt_tokens);
    sqlite3_bind_int64(s, i++, rec->usage.completion_tokens);
    sqlite3_bind_int64(s, i++, rec->usage.cached_tokens);
    sqlite3_bind_int64(s, i++, rec->usage.cache_creation_tokens);
    sqlite3_bind_int64(s, i++, rec->usage.reasoning_tokens);
    sqlite3_bind_int(s, i++, rec->usage.known != 0);
    sqlite3_bind_int(s, i++, rec->estimated != 0);
    sqlite3_bind_double(s, i++, rec->cost);
    BIND_FIELD(s, i++, rec->currency);
    sqlite3_bind_int64(s, i++, rec->first_token_us);
    sqlite3_bind_int64(s, i++, rec->latency_us);
    sqlite3_bind_int64(s, i++, rec->stream_events);
    sqlite3_bind_int64(s, i++, rec->max_gap_us);
    sqlite3_bind_int64(s, i++, rec->attempt_count);
    sqlite3_bind_text(s, i++, db->attempts.data ? db->attempts.data : "[]",
                      db->attempts.data ? (int)db->attempts.len : 2, SQLITE_STATIC);
    sqlite3_bind_int(s, i++, captured);
    sqlite3_bind_int64(s, i++, bytes);
    int rc = sqlite3_step(s);
    sqlite3_reset(s); /* every parameter is bound again for the next row: none to clear */
    if (rc != SQLITE_DONE) return -1;

    if (captured) {
        sqlite3_stmt *k = db->insert_capture;
        sqlite3_bind_int64(k, 1, sqlite3_last_insert_rowid(db->db));
        if (c->request_body)
            sqlite3_bind_blob64(k, 2, c->request_body, c->request_body_len, SQLITE_STATIC);
        else
            sqlite3_bind_null(k, 2);
        if (c->response && db->response.data)
            sqlite3_bind_blob64(k, 3, db->response.data, db->response.len, SQLITE_STATIC);
        else
            sqlite3_bind_null(k, 3);
        sqlite3_bind_int64(k, 4, (int64_t)response_chunks);
        sqlite3_bind_int(k, 5, c->truncated != 0);
        rc = sqlite3_step(k);
        sqlite3_reset(k);
        sqlite3_clear_bindings(k); /* let go of the body, which is freed after the batch */
        if (rc != SQLITE_DONE) return -1;
    }
    db->log_bytes += bytes;
    return 0;
}

int gw_meter_db_write(gw_meter_db *db, const gw_request_record *recs, size_t n, char *err,
                      size_t cap) {
    int rc = gw_meter_db_begin(db, err, cap);
    if (rc != GW_METER_STORE_OK) return rc;
    int64_t bytes_before = db->log_bytes;
    for (size_t i = 0; i <= n; i++) {
        if (i && i % YIELD_EVERY_ROWS == 0) sched_yield();
        /* the rows, then the batch's rollups: one transaction, so they always agree */
        if (i < n ? write_one(db, &recs[i]) < 0 : gw_meter_db_write_rollups(db, recs, n) < 0) {
            db->log_bytes = bytes_before;
            if (db->attempts.failed || db->response.failed || !db->sums) {
                exec(db->db, "ROLLBACK");
                snprintf(err, cap, "metering store: out of memory");
                return GW_METER_STORE_ERROR;
            }
            return gw_meter_db_fail(db, err, cap);
        }
    }
    if (exec(db->db, "COMMIT")) {
        db->log_bytes = bytes_before;
        return gw_meter_db_fail(db, err, cap);
    }
    return GW_METER_STORE_OK;
}
