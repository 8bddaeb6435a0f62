/* The key store and the snapshot the workers read: keys created, listed, changed, rotated and
 * revoked in a real SQLite file in a temporary directory; the secret shown once and never
 * written (the database files are searched for it); lookups in snapshots rebuilt after each
 * change; disabled, expired and revoked keys refused; model globs; keys from the config file;
 * and 100,000 keys looked up in a generous time bound. Times are passed in: no clock, no sleep. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <json-c/json.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <sched.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "store/keys.h"
#include "store/keys_glob.h"
#include "store/keys_secret.h"
#include "store/keys_sha256.h"
#include "store/keys_spec.h"
#include "store/keyset.h"
#include "store/schema.h"

enum { T0 = 1717200000 }; /* 2024-06-01, the tests' "now" */

typedef struct fixture {
    char dir[64];
    char path[96];
    gw_key_store *st;
} fixture;

static int setup(void **state) {
    fixture *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/aigw-keys-XXXXXX");
    if (!mkdtemp(f->dir)) return -1;
    snprintf(f->path, sizeof f->path, "%s/keys.db", f->dir);
    char err[256] = "";
    f->st = gw_key_store_open(f->path, err, sizeof err);
    if (!f->st) {
        fprintf(stderr, "open: %s\n", err);
        return -1;
    }
    *state = f;
    return 0;
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

static const char *const chat_models[] = {"chat", "embed*"};

static gw_key_spec spec_of(const char *name, const char *tenant, const char *project) {
    gw_key_spec s = {.name = name, .tenant = tenant, .project = project};
    s.models = chat_models;
    s.model_count = 2;
    return s;
}

static void create_ok(gw_key_store *st, const gw_key_spec *spec, gw_key_record *rec,
                      char secret[GW_KEY_SECRET_LEN + 1]) {
    char err[256] = "";
    gw_keys_status rc = gw_key_store_create(st, spec, T0, rec, secret, err, sizeof err);
    if (rc != GW_KEYS_OK) fprintf(stderr, "create: %s\n", err);
    assert_int_equal(rc, GW_KEYS_OK);
}

static gw_keyset *snapshot(gw_key_store *st) {
    char err[256] = "";
    gw_keyset_builder *b = gw_keyset_builder_new();
    assert_int_equal(gw_keyset_builder_add_store(b, st, err, sizeof err), 0);
    gw_keyset *set = gw_keyset_builder_finish(b, err, sizeof err);
    assert_non_null(set);
    return set;
}

/* ---- SHA-256 and secrets ---- */

/* Both ways of computing it (SHA-NI and the portable rounds) against OpenSSL's. */
static void sha256_matches_openssl(void **state) {
    (void)state;
    uint8_t a[32];
    gw_sha256("abc", 3, a);
    char hex[65];
    gw_key_hash_hex(a, hex);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    unsigned char buf[300];
    RAND_bytes(buf, sizeof buf);
    /* Every length across the one-block / two-block padding edges (55, 56, 64, 119, 120). */
    for (size_t len = 0; len <= sizeof buf; len++) {
        uint8_t want[32];
        unsigned int n = 0;
        assert_int_equal(EVP_Digest(buf, len, want, &n, EVP_sha256(), NULL), 1);
        gw_sha256(buf, len, a); /* the CPU's SHA extensions, where it has them */
        assert_memory_equal(a, want, 32);
        gw_sha256_portable(buf, len, a);
        assert_memory_equal(a, want, 32);
    }
    uint8_t back[32];
    gw_key_hash_hex(a, hex);
    assert_int_equal(gw_key_hash_parse_hex(hex, 64, back), 0);
    assert_memory_equal(back, a, 32);
    assert_int_equal(gw_key_hash_parse_hex(hex, 63, back), -1);
    hex[5] = 'g';
    assert_int_equal(gw_key_hash_parse_hex(hex, 64, back), -1);
}

static void secrets_are_base62_and_distinct(void **state) {
    (void)state;
    char a[GW_KEY_SECRET_LEN + 1], b[GW_KEY_SECRET_LEN + 1];
    gw_key_secret_new(a);
    gw_key_secret_new(b);
    assert_int_equal(strlen(a), 48);
    assert_memory_equal(a, "sk-aigw-", 8);
    for (size_t i = 8; i < 48; i++)
        assert_true((a[i] >= '0' && a[i] <= '9') || (a[i] >= 'a' && a[i] <= 'z') ||
                    (a[i] >= 'A' && a[i] <= 'Z'));
    assert_string_not_equal(a, b);
    char display[GW_KEY_DISPLAY_LEN + 1];
    gw_key_secret_display(a, strlen(a), display);
    assert_int_equal(strlen(display), 12);
    assert_memory_equal(display, a, 12);
    char id[GW_KEY_ID_MAX + 1];
    gw_key_id_new(id);
    assert_int_equal(strlen(id), 20);
    assert_memory_equal(id, "key_", 4);
    assert_int_equal(strspn(id + 4, "0123456789abcdef"), 16);
}

/* ---- the store ---- */

static void create_get_list(void **state) {
    fixture *f = *state;
    char secret[GW_KEY_SECRET_LEN + 1];
    gw_key_record r;
    gw_key_spec s = spec_of("team-a chat", "acme", "search");
    s.expires = T0 + 86400;
    s.limits.requests[GW_KEY_WIN_MINUTE] = 60;
    s.limits.tokens[GW_KEY_WIN_DAY] = 2000000;
    s.quota.tokens = 1000000;
    s.quota.period = GW_KEY_PERIOD_MONTH;
    snprintf(s.quota.tz, sizeof s.quota.tz, "Asia/Shanghai");
    create_ok(f->st, &s, &r, secret);
    assert_memory_equal(r.id, "key_", 4);
    assert_string_equal(r.name, "team-a chat");
    assert_string_equal(r.tenant, "acme");
    assert_string_equal(r.project, "search");
    assert_int_equal(r.model_count, 2);
    assert_string_equal(r.models[1], "embed*");
    assert_int_equal(r.created, T0);
    assert_int_equal(r.expires, T0 + 86400);
    assert_int_equal(r.limits.requests[GW_KEY_WIN_MINUTE], 60);
    assert_int_equal(r.limits.tokens[GW_KEY_WIN_DAY], 2000000);
    assert_int_equal(r.quota.period, GW_KEY_PERIOD_MONTH);
    assert_string_equal(r.quota.tz, "Asia/Shanghai");
    assert_memory_equal(r.display, secret, GW_KEY_DISPLAY_LEN);
    uint8_t h[32];
    gw_key_secret_hash(secret, strlen(secret), h);
    assert_memory_equal(r.hash, h, 32);

    /* The admin API's view: no secret, a display prefix. */
    json_object *j = gw_key_record_json(&r);
    const char *text =
        json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
    assert_null(strstr(text, secret));
    assert_non_null(strstr(text, "\"key_prefix\":\"sk-aigw-"));
    assert_non_null(strstr(text, "\"models\":[\"chat\",\"embed*\"]"));
    assert_non_null(strstr(text, "\"limits\":{\"requests\":{\"minute\":60},\"tokens\":{\"day\":"
                                 "2000000}}"));
    assert_non_null(strstr(text, "\"quota\":{\"tokens\":1000000,\"period\":\"month\",\"tz\":"
                                 "\"Asia/Shanghai\"}"));
    json_object_put(j);

    gw_key_record got;
    assert_int_equal(gw_key_store_get(f->st, r.id, &got), GW_KEYS_OK);
    assert_string_equal(got.name, r.name);
    assert_memory_equal(got.hash, r.hash, 32);
    gw_key_record_clear(&got);
    assert_int_equal(gw_key_store_get(f->st, "key_0000000000000000", &got), GW_KEYS_NOT_FOUND);

    gw_key_record r2, r3;
    gw_key_spec s2 = spec_of("b", "acme", "ads"), s3 = spec_of("c", "globex", NULL);
    create_ok(f->st, &s2, &r2, secret);
    create_ok(f->st, &s3, &r3, secret);
    assert_string_equal(r3.project, "");
    assert_int_equal(gw_key_store_live_count(f->st), 3);
    gw_key_record_clear(&r);
    gw_key_record_clear(&r2);
    gw_key_record_clear(&r3);
}

typedef struct collected {
    char ids[16][GW_KEY_ID_MAX + 1];
    size_t n;
} collected;

static int collect(const gw_key_record *rec, void *ctx) {
    collected *c = ctx;
    if (c->n < 16) snprintf(c->ids[c->n++], sizeof c->ids[0], "%s", rec->id);
    return 0;
}

static void list_filters_and_pages(void **state) {
    fixture *f = *state;
    char secret[GW_KEY_SECRET_LEN + 1];
    const char *tenants[] = {"acme", "acme", "acme", "globex", "globex"};
    const char *projects[] = {"x", "y", "x", "x", "z"};
    for (int i = 0; i < 5; i++) {
        gw_key_spec s = spec_of("k", tenants[i], projects[i]);
        create_ok(f->st, &s, NULL, secret);
    }
    collected all = {0};
    assert_int_equal(gw_key_store_list(f->st, NULL, collect, &all, NULL, 0), GW_KEYS_OK);
    assert_int_equal(all.n, 5);
    for (size_t i = 1; i < all.n; i++)
        assert_true(strcmp(all.ids[i - 1], all.ids[i]) < 0); /* id order */

    collected acme = {0}, acme_x = {0};
    gw_key_list_opts o = {.tenant = "acme"};
    gw_key_store_list(f->st, &o, collect, &acme, NULL, 0);
    assert_int_equal(acme.n, 3);
    o.project = "x";
    gw_key_store_list(f->st, &o, collect, &acme_x, NULL, 0);
    assert_int_equal(acme_x.n, 2);

    /* Pages of two: the cursor is the last id seen. */
    collected pages = {0};
    gw_key_list_opts p = {.limit = 2};
    for (int page = 0; page < 3; page++) {
        size_t before = pages.n;
        gw_key_store_list(f->st, &p, collect, &pages, NULL, 0);
        assert_int_equal(pages.n - before, page < 2 ? 2 : 1);
        p.after_id = pages.ids[pages.n - 1];
    }
    assert_memory_equal(pages.ids, all.ids, sizeof all.ids[0] * 5);
}

/* The file must not hold the secret in any form a grep finds: not in the main file, not in the
 * WAL, not after a checkpoint. The hash must be there (else the test reads the wrong file). */
static int file_contains(const char *path, const void *needle, size_t n) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return 0;
    fseek(fp, 0, SEEK_END);
    long size = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    char *buf = malloc(size > 0 ? (size_t)size : 1);
    size_t got = fread(buf, 1, (size_t)size, fp);
    fclose(fp);
    int found = memmem(buf, got, needle, n) != NULL;
    free(buf);
    return found;
}

static void only_the_hash_is_stored(void **state) {
    fixture *f = *state;
    char secret[GW_KEY_SECRET_LEN + 1], rotated[GW_KEY_SECRET_LEN + 1];
    gw_key_record r;
    gw_key_spec s = spec_of("k", "t", "p");
    create_ok(f->st, &s, &r, secret);
    assert_int_equal(gw_key_store_rotate(f->st, r.id, T0 + 1, NULL, rotated, NULL, 0), GW_KEYS_OK);
    uint8_t h[32];
    gw_key_secret_hash(rotated, strlen(rotated), h);
    char wal[128];
    snprintf(wal, sizeof wal, "%s-wal", f->path);
    for (int pass = 0; pass < 2; pass++) {
        /* Positive controls: what is stored is found, so a miss below means something. */
        int hash_seen = file_contains(f->path, h, 32) || file_contains(wal, h, 32);
        assert_true(hash_seen);
        int display_seen = file_contains(f->path, rotated, GW_KEY_DISPLAY_LEN) ||
                           file_contains(wal, rotated, GW_KEY_DISPLAY_LEN);
        assert_true(display_seen);
        const char *secrets[] = {secret, rotated};
        for (int i = 0; i < 2; i++) {
            /* The whole secret, and its random part alone. */
            assert_false(file_contains(f->path, secrets[i], GW_KEY_SECRET_LEN));
            assert_false(file_contains(wal, secrets[i], GW_KEY_SECRET_LEN));
            assert_false(file_contains(f->path, secrets[i] + 8, GW_KEY_SECRET_RANDOM_LEN));
            assert_false(file_contains(wal, secrets[i] + 8, GW_KEY_SECRET_RANDOM_LEN));
        }
        /* Second pass: closed (checkpointed into the main file) and reopened. */
        gw_key_store_close(f->st);
        f->st = gw_key_store_open(f->path, NULL, 0);
        assert_non_null(f->st);
    }
    gw_key_record_clear(&r);
}

static void update_each_field(void **state) {
    fixture *f = *state;
    char secret[GW_KEY_SECRET_LEN + 1], err[256];
    gw_key_record r, u;
    gw_key_spec s = spec_of("k", "t", "p");
    create_ok(f->st, &s, &r, secret);

    gw_key_update up = {.set = GW_KEY_SET_DISABLED, .disabled = 1};
    assert_int_equal(gw_key_store_update(f->st, r.id, &up, T0 + 5, &u, err, sizeof err),
                     GW_KEYS_OK);
    assert_true(u.disabled);
    assert_int_equal(u.updated, T0 + 5);
    assert_string_equal(u.name, "k"); /* untouched */
    assert_int_equal(u.model_count, 2);
    gw_key_record_clear(&u);

    const char *models[] = {"gpt-4o*"};
    up = (gw_key_update){.set = GW_KEY_SET_DISABLED | GW_KEY_SET_MODELS | GW_KEY_SET_NAME |
                                GW_KEY_SET_EXPIRES | GW_KEY_SET_LIMITS | GW_KEY_SET_QUOTA,
                         .disabled = 0,
                         .models = models,
                         .model_count = 1,
                         .name = "renamed",
                         .expires = T0 + 100};
    up.limits.tokens[GW_KEY_WIN_MINUTE] = 1000;
    up.quota = (gw_key_quota){.tokens = 50, .period = GW_KEY_PERIOD_WEEK};
    assert_int_equal(gw_key_store_update(f->st, r.id, &up, T0 + 6, &u, err, sizeof err),
                     GW_KEYS_OK);
    assert_false(u.disabled);
    assert_string_equal(u.name, "renamed");
    assert_int_equal(u.model_count, 1);
    assert_string_equal(u.models[0], "gpt-4o*");
    assert_int_equal(u.expires, T0 + 100);
    assert_int_equal(u.limits.tokens[GW_KEY_WIN_MINUTE], 1000);
    assert_int_equal(u.quota.period, GW_KEY_PERIOD_WEEK);
    assert_int_equal(u.quota.tokens, 50);
    gw_key_record_clear(&u);

    /* Removing: no expiry, no quota, no model. */
    up = (gw_key_update){.set = GW_KEY_SET_EXPIRES | GW_KEY_SET_QUOTA | GW_KEY_SET_MODELS};
    assert_int_equal(gw_key_store_update(f->st, r.id, &up, T0 + 7, &u, err, sizeof err),
                     GW_KEYS_OK);
    assert_int_equal(u.expires, 0);
    assert_int_equal(u.quota.period, GW_KEY_PERIOD_NONE);
    assert_int_equal(u.model_count, 0);
    gw_key_record_clear(&u);

    /* Out of bounds: refused, nothing changed. */
    char long_name[GW_KEY_NAME_MAX + 2];
    memset(long_name, 'n', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';
    up = (gw_key_update){.set = GW_KEY_SET_NAME, .name = long_name};
    assert_int_equal(gw_key_store_update(f->st, r.id, &up, T0 + 8, NULL, err, sizeof err),
                     GW_KEYS_INVALID);
    assert_non_null(strstr(err, "name"));
    up =
        (gw_key_update){.set = GW_KEY_SET_QUOTA,
                        .quota = {.tokens = 1, .period = GW_KEY_PERIOD_DAY, .tz = "../etc/passwd"}};
    assert_int_equal(gw_key_store_update(f->st, r.id, &up, T0 + 8, NULL, err, sizeof err),
                     GW_KEYS_INVALID);
    assert_non_null(strstr(err, "quota.tz"));
    up = (gw_key_update){.set = GW_KEY_SET_NAME, .name = "x"};
    assert_int_equal(gw_key_store_update(f->st, "key_nope", &up, T0, NULL, err, sizeof err),
                     GW_KEYS_NOT_FOUND);
    assert_int_equal(gw_key_store_get(f->st, r.id, &u), GW_KEYS_OK);
    assert_string_equal(u.name, "renamed");
    assert_int_equal(u.updated, T0 + 7);
    gw_key_record_clear(&u);
    gw_key_record_clear(&r);
}

static void bounds_are_enforced(void **state) {
    fixture *f = *state;
    char secret[GW_KEY_SECRET_LEN + 1], err[256];
    char glob_names[GW_KEY_MODELS_MAX + 1][8];
    const char *globs[GW_KEY_MODELS_MAX + 1];
    for (int i = 0; i <= GW_KEY_MODELS_MAX; i++) {
        snprintf(glob_names[i], sizeof glob_names[i], "m%d*", i);
        globs[i] = glob_names[i];
    }
    gw_key_spec s = spec_of("k", "t", "p");
    s.models = globs;
    s.model_count = GW_KEY_MODELS_MAX;
    assert_int_equal(gw_key_store_create(f->st, &s, T0, NULL, secret, err, sizeof err), GW_KEYS_OK);
    s.model_count = GW_KEY_MODELS_MAX + 1;
    assert_int_equal(gw_key_store_create(f->st, &s, T0, NULL, secret, err, sizeof err),
                     GW_KEYS_INVALID);
    assert_non_null(strstr(err, "models"));

    char name[GW_KEY_NAME_MAX + 1];
    memset(name, 'a', GW_KEY_NAME_MAX);
    name[GW_KEY_NAME_MAX] = '\0';
    s = spec_of(name, name, name); /* exactly 128 bytes each: fine */
    assert_int_equal(gw_key_store_create(f->st, &s, T0, NULL, secret, err, sizeof err), GW_KEYS_OK);
    s = spec_of("", "t", "p");
    assert_int_equal(gw_key_store_create(f->st, &s, T0, NULL, secret, err, sizeof err),
                     GW_KEYS_INVALID);
    s = spec_of("tab\there", "t", "p");
    assert_int_equal(gw_key_store_create(f->st, &s, T0, NULL, secret, err, sizeof err),
                     GW_KEYS_INVALID);

    /* The JSON forms the admin API will parse. */
    gw_key_limits l;
    json_object *v = json_tokener_parse("{\"requests\":{\"minute\":0}}");
    assert_int_equal(gw_key_limits_parse(v, &l, err, sizeof err), -1);
    json_object_put(v);
    v = json_tokener_parse("{\"requests\":{\"fortnight\":1}}");
    assert_int_equal(gw_key_limits_parse(v, &l, err, sizeof err), -1);
    assert_non_null(strstr(err, "fortnight"));
    json_object_put(v);
    v = json_tokener_parse("{\"tokens\":{\"second\":9007199254740993}}");
    assert_int_equal(gw_key_limits_parse(v, &l, err, sizeof err), -1);
    json_object_put(v);
    v = json_tokener_parse("{\"requests\":{\"second\":5},\"tokens\":{\"hour\":7}}");
    assert_int_equal(gw_key_limits_parse(v, &l, err, sizeof err), 0);
    assert_int_equal(l.requests[GW_KEY_WIN_SECOND], 5);
    assert_int_equal(l.tokens[GW_KEY_WIN_HOUR], 7);
    json_object_put(v);
    gw_key_quota q;
    v = json_tokener_parse("{\"tokens\":10,\"period\":\"week\",\"tz\":\"America/New_York\"}");
    assert_int_equal(gw_key_quota_parse(v, &q, err, sizeof err), 0);
    assert_int_equal(q.period, GW_KEY_PERIOD_WEEK);
    assert_string_equal(q.tz, "America/New_York");
    json_object_put(v);
    v = json_tokener_parse("{\"tokens\":10}");
    assert_int_equal(gw_key_quota_parse(v, &q, err, sizeof err), -1);
    json_object_put(v);
    char *models[GW_KEY_MODELS_MAX];
    size_t n;
    v = json_tokener_parse("[\"chat\", 3]");
    assert_int_equal(gw_key_models_parse(v, models, &n, err, sizeof err), -1);
    assert_int_equal(n, 0);
    json_object_put(v);
}

static void rotate_refuses_the_old_secret(void **state) {
    fixture *f = *state;
    char old[GW_KEY_SECRET_LEN + 1], fresh[GW_KEY_SECRET_LEN + 1], err[256];
    gw_key_record r, u;
    gw_key_spec s = spec_of("k", "t", "p");
    create_ok(f->st, &s, &r, old);
    gw_keyset *before = snapshot(f->st);
    assert_non_null(gw_keyset_lookup(before, old, strlen(old)));

    assert_int_equal(gw_key_store_rotate(f->st, r.id, T0 + 10, &u, fresh, err, sizeof err),
                     GW_KEYS_OK);
    assert_string_not_equal(old, fresh);
    assert_memory_equal(u.display, fresh, GW_KEY_DISPLAY_LEN);
    assert_string_equal(u.id, r.id); /* same key, same limits, same counters */
    gw_keyset *after = snapshot(f->st);
    assert_null(gw_keyset_lookup(after, old, strlen(old)));
    const gw_key *k = gw_keyset_lookup(after, fresh, strlen(fresh));
    assert_non_null(k);
    assert_string_equal(k->id, r.id);
    /* The old snapshot is untouched: a request in flight keeps what it started with. */
    assert_non_null(gw_keyset_lookup(before, old, strlen(old)));
    gw_keyset_unref(before);
    gw_keyset_unref(after);
    gw_key_record_clear(&r);
    gw_key_record_clear(&u);
}

static void revoke_keeps_the_row_and_never_matches(void **state) {
    fixture *f = *state;
    char secret[GW_KEY_SECRET_LEN + 1], other[GW_KEY_SECRET_LEN + 1], err[256];
    gw_key_record r, u;
    gw_key_spec s = spec_of("k", "t", "p");
    create_ok(f->st, &s, &r, secret);
    create_ok(f->st, &s, NULL, other);
    assert_int_equal(gw_key_store_live_count(f->st), 2);
    assert_int_equal(gw_key_store_revoke(f->st, r.id, T0 + 50, &u, err, sizeof err), GW_KEYS_OK);
    assert_int_equal(u.revoked, T0 + 50);
    gw_key_record_clear(&u);
    assert_int_equal(gw_key_store_live_count(f->st), 1);
    /* Twice: a success that keeps the first time. */
    assert_int_equal(gw_key_store_revoke(f->st, r.id, T0 + 60, &u, err, sizeof err), GW_KEYS_OK);
    assert_int_equal(u.revoked, T0 + 50);
    gw_key_record_clear(&u);
    assert_int_equal(gw_key_store_live_count(f->st), 1);

    gw_key_update up = {.set = GW_KEY_SET_DISABLED, .disabled = 0};
    assert_int_equal(gw_key_store_update(f->st, r.id, &up, T0 + 61, NULL, err, sizeof err),
                     GW_KEYS_REVOKED);
    char again[GW_KEY_SECRET_LEN + 1];
    assert_int_equal(gw_key_store_rotate(f->st, r.id, T0 + 61, NULL, again, err, sizeof err),
                     GW_KEYS_REVOKED);

    collected live = {0}, every = {0};
    gw_key_store_list(f->st, NULL, collect, &live, NULL, 0);
    assert_int_equal(live.n, 1);
    gw_key_list_opts o = {.include_revoked = 1};
    gw_key_store_list(f->st, &o, collect, &every, NULL, 0);
    assert_int_equal(every.n, 2);

    gw_keyset *set = snapshot(f->st);
    assert_int_equal(gw_keyset_count(set), 1);
    const gw_key *k = NULL;
    assert_int_equal(gw_keyset_check(set, secret, strlen(secret), T0 + 70, &k), GW_KEY_UNKNOWN);
    assert_null(k);
    assert_int_equal(gw_keyset_check(set, other, strlen(other), T0 + 70, &k), GW_KEY_OK);
    gw_keyset_unref(set);
    gw_key_record_clear(&r);
}

static void snapshot_verdicts(void **state) {
    fixture *f = *state;
    char ok[GW_KEY_SECRET_LEN + 1], off[GW_KEY_SECRET_LEN + 1], old[GW_KEY_SECRET_LEN + 1];
    gw_key_spec s = spec_of("ok", "t", "p");
    create_ok(f->st, &s, NULL, ok);
    s = spec_of("off", "t", "p");
    s.disabled = 1;
    create_ok(f->st, &s, NULL, off);
    s = spec_of("old", "t", "p");
    s.expires = T0 + 3600;
    gw_key_record r;
    create_ok(f->st, &s, &r, old);

    gw_keyset *set = snapshot(f->st);
    const gw_key *k;
    assert_int_equal(gw_keyset_check(set, ok, strlen(ok), T0, &k), GW_KEY_OK);
    assert_string_equal(k->name, "ok");
    assert_string_equal(k->tenant, "t");
    assert_int_equal(k->tenant_len, 1);
    assert_null(k->limits);
    assert_null(k->quota);
    assert_int_equal(gw_keyset_check(set, off, strlen(off), T0, &k), GW_KEY_DISABLED);
    assert_string_equal(k->name, "off");
    /* Expiry at the second: valid before it, refused from it on. */
    assert_int_equal(gw_keyset_check(set, old, strlen(old), T0 + 3599, &k), GW_KEY_OK);
    assert_int_equal(gw_keyset_check(set, old, strlen(old), T0 + 3600, &k), GW_KEY_EXPIRED);
    /* Not a key: wrong by one character, empty, a prefix, over-long. */
    char wrong[GW_KEY_SECRET_LEN + 1];
    memcpy(wrong, ok, sizeof wrong);
    wrong[20] = wrong[20] == 'a' ? 'b' : 'a';
    assert_int_equal(gw_keyset_check(set, wrong, strlen(wrong), T0, &k), GW_KEY_UNKNOWN);
    assert_int_equal(gw_keyset_check(set, "", 0, T0, &k), GW_KEY_UNKNOWN);
    assert_int_equal(gw_keyset_check(set, ok, strlen(ok) - 1, T0, &k), GW_KEY_UNKNOWN);
    char huge[GW_KEY_SECRET_MAX + 2];
    memset(huge, 'x', sizeof huge);
    assert_null(gw_keyset_lookup(set, huge, sizeof huge));
    assert_null(gw_keyset_lookup(NULL, ok, strlen(ok)));

    /* Re-enable the disabled one through the store: the next snapshot lets it in. */
    collected c = {0};
    gw_key_list_opts o = {0};
    gw_key_store_list(f->st, &o, collect, &c, NULL, 0);
    for (size_t i = 0; i < c.n; i++) {
        gw_key_update up = {.set = GW_KEY_SET_DISABLED, .disabled = 0};
        assert_int_equal(gw_key_store_update(f->st, c.ids[i], &up, T0, NULL, NULL, 0), GW_KEYS_OK);
    }
    gw_keyset *next = snapshot(f->st);
    assert_int_equal(gw_keyset_check(next, off, strlen(off), T0, &k), GW_KEY_OK);
    assert_int_equal(gw_keyset_check(set, off, strlen(off), T0, &k), GW_KEY_DISABLED);
    gw_keyset_unref(next);
    gw_keyset_unref(set);
    gw_key_record_clear(&r);
}

static void limits_and_quota_reach_the_snapshot(void **state) {
    fixture *f = *state;
    char secret[GW_KEY_SECRET_LEN + 1];
    gw_key_spec s = spec_of("k", "t", "p");
    s.limits.requests[GW_KEY_WIN_SECOND] = 3;
    s.limits.tokens[GW_KEY_WIN_HOUR] = 9000;
    s.quota = (gw_key_quota){.tokens = 77, .period = GW_KEY_PERIOD_DAY, .tz = "Asia/Shanghai"};
    create_ok(f->st, &s, NULL, secret);
    gw_keyset *set = snapshot(f->st);
    const gw_key *k = gw_keyset_lookup(set, secret, strlen(secret));
    assert_non_null(k);
    assert_non_null(k->limits);
    assert_int_equal(k->limits->requests[GW_KEY_WIN_SECOND], 3);
    assert_int_equal(k->limits->tokens[GW_KEY_WIN_HOUR], 9000);
    assert_int_equal(k->limits->tokens[GW_KEY_WIN_DAY], 0);
    assert_non_null(k->quota);
    assert_int_equal(k->quota->tokens, 77);
    assert_string_equal(k->quota->tz, "Asia/Shanghai");
    gw_keyset_unref(set);
}

static void reopen_and_schema_version(void **state) {
    fixture *f = *state;
    char secret[GW_KEY_SECRET_LEN + 1], err[256];
    gw_key_record r;
    gw_key_spec s = spec_of("persist", "t", "p");
    create_ok(f->st, &s, &r, secret);
    gw_key_store_close(f->st);
    f->st = gw_key_store_open(f->path, err, sizeof err);
    assert_non_null(f->st);
    gw_key_record got;
    assert_int_equal(gw_key_store_get(f->st, r.id, &got), GW_KEYS_OK);
    assert_string_equal(got.name, "persist");
    gw_key_record_clear(&got);

    sqlite3 *db;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    sqlite3_stmt *st;
    sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(st, 0), gw_store_schema_version());
    sqlite3_finalize(st);
    sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "wal");
    sqlite3_finalize(st);

    /* Another connection's write is noticed (the control thread rebuilds on it). */
    assert_int_equal(gw_key_store_changed(f->st), 0);
    assert_int_equal(sqlite3_exec(db, "UPDATE keys SET name = 'cli'", NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(gw_key_store_changed(f->st), 1);
    assert_int_equal(gw_key_store_changed(f->st), 0);
    assert_int_equal(sqlite3_exec(db, "UPDATE keys SET revoked = 1", NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(gw_key_store_live_count(f->st), 0); /* recounted after the other write */

    /* A file from a newer aigw is refused, not downgraded. */
    assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    gw_key_store *newer = gw_key_store_open(f->path, err, sizeof err);
    assert_null(newer);
    assert_non_null(strstr(err, "newer"));
    gw_key_record_clear(&r);
}

static void corrupt_json_is_an_error(void **state) {
    fixture *f = *state;
    char secret[GW_KEY_SECRET_LEN + 1], err[256] = "";
    gw_key_spec s = spec_of("k", "t", "p");
    create_ok(f->st, &s, NULL, secret);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "UPDATE keys SET models = '[\"a\",'", NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    gw_keyset_builder *b = gw_keyset_builder_new();
    assert_int_equal(gw_keyset_builder_add_store(b, f->st, err, sizeof err), -1);
    assert_non_null(strstr(err, "bad models"));
    gw_keyset_builder_free(b);
}

/* ---- globs ---- */

static void globs_match_whole_names(void **state) {
    (void)state;
    struct {
        const char *glob, *name;
        int want;
    } cases[] = {
        {"chat", "chat", 1},
        {"chat", "chat2", 0},
        {"chat", "cha", 0},
        {"*", "", 1},
        {"*", "anything/at:all", 1},
        {"embed*", "embed", 1},
        {"embed*", "embedding-3-large", 1},
        {"embed*", "text-embed", 0},
        {"*-mini", "gpt-4o-mini", 1},
        {"*-mini", "gpt-4o-mini-2", 0},
        {"gpt-?", "gpt-4", 1},
        {"gpt-?", "gpt-40", 0},
        {"gpt-?", "gpt-", 0},
        {"a*b*c", "abc", 1},
        {"a*b*c", "axxbyyc", 1},
        {"a*b*c", "axxbyycd", 0},
        {"a*b*c", "acb", 0},
        {"*a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 0}, /* no blow-up */
        {"qwen-?", "qwen-\xe6\x96\x87", 1}, /* '?' is one character, here 3 bytes */
        {"qwen-??", "qwen-\xe6\x96\x87", 0},
        {"*\xe6\x96\x87", "qwen-\xe6\x96\x87", 1},
        {"Chat", "chat", 0}, /* case-sensitive, as model names are */
        {"**", "x", 1},
        {"?*", "", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int got = gw_glob_match(cases[i].glob, strlen(cases[i].glob), cases[i].name,
                                strlen(cases[i].name));
        if (got != cases[i].want)
            fail_msg("glob %s on %s: %d, want %d", cases[i].glob, cases[i].name, got,
                     cases[i].want);
    }
}

static void key_calls_only_its_models(void **state) {
    (void)state;
    char err[256];
    const char *models[] = {"chat", "embed*"};
    gw_key_spec s = {.name = "k", .models = models, .model_count = 2};
    uint8_t h1[32], h2[32];
    gw_key_secret_hash("s1", 2, h1);
    gw_key_secret_hash("s2", 2, h2);
    gw_keyset_builder *b = gw_keyset_builder_new();
    assert_int_equal(gw_keyset_builder_add_static(b, "cfg-one", &s, h1, err, sizeof err), 0);
    gw_key_spec none = {.name = "none"};
    assert_int_equal(gw_keyset_builder_add_static(b, "cfg-none", &none, h2, err, sizeof err), 0);
    gw_keyset *set = gw_keyset_builder_finish(b, err, sizeof err);
    assert_non_null(set);
    const gw_key *k = gw_keyset_lookup(set, "s1", 2);
    assert_true(gw_key_allows_model(k, "chat", 4));
    assert_true(gw_key_allows_model(k, "embed-small", 11));
    assert_false(gw_key_allows_model(k, "chat-large", 10));
    assert_false(gw_key_allows_model(k, "gpt-4o", 6));
    /* The length bounds the name: a longer buffer that starts with "chat" is not "chat". */
    assert_true(gw_key_allows_model(k, "chatty", 4));
    assert_false(gw_key_allows_model(k, "chatty", 6));
    const gw_key *n = gw_keyset_lookup(set, "s2", 2);
    assert_false(gw_key_allows_model(n, "chat", 4)); /* no globs: no model */
    gw_keyset_unref(set);
}

/* ---- static keys ---- */

static void static_keys_join_the_snapshot(void **state) {
    fixture *f = *state;
    char secret[GW_KEY_SECRET_LEN + 1], err[256];
    gw_key_record r;
    gw_key_spec s = spec_of("stored", "t", "p");
    create_ok(f->st, &s, &r, secret);

    gw_key_spec cfg = spec_of("from config", "ops", "batch");
    cfg.limits.requests[GW_KEY_WIN_MINUTE] = 10;
    const char *cfg_secret = "sk-legacy-0123456789"; /* any secret a config may carry */
    uint8_t h[32];
    gw_key_secret_hash(cfg_secret, strlen(cfg_secret), h);

    gw_keyset_builder *b = gw_keyset_builder_new();
    assert_int_equal(gw_keyset_builder_add_store(b, f->st, err, sizeof err), 0);
    assert_int_equal(gw_keyset_builder_add_static(b, "cfg_batch", &cfg, h, err, sizeof err), 0);
    gw_keyset *set = gw_keyset_builder_finish(b, err, sizeof err);
    assert_non_null(set);
    assert_int_equal(gw_keyset_count(set), 2);
    const gw_key *k = gw_keyset_lookup(set, cfg_secret, strlen(cfg_secret));
    assert_non_null(k);
    assert_true(k->is_static);
    assert_string_equal(k->id, "cfg_batch");
    assert_string_equal(k->project, "batch");
    assert_int_equal(k->limits->requests[GW_KEY_WIN_MINUTE], 10);
    k = gw_keyset_lookup(set, secret, strlen(secret));
    assert_non_null(k);
    assert_false(k->is_static);
    gw_keyset_unref(set);

    /* The config holds the hash instead of the secret. */
    char hex[65];
    gw_key_hash_hex(h, hex);
    uint8_t parsed[32];
    assert_int_equal(gw_key_hash_parse_hex(hex, 64, parsed), 0);
    b = gw_keyset_builder_new();
    assert_int_equal(gw_keyset_builder_add_static(b, "cfg_hash", &cfg, parsed, err, sizeof err), 0);
    set = gw_keyset_builder_finish(b, err, sizeof err);
    assert_non_null(gw_keyset_lookup(set, cfg_secret, strlen(cfg_secret)));
    gw_keyset_unref(set);

    /* A static key with a stored key's secret, or its id: the build fails, naming both. */
    b = gw_keyset_builder_new();
    gw_keyset_builder_add_store(b, f->st, err, sizeof err);
    assert_int_equal(gw_keyset_builder_add_static(b, "cfg_copy", &cfg, r.hash, err, sizeof err), 0);
    assert_null(gw_keyset_builder_finish(b, err, sizeof err));
    assert_non_null(strstr(err, "same secret"));
    assert_non_null(strstr(err, "cfg_copy"));
    b = gw_keyset_builder_new();
    gw_keyset_builder_add_store(b, f->st, err, sizeof err);
    assert_int_equal(gw_keyset_builder_add_static(b, r.id, &cfg, h, err, sizeof err), 0);
    assert_null(gw_keyset_builder_finish(b, err, sizeof err));
    assert_non_null(strstr(err, "twice"));
    /* Bad ids and fields are refused when added. */
    b = gw_keyset_builder_new();
    assert_int_equal(gw_keyset_builder_add_static(b, "has space", &cfg, h, err, sizeof err), -1);
    assert_int_equal(gw_keyset_builder_add_static(b, "", &cfg, h, err, sizeof err), -1);
    gw_key_spec bad = cfg;
    bad.name = NULL;
    assert_int_equal(gw_keyset_builder_add_static(b, "ok", &bad, h, err, sizeof err), -1);
    gw_keyset_builder_free(b);
    gw_key_record_clear(&r);
}

/* ---- publishing to workers ---- */

static gw_keyset *one_key_set(const char *secret) {
    gw_key_spec s = {.name = secret};
    uint8_t h[32];
    gw_key_secret_hash(secret, strlen(secret), h);
    gw_keyset_builder *b = gw_keyset_builder_new();
    assert_int_equal(gw_keyset_builder_add_static(b, "k", &s, h, NULL, 0), 0);
    return gw_keyset_builder_finish(b, NULL, 0);
}

static void inbox_hands_over_references(void **state) {
    (void)state;
    gw_keyset_inbox in = {NULL};
    gw_keyset *a = one_key_set("a"), *b = one_key_set("b"), *c = one_key_set("c");
    gw_keyset *cur = gw_keyset_inbox_take(&in, NULL);
    assert_null(cur);
    gw_keyset_inbox_post(&in, a);
    gw_keyset_inbox_post(&in, b); /* a was never taken: dropped from the inbox */
    cur = gw_keyset_inbox_take(&in, cur);
    assert_ptr_equal(cur, b);
    assert_ptr_equal(gw_keyset_inbox_take(&in, cur), b); /* nothing new */
    gw_keyset_inbox_post(&in, c);
    cur = gw_keyset_inbox_take(&in, cur);
    assert_ptr_equal(cur, c);
    gw_keyset_inbox_post(&in, a);
    gw_keyset_inbox_clear(&in);
    gw_keyset_unref(cur);
    /* The caller's own references: ASan's leak check fails the run if any count is off. */
    gw_keyset_unref(a);
    gw_keyset_unref(b);
    gw_keyset_unref(c);
}

typedef struct worker_arg {
    gw_keyset_inbox *in;
    _Atomic int stop;
    _Atomic long lookups;
    long found;
} worker_arg;

static void *worker(void *p) {
    worker_arg *w = p;
    gw_keyset *cur = NULL;
    while (!atomic_load(&w->stop)) {
        cur = gw_keyset_inbox_take(w->in, cur);
        gw_keyset *req = gw_keyset_ref(cur); /* what a request does */
        if (req && gw_keyset_lookup(req, "live", 4)) w->found++;
        atomic_fetch_add(&w->lookups, 1);
        gw_keyset_unref(req);
    }
    cur = gw_keyset_inbox_take(w->in, cur);
    gw_keyset_unref(cur);
    return NULL;
}

/* The control thread posts while a worker takes and looks up: under ASan or valgrind any
 * reference miscounted is a use after free or a leak. Each post waits for the worker to make
 * progress (a yield, not a sleep), so the two interleave on any machine. */
static void inbox_under_a_running_worker(void **state) {
    (void)state;
    gw_keyset_inbox in = {NULL};
    worker_arg w = {.in = &in};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, worker, &w), 0);
    for (int i = 0; i < 300; i++) {
        gw_keyset *set = one_key_set(i % 2 ? "live" : "dead");
        long seen = atomic_load(&w.lookups);
        gw_keyset_inbox_post(&in, set);
        gw_keyset_unref(set); /* the inbox holds its own */
        while (atomic_load(&w.lookups) < seen + 2)
            sched_yield();
    }
    atomic_store(&w.stop, 1);
    pthread_join(t, NULL);
    gw_keyset_inbox_clear(&in);
    assert_true(atomic_load(&w.lookups) >= 600);
    assert_true(w.found > 0);
}

/* ---- scale ---- */

static double seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void hundred_thousand_keys(void **state) {
    (void)state;
    enum { N = 100000 };
    char(*secrets)[GW_KEY_SECRET_LEN + 1] = malloc(N * sizeof *secrets);
    const char *models[] = {"chat*"};
    gw_keyset_builder *b = gw_keyset_builder_new();
    double t0 = seconds();
    for (int i = 0; i < N; i++) {
        gw_key_secret_new(secrets[i]);
        char id[32], name[32];
        snprintf(id, sizeof id, "k%d", i);
        snprintf(name, sizeof name, "key %d", i);
        gw_key_spec s = {.name = name, .tenant = "t", .models = models, .model_count = 1};
        uint8_t h[32];
        gw_key_secret_hash(secrets[i], GW_KEY_SECRET_LEN, h);
        assert_int_equal(gw_keyset_builder_add_static(b, id, &s, h, NULL, 0), 0);
    }
    gw_keyset *set = gw_keyset_builder_finish(b, NULL, 0);
    assert_non_null(set);
    double t1 = seconds();
    long found = 0;
    for (int i = 0; i < N; i++) {
        const gw_key *k = gw_keyset_lookup(set, secrets[i], GW_KEY_SECRET_LEN);
        if (k && k->id[0] == 'k' && atoi(k->id + 1) == i) found++;
    }
    char miss[GW_KEY_SECRET_LEN + 1];
    for (int i = 0; i < N; i++) {
        gw_key_secret_new(miss);
        if (gw_keyset_lookup(set, miss, GW_KEY_SECRET_LEN)) found = -1;
    }
    double t2 = seconds();
    assert_int_equal(found, N);
    /* Generous: natively this is ~0.1 us per lookup; under valgrind ~50x. The bound catches a
     * lookup gone linear (seconds per lookup at this size), not a slow machine. */
    double per_lookup_us = (t2 - t1) / (2.0 * N) * 1e6;
    print_message("100k keys: build %.3f s, %.3f us per lookup\n", t1 - t0, per_lookup_us);
    assert_true(per_lookup_us < 200.0);
    assert_true(t1 - t0 < 60.0);
    gw_keyset_unref(set);
    free(secrets);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sha256_matches_openssl),
        cmocka_unit_test(secrets_are_base62_and_distinct),
        cmocka_unit_test_setup_teardown(create_get_list, setup, teardown),
        cmocka_unit_test_setup_teardown(list_filters_and_pages, setup, teardown),
        cmocka_unit_test_setup_teardown(only_the_hash_is_stored, setup, teardown),
        cmocka_unit_test_setup_teardown(update_each_field, setup, teardown),
        cmocka_unit_test_setup_teardown(bounds_are_enforced, setup, teardown),
        cmocka_unit_test_setup_teardown(rotate_refuses_the_old_secret, setup, teardown),
        cmocka_unit_test_setup_teardown(revoke_keeps_the_row_and_never_matches, setup, teardown),
        cmocka_unit_test_setup_teardown(snapshot_verdicts, setup, teardown),
        cmocka_unit_test_setup_teardown(limits_and_quota_reach_the_snapshot, setup, teardown),
        cmocka_unit_test_setup_teardown(reopen_and_schema_version, setup, teardown),
        cmocka_unit_test_setup_teardown(corrupt_json_is_an_error, setup, teardown),
        cmocka_unit_test(globs_match_whole_names),
        cmocka_unit_test(key_calls_only_its_models),
        cmocka_unit_test_setup_teardown(static_keys_join_the_snapshot, setup, teardown),
        cmocka_unit_test(inbox_hands_over_references),
        cmocka_unit_test(inbox_under_a_running_worker),
        cmocka_unit_test(hundred_thousand_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
