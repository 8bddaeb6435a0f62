/* A worker's cache of verified JWTs: RS256 verification costs about 24 us and ES256 about 72 us,
 * so a caller that sends the same token with every request pays it once per worker instead of
 * once per request.
 *
 * Key: the SHA-256 of the whole token (the token itself is never kept; a second-preimage would
 * be needed to ride on another's entry). Value: what verification concluded (subject, tenant,
 * project, exp) and the window of time in which its time checks hold (gw_jwt_claims's
 * valid_from and valid_until, leeway included): an entry is never used outside that window, so
 * a cached token expires exactly when a verified one would. Only tokens that passed every check
 * are put; a failure is never cached, so a bad signature costs a verification every time.
 *
 * The verdict also depends on the key set and the settings: the cache belongs to one config
 * snapshot (its generation), and forgets everything when asked for another one, so a reload
 * that changes the JWKS or the jwt settings never meets a stale verdict.
 *
 * Bounded: at most the capacity given at creation, in sets of 8 (a token's set is chosen by its
 * digest); a full set gives up an entry past its window first, else the one used longest ago.
 * One worker owns a cache: no lock, no atomics. Times are Unix seconds, passed in. */
#ifndef AIGW_SECURITY_JWT_CACHE_H
#define AIGW_SECURITY_JWT_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "security/jwt.h"

enum {
    GW_JWT_DIGEST_LEN = 32,
    GW_JWT_CACHE_DEFAULT = 10000,
    GW_JWT_CACHE_MAX = 1000000,
};

typedef struct gw_jwt_cache gw_jwt_cache;

/* What a hit gives: valid until the next put or reset of the same cache. */
typedef struct gw_jwt_cached {
    const char *subject, *tenant, *project; /* NUL-terminated */
    int64_t exp;                            /* 0 when the token has none */
} gw_jwt_cached;

typedef struct gw_jwt_cache_stats {
    uint64_t hits, misses, puts, evictions;
} gw_jwt_cache_stats;

/* At most entries (1 .. GW_JWT_CACHE_MAX) verdicts, for the snapshot of generation; NULL when
 * entries is 0 or out of range, or out of memory. */
gw_jwt_cache *gw_jwt_cache_new(size_t entries, uint64_t generation);
void gw_jwt_cache_free(gw_jwt_cache *c);

size_t gw_jwt_cache_capacity(const gw_jwt_cache *c); /* at most what new was given */
size_t gw_jwt_cache_capacity_for(size_t entries);    /* what new(entries) would hold */
size_t gw_jwt_cache_count(const gw_jwt_cache *c);    /* entries held now */
uint64_t gw_jwt_cache_generation(const gw_jwt_cache *c);
const gw_jwt_cache_stats *gw_jwt_cache_stats_of(const gw_jwt_cache *c);

/* Forgets every entry; from now on the cache serves the snapshot of generation. */
void gw_jwt_cache_reset(gw_jwt_cache *c, uint64_t generation);

/* The key of token[0..len): its SHA-256, with the cache's own digest context (fetched once, so
 * no lock on the way). 0, or -1 when OpenSSL failed (then do without the cache). */
int gw_jwt_cache_digest(gw_jwt_cache *c, const char *token, size_t len,
                        uint8_t digest[GW_JWT_DIGEST_LEN]);

/* 1 and *out when a verdict for digest is held and now lies in its window; else 0 (an entry
 * whose window has ended is dropped on the way). */
int gw_jwt_cache_get(gw_jwt_cache *c, const uint8_t digest[GW_JWT_DIGEST_LEN], int64_t now,
                     gw_jwt_cached *out);

/* Keeps the verdict of a token that passed gw_jwt_verify (GW_JWT_OK, never another result)
 * with claims as verify filled them. */
void gw_jwt_cache_put(gw_jwt_cache *c, const uint8_t digest[GW_JWT_DIGEST_LEN],
                      const gw_jwt_claims *claims, int64_t now);

#endif
