#include "store/keyset.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "store/keys.h"
#include "store/keys_glob.h"
#include "store/keys_secret.h"
#include "store/keys_spec.h"

struct gw_keyset {
    atomic_int refs;
    size_t count;
    gw_key *keys;
    uint32_t *slots; /* index into keys + 1; 0: empty. Half full at most. */
    size_t mask;
    gw_arena arena; /* every string, glob, limit and quota of the keys */
};

struct gw_keyset_builder {
    gw_arena arena;
    gw_key *keys;
    size_t count, cap;
};

static int fail(char *err, size_t errlen, const char *fmt, ...) {
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

gw_keyset_builder *gw_keyset_builder_new(void) {
    return calloc(1, sizeof(gw_keyset_builder));
}

void gw_keyset_builder_free(gw_keyset_builder *b) {
    if (!b) return;
    gw_arena_free(&b->arena);
    free(b->keys);
    free(b);
}

static const char *arena_str(gw_arena *a, const char *s, uint32_t *len) {
    size_t n = s ? strlen(s) : 0;
    *len = (uint32_t)n;
    return gw_arena_strndup(a, s ? s : "", n);
}

static int nonzero(const void *p, size_t n) {
    const unsigned char *c = p;
    for (size_t i = 0; i < n; i++)
        if (c[i]) return 1;
    return 0;
}

/* Checked fields in, one snapshot record out; strings and tables into the arena. */
static int add(gw_keyset_builder *b, const char *id, const gw_key_spec *spec,
               const uint8_t hash[GW_KEY_HASH_LEN], int is_static, char *err, size_t errlen) {
    if (b->count >= GW_KEY_MAX_KEYS)
        return fail(err, errlen, "keys: more than %d", GW_KEY_MAX_KEYS);
    if (gw_key_spec_check(spec, err, errlen)) return -1;
    if (b->count == b->cap) {
        size_t cap = b->cap ? 2 * b->cap : 64;
        gw_key *keys = realloc(b->keys, cap * sizeof *keys);
        if (!keys) return fail(err, errlen, "keys: out of memory");
        b->keys = keys;
        b->cap = cap;
    }
    gw_key *k = &b->keys[b->count];
    memset(k, 0, sizeof *k);
    memcpy(k->hash, hash, GW_KEY_HASH_LEN);
    k->id = arena_str(&b->arena, id, &k->id_len);
    k->name = arena_str(&b->arena, spec->name, &k->name_len);
    k->tenant = arena_str(&b->arena, spec->tenant, &k->tenant_len);
    k->project = arena_str(&b->arena, spec->project, &k->project_len);
    if (spec->model_count) {
        gw_key_glob *globs = gw_arena_alloc(&b->arena, spec->model_count * sizeof *globs);
        for (size_t i = 0; i < spec->model_count; i++)
            globs[i].s = arena_str(&b->arena, spec->models[i], &globs[i].len);
        k->models = globs;
    }
    k->model_count = (uint32_t)spec->model_count;
    k->disabled = spec->disabled != 0;
    k->is_static = (uint8_t)is_static;
    k->expires = spec->expires;
    if (nonzero(&spec->limits, sizeof spec->limits)) {
        gw_key_limits *l = gw_arena_alloc(&b->arena, sizeof *l);
        *l = spec->limits;
        k->limits = l;
    }
    if (spec->quota.period != GW_KEY_PERIOD_NONE) {
        gw_key_quota *q = gw_arena_alloc(&b->arena, sizeof *q);
        *q = spec->quota;
        k->quota = q;
    }
    b->count++;
    return 0;
}

int gw_keyset_builder_add_record(gw_keyset_builder *b, const gw_key_record *rec, char *err,
                                 size_t errlen) {
    if (rec->revoked) return 0;
    gw_key_spec spec = {
        .name = rec->name,
        .tenant = rec->tenant,
        .project = rec->project,
        .models = (const char *const *)rec->models,
        .model_count = rec->model_count,
        .expires = rec->expires,
        .disabled = rec->disabled,
        .limits = rec->limits,
        .quota = rec->quota,
    };
    return add(b, rec->id, &spec, rec->hash, 0, err, errlen);
}

typedef struct store_walk {
    gw_keyset_builder *b;
    char *err;
    size_t errlen;
    int failed;
} store_walk;

static int add_from_store(const gw_key_record *rec, void *ctx) {
    store_walk *w = ctx;
    if (gw_keyset_builder_add_record(w->b, rec, w->err, w->errlen)) w->failed = 1;
    return w->failed;
}

int gw_keyset_builder_add_store(gw_keyset_builder *b, gw_key_store *st, char *err, size_t errlen) {
    store_walk w = {b, err, errlen, 0};
    if (gw_key_store_list(st, NULL, add_from_store, &w, err, errlen) != GW_KEYS_OK) return -1;
    return w.failed ? -1 : 0;
}

/* Static ids share the "key" dimension of rate limits with stored ids, so they are plain
 * printable names with no room for confusion in logs. */
static int id_ok(const char *id) {
    size_t n = id ? strlen(id) : 0;
    if (n == 0 || n > GW_KEY_ID_MAX) return 0;
    for (size_t i = 0; i < n; i++) {
        char c = id[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.'))
            return 0;
    }
    return 1;
}

int gw_keyset_builder_add_static(gw_keyset_builder *b, const char *id, const gw_key_spec *spec,
                                 const uint8_t hash[GW_KEY_HASH_LEN], char *err, size_t errlen) {
    if (!id_ok(id))
        return fail(err, errlen, "key id: 1 to %d letters, digits, '_', '-' or '.'", GW_KEY_ID_MAX);
    return add(b, id, spec, hash, 1, err, errlen);
}

/* Slot of a secret hash: its first 8 bytes, already uniform (it is SHA-256). */
static size_t hash_slot(const uint8_t *h, size_t mask) {
    uint64_t v;
    memcpy(&v, h, sizeof v);
    return (size_t)v & mask;
}

static uint64_t fnv1a(const char *s, size_t len) {
    uint64_t h = 14695981039346656037u;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211u;
    return h;
}

/* Two keys with one id would share rate-limit counters and confuse every log: refused. The
 * table is built here and thrown away; the snapshot needs no id index. */
static int check_ids(const gw_keyset *set, char *err, size_t errlen) {
    uint32_t *ids = calloc(set->mask + 1, sizeof *ids);
    if (!ids) return fail(err, errlen, "keys: out of memory");
    int rc = 0;
    for (size_t i = 0; i < set->count && !rc; i++) {
        const gw_key *k = &set->keys[i];
        size_t s = (size_t)fnv1a(k->id, k->id_len) & set->mask;
        for (; ids[s]; s = (s + 1) & set->mask) {
            const gw_key *o = &set->keys[ids[s] - 1];
            if (o->id_len == k->id_len && !memcmp(o->id, k->id, k->id_len)) {
                rc = fail(err, errlen, "keys: id %s declared twice", k->id);
                break;
            }
        }
        ids[s] = (uint32_t)i + 1;
    }
    free(ids);
    return rc;
}

gw_keyset *gw_keyset_builder_finish(gw_keyset_builder *b, char *err, size_t errlen) {
    gw_keyset *set = calloc(1, sizeof *set);
    size_t cap = 16;
    while (cap < 2 * b->count)
        cap *= 2;
    uint32_t *slots = set ? calloc(cap, sizeof *slots) : NULL;
    if (!slots) {
        free(set);
        gw_keyset_builder_free(b);
        fail(err, errlen, "keys: out of memory");
        return NULL;
    }
    atomic_init(&set->refs, 1);
    set->count = b->count;
    set->keys = b->keys;
    set->slots = slots;
    set->mask = cap - 1;
    set->arena = b->arena;
    free(b);
    for (size_t i = 0; i < set->count; i++) {
        const gw_key *k = &set->keys[i];
        size_t s = hash_slot(k->hash, set->mask);
        for (; slots[s]; s = (s + 1) & set->mask) {
            const gw_key *o = &set->keys[slots[s] - 1];
            if (!memcmp(o->hash, k->hash, GW_KEY_HASH_LEN)) {
                fail(err, errlen, "keys %s and %s have the same secret", o->id, k->id);
                gw_keyset_unref(set);
                return NULL;
            }
        }
        slots[s] = (uint32_t)i + 1;
    }
    if (check_ids(set, err, errlen)) {
        gw_keyset_unref(set);
        return NULL;
    }
    return set;
}

gw_keyset *gw_keyset_ref(gw_keyset *set) {
    if (set) atomic_fetch_add_explicit(&set->refs, 1, memory_order_relaxed);
    return set;
}

void gw_keyset_unref(gw_keyset *set) {
    if (!set || atomic_fetch_sub_explicit(&set->refs, 1, memory_order_acq_rel) != 1) return;
    gw_arena_free(&set->arena);
    free(set->keys);
    free(set->slots);
    free(set);
}

size_t gw_keyset_count(const gw_keyset *set) {
    return set ? set->count : 0;
}

const gw_key *gw_keyset_lookup_hash(const gw_keyset *set, const uint8_t hash[GW_KEY_HASH_LEN]) {
    if (!set) return NULL;
    /* A plain memcmp: what it could leak through timing is how much of a stored hash a guess's
     * hash shares, which brings no one closer to a secret. */
    for (size_t s = hash_slot(hash, set->mask); set->slots[s]; s = (s + 1) & set->mask) {
        const gw_key *k = &set->keys[set->slots[s] - 1];
        if (!memcmp(k->hash, hash, GW_KEY_HASH_LEN)) return k;
    }
    return NULL;
}

const gw_key *gw_keyset_lookup(const gw_keyset *set, const char *secret, size_t len) {
    if (!set || !secret || len == 0 || len > GW_KEY_SECRET_MAX) return NULL;
    uint8_t hash[GW_KEY_HASH_LEN];
    gw_key_secret_hash(secret, len, hash);
    return gw_keyset_lookup_hash(set, hash);
}

gw_key_verdict gw_keyset_check(const gw_keyset *set, const char *secret, size_t len, int64_t now,
                               const gw_key **out) {
    const gw_key *k = gw_keyset_lookup(set, secret, len);
    if (out) *out = k;
    if (!k) return GW_KEY_UNKNOWN;
    if (k->disabled) return GW_KEY_DISABLED;
    if (k->expires && now >= k->expires) return GW_KEY_EXPIRED;
    return GW_KEY_OK;
}

int gw_key_allows_model(const gw_key *key, const char *model, size_t len) {
    for (uint32_t i = 0; i < key->model_count; i++)
        if (gw_glob_match(key->models[i].s, key->models[i].len, model, len)) return 1;
    return 0;
}

void gw_keyset_inbox_post(gw_keyset_inbox *in, gw_keyset *set) {
    gw_keyset *old =
        atomic_exchange_explicit(&in->pending, gw_keyset_ref(set), memory_order_acq_rel);
    gw_keyset_unref(old);
}

gw_keyset *gw_keyset_inbox_take(gw_keyset_inbox *in, gw_keyset *current) {
    if (!atomic_load_explicit(&in->pending, memory_order_relaxed)) return current;
    gw_keyset *next = atomic_exchange_explicit(&in->pending, NULL, memory_order_acq_rel);
    if (!next) return current;
    gw_keyset_unref(current);
    return next;
}

void gw_keyset_inbox_clear(gw_keyset_inbox *in) {
    gw_keyset_unref(atomic_exchange_explicit(&in->pending, NULL, memory_order_acq_rel));
}
