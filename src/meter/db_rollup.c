/* The rollups of a batch: summed in memory per (bucket, start, tenant, project, key, model)
 * first, then one upsert per sum, so a batch of a few callers' requests costs a few upserts
 * rather than three per request (measured: the upserts were most of the writer's time). The
 * sums point into the batch's records, which outlive the write. */
#include <stdlib.h>
#include <string.h>

#include "meter/db_impl.h"

typedef struct rollup_sum {
    const gw_request_record *rec; /* its tenant, project, key and model name the group */
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

static int same_group(const rollup_sum *s, int bucket, int64_t t, const gw_request_record *r) {
    return s->bucket == bucket && s->t == t && SAME(s->rec, r, model) && SAME(s->rec, r, key_id) &&
           SAME(s->rec, r, tenant) && SAME(s->rec, r, project);
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
        db->sums = malloc(cap * sizeof *db->sums);
        db->sums_cap = db->sums ? cap : 0;
        if (!db->sums) return -1;
    }
    rollup_sum *table = db->sums;
    memset(table, 0, cap * sizeof *table);
    for (size_t i = 0; i < n; i++) {
        const gw_request_record *r = &recs[i];
        int64_t sec = floor_div(r->time_ms, 1000);
        for (int b = 0; b < 3; b++) {
            int64_t t = floor_div(sec, buckets[b].size) * buckets[b].size;
            size_t at = group_hash(b, t, r) & (cap - 1);
            while (table[at].rec && !same_group(&table[at], b, t, r))
                at = (at + 1) & (cap - 1);
            rollup_sum *s = &table[at];
            if (!s->rec) {
                s->rec = r;
                s->bucket = b;
                s->t = t;
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
    for (size_t at = 0; at < cap; at++) {
        const rollup_sum *s = &table[at];
        if (!s->rec) continue;
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
