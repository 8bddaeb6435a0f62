/* The per-worker cache of verified JWTs: keyed by the token's SHA-256 (checked against
 * OpenSSL's one-shot digest), a verdict served only inside its validity window, never more
 * entries than asked for (expired ones given up first, then the least recently used), and
 * everything forgotten when the config snapshot changes. Times are passed in: no clock. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

#include "security/jwt_cache.h"

static gw_jwt_claims claims_of(const char *sub, const char *tenant, const char *project,
                               int64_t from, int64_t until) {
    gw_jwt_claims c;
    memset(&c, 0, sizeof c);
    snprintf(c.subject, sizeof c.subject, "%s", sub);
    snprintf(c.tenant, sizeof c.tenant, "%s", tenant);
    snprintf(c.project, sizeof c.project, "%s", project);
    c.exp = until == INT64_MAX ? 0 : until - 60;
    c.valid_from = from;
    c.valid_until = until;
    return c;
}

/* A distinct digest per n, spread over the sets as real SHA-256 values are. */
static void digest_of(gw_jwt_cache *c, unsigned n, uint8_t d[GW_JWT_DIGEST_LEN]) {
    char token[32];
    snprintf(token, sizeof token, "token-%u", n);
    assert_int_equal(gw_jwt_cache_digest(c, token, strlen(token), d), 0);
}

static void digest_is_sha256_of_the_whole_token(void **state) {
    (void)state;
    gw_jwt_cache *c = gw_jwt_cache_new(16, 1);
    assert_non_null(c);
    const char *token = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1c2VyLTEifQ.c2lnbmF0dXJl";
    uint8_t got[GW_JWT_DIGEST_LEN], want[GW_JWT_DIGEST_LEN];
    unsigned int n = 0;
    assert_int_equal(EVP_Digest(token, strlen(token), want, &n, EVP_sha256(), NULL), 1);
    for (int i = 0; i < 3; i++) { /* the reused context gives the same answer every time */
        assert_int_equal(gw_jwt_cache_digest(c, token, strlen(token), got), 0);
        assert_memory_equal(got, want, sizeof want);
    }
    /* one character more or less is another key */
    assert_int_equal(gw_jwt_cache_digest(c, token, strlen(token) - 1, got), 0);
    assert_memory_not_equal(got, want, sizeof want);
    gw_jwt_cache_free(c);
}

static void hit_gives_the_verified_identity(void **state) {
    (void)state;
    gw_jwt_cache *c = gw_jwt_cache_new(16, 1);
    uint8_t d[GW_JWT_DIGEST_LEN], other[GW_JWT_DIGEST_LEN];
    digest_of(c, 1, d);
    digest_of(c, 2, other);
    gw_jwt_cached hit;
    assert_int_equal(gw_jwt_cache_get(c, d, 1000, &hit), 0);
    gw_jwt_claims cl = claims_of("user-1", "acme", "search", 900, 2000);
    gw_jwt_cache_put(c, d, &cl, 1000);
    assert_int_equal(gw_jwt_cache_count(c), 1);
    assert_int_equal(gw_jwt_cache_get(c, d, 1000, &hit), 1);
    assert_string_equal(hit.subject, "user-1");
    assert_string_equal(hit.tenant, "acme");
    assert_string_equal(hit.project, "search");
    assert_int_equal(hit.exp, 2000 - 60);
    assert_int_equal(gw_jwt_cache_get(c, other, 1000, &hit), 0);
    /* the same token put again replaces its entry */
    cl = claims_of("user-1", "beta", "", 900, 2000);
    gw_jwt_cache_put(c, d, &cl, 1001);
    assert_int_equal(gw_jwt_cache_count(c), 1);
    assert_int_equal(gw_jwt_cache_get(c, d, 1001, &hit), 1);
    assert_string_equal(hit.tenant, "beta");
    assert_string_equal(hit.project, "");
    const gw_jwt_cache_stats *st = gw_jwt_cache_stats_of(c);
    assert_int_equal(st->hits, 2);
    assert_int_equal(st->misses, 2);
    assert_int_equal(st->puts, 2);
    assert_int_equal(st->evictions, 0);
    gw_jwt_cache_free(c);
}

static void longest_claims_round_trip(void **state) {
    (void)state;
    gw_jwt_cache *c = gw_jwt_cache_new(8, 1);
    gw_jwt_claims cl;
    memset(&cl, 0, sizeof cl);
    memset(cl.subject, 's', GW_JWT_SUBJECT_MAX);
    memset(cl.tenant, 't', GW_JWT_NAME_MAX);
    memset(cl.project, 'p', GW_JWT_NAME_MAX);
    cl.valid_from = INT64_MIN;
    cl.valid_until = INT64_MAX;
    uint8_t d[GW_JWT_DIGEST_LEN];
    digest_of(c, 7, d);
    gw_jwt_cache_put(c, d, &cl, 0);
    gw_jwt_cached hit;
    assert_int_equal(gw_jwt_cache_get(c, d, INT64_MAX - 1, &hit), 1); /* no exp: never ends */
    assert_string_equal(hit.subject, cl.subject);
    assert_string_equal(hit.tenant, cl.tenant);
    assert_string_equal(hit.project, cl.project);
    gw_jwt_cache_free(c);
}

static void never_served_outside_its_window(void **state) {
    (void)state;
    gw_jwt_cache *c = gw_jwt_cache_new(16, 1);
    uint8_t d[GW_JWT_DIGEST_LEN];
    digest_of(c, 1, d);
    gw_jwt_claims cl = claims_of("u", "t", "p", 100, 200);
    gw_jwt_cache_put(c, d, &cl, 150);
    gw_jwt_cached hit;
    assert_int_equal(gw_jwt_cache_get(c, d, 99, &hit), 0); /* before nbf (a clock set back) */
    assert_int_equal(gw_jwt_cache_count(c), 1);            /* kept: it becomes valid */
    assert_int_equal(gw_jwt_cache_get(c, d, 100, &hit), 1);
    assert_int_equal(gw_jwt_cache_get(c, d, 199, &hit), 1);
    assert_int_equal(gw_jwt_cache_get(c, d, 200, &hit), 0); /* expired: dropped */
    assert_int_equal(gw_jwt_cache_count(c), 0);
    assert_int_equal(gw_jwt_cache_get(c, d, 150, &hit), 0); /* and never back */
    /* a verdict already outside its window is not kept at all */
    gw_jwt_cache_put(c, d, &cl, 200);
    gw_jwt_cache_put(c, d, &cl, 99);
    assert_int_equal(gw_jwt_cache_count(c), 0);
    gw_jwt_cache_free(c);
}

static void bounded_by_the_size_asked(void **state) {
    (void)state;
    assert_null(gw_jwt_cache_new(0, 1)); /* cache_size 0: off */
    assert_null(gw_jwt_cache_new(GW_JWT_CACHE_MAX + 1, 1));
    const size_t sizes[] = {1, 5, 8, 9, 100, 10000, 10001};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        gw_jwt_cache *c = gw_jwt_cache_new(sizes[i], 1);
        assert_non_null(c);
        size_t cap = gw_jwt_cache_capacity(c);
        assert_int_equal(cap, gw_jwt_cache_capacity_for(sizes[i]));
        assert_true(cap <= sizes[i]);
        assert_true(cap + 8 > sizes[i]);
        gw_jwt_claims cl = claims_of("u", "t", "p", 0, 1000);
        for (unsigned n = 0; n < 3 * sizes[i] + 20; n++) {
            uint8_t d[GW_JWT_DIGEST_LEN];
            digest_of(c, n, d);
            gw_jwt_cache_put(c, d, &cl, 10);
            assert_true(gw_jwt_cache_count(c) <= cap);
        }
        assert_true(gw_jwt_cache_stats_of(c)->evictions >= 2 * sizes[i]);
        gw_jwt_cache_free(c);
    }
}

/* One set of 8: a full set gives up an expired entry first, else the least recently used. */
static void eviction_prefers_expired_then_least_recent(void **state) {
    (void)state;
    gw_jwt_cache *c = gw_jwt_cache_new(8, 1);
    uint8_t d[10][GW_JWT_DIGEST_LEN];
    for (unsigned i = 0; i < 10; i++)
        digest_of(c, i, d[i]);
    gw_jwt_claims live = claims_of("u", "t", "p", 0, 1000);
    gw_jwt_claims short_lived = claims_of("short", "t", "p", 0, 50);
    for (unsigned i = 0; i < 8; i++)
        gw_jwt_cache_put(c, d[i], i == 5 ? &short_lived : &live, 10 + i);
    gw_jwt_cached hit;
    assert_int_equal(gw_jwt_cache_get(c, d[0], 20, &hit), 1); /* 0 is now the most recent */
    gw_jwt_cache_put(c, d[8], &live, 60);                     /* 5 has expired: it goes */
    assert_int_equal(gw_jwt_cache_count(c), 8);
    for (unsigned i = 0; i < 9; i++)
        if (i != 5) assert_int_equal(gw_jwt_cache_get(c, d[i], 61, &hit), 1);
    /* every entry was just used, in order 0..8 (5 aside): the oldest use is 0's */
    gw_jwt_cache_put(c, d[9], &live, 62);
    assert_int_equal(gw_jwt_cache_get(c, d[0], 63, &hit), 0);
    for (unsigned i = 1; i < 10; i++)
        if (i != 5) assert_int_equal(gw_jwt_cache_get(c, d[i], 63, &hit), 1);
    gw_jwt_cache_free(c);
}

static void a_new_snapshot_forgets_everything(void **state) {
    (void)state;
    gw_jwt_cache *c = gw_jwt_cache_new(64, 7);
    assert_int_equal(gw_jwt_cache_generation(c), 7);
    gw_jwt_claims cl = claims_of("u", "t", "p", 0, 1000);
    uint8_t d[GW_JWT_DIGEST_LEN];
    for (unsigned i = 0; i < 20; i++) {
        digest_of(c, i, d);
        gw_jwt_cache_put(c, d, &cl, 1);
    }
    gw_jwt_cache_reset(c, 8);
    assert_int_equal(gw_jwt_cache_generation(c), 8);
    assert_int_equal(gw_jwt_cache_count(c), 0);
    gw_jwt_cached hit;
    for (unsigned i = 0; i < 20; i++) {
        digest_of(c, i, d);
        assert_int_equal(gw_jwt_cache_get(c, d, 1, &hit), 0);
    }
    /* and it fills again (the text buffers are reused) */
    gw_jwt_claims other = claims_of("someone-else-with-a-longer-name", "t2", "p2", 0, 1000);
    gw_jwt_cache_put(c, d, &other, 1);
    assert_int_equal(gw_jwt_cache_get(c, d, 1, &hit), 1);
    assert_string_equal(hit.subject, "someone-else-with-a-longer-name");
    gw_jwt_cache_free(c);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(digest_is_sha256_of_the_whole_token),
        cmocka_unit_test(hit_gives_the_verified_identity),
        cmocka_unit_test(longest_claims_round_trip),
        cmocka_unit_test(never_served_outside_its_window),
        cmocka_unit_test(bounded_by_the_size_asked),
        cmocka_unit_test(eviction_prefers_expired_then_least_recent),
        cmocka_unit_test(a_new_snapshot_forgets_everything),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
