#include "security/jwt_cache.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

enum { WAYS = 8 };

typedef struct entry {
    uint8_t digest[GW_JWT_DIGEST_LEN];
    int64_t valid_from, valid_until, exp;
    uint64_t used; /* the cache's tick at the last put or hit; 0: empty */
    char *text;    /* subject, tenant and project, each NUL-terminated, one after the other */
    size_t text_cap;
    uint16_t tenant_at, project_at;
} entry;

struct gw_jwt_cache {
    entry *entries;
    size_t sets, ways, count;
    uint64_t generation, tick;
    gw_jwt_cache_stats stats;
    EVP_MD *sha256;
    EVP_MD_CTX *md_ctx;
};

/* Never more than asked: sets of WAYS, the remainder left out; a small cache is one set of
 * fewer ways. */
static size_t ways_for(size_t entries) {
    return entries < WAYS ? entries : WAYS;
}

size_t gw_jwt_cache_capacity_for(size_t entries) {
    if (entries == 0 || entries > GW_JWT_CACHE_MAX) return 0;
    return entries / ways_for(entries) * ways_for(entries);
}

gw_jwt_cache *gw_jwt_cache_new(size_t entries, uint64_t generation) {
    if (entries == 0 || entries > GW_JWT_CACHE_MAX) return NULL;
    gw_jwt_cache *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->ways = ways_for(entries);
    c->sets = entries / c->ways;
    c->generation = generation;
    c->entries = calloc(c->sets * c->ways, sizeof *c->entries);
    /* fetched once: EVP_sha256() would look the algorithm up (under a lock) on every digest */
    c->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
    c->md_ctx = EVP_MD_CTX_new();
    if (!c->entries || !c->sha256 || !c->md_ctx) {
        gw_jwt_cache_free(c);
        return NULL;
    }
    return c;
}

void gw_jwt_cache_free(gw_jwt_cache *c) {
    if (!c) return;
    for (size_t i = 0; c->entries && i < c->sets * c->ways; i++)
        free(c->entries[i].text);
    free(c->entries);
    EVP_MD_CTX_free(c->md_ctx);
    EVP_MD_free(c->sha256);
    free(c);
}

size_t gw_jwt_cache_capacity(const gw_jwt_cache *c) {
    return c->sets * c->ways;
}
size_t gw_jwt_cache_count(const gw_jwt_cache *c) {
    return c->count;
}
uint64_t gw_jwt_cache_generation(const gw_jwt_cache *c) {
    return c->generation;
}
const gw_jwt_cache_stats *gw_jwt_cache_stats_of(const gw_jwt_cache *c) {
    return &c->stats;
}

void gw_jwt_cache_reset(gw_jwt_cache *c, uint64_t generation) {
    /* the text buffers stay for the next entries: only the verdicts go */
    for (size_t i = 0; i < c->sets * c->ways; i++)
        c->entries[i].used = 0;
    c->count = 0;
    c->generation = generation;
}

int gw_jwt_cache_digest(gw_jwt_cache *c, const char *token, size_t len,
                        uint8_t digest[GW_JWT_DIGEST_LEN]) {
    unsigned int n = 0;
    if (EVP_DigestInit_ex2(c->md_ctx, c->sha256, NULL) != 1 ||
        EVP_DigestUpdate(c->md_ctx, token, len) != 1 ||
        EVP_DigestFinal_ex(c->md_ctx, digest, &n) != 1 || n != GW_JWT_DIGEST_LEN)
        return -1;
    return 0;
}

static entry *set_of(gw_jwt_cache *c, const uint8_t digest[GW_JWT_DIGEST_LEN]) {
    uint64_t h;
    memcpy(&h, digest, sizeof h); /* a SHA-256's bytes are as good as any hash of them */
    return &c->entries[(h % c->sets) * c->ways];
}

static void drop(gw_jwt_cache *c, entry *e) {
    e->used = 0;
    c->count--;
}

int gw_jwt_cache_get(gw_jwt_cache *c, const uint8_t digest[GW_JWT_DIGEST_LEN], int64_t now,
                     gw_jwt_cached *out) {
    entry *set = set_of(c, digest);
    for (size_t i = 0; i < c->ways; i++) {
        entry *e = &set[i];
        if (!e->used || memcmp(e->digest, digest, GW_JWT_DIGEST_LEN)) continue;
        if (now >= e->valid_until) { /* expired: it never comes back */
            drop(c, e);
            break;
        }
        if (now < e->valid_from) break; /* not yet: verification says the same, uncached */
        e->used = ++c->tick;
        *out = (gw_jwt_cached){.subject = e->text,
                               .tenant = e->text + e->tenant_at,
                               .project = e->text + e->project_at,
                               .exp = e->exp};
        c->stats.hits++;
        return 1;
    }
    c->stats.misses++;
    return 0;
}

/* Where a new verdict goes in its set: the token's own entry, an empty one, one past its
 * window, else the one used longest ago. */
static entry *victim(gw_jwt_cache *c, entry *set, const uint8_t digest[GW_JWT_DIGEST_LEN],
                     int64_t now) {
    entry *empty = NULL, *expired = NULL, *oldest = NULL;
    for (size_t i = 0; i < c->ways; i++) {
        entry *e = &set[i];
        if (!e->used) {
            if (!empty) empty = e;
            continue;
        }
        if (!memcmp(e->digest, digest, GW_JWT_DIGEST_LEN)) return e;
        if (now >= e->valid_until && !expired) expired = e;
        if (!oldest || e->used < oldest->used) oldest = e;
    }
    entry *e = empty ? empty : expired ? expired : oldest;
    if (e->used) {
        c->stats.evictions++;
        drop(c, e);
    }
    return e;
}

void gw_jwt_cache_put(gw_jwt_cache *c, const uint8_t digest[GW_JWT_DIGEST_LEN],
                      const gw_jwt_claims *claims, int64_t now) {
    if (now >= claims->valid_until || now < claims->valid_from) return; /* nothing to keep */
    entry *e = victim(c, set_of(c, digest), digest, now);
    if (e->used) drop(c, e); /* the same token again: replaced */
    size_t sub = strlen(claims->subject), ten = strlen(claims->tenant),
           proj = strlen(claims->project), need = sub + ten + proj + 3;
    if (e->text_cap < need) {
        char *text = malloc(need);
        if (!text) return; /* the entry stays empty: the next request verifies again */
        free(e->text);
        e->text = text;
        e->text_cap = need;
    }
    memcpy(e->text, claims->subject, sub + 1);
    memcpy(e->text + sub + 1, claims->tenant, ten + 1);
    memcpy(e->text + sub + ten + 2, claims->project, proj + 1);
    e->tenant_at = (uint16_t)(sub + 1);
    e->project_at = (uint16_t)(sub + ten + 2);
    memcpy(e->digest, digest, GW_JWT_DIGEST_LEN);
    e->valid_from = claims->valid_from;
    e->valid_until = claims->valid_until;
    e->exp = claims->exp;
    e->used = ++c->tick;
    c->count++;
    c->stats.puts++;
}
