/* The store behind its ops table (meter/store.h), as a second backend would be driven: which
 * backend a metering.store locator names (a path is SQLite; postgres:// is refused, at
 * file:line:column when the config loads, without echoing the URL's password), and the SQLite
 * backend's writer and reader sides through the ops only: a batch written, then usage totals,
 * Top-N, a timeline, the request search with a cursor, one request's detail and its capture
 * read back as rows, with their orders and limits as the interface states them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/load.h"
#include "core/clock.h"
#include "meter/metering-t.h"
#include "meter/record.h"
#include "meter/store.h"

static void locators_name_their_backend(void **state) {
    (void)state;
    char err[300] = "";
    assert_ptr_equal(gw_meter_store_backend("var/aigw.db", err, sizeof err),
                     &gw_meter_store_sqlite);
    assert_ptr_equal(gw_meter_store_backend("/abs/path.db", err, sizeof err),
                     &gw_meter_store_sqlite);
    assert_ptr_equal(gw_meter_store_backend("weird:name.db", err, sizeof err),
                     &gw_meter_store_sqlite);
    assert_null(gw_meter_store_backend("postgres://u:hunter2@db/aigw", err, sizeof err));
    assert_non_null(strstr(err, "PostgreSQL backend"));
    assert_null(strstr(err, "hunter2"));
    assert_null(gw_meter_store_backend("postgresql://db/aigw", err, sizeof err));
    assert_non_null(strstr(err, "not built"));
    assert_null(gw_meter_store_backend("mysql://db", err, sizeof err));
    assert_non_null(strstr(err, "unknown metering store 'mysql://'"));
}

static void config_refuses_a_backend_not_built(void **state) {
    (void)state;
    static const char yaml[] =
        "channels:\n"
        "  - {name: sim, type: openai, base_url: \"http://127.0.0.1:1/v1\"}\n"
        "models:\n"
        "  - {name: chat, channel: sim}\n"
        "metering:\n"
        "  store: postgres://aigw:hunter2@127.0.0.1/aigw\n";
    gw_config_errors errs;
    gw_config *cfg = gw_config_load_string("t.yaml", yaml, strlen(yaml), NULL, &errs);
    assert_null(cfg);
    int found = 0;
    for (size_t i = 0; i < errs.count; i++) {
        if (strstr(errs.messages[i], "t.yaml:6:10: metering.store: the PostgreSQL backend"))
            found = 1;
        assert_null(strstr(errs.messages[i], "hunter2"));
    }
    assert_true(found);
}

/* --- the SQLite backend through the ops --- */

static char dir[64];
static char path[128];

static int setup(void **state) {
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/aigw-store-ops-XXXXXX");
    if (!mkdtemp(dir)) return -1;
    snprintf(path, sizeof path, "%s/m.db", dir);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    char f[160];
    const char *const suffixes[] = {"", "-wal", "-shm"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(f, sizeof f, "%s%s", path, suffixes[i]);
        unlink(f);
    }
    rmdir(dir);
    return 0;
}

/* Record i: tenants a, b, a, b, ...; model chat; usage i+1 prompt, 1 completion; at base + i
 * minutes. */
static void make(gw_request_record *r, int i, int64_t base_ms) {
    memset(r, 0, sizeof *r);
    snprintf(r->id, sizeof r->id, "req_%d", i);
    r->time_ms = base_ms + (int64_t)i * 60000;
    snprintf(r->tenant, sizeof r->tenant, "%s", i % 2 ? "b" : "a");
    snprintf(r->model, sizeof r->model, "chat");
    snprintf(r->key_id, sizeof r->key_id, "k");
    snprintf(r->path, sizeof r->path, "/v1/chat/completions");
    r->status = 200;
    r->usage.prompt_tokens = i + 1;
    r->usage.completion_tokens = 1;
    r->usage.known = 1;
    r->cost = 0.5;
    r->first_token_us = -1;
    r->latency_us = 1000;
    r->attempt_count = 1;
    snprintf(r->attempts[0].channel, sizeof r->attempts[0].channel, "sim");
}

typedef struct collected {
    int rows;
    char dims[8][16];
    int64_t prompt[8], requests[8], t[8], seq[8];
} collected;

static int take_usage(void *ud, const gw_usage_row *row) {
    collected *c = ud;
    if (c->rows < 8) {
        snprintf(c->dims[c->rows], sizeof c->dims[0], "%.*s", (int)row->dim[0].len, row->dim[0].s);
        c->prompt[c->rows] = row->prompt_tokens;
        c->requests[c->rows] = row->requests;
        c->t[c->rows] = row->t;
    }
    c->rows++;
    return 0;
}

static int take_request(void *ud, const gw_request_row *row) {
    collected *c = ud;
    if (c->rows < 8) {
        snprintf(c->dims[c->rows], sizeof c->dims[0], "%.*s", (int)row->id.len, row->id.s);
        c->seq[c->rows] = row->seq;
        c->t[c->rows] = row->time_ms;
        c->prompt[c->rows] = row->prompt_tokens;
    }
    c->rows++;
    return 0;
}

static int stop_after_one(void *ud, const gw_usage_row *row) {
    (void)row;
    ++*(int *)ud;
    return 1;
}

static void sqlite_through_the_ops(void **state) {
    (void)state;
    char err[300];
    const gw_meter_store_ops *ops = gw_meter_store_backend(path, err, sizeof err);
    assert_ptr_equal(ops, &gw_meter_store_sqlite);
    assert_string_equal(ops->name, "sqlite");
    gw_meter_store *st = ops->open(path, 100, err, sizeof err);
    assert_non_null(st);
    assert_ptr_equal(st->ops, ops);

    const int64_t base_ms = 1717200000000; /* 2024-06-01T00:00:00Z */
    gw_request_record recs[4];
    for (int i = 0; i < 4; i++)
        make(&recs[i], i, base_ms);
    /* request 3 has a capture: a body and two events */
    gw_capture *c = &recs[3].capture;
    c->request_body = strdup("{\"q\":1}");
    c->request_body_len = 7;
    size_t size = gw_capture_chunk_size(4) * 2;
    c->response = calloc(1, size);
    for (int k = 0; k < 2; k++) {
        gw_capture_chunk *ch = (gw_capture_chunk *)(c->response + k * gw_capture_chunk_size(4));
        ch->t_us = 100 * (k + 1);
        ch->len = 4;
        memcpy(ch->data, k ? "bbbb" : "aaaa", 4);
    }
    c->response_len = size;
    c->response_chunks = 2;
    assert_int_equal(ops->write(st, recs, 4, err, sizeof err), GW_METER_STORE_OK);
    assert_true(ops->log_bytes(st) > 0);
    uint64_t deleted = 1;
    assert_int_equal(ops->retain(st, 0, 0, 0, &deleted, err, sizeof err), 0);
    assert_int_equal(deleted, 0);
    gw_record_free_capture(c);

    _Atomic int64_t deadline = gw_now_ns() + 10000000000LL;
    gw_meter_reads *rd = ops->reads_open(path, &deadline, err, sizeof err);
    assert_non_null(rd);

    /* totals by tenant, ordered by the value */
    gw_usage_query q = {.from_s = base_ms / 1000,
                        .to_s = base_ms / 1000 + 3600,
                        .group = {GW_DIM_TENANT},
                        .group_count = 1};
    collected got = {0};
    assert_int_equal(ops->usage_totals(rd, &q, 100, take_usage, &got, err, sizeof err), 0);
    assert_int_equal(got.rows, 2);
    assert_string_equal(got.dims[0], "a");
    assert_int_equal(got.prompt[0], 1 + 3);
    assert_string_equal(got.dims[1], "b");
    assert_int_equal(got.prompt[1], 2 + 4);
    /* without a group: one row, zeros for an empty range */
    gw_usage_query empty = {.from_s = 0, .to_s = 60};
    memset(&got, 0, sizeof got);
    assert_int_equal(ops->usage_totals(rd, &empty, 100, take_usage, &got, err, sizeof err), 0);
    assert_int_equal(got.rows, 1);
    assert_int_equal(got.requests[0], 0);
    /* a callback that stops ends the read early, without an error */
    int calls = 0;
    assert_int_equal(ops->usage_totals(rd, &q, 100, stop_after_one, &calls, err, sizeof err), 0);
    assert_int_equal(calls, 1);
    /* top by tokens: b (8) before a (6) */
    q.top_by = GW_DIM_TENANT;
    q.metric = GW_METRIC_TOKENS;
    memset(&got, 0, sizeof got);
    assert_int_equal(ops->usage_top(rd, &q, 1, take_usage, &got, err, sizeof err), 0);
    assert_int_equal(got.rows, 1);
    assert_string_equal(got.dims[0], "b");
    /* a timeline of minutes: one row a minute, in order */
    q.bucket = GW_BUCKET_MINUTE;
    q.group_count = 0;
    memset(&got, 0, sizeof got);
    assert_int_equal(ops->usage_timeline(rd, &q, 100, take_usage, &got, err, sizeof err), 0);
    assert_int_equal(got.rows, 4);
    for (int i = 0; i < 4; i++)
        assert_int_equal(got.t[i], base_ms / 1000 + 60 * i);

    /* the search: newest first, limit and cursor */
    gw_requests_query rq = {.from_ms = base_ms, .to_ms = base_ms + 3600000, .limit = 2};
    memset(&got, 0, sizeof got);
    assert_int_equal(ops->requests_search(rd, &rq, 2, take_request, &got, err, sizeof err), 0);
    assert_int_equal(got.rows, 2);
    assert_string_equal(got.dims[0], "req_3");
    assert_string_equal(got.dims[1], "req_2");
    rq.has_cursor = 1;
    rq.cursor_time_ms = got.t[1];
    rq.cursor_seq = got.seq[1];
    memset(&got, 0, sizeof got);
    assert_int_equal(ops->requests_search(rd, &rq, 10, take_request, &got, err, sizeof err), 0);
    assert_int_equal(got.rows, 2);
    assert_string_equal(got.dims[0], "req_1");
    assert_string_equal(got.dims[1], "req_0");

    /* one request, with its capture's summary */
    memset(&got, 0, sizeof got);
    assert_int_equal(ops->request_detail(rd, "req_3", take_request, &got, err, sizeof err), 0);
    assert_int_equal(got.rows, 1);
    assert_int_equal(got.prompt[0], 4);
    assert_int_equal(ops->request_detail(rd, "req_9", take_request, &got, err, sizeof err),
                     GW_METER_READ_NONE);

    /* its capture, decoded */
    gw_replay rp;
    memset(&rp, 0, sizeof rp);
    assert_int_equal(ops->replay_load(rd, "req_3", &rp, err, sizeof err), 0);
    assert_int_equal(rp.count, 2);
    assert_int_equal(rp.events[1].t_us, 200);
    assert_memory_equal(rp.data + rp.events[1].offset, "bbbb", 4);
    gw_replay_free(&rp);
    memset(&rp, 0, sizeof rp);
    assert_int_equal(ops->replay_load(rd, "req_0", &rp, err, sizeof err), GW_METER_READ_NO_CAPTURE);
    assert_int_equal(ops->replay_load(rd, "req_9", &rp, err, sizeof err), GW_METER_READ_NONE);

    ops->reads_close(rd);
    ops->close(st);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(locators_name_their_backend),
        cmocka_unit_test(config_refuses_a_backend_not_built),
        cmocka_unit_test_setup_teardown(sqlite_through_the_ops, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
