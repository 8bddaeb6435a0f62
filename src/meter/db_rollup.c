/* The rollups of a batch: summed in memory per (bucket, start, tenant, project, key, model)
 * first, then one upsert per sum, so a batch of a few callers' requests costs a few upserts
 * rather than three per request (measured: the upserts were most of the writer's time). The
 * sums point into the batch's records, which outlive the write. A record of the same group and
 * minute as the one before it (a caller's requests come in runs) adds to that record's three
 * sums without a look-up, and the table is never cleared: a slot counts when it carries this
 * batch's number. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "meter/db_impl.h"

typedef struct rollup_sum {
    const gw_request_record *rec; /* its tenant, project, key and model name the group */
    uint32_t batch;               /* the slot is in use in the batch of this number */
    int bucket;                   /* index into buckets */
    int64_t t;
    int64_t requests, errors, prompt, completion, cached, reasoning, estimated;
    double cost;
} rollup_sum;

static const struct {
    const char *name;
    int64_t size;
} buckets[] = {{"minute", 60}, {"hour", 3600}, {"day", 86400}};

static int64_t floor_div(int64_t t, int64_t size) {
    int64_t q = t / size;
    if (t % size < 0) q--;
    return q;
}

#define SAME(a, b, f) (!strncmp((a)->f, (b)->f, sizeof((a)->f)))

static int same_caller(const gw_request_record *a, const gw_request_record *b) {
    return SAME(a, b, model) && SAME(a, b, key_id) && SAME(a, b, tenant) && SAME(a, b, project);
}

static int same_group(const rollup_sum *s, int bucket, int64_t t, const gw_request_record *r) {
    return s->bucket == bucket && s->t == t && same_caller(s->rec, r);
}

static uint64_t hash_field(uint64_t h, const char *f, size_t cap) {
    for (size_t i = 0; i < cap && f[i]; i++) {
        h ^= (unsigned char)f[i];
        h *= 1099511628211ULL;
    }
    return (h ^ 0xff) * 1099511628211ULL;
}

static uint64_t group_hash(int bucket, int64_t t, const gw_request_record *r) {
    uint64_t h = 14695981039346656037ULL ^ (uint64_t)bucket;
    h = (h ^ (uint64_t)t) * 1099511628211ULL;
    h = hash_field(h, r->tenant, sizeof r->tenant);
    h = hash_field(h, r->project, sizeof r->project);
    h = hash_field(h, r->key_id, sizeof r->key_id);
    return hash_field(h, r->model, sizeof r->model);
}

static void bind_field(sqlite3_stmt *s, int i, const char *f, size_t cap) {
    sqlite3_bind_text(s, i, f, (int)strnlen(f, cap), SQLITE_STATIC);
}
#define BIND_FIELD(s, i, f) bind_field((s), (i), (f), sizeof(f))

int gw_meter_db_write_rollups(gw_meter_db *db, const gw_request_record *recs, size_t n) {
    size_t cap = 16;
    while (cap < n * 3 * 2)
        cap <<= 1;
    if (cap > db->sums_cap) {
        free(db->sums);
        free(db->sums_used);
        db->sums = calloc(cap, sizeof *db->sums);
        db->sums_used = malloc(cap / 2 * sizeof *db->sums_used);
        db->sums_cap = db->sums && db->sums_used ? cap : 0;
        if (!db->sums_cap) {
            free(db->sums);
            free(db->sums_used);
            db->sums = NULL;
            db->sums_used = NULL;
            return -1;
        }
        db->sums_batch = 0;
    }
    rollup_sum *table = db->sums;
    uint32_t batch = ++db->sums_batch;
    if (batch == 0) { /* once in four billion batches: the numbers start again */
        memset(table, 0, db->sums_cap * sizeof *table);
        batch = db->sums_batch = 1;
    }
    size_t used = 0;
    rollup_sum *last[3] = {NULL, NULL, NULL}; /* the previous record's sums */
    int64_t last_minute = INT64_MIN;
    for (size_t i = 0; i < n; i++) {
        const gw_request_record *r = &recs[i];
        int64_t sec = floor_div(r->time_ms, 1000);
        int64_t minute = floor_div(sec, 60);
        /* the same minute is the same hour and day */
        int run = i && minute == last_minute && same_caller(r, recs + i - 1);
        last_minute = minute;
        for (int b = 0; b < 3; b++) {
            rollup_sum *s = last[b];
            if (!run) {
                int64_t t = floor_div(sec, buckets[b].size) * buckets[b].size;
                size_t at = group_hash(b, t, r) & (cap - 1);
                while (table[at].batch == batch && !same_group(&table[at], b, t, r))
                    at = (at + 1) & (cap - 1);
                s = last[b] = &table[at];
                if (s->batch != batch) {
                    *s = (rollup_sum){.rec = r, .batch = batch, .bucket = b, .t = t};
                    db->sums_used[used++] = (uint32_t)at;
                }
            }
            s->requests++;
            s->errors += r->status >= 500 || r->status == 0;
            s->prompt += r->usage.prompt_tokens;
            s->completion += r->usage.completion_tokens;
            s->cached += r->usage.cached_tokens;
            s->reasoning += r->usage.reasoning_tokens;
            s->estimated += r->estimated != 0;
            s->cost += r->cost;
        }
    }
    sqlite3_stmt *st = db->upsert_rollup;
    for (size_t k = 0; k < used; k++) {
        const rollup_sum *s = &table[db->sums_used[k]];
        sqlite3_bind_text(st, 1, buckets[s->bucket].name, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, s->t);
        BIND_FIELD(st, 3, s->rec->tenant);
        BIND_FIELD(st, 4, s->rec->project);
        BIND_FIELD(st, 5, s->rec->key_id);
        BIND_FIELD(st, 6, s->rec->model);
        sqlite3_bind_int64(st, 7, s->requests);
        sqlite3_bind_int64(st, 8, s->errors);
        sqlite3_bind_int64(st, 9, s->prompt);
        sqlite3_bind_int64(st, 10, s->completion);
        sqlite3_bind_int64(st, 11, s->cached);
        sqlite3_bind_int64(st, 12, s->reasoning);
        sqlite3_bind_double(st, 13, s->cost);
        sqlite3_bind_int64(st, 14, s->estimated);
        int rc = sqlite3_step(st);
        sqlite3_reset(st);
        if (rc != SQLITE_DONE) return -1;
    }
    return 0;
}
