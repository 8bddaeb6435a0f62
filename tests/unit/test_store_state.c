/* What the store keeps besides keys, in a real SQLite file in a temporary directory: a database
 * of the first schema migrated with its keys intact; quota rows (the hash seed, only rows of
 * periods that have not ended loaded, ended ones pruned); switches; the audit trail (newest
 * first, since, pages, the kept bound); and the round trip through the quota table itself
 * (server/persist.c): counts made in one table, saved, and found again in a new table after a
 * "restart", but not in the next period. Times are passed in: no clock, no sleep. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/persist.h"
#include "store/audit_rows.h"
#include "store/keys_spec.h"
#include "store/keys.h"
#include "store/quota_rows.h"
#include "store/schema.h"
#include "store/switch_rows.h"

#define NS INT64_C(1000000000)
#define T0 INT64_C(1717243200) /* 2024-06-01 12:00 UTC */

typedef struct fixture {
    char dir[64];
    char path[96];
    gw_key_store *st;
} fixture;

static int setup(void **state) {
    fixture *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/aigw-state-XXXXXX");
    if (!mkdtemp(f->dir)) return -1;
    snprintf(f->path, sizeof f->path, "%s/aigw.db", f->dir);
    *state = f;
    return 0;
}

static void open_store(fixture *f) {
    char err[256] = "";
    f->st = gw_key_store_open(f->path, err, sizeof err);
    if (!f->st) fail_msg("open: %s", err);
}

static int teardown(void **state) {
    fixture *f = *state;
    gw_key_store_close(f->st);
    char p[128];
    const char *suffixes[] = {"", "-wal", "-shm", "-journal"};
    for (size_t i = 0; i < 4; i++) {
        snprintf(p, sizeof p, "%s%s", f->path, suffixes[i]);
        unlink(p);
    }
    rmdir(f->dir);
    free(f);
    return 0;
}

static int64_t count_rows(const char *path, const char *sql) {
    sqlite3 *db;
    sqlite3_stmt *s;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    int64_t n = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    sqlite3_close(db);
    return n;
}

/* A file as the first release made it (schema 1, one key), opened by this one. */
static void migrates_a_version_1_database(void **state) {
    fixture *f = *state;
    sqlite3 *db;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    const char *v1 =
        "PRAGMA journal_mode=WAL;"
        "CREATE TABLE keys (id TEXT PRIMARY KEY, name TEXT NOT NULL, tenant TEXT NOT NULL DEFAULT"
        " '', project TEXT NOT NULL DEFAULT '', models TEXT NOT NULL DEFAULT '[]', created"
        " INTEGER NOT NULL, updated INTEGER NOT NULL, expires INTEGER, disabled INTEGER NOT NULL"
        " DEFAULT 0, revoked INTEGER, limits TEXT NOT NULL DEFAULT '{}', quota TEXT, secret_hash"
        " BLOB NOT NULL UNIQUE, secret_prefix TEXT NOT NULL);"
        "CREATE INDEX keys_owner ON keys(tenant, project);"
        "INSERT INTO keys (id, name, tenant, models, created, updated, secret_hash, secret_prefix)"
        " VALUES ('key_old', 'old', 'acme', '[\"chat\"]', 1, 1, zeroblob(32), 'sk-aigw-abcd');"
        "PRAGMA user_version = 1;";
    assert_int_equal(sqlite3_exec(db, v1, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);

    open_store(f);
    gw_key_record r;
    assert_int_equal(gw_key_store_get(f->st, "key_old", &r), GW_KEYS_OK);
    assert_string_equal(r.tenant, "acme");
    gw_key_record_clear(&r);
    assert_int_equal(count_rows(f->path, "PRAGMA user_version"), gw_store_schema_version());
    assert_true(gw_store_schema_version() >= 2);
    assert_int_equal(count_rows(f->path, "SELECT count(*) FROM sqlite_master WHERE name IN"
                                         " ('meta','quota_spent','switches','audit')"),
                     4);
    /* opening again migrates nothing and loses nothing */
    gw_key_store_close(f->st);
    open_store(f);
    assert_int_equal(gw_key_store_get(f->st, "key_old", NULL), GW_KEYS_OK);
}

static int collect_row(const gw_store_quota_row *row, void *ctx) {
    gw_store_quota_row *rows = ctx;
    for (size_t i = 0; i < 8; i++)
        if (!rows[i].subject) {
            rows[i] = *row;
            return 0;
        }
    return 1;
}

static void quota_rows_of_running_periods_only(void **state) {
    fixture *f = *state;
    open_store(f);
    char err[256];
    uint64_t seed = 0;
    assert_int_equal(gw_store_quota_seed(f->st, &seed, err, sizeof err), 0);
    assert_int_equal(gw_store_quota_set_seed(f->st, UINT64_C(0xfedcba9876543210), err, sizeof err),
                     0);
    assert_int_equal(gw_store_quota_seed(f->st, &seed, err, sizeof err), 1);
    assert_true(seed == UINT64_C(0xfedcba9876543210)); /* all 64 bits, the sign bit included */

    int64_t now = T0 * NS;
    gw_store_quota_row rows[] = {
        {.subject = UINT64_C(0x8000000000000001),
         .period = 7,
         .period_end = now + 3600 * NS,
         .spent = 1234},
        {.subject = 2, .period = 6, .period_end = now - NS, .spent = 99},   /* ended */
        {.subject = 3, .period = 6, .period_end = now - NS, .budget = 501}, /* ended, budget 500 */
    };
    assert_int_equal(gw_store_quota_save(f->st, rows, 3, now, err, sizeof err), 0);
    assert_int_equal(count_rows(f->path, "SELECT count(*) FROM quota_spent"), 3);
    /* the ended row without a budget is not worth keeping */
    assert_int_equal(gw_store_quota_prune(f->st, now, err, sizeof err), 0);
    assert_int_equal(count_rows(f->path, "SELECT count(*) FROM quota_spent"), 2);
    gw_store_quota_row got[8];
    memset(got, 0, sizeof got);
    assert_int_equal(gw_store_quota_load(f->st, now, collect_row, got, err, sizeof err), 0);
    assert_true(got[0].subject == UINT64_C(0x8000000000000001) || got[1].subject == 3);
    const gw_store_quota_row *running = got[0].subject == 3 ? &got[1] : &got[0];
    const gw_store_quota_row *budget = got[0].subject == 3 ? &got[0] : &got[1];
    assert_true(running->subject == UINT64_C(0x8000000000000001));
    assert_int_equal(running->period, 7);
    assert_int_equal(running->spent, 1234);
    assert_int_equal(running->budget, 0);
    assert_int_equal(budget->budget, 501);
    assert_int_equal(got[2].subject, 0);
    /* an hour later the running row's period has ended too: only the budget is loaded */
    memset(got, 0, sizeof got);
    assert_int_equal(gw_store_quota_load(f->st, now + 3600 * NS, collect_row, got, err, sizeof err),
                     0);
    assert_int_equal(got[0].subject, 3);
    assert_int_equal(got[1].subject, 0);
}

static int collect_switch(const char *kind, const char *value, void *ctx) {
    char *out = ctx;
    size_t n = strlen(out);
    snprintf(out + n, 256 - n, "%s:%s;", kind, value);
    return 0;
}

static void switches_kept_while_off(void **state) {
    fixture *f = *state;
    open_store(f);
    char err[256], seen[256] = "";
    assert_int_equal(gw_store_switch_set(f->st, "tenant", "acme", 1, T0, err, sizeof err), 0);
    assert_int_equal(gw_store_switch_set(f->st, "model", "chat", 1, T0 + 1, err, sizeof err), 0);
    assert_int_equal(gw_store_switch_set(f->st, "tenant", "acme", 1, T0 + 2, err, sizeof err), 0);
    assert_int_equal(gw_store_switch_set(f->st, "model", "gone", 0, T0 + 3, err, sizeof err), 0);
    assert_int_equal(gw_store_switch_load(f->st, collect_switch, seen, err, sizeof err), 0);
    assert_string_equal(seen, "tenant:acme;model:chat;");
    assert_int_equal(gw_store_switch_set(f->st, "model", "chat", 0, T0 + 4, err, sizeof err), 0);
    seen[0] = '\0';
    assert_int_equal(gw_store_switch_load(f->st, collect_switch, seen, err, sizeof err), 0);
    assert_string_equal(seen, "tenant:acme;");
}

typedef struct audit_seen {
    int64_t ids[16];
    char targets[16][32];
    size_t n;
} audit_seen;

static int collect_audit(const gw_store_audit_entry *e, void *ctx) {
    audit_seen *s = ctx;
    s->ids[s->n] = e->id;
    snprintf(s->targets[s->n], sizeof s->targets[0], "%s", e->target);
    s->n++;
    return 0;
}

static void audit_newest_first_and_bounded(void **state) {
    fixture *f = *state;
    open_store(f);
    char err[256];
    for (int i = 0; i < 10; i++) {
        char target[32];
        snprintf(target, sizeof target, "key_%d", i);
        gw_store_audit_entry e = {.time = T0 + i * 10,
                                  .client = "127.0.0.1:5000",
                                  .action = "key.create",
                                  .target = target,
                                  .status = 201};
        assert_int_equal(gw_store_audit_add(f->st, &e, 1000, err, sizeof err), 0);
    }
    audit_seen s = {0};
    gw_store_audit_query q = {.limit = 3};
    assert_int_equal(gw_store_audit_list(f->st, &q, collect_audit, &s, err, sizeof err), 0);
    assert_int_equal(s.n, 3);
    assert_string_equal(s.targets[0], "key_9");
    assert_string_equal(s.targets[2], "key_7");
    assert_true(s.ids[0] > s.ids[1] && s.ids[1] > s.ids[2]);
    /* the next page: before the last id seen */
    q.before_id = s.ids[2];
    memset(&s, 0, sizeof s);
    assert_int_equal(gw_store_audit_list(f->st, &q, collect_audit, &s, err, sizeof err), 0);
    assert_string_equal(s.targets[0], "key_6");
    /* since: at or after a time */
    q = (gw_store_audit_query){.since = T0 + 75, .limit = 100};
    memset(&s, 0, sizeof s);
    assert_int_equal(gw_store_audit_list(f->st, &q, collect_audit, &s, err, sizeof err), 0);
    assert_int_equal(s.n, 2); /* key_8 and key_9 */
    /* a long target is cut, on a character boundary */
    char long_target[2 * GW_AUDIT_TEXT_MAX];
    memset(long_target, 'x', sizeof long_target - 1);
    long_target[sizeof long_target - 1] = '\0';
    gw_store_audit_entry e = {
        .time = T0 + 200, .client = "c", .action = "a", .target = long_target};
    /* keep 5: the oldest go */
    assert_int_equal(gw_store_audit_add(f->st, &e, 5, err, sizeof err), 0);
    assert_int_equal(count_rows(f->path, "SELECT count(*) FROM audit"), 5);
    assert_int_equal(count_rows(f->path, "SELECT max(length(target)) FROM audit"),
                     GW_AUDIT_TEXT_MAX);
}

/* Through the quota table as the gateway runs it: one process counts and saves; the next one
 * (a new table, as after a restart) finds the counts and the budget override, under the same
 * seed; in the next period the count starts at 0. */
static void quota_counts_survive_a_restart(void **state) {
    fixture *f = *state;
    open_store(f);
    char err[256];
    gw_quota_rule rule = {.id = 1,
                          .name = "tenant tokens per day",
                          .dim = GW_LIMIT_DIM_TENANT,
                          .period = GW_QUOTA_DAY,
                          .budget = 100};
    int64_t now = T0 * NS;
    gw_quota_table *t = gw_quota_table_new(1024);
    gw_switches *off = NULL;
    gw_persist *p = gw_persist_open(f->st, t, now, &off, err, sizeof err);
    assert_non_null(p);
    assert_null(off);
    /* no subject has a slot yet: a save does not read the table */
    assert_int_equal(gw_quota_table_claims(t), 0);
    assert_int_equal(gw_persist_save_quotas(p, now, 0), 0);
    assert_int_equal(count_rows(f->path, "SELECT count(*) FROM quota_spent"), 0);
    gw_quota_reservation res;
    gw_quota_status status;
    assert_int_equal(gw_quota_reserve(t, &rule, "acme", 4, 30, now, &res, &status), GW_QUOTA_OK);
    gw_quota_settle(&res, 40, now);
    assert_int_equal(gw_quota_set_budget(t, &rule, "beta", 4, 500, now), 0);
    assert_int_equal(gw_quota_table_claims(t), 2); /* once a subject, not once a request */
    assert_int_equal(gw_persist_save_quotas(p, now, 0), 0);
    assert_int_equal(count_rows(f->path, "SELECT count(*) FROM quota_spent"), 2);
    /* nothing changed: nothing written (the rows keep their time) */
    assert_int_equal(gw_persist_save_quotas(p, now + 5 * NS, 0), 0);
    assert_int_equal(count_rows(f->path, "SELECT max(updated) FROM quota_spent"), T0);
    assert_int_equal(gw_persist_switch(p, GW_SWITCH_TENANT, "gamma", 1, T0), 0);
    gw_persist_free(p);
    gw_quota_table_free(t);
    gw_key_store_close(f->st);

    open_store(f);
    gw_quota_table *t2 = gw_quota_table_new(1024);
    p = gw_persist_open(f->st, t2, now + 60 * NS, &off, err, sizeof err);
    assert_non_null(p);
    assert_non_null(off);
    assert_int_equal(off->count, 1);
    assert_true(gw_switches_off(off, GW_SWITCH_TENANT, "gamma", 5));
    gw_switches_unref(off);
    gw_quota_status st;
    gw_quota_read(t2, &rule, "acme", 4, now + 60 * NS, &st);
    assert_int_equal(st.spent, 40);
    assert_int_equal(st.remaining, 60);
    gw_quota_read(t2, &rule, "beta", 4, now + 60 * NS, &st);
    assert_int_equal(st.budget, 500);
    assert_true(st.budget_set);
    /* the next day (UTC) starts at 0; the override holds across periods */
    int64_t tomorrow = now + 13 * 3600 * NS;
    gw_quota_read(t2, &rule, "acme", 4, tomorrow, &st);
    assert_int_equal(st.spent, 0);
    gw_quota_read(t2, &rule, "beta", 4, tomorrow, &st);
    assert_int_equal(st.budget, 500);
    gw_persist_free(p);
    gw_quota_table_free(t2);
    gw_key_store_close(f->st);

    /* a process that starts tomorrow does not load yesterday's count at all */
    open_store(f);
    gw_quota_table *t3 = gw_quota_table_new(1024);
    p = gw_persist_open(f->st, t3, tomorrow, &off, err, sizeof err);
    assert_non_null(p);
    gw_switches_unref(off);
    size_t used = 0;
    for (size_t i = 0; i < gw_quota_table_slots(t3); i++) {
        gw_quota_saved q;
        gw_quota_table_read_slot(t3, i, &q);
        used += q.key != 0;
    }
    assert_int_equal(used, 1);                      /* beta's budget only */
    assert_int_equal(gw_quota_table_claims(t3), 1); /* a restored subject counts */
    /* and it pruned the ended row */
    assert_int_equal(count_rows(f->path, "SELECT count(*) FROM quota_spent"), 1);
    gw_persist_free(p);
    gw_quota_table_free(t3);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(migrates_a_version_1_database, setup, teardown),
        cmocka_unit_test_setup_teardown(quota_rows_of_running_periods_only, setup, teardown),
        cmocka_unit_test_setup_teardown(switches_kept_while_off, setup, teardown),
        cmocka_unit_test_setup_teardown(audit_newest_first_and_bounded, setup, teardown),
        cmocka_unit_test_setup_teardown(quota_counts_survive_a_restart, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
