/* The store writer (meter/meter.c) on a real SQLite file in a temporary directory: records
 * submitted from several threads arrive as rows whose totals, rollups (minute, hour, day),
 * attempts and captures match what was sent; a store locked by another connection never makes
 * a submit wait (the queue fills, then drops are counted) and everything taken is written once
 * the lock goes; retention deletes by age and by size, captures with their rows; the writer
 * runs at SCHED_IDLE while it keeps up and at SCHED_BATCH while it is behind; the WAL is
 * checkpointed by a thread of its own.
 *
 * Also a tool for the integration tests (tests/integration/metering_store.test.mjs):
 *   test_meter_store --fill DB RECORDS.jsonl [--queue N] [--batch N] [--threads N] [--stop-ms N]
 * submits each JSON line as a record through the real writer, stops it, and prints its counters
 * as one JSON line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <json-c/json.h>
#include <linux/capability.h>
#include <pthread.h>
#include <sched.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "meter/meter.h"
#include "meter/record.h"
#include "thread_policy.h"

static int64_t now_ms(void) {
    return gw_wall_ns() / 1000000;
}

static void set_field(char *dst, size_t cap, const char *s) {
    snprintf(dst, cap, "%s", s ? s : "");
}
#define SET(f, s) set_field((f), sizeof(f), (s))

/* A packed response capture of n events "data: {i}\n\n" at 1000 us steps. */
static void capture_events(gw_capture *c, int n) {
    size_t cap = 0;
    for (int i = 0; i < n; i++)
        cap += gw_capture_chunk_size(32);
    c->response = calloc(1, cap);
    size_t off = 0;
    for (int i = 0; i < n; i++) {
        gw_capture_chunk *ch = (gw_capture_chunk *)(c->response + off);
        ch->t_us = 1000 * (i + 1);
        ch->len = (uint32_t)snprintf(ch->data, 32, "data: {\"i\":%d}\n\n", i);
        off += gw_capture_chunk_size(ch->len);
    }
    c->response_len = off;
    c->response_chunks = (size_t)n;
}

static const char *const tenants[] = {"acme", "globex", "initech"};
static const char *const models[] = {"chat", "smart", "embed", "tiny"};

/* Record i of a deterministic mix: tenants, models, keys, statuses, usage, attempts. */
static void make_record(gw_request_record *r, uint32_t thread, uint32_t i, int64_t time_ms,
                        int capture) {
    memset(r, 0, sizeof *r);
    snprintf(r->id, sizeof r->id, "req_%02x%014x", thread, i);
    r->time_ms = time_ms;
    SET(r->trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
    SET(r->tenant, tenants[i % 3]);
    SET(r->project, i % 2 ? "search" : "chatbot");
    snprintf(r->key_id, sizeof r->key_id, "key_%u", i % 5);
    SET(r->model, models[i % 4]);
    SET(r->upstream_model, "sim-model");
    SET(r->channel, "sim");
    SET(r->path, "/v1/chat/completions");
    SET(r->protocol, "openai");
    r->stream = (int)(i % 2);
    r->status = i % 17 == 0 ? 502 : i % 13 == 0 ? 429 : 200;
    r->usage.prompt_tokens = 10 + i % 100;
    r->usage.completion_tokens = 5 + i % 50;
    r->usage.cached_tokens = i % 7;
    r->usage.reasoning_tokens = i % 3;
    r->usage.known = i % 11 != 0;
    r->estimated = i % 11 == 0;
    r->cost = (double)(i % 10) / 1000.0;
    SET(r->currency, "USD");
    r->first_token_us = 1500;
    r->latency_us = 20000 + i;
    r->attempt_count = 1 + i % 3;
    for (uint32_t a = 0; a < r->attempt_count; a++) {
        snprintf(r->attempts[a].channel, sizeof r->attempts[a].channel, "ch\"%u", a);
        SET(r->attempts[a].endpoint, "127.0.0.1:8000");
        r->attempts[a].status = a + 1 < r->attempt_count ? 503 : 200;
        SET(r->attempts[a].error, a + 1 < r->attempt_count ? "status" : "");
        r->attempts[a].start_us = 100 * a;
        r->attempts[a].first_byte_us = a + 1 < r->attempt_count ? -1 : 900;
        r->attempts[a].end_us = 1000 * (a + 1);
    }
    if (capture) {
        r->capture.request_body = strdup("{\"model\":\"chat\",\"messages\":[]}");
        r->capture.request_body_len = strlen(r->capture.request_body);
        capture_events(&r->capture, 3);
    }
}

typedef struct fixture {
    char dir[64];
    char path[96];
} fixture;

static int setup(void **state) {
    fixture *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/aigw-meter-XXXXXX");
    if (!mkdtemp(f->dir)) return -1;
    snprintf(f->path, sizeof f->path, "%s/usage.db", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fixture *f = *state;
    const char *suffixes[] = {"", "-wal", "-shm", "-journal"};
    char p[128];
    for (size_t i = 0; i < 4; i++) {
        snprintf(p, sizeof p, "%s%s", f->path, suffixes[i]);
        unlink(p);
    }
    rmdir(f->dir);
    free(f);
    atomic_store(&gw_clock_offset_ns, 0);
    return 0;
}

static gw_metering_conf conf_for(const char *path, uint32_t queue, uint32_t batch) {
    gw_metering_conf c = {0};
    c.store = path;
    c.queue_size = queue;
    c.batch = batch;
    c.retention.interval_ms = 60000;
    return c;
}

static int64_t query_int(sqlite3 *db, const char *sql) {
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK) {
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
        return -1;
    }
    int64_t v = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int64(s, 0) : -1;
    sqlite3_finalize(s);
    return v;
}

static double query_double(sqlite3 *db, const char *sql) {
    sqlite3_stmt *s;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
    double v = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_double(s, 0) : -1;
    sqlite3_finalize(s);
    return v;
}

/* Waits (bounded) until the writer has written want rows. */
static void wait_written(gw_meter *m, uint64_t want) {
    gw_meter_stats st;
    for (int i = 0; i < 3000; i++) {
        gw_meter_get_stats(m, &st);
        if (st.written >= want) return;
        usleep(10000);
    }
    gw_meter_get_stats(m, &st);
    fail_msg("written %llu of %llu", (unsigned long long)st.written, (unsigned long long)want);
}

enum { THREADS = 4, PER_THREAD = 1500 };

typedef struct submitter {
    gw_meter *m;
    uint32_t id, count;
    int64_t base_ms;
    int capture_every; /* 0: none */
    int64_t max_submit_ns;
    uint32_t accepted, refused;
} submitter;

static void *submit_thread(void *arg) {
    submitter *s = arg;
    gw_request_record rec;
    for (uint32_t i = 0; i < s->count; i++) {
        /* spread over three minutes, across an hour boundary */
        make_record(&rec, s->id, i, s->base_ms + (int64_t)(i % 180) * 1000,
                    s->capture_every && i % (uint32_t)s->capture_every == 0);
        int64_t t0 = gw_now_ns();
        int rc = gw_meter_submit(s->m, &rec);
        int64_t took = gw_now_ns() - t0;
        if (took > s->max_submit_ns) s->max_submit_ns = took;
        if (rc == 0)
            s->accepted++;
        else
            s->refused++;
    }
    return NULL;
}

static void threads_write_rows_rollups_and_captures(void **state) {
    fixture *f = *state;
    /* two minutes before an hour boundary: three minutes in two hours */
    int64_t base_ms = (now_ms() / 3600000) * 3600000 - 120000;
    gw_metering_conf c = conf_for(f->path, 8192, 64);
    char err[300] = "";
    gw_meter *m = gw_meter_start(&c, err, sizeof err);
    assert_non_null(m);
    pthread_t th[THREADS];
    submitter subs[THREADS];
    for (uint32_t t = 0; t < THREADS; t++) {
        subs[t] = (submitter){
            .m = m, .id = t, .count = PER_THREAD, .base_ms = base_ms, .capture_every = 10};
        assert_int_equal(pthread_create(&th[t], NULL, submit_thread, &subs[t]), 0);
    }
    for (uint32_t t = 0; t < THREADS; t++) {
        pthread_join(th[t], NULL);
        assert_int_equal(subs[t].accepted, PER_THREAD);
    }
    gw_meter_stats st;
    gw_meter_get_stats(m, &st);
    assert_int_equal(st.submitted, THREADS * PER_THREAD);
    assert_int_equal(st.dropped, 0);
    gw_meter_stop(m, 5000); /* writes what is queued */

    /* what was sent, summed here independently of the store */
    int64_t prompt = 0, completion = 0, cached = 0, reasoning = 0, errors = 0, estimated = 0;
    double cost = 0;
    gw_request_record r;
    for (uint32_t t = 0; t < THREADS; t++)
        for (uint32_t i = 0; i < PER_THREAD; i++) {
            make_record(&r, t, i, 0, 0);
            prompt += r.usage.prompt_tokens;
            completion += r.usage.completion_tokens;
            cached += r.usage.cached_tokens;
            reasoning += r.usage.reasoning_tokens;
            errors += r.status >= 500;
            estimated += r.estimated;
            cost += r.cost;
        }

    sqlite3 *db;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_equal(query_int(db, "SELECT count(*) FROM requests"), THREADS * PER_THREAD);
    assert_int_equal(query_int(db, "SELECT sum(prompt_tokens) FROM requests"), prompt);
    assert_int_equal(query_int(db, "SELECT sum(completion_tokens) FROM requests"), completion);
    /* every bucket size sums to the same totals */
    const char *const buckets[] = {"minute", "hour", "day"};
    for (size_t b = 0; b < 3; b++) {
        char sql[300];
        snprintf(sql, sizeof sql, "SELECT sum(requests) FROM usage_rollup WHERE bucket='%s'",
                 buckets[b]);
        assert_int_equal(query_int(db, sql), THREADS * PER_THREAD);
#define CHECK_SUM(col, want)                                                                       \
    snprintf(sql, sizeof sql, "SELECT sum(" col ") FROM usage_rollup WHERE bucket='%s'",           \
             buckets[b]);                                                                          \
    assert_int_equal(query_int(db, sql), want)
        CHECK_SUM("prompt_tokens", prompt);
        CHECK_SUM("completion_tokens", completion);
        CHECK_SUM("cached_tokens", cached);
        CHECK_SUM("reasoning_tokens", reasoning);
        CHECK_SUM("errors", errors);
        CHECK_SUM("estimated_requests", estimated);
        snprintf(sql, sizeof sql, "SELECT sum(cost) FROM usage_rollup WHERE bucket='%s'",
                 buckets[b]);
        assert_float_equal(query_double(db, sql), cost, 1e-6);
    }
    /* 180 distinct seconds over three minutes, across an hour boundary */
    assert_int_equal(query_int(db, "SELECT count(DISTINCT t) FROM usage_rollup WHERE "
                                   "bucket='minute'"),
                     3);
    assert_int_equal(
        query_int(db, "SELECT count(DISTINCT t) FROM usage_rollup WHERE bucket='hour'"), 2);
    assert_int_equal(query_int(db, "SELECT min(t) % 60 FROM usage_rollup"), 0);
    /* one group: tenant acme, model chat (i % 3 == 0 and i % 4 == 0: i % 12 == 0) */
    int64_t acme_chat = 0;
    for (uint32_t i = 0; i < PER_THREAD; i += 12) {
        make_record(&r, 0, i, 0, 0);
        acme_chat += r.usage.prompt_tokens;
    }
    assert_int_equal(query_int(db, "SELECT sum(prompt_tokens) FROM usage_rollup WHERE "
                                   "bucket='day' AND tenant='acme' AND model='chat'"),
                     acme_chat * THREADS);
    /* attempts as JSON, escaped */
    sqlite3_stmt *s;
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT attempts, attempt_count FROM requests WHERE "
                                        "id='req_0200000000000005'",
                                        -1, &s, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    json_object *attempts = json_tokener_parse((const char *)sqlite3_column_text(s, 0));
    assert_non_null(attempts);
    assert_int_equal(json_object_array_length(attempts), 3); /* 1 + 5 % 3 */
    json_object *first = json_object_array_get_idx(attempts, 0), *v;
    assert_true(json_object_object_get_ex(first, "channel", &v));
    assert_string_equal(json_object_get_string(v), "ch\"0");
    assert_true(json_object_object_get_ex(first, "status", &v));
    assert_int_equal(json_object_get_int(v), 503);
    json_object_put(attempts);
    sqlite3_finalize(s);
    /* captures: every tenth record of each thread, events little-endian and unpadded */
    assert_int_equal(query_int(db, "SELECT count(*) FROM request_captures"),
                     THREADS * PER_THREAD / 10);
    assert_int_equal(query_int(db, "SELECT count(*) FROM requests WHERE captured=1"),
                     THREADS * PER_THREAD / 10);
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT c.request_body, c.response, c.response_chunks "
                                        "FROM request_captures c JOIN requests r USING (seq) "
                                        "WHERE r.id='req_0100000000000000'",
                                        -1, &s, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(s, 0),
                        "{\"model\":\"chat\",\"messages\":[]}");
    const unsigned char *blob = sqlite3_column_blob(s, 1);
    int len = sqlite3_column_bytes(s, 1);
    assert_int_equal(sqlite3_column_int(s, 2), 3);
    int off = 0;
    for (int i = 0; i < 3; i++) {
        assert_true(off + 12 <= len);
        int64_t t = 0;
        uint32_t n = 0;
        for (int k = 0; k < 8; k++)
            t |= (int64_t)blob[off + k] << (8 * k);
        for (int k = 0; k < 4; k++)
            n |= (uint32_t)blob[off + 8 + k] << (8 * k);
        assert_int_equal(t, 1000 * (i + 1));
        char want[32];
        snprintf(want, sizeof want, "data: {\"i\":%d}\n\n", i);
        assert_int_equal(n, strlen(want));
        assert_memory_equal(blob + off + 12, want, n);
        off += 12 + (int)n;
    }
    assert_int_equal(off, len);
    sqlite3_finalize(s);
    sqlite3_close(db);
}

/* Another connection's write lock on the store. It waits for the lock, as another process
 * would: the writer's first retention step runs as soon as the meter starts, and a BEGIN
 * EXCLUSIVE that met it without a busy timeout failed at once with SQLITE_BUSY. */
static sqlite3 *lock_store(const char *path) {
    sqlite3 *locker;
    assert_int_equal(sqlite3_open(path, &locker), SQLITE_OK);
    sqlite3_busy_timeout(locker, 10000);
    assert_int_equal(sqlite3_exec(locker, "BEGIN EXCLUSIVE", NULL, NULL, NULL), SQLITE_OK);
    return locker;
}

/* Holds a write lock on the store from another connection (as `sqlite3 db "BEGIN EXCLUSIVE"`
 * would from another process) while threads submit far more than the queue holds. */
static void locked_store_never_blocks_a_submit(void **state) {
    fixture *f = *state;
    gw_metering_conf c = conf_for(f->path, 16, 4);
    char err[300] = "";
    gw_meter *m = gw_meter_start(&c, err, sizeof err);
    assert_non_null(m);
    sqlite3 *locker = lock_store(f->path);

    pthread_t th[THREADS];
    submitter subs[THREADS];
    for (uint32_t t = 0; t < THREADS; t++) {
        subs[t] =
            (submitter){.m = m, .id = t, .count = 500, .base_ms = now_ms(), .capture_every = 3};
        assert_int_equal(pthread_create(&th[t], NULL, submit_thread, &subs[t]), 0);
    }
    /* every submit returns while the lock is still held: a submit that waited for the store
     * would keep its thread here until the timed join gives up */
    uint32_t accepted = 0, refused = 0;
    for (uint32_t t = 0; t < THREADS; t++) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 60;
        assert_int_equal(pthread_timedjoin_np(th[t], NULL, &until), 0);
        accepted += subs[t].accepted;
        refused += subs[t].refused;
    }
    gw_meter_stats st;
    gw_meter_get_stats(m, &st);
    assert_int_equal(accepted + refused, THREADS * 500);
    assert_true(refused > 0);
    assert_int_equal(st.dropped, refused);
    assert_int_equal(st.submitted, accepted);
    /* the queue and one batch at most were taken while the store was locked */
    assert_true(accepted <= 16 + 4 + 4);
    assert_int_equal(st.written, 0);
    /* the writer did meet the lock (it waits for it and tries again) */
    for (int i = 0; i < 500 && st.store_busy == 0; i++) {
        usleep(10000);
        gw_meter_get_stats(m, &st);
    }
    assert_true(st.store_busy > 0);

    assert_int_equal(sqlite3_exec(locker, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    wait_written(m, accepted);
    gw_meter_stop(m, 5000);
    assert_int_equal(query_int(locker, "SELECT count(*) FROM requests"), accepted);
    assert_int_equal(query_int(locker, "SELECT sum(requests) FROM usage_rollup WHERE "
                                       "bucket='hour'"),
                     accepted);
    sqlite3_close(locker);
}

static int writer_policy_nice(int *nice) {
    return thread_policy_nice("aigw-meter", nice);
}

static int writer_policy(void) {
    int nice;
    return writer_policy_nice(&nice);
}

static int wait_policy_nice(int want, int want_nice) {
    return wait_thread_policy("aigw-meter", want, want_nice);
}

static int wait_policy(int want) {
    return wait_policy_nice(want, 0);
}

static void submit_records(gw_meter *m, uint32_t count) {
    submitter s = {.m = m, .id = 0, .count = count, .base_ms = now_ms()};
    submit_thread(&s);
    assert_int_equal(s.accepted, count);
}

/* While it keeps up the writer runs at SCHED_IDLE: a worker that wakes on its core takes the
 * core at once. A queue an eighth full raises it to SCHED_BATCH at nice -10, and with the queue
 * emptied it is back at SCHED_IDLE. The store is locked meanwhile so that the records stay
 * queued. */
static void writer_gives_way_until_it_falls_behind(void **state) {
    fixture *f = *state;
    if (!process_may_raise()) skip();              /* batch throughout: the next test's case */
    gw_metering_conf c = conf_for(f->path, 64, 4); /* raised at 8 queued */
    char err[300] = "";
    gw_meter *m = gw_meter_start(&c, err, sizeof err);
    assert_non_null(m);
    assert_true(wait_policy(SCHED_IDLE));
    sqlite3 *locker = lock_store(f->path);
    submit_records(m, 4); /* a batch's worth, which the writer may hold, and fewer than 8 */
    assert_int_equal(writer_policy(), SCHED_IDLE);
    submit_records(m, 16);
    assert_true(wait_policy_nice(SCHED_BATCH, -10));
    assert_int_equal(sqlite3_exec(locker, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    wait_written(m, 20);
    assert_true(wait_policy(SCHED_IDLE));
    /* behind again: raised again */
    sqlite3_exec(locker, "BEGIN EXCLUSIVE", NULL, NULL, NULL);
    submit_records(m, 20);
    assert_true(wait_policy_nice(SCHED_BATCH, -10));
    assert_int_equal(sqlite3_exec(locker, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    wait_written(m, 40);
    gw_meter_stop(m, 5000);
    assert_int_equal(query_int(locker, "SELECT count(*) FROM requests"), 40);
    sqlite3_close(locker);
}

/* A process that could never raise a thread out of SCHED_IDLE (no CAP_SYS_NICE, RLIMIT_NICE 0,
 * as in a container by default) keeps the writer at SCHED_BATCH, nice 0, however far behind.
 * In a child, which gives up the capability for itself alone. */
static void writer_stays_batch_without_the_right_to_raise(void **state) {
    fixture *f = *state;
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3};
        struct __user_cap_data_struct d[_LINUX_CAPABILITY_U32S_3];
        if (syscall(SYS_capget, &h, d) != 0) _exit(2);
        d[CAP_TO_INDEX(CAP_SYS_NICE)].effective &= ~CAP_TO_MASK(CAP_SYS_NICE);
        d[CAP_TO_INDEX(CAP_SYS_NICE)].permitted &= ~CAP_TO_MASK(CAP_SYS_NICE);
        if (syscall(SYS_capset, &h, d) != 0) _exit(3);
        struct rlimit none = {0, 0};
        if (setrlimit(RLIMIT_NICE, &none) != 0) _exit(4);
        gw_metering_conf c = conf_for(f->path, 64, 4);
        char err[300] = "";
        gw_meter *m = gw_meter_start(&c, err, sizeof err);
        if (!m) _exit(5);
        int batch = wait_policy(SCHED_BATCH);
        submitter s = {.m = m, .id = 0, .count = 20, .base_ms = now_ms()};
        submit_thread(&s);
        int nice = 99;
        int still = writer_policy_nice(&nice) == SCHED_BATCH && nice == 0;
        gw_meter_stop(m, 5000);
        _exit(batch && still ? 0 : 6);
    }
    int status = 0;
    assert_int_equal(waitpid(child, &status, 0), child);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

static long file_size(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

/* The writer's connection checkpoints nothing itself (a checkpoint syncs the disk, and a slow
 * sync held up the writer while the queue overflowed): its thread, aigw-checkpoint, copies the
 * WAL into the database once it passes 1,000 frames, while the writer goes on. So the database
 * file grows while the meter runs; without that thread it would stay as the schema left it
 * until the last connection closed. */
static void checkpoints_run_on_their_own_thread(void **state) {
    fixture *f = *state;
    gw_metering_conf c = conf_for(f->path, 1024, 256);
    char err[300] = "";
    gw_meter *m = gw_meter_start(&c, err, sizeof err);
    assert_non_null(m);
    int nice;
    assert_int_equal(thread_policy_nice("aigw-checkpoint", &nice), SCHED_BATCH);
    long before = file_size(f->path);
    submitter s = {.m = m, .id = 0, .count = 1000, .base_ms = now_ms(), .capture_every = 2};
    uint64_t written = 0;
    for (int round = 0; round < 8; round++) { /* about 6 MB of rows and captures */
        submit_thread(&s);
        written += s.accepted;
        s.accepted = 0;
        wait_written(m, written);
    }
    assert_int_equal(written, 8000);
    int grew = 0;
    for (int i = 0; i < 1000 && !grew; i++) {
        grew = file_size(f->path) >= before + (1 << 20);
        if (!grew) usleep(5000);
    }
    assert_true(grew);
    char wal[128];
    snprintf(wal, sizeof wal, "%s-wal", f->path);
    assert_true(file_size(wal) < 64L << 20); /* reused from its start once copied */
    gw_meter_stop(m, 5000);
}

/* A store still locked when stop's time runs out: stop returns, what was left is counted lost. */
static void stop_gives_up_on_a_locked_store(void **state) {
    fixture *f = *state;
    gw_metering_conf c = conf_for(f->path, 16, 4);
    char err[300] = "";
    gw_meter *m = gw_meter_start(&c, err, sizeof err);
    assert_non_null(m);
    sqlite3 *locker = lock_store(f->path);
    submitter s = {.m = m, .id = 0, .count = 10, .base_ms = now_ms(), .capture_every = 2};
    submit_thread(&s);
    assert_int_equal(s.accepted, 10);
    int64_t t0 = gw_now_ns();
    gw_meter_stop(m, 300);
    int64_t took_ms = (gw_now_ns() - t0) / 1000000;
    assert_true(took_ms < 300 + 2000); /* the deadline, plus a busy wait or two */
    sqlite3_exec(locker, "COMMIT", NULL, NULL, NULL);
    assert_int_equal(query_int(locker, "SELECT count(*) FROM requests"), 0);
    sqlite3_close(locker);
}

static void retention_by_age_and_size(void **state) {
    fixture *f = *state;
    int64_t now = now_ms();
    gw_metering_conf c = conf_for(f->path, 1024, 64);
    c.retention =
        (gw_retention_conf){.days = 2, .max_mb = 0, .minute_rollup_days = 1, .interval_ms = 10};
    char err[300] = "";
    gw_meter *m = gw_meter_start(&c, err, sizeof err);
    assert_non_null(m);
    gw_request_record rec;
    for (uint32_t i = 0; i < 300; i++) { /* 100 of 3 days ago, 200 of now */
        make_record(&rec, 9, i, i < 100 ? now - 3 * 86400000LL : now, i % 2 == 0);
        assert_int_equal(gw_meter_submit(m, &rec), 0);
    }
    wait_written(m, 300);
    gw_meter_stats st;
    for (int i = 0; i < 1000; i++) {
        gw_meter_get_stats(m, &st);
        if (st.retained >= 100) break;
        usleep(10000);
    }
    assert_int_equal(st.retained, 100);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    char sql[200];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM requests WHERE time_ms < %lld",
             (long long)(now - 86400000));
    assert_int_equal(query_int(db, sql), 0);
    assert_int_equal(query_int(db, "SELECT count(*) FROM requests"), 200);
    assert_int_equal(query_int(db, "SELECT count(*) FROM request_captures"), 100);
    assert_int_equal(query_int(db, "SELECT count(*) FROM request_captures WHERE seq NOT IN "
                                   "(SELECT seq FROM requests)"),
                     0);
    /* per-minute rollups of 3 days ago went; hours and days stay (they bill the past) */
    for (int i = 0; i < 500; i++) {
        snprintf(sql, sizeof sql,
                 "SELECT count(*) FROM usage_rollup WHERE bucket='minute' AND t < %lld",
                 (long long)(now / 1000 - 86400));
        if (query_int(db, sql) == 0) break;
        usleep(10000);
    }
    assert_int_equal(query_int(db, sql), 0);
    assert_int_equal(query_int(db, "SELECT sum(requests) FROM usage_rollup WHERE bucket='day'"),
                     300);
    assert_int_equal(query_int(db, "SELECT sum(requests) FROM usage_rollup WHERE bucket='minute'"),
                     200);

    /* by size: a 1 MB bound, then 3 MB of captured bodies; the oldest go */
    gw_retention_conf sized = {.days = 2, .max_mb = 1, .minute_rollup_days = 1, .interval_ms = 10};
    gw_meter_set_retention(m, &sized);
    for (uint32_t i = 0; i < 60; i++) {
        make_record(&rec, 10, i, now, 0);
        rec.capture.request_body = malloc(50000);
        memset(rec.capture.request_body, 'x', 50000);
        rec.capture.request_body_len = 50000;
        assert_int_equal(gw_meter_submit(m, &rec), 0);
    }
    wait_written(m, 360);
    int64_t bytes = 0;
    for (int i = 0; i < 1000; i++) {
        bytes = query_int(db, "SELECT sum(bytes) FROM requests");
        if (bytes <= 1024 * 1024) break;
        usleep(10000);
    }
    assert_true(bytes <= 1024 * 1024);
    assert_true(bytes > 1024 * 1024 / 2); /* trimmed to about 90%, not emptied */
    /* the newest stayed */
    assert_int_equal(query_int(db, "SELECT count(*) FROM requests WHERE id='req_0a0000000000003b'"),
                     1);
    assert_int_equal(query_int(db, "SELECT count(*) FROM request_captures WHERE seq NOT IN "
                                   "(SELECT seq FROM requests)"),
                     0);
    sqlite3_close(db);
    gw_meter_stop(m, 5000);
}

/* A second start on the same file keeps what is there and migrates nothing twice; a file made
 * by a newer aigw is refused. */
static void reopen_and_newer_schema(void **state) {
    fixture *f = *state;
    gw_metering_conf c = conf_for(f->path, 64, 8);
    char err[300] = "";
    for (int round = 0; round < 2; round++) {
        gw_meter *m = gw_meter_start(&c, err, sizeof err);
        assert_non_null(m);
        gw_request_record rec;
        make_record(&rec, 1, (uint32_t)round, now_ms(), 1);
        assert_int_equal(gw_meter_submit(m, &rec), 0);
        gw_meter_stop(m, 5000);
    }
    sqlite3 *db;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_equal(query_int(db, "SELECT count(*) FROM requests"), 2);
    assert_int_equal(sqlite3_exec(db, "UPDATE meter_schema SET version = 99", NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    assert_null(gw_meter_start(&c, err, sizeof err));
    assert_non_null(strstr(err, "newer"));
}

/* --- the integration tests' filler --- */

static const char *jstr(json_object *o, const char *k) {
    json_object *v;
    return json_object_object_get_ex(o, k, &v) && json_object_is_type(v, json_type_string)
               ? json_object_get_string(v)
               : "";
}
static int64_t jint(json_object *o, const char *k, int64_t dflt) {
    json_object *v;
    return json_object_object_get_ex(o, k, &v) && !json_object_is_type(v, json_type_null)
               ? json_object_get_int64(v)
               : dflt;
}

/* One JSON line as a record: the record's field names; usage {...}; attempts [...];
 * request_body "..."; response [[t_us, "event bytes"], ...]; truncated. */
static int record_from_json(json_object *o, gw_request_record *r) {
    memset(r, 0, sizeof *r);
    SET(r->id, jstr(o, "id"));
    r->time_ms = jint(o, "time_ms", 0);
    SET(r->trace_id, jstr(o, "trace_id"));
    SET(r->span_id, jstr(o, "span_id"));
    SET(r->parent_id, jstr(o, "parent_id"));
    SET(r->tenant, jstr(o, "tenant"));
    SET(r->project, jstr(o, "project"));
    SET(r->key_id, jstr(o, "key_id"));
    SET(r->client_ip, jstr(o, "client_ip"));
    SET(r->path, jstr(o, "path"));
    SET(r->protocol, jstr(o, "protocol"));
    SET(r->model, jstr(o, "model"));
    SET(r->upstream_model, jstr(o, "upstream_model"));
    SET(r->channel, jstr(o, "channel"));
    SET(r->endpoint, jstr(o, "endpoint"));
    r->stream = (int)jint(o, "stream", 0);
    r->status = (int)jint(o, "status", 200);
    SET(r->error_code, jstr(o, "error_code"));
    r->refused_by = (int)jint(o, "refused_by", 0);
    json_object *u, *v;
    if (json_object_object_get_ex(o, "usage", &u)) {
        r->usage.prompt_tokens = jint(u, "prompt_tokens", 0);
        r->usage.completion_tokens = jint(u, "completion_tokens", 0);
        r->usage.cached_tokens = jint(u, "cached_tokens", 0);
        r->usage.cache_creation_tokens = jint(u, "cache_creation_tokens", 0);
        r->usage.reasoning_tokens = jint(u, "reasoning_tokens", 0);
        r->usage.known = (int)jint(u, "known", 1);
    }
    r->estimated = (int)jint(o, "estimated", 0);
    r->cost = json_object_object_get_ex(o, "cost", &v) ? json_object_get_double(v) : 0;
    SET(r->currency, jstr(o, "currency"));
    r->first_token_us = jint(o, "first_token_us", -1);
    r->latency_us = jint(o, "latency_us", 0);
    r->stream_events = (uint32_t)jint(o, "stream_events", 0);
    r->max_gap_us = jint(o, "max_gap_us", 0);
    if (json_object_object_get_ex(o, "attempts", &v) && json_object_is_type(v, json_type_array)) {
        size_t n = json_object_array_length(v);
        for (size_t i = 0; i < n && i < GW_RECORD_MAX_ATTEMPTS; i++) {
            json_object *a = json_object_array_get_idx(v, i);
            gw_attempt_record *ar = &r->attempts[r->attempt_count++];
            SET(ar->channel, jstr(a, "channel"));
            SET(ar->endpoint, jstr(a, "endpoint"));
            SET(ar->upstream_model, jstr(a, "upstream_model"));
            ar->status = (int)jint(a, "status", 0);
            SET(ar->error, jstr(a, "error"));
            ar->start_us = jint(a, "start_us", -1);
            ar->first_byte_us = jint(a, "first_byte_us", -1);
            ar->end_us = jint(a, "end_us", -1);
        }
    }
    if (json_object_object_get_ex(o, "request_body", &v) &&
        json_object_is_type(v, json_type_string)) {
        r->capture.request_body_len = (size_t)json_object_get_string_len(v);
        r->capture.request_body = malloc(r->capture.request_body_len + 1);
        memcpy(r->capture.request_body, json_object_get_string(v), r->capture.request_body_len);
    }
    if (json_object_object_get_ex(o, "response", &v) && json_object_is_type(v, json_type_array)) {
        size_t n = json_object_array_length(v), cap = 0;
        for (size_t i = 0; i < n; i++)
            cap += gw_capture_chunk_size((size_t)json_object_get_string_len(
                json_object_array_get_idx(json_object_array_get_idx(v, i), 1)));
        r->capture.response = calloc(1, cap ? cap : 1);
        size_t off = 0;
        for (size_t i = 0; i < n; i++) {
            json_object *ev = json_object_array_get_idx(v, i);
            json_object *data = json_object_array_get_idx(ev, 1);
            gw_capture_chunk *ch = (gw_capture_chunk *)(r->capture.response + off);
            ch->t_us = json_object_get_int64(json_object_array_get_idx(ev, 0));
            ch->len = (uint32_t)json_object_get_string_len(data);
            memcpy(ch->data, json_object_get_string(data), ch->len);
            off += gw_capture_chunk_size(ch->len);
        }
        r->capture.response_len = off;
        r->capture.response_chunks = n;
    }
    r->capture.truncated = (int)jint(o, "truncated", 0);
    return 0;
}

typedef struct fill_thread {
    gw_meter *m;
    json_object **lines;
    size_t count, step, first;
    uint64_t refused;
    int64_t max_submit_ns;
} fill_thread;

static void *fill_main(void *arg) {
    fill_thread *t = arg;
    gw_request_record rec;
    for (size_t i = t->first; i < t->count; i += t->step) {
        record_from_json(t->lines[i], &rec);
        int64_t t0 = gw_now_ns();
        if (gw_meter_submit(t->m, &rec) < 0) t->refused++;
        int64_t took = gw_now_ns() - t0;
        if (took > t->max_submit_ns) t->max_submit_ns = took;
    }
    return NULL;
}

static int fill(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr,
                "usage: %s --fill DB RECORDS.jsonl [--queue N] [--batch N] [--threads N] "
                "[--stop-ms N]\n",
                argv[0]);
        return 2;
    }
    uint32_t queue = 0, batch = 64, threads = 1;
    int stop_ms = 10000;
    for (int i = 4; i + 1 < argc; i += 2) {
        long v = atol(argv[i + 1]);
        if (!strcmp(argv[i], "--queue")) queue = (uint32_t)v;
        if (!strcmp(argv[i], "--batch")) batch = (uint32_t)v;
        if (!strcmp(argv[i], "--threads")) threads = v > 0 && v <= 64 ? (uint32_t)v : 1;
        if (!strcmp(argv[i], "--stop-ms")) stop_ms = (int)v;
    }
    FILE *in = fopen(argv[3], "r");
    if (!in) {
        perror(argv[3]);
        return 1;
    }
    size_t count = 0, cap = 1024;
    json_object **lines = malloc(cap * sizeof *lines);
    char *line = NULL;
    size_t line_cap = 0;
    ssize_t len;
    while ((len = getline(&line, &line_cap, in)) > 0) {
        if (len <= 1) continue;
        json_object *o = json_tokener_parse(line);
        if (!o) {
            fprintf(stderr, "bad JSON at record %zu\n", count + 1);
            return 1;
        }
        if (count == cap) lines = realloc(lines, (cap *= 2) * sizeof *lines);
        lines[count++] = o;
    }
    free(line);
    fclose(in);
    if (!queue) /* room for everything: nothing drops unless asked to */
        for (queue = 16; queue < count; queue <<= 1)
            ;
    gw_metering_conf c = {.store = argv[2], .queue_size = queue, .batch = batch};
    char err[300] = "";
    gw_meter *m = gw_meter_start(&c, err, sizeof err);
    if (!m) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    fill_thread t[64];
    pthread_t th[64];
    for (uint32_t i = 0; i < threads; i++) {
        t[i] = (fill_thread){.m = m, .lines = lines, .count = count, .step = threads, .first = i};
        pthread_create(&th[i], NULL, fill_main, &t[i]);
    }
    int64_t max_ns = 0;
    uint64_t refused = 0;
    for (uint32_t i = 0; i < threads; i++) {
        pthread_join(th[i], NULL);
        refused += t[i].refused;
        if (t[i].max_submit_ns > max_ns) max_ns = t[i].max_submit_ns;
    }
    /* the writer has written everything, or met a locked store (at most 5 s) */
    gw_meter_stats before;
    for (int i = 0; i < 500; i++) {
        gw_meter_get_stats(m, &before);
        if (before.written == before.submitted || before.store_busy > 0) break;
        usleep(10000);
    }
    int64_t t0 = gw_now_ns();
    /* the stats after stop are gone with the meter: read them just before, and count what the
     * stop wrote from the file */
    gw_meter_stop(m, stop_ms);
    int64_t stop_took = (gw_now_ns() - t0) / 1000000;
    sqlite3 *db;
    int64_t rows = -1;
    if (sqlite3_open_v2(argv[2], &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK) {
        sqlite3_busy_timeout(db, 1000);
        sqlite3_stmt *s;
        if (sqlite3_prepare_v2(db, "SELECT count(*) FROM requests", -1, &s, NULL) == SQLITE_OK &&
            sqlite3_step(s) == SQLITE_ROW)
            rows = sqlite3_column_int64(s, 0);
        sqlite3_finalize(s);
    }
    sqlite3_close(db);
    printf("{\"records\":%zu,\"submitted\":%llu,\"dropped\":%llu,\"refused\":%llu,"
           "\"store_busy\":%llu,\"max_submit_us\":%lld,\"stop_ms\":%lld,\"rows\":%lld}\n",
           count, (unsigned long long)before.submitted, (unsigned long long)before.dropped,
           (unsigned long long)refused, (unsigned long long)before.store_busy,
           (long long)(max_ns / 1000), (long long)stop_took, (long long)rows);
    for (size_t i = 0; i < count; i++)
        json_object_put(lines[i]);
    free(lines);
    return 0;
}

int main(int argc, char **argv) {
    if (argc > 1 && !strcmp(argv[1], "--fill")) return fill(argc, argv);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(threads_write_rows_rollups_and_captures, setup, teardown),
        cmocka_unit_test_setup_teardown(locked_store_never_blocks_a_submit, setup, teardown),
        cmocka_unit_test_setup_teardown(stop_gives_up_on_a_locked_store, setup, teardown),
        cmocka_unit_test_setup_teardown(writer_gives_way_until_it_falls_behind, setup, teardown),
        cmocka_unit_test_setup_teardown(writer_stays_batch_without_the_right_to_raise, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(checkpoints_run_on_their_own_thread, setup, teardown),
        cmocka_unit_test_setup_teardown(retention_by_age_and_size, setup, teardown),
        cmocka_unit_test_setup_teardown(reopen_and_newer_schema, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
