/* Who calls an MCP server: the same API keys and tokens as the model APIs (auth:), read the way
 * filters/auth.c reads them, and what a key may call. A key names the MCP servers and tools it
 * may use in its models list, as globs of "mcp:<server>/<tool>": "mcp:crm/<any>" (written
 * with a star for <any>) is every tool of crm; a star alone, every model and tool. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/clock.h"
#include "core/config.h"
#include "filters/auth.h"
#include "mcp/mcp_internal.h"
#include "security/jwt_cache.h"
#include "store/keyset.h"

static int credential(const gw_http_req *http, const char **value, size_t *len) {
    const gw_http_header *h = gw_http_find_header(http, "authorization");
    if (h && h->value_len > 7 && !strncasecmp(h->value, "Bearer ", 7)) {
        *value = h->value + 7;
        *len = h->value_len - 7;
        while (*len && (*value)[0] == ' ') {
            (*value)++;
            (*len)--;
        }
        return *len > 0;
    }
    if ((h = gw_http_find_header(http, "x-api-key"))) {
        *value = h->value;
        *len = h->value_len;
        return *len > 0;
    }
    return 0;
}

static void copy(char *out, size_t cap, const char *s, size_t len) {
    size_t n = len < cap - 1 ? len : cap - 1;
    memcpy(out, s, n);
    out[n] = '\0';
}

/* The worker's cache of verified tokens (auth.jwt.cache_size), the one filters/auth.c fills:
 * a token an agent sends with every tool call is verified once, not at each call. Made for the
 * snapshot cfg is; NULL when off, or when the worker moved on to a newer snapshot. */
static gw_jwt_cache *jwt_cache(gw_worker *w, const gw_config *cfg, const gw_auth_conf *c) {
    if (w->jwt_cache && gw_jwt_cache_generation(w->jwt_cache) != cfg->generation) {
        if (gw_jwt_cache_generation(w->jwt_cache) > cfg->generation) return NULL;
        if (gw_jwt_cache_capacity(w->jwt_cache) == gw_jwt_cache_capacity_for(c->jwt_cache_size)) {
            gw_jwt_cache_reset(w->jwt_cache, cfg->generation);
        } else {
            gw_jwt_cache_free(w->jwt_cache);
            w->jwt_cache = NULL;
        }
    }
    if (!w->jwt_cache && c->jwt_cache_size)
        w->jwt_cache = gw_jwt_cache_new(c->jwt_cache_size, cfg->generation);
    return w->jwt_cache;
}

static int verify_jwt(gw_worker *w, const gw_config *cfg, const gw_auth_conf *c, const char *token,
                      size_t len, int64_t now, mcp_caller *out) {
    gw_jwt_cache *cache = jwt_cache(w, cfg, c);
    uint8_t digest[GW_JWT_DIGEST_LEN];
    if (cache && gw_jwt_cache_digest(cache, token, len, digest) < 0) cache = NULL;
    gw_jwt_cached hit;
    if (cache && gw_jwt_cache_get(cache, digest, now, &hit)) {
        copy(out->tenant, sizeof out->tenant, hit.tenant, strlen(hit.tenant));
        copy(out->project, sizeof out->project, hit.project, strlen(hit.project));
        copy(out->subject, sizeof out->subject, hit.subject, strlen(hit.subject));
        return 0;
    }
    gw_jwt_claims claims;
    if (gw_jwt_verify(c->jwks, &c->jwt, token, len, now, &claims) != GW_JWT_OK) return -1;
    if (cache) gw_jwt_cache_put(cache, digest, &claims, now);
    copy(out->tenant, sizeof out->tenant, claims.tenant, strlen(claims.tenant));
    copy(out->project, sizeof out->project, claims.project, strlen(claims.project));
    copy(out->subject, sizeof out->subject, claims.subject, strlen(claims.subject));
    return 0;
}

int mcp_authenticate(gw_worker *w, const gw_config *cfg, gw_http_req *req, mcp_caller *out) {
    memset(out, 0, sizeof *out);
    const gw_auth_conf *c = cfg->auth;
    if (!c || c->mode == GW_AUTH_OFF) return 0;
    const char *token;
    size_t len;
    if (!credential(req, &token, &len)) return -1;
    /* the gateway's wall clock, as filters/auth.c reads it: tests move expiry with it */
    int64_t now = gw_wall_ns() / 1000000000;
    if (c->mode == GW_AUTH_JWT ||
        (c->mode == GW_AUTH_API_KEY_OR_JWT && gw_jwt_looks_like(token, len)))
        return verify_jwt(w, cfg, c, token, len, now, out);
    const gw_key *key = NULL;
    gw_key_verdict v = c->keys ? gw_keyset_check(c->keys, token, len, now, &key) : GW_KEY_UNKNOWN;
    if (v == GW_KEY_UNKNOWN && w->keys_inbox) { /* the key store's */
        w->keys = gw_keyset_inbox_take(w->keys_inbox, w->keys);
        if (w->keys) {
            v = gw_keyset_check(w->keys, token, len, now, &key);
            if (key) out->keyset = gw_keyset_ref(w->keys); /* the exchange keeps it */
        }
    }
    if (v != GW_KEY_OK) {
        mcp_caller_release(out);
        return -1;
    }
    out->key = key;
    copy(out->tenant, sizeof out->tenant, key->tenant, key->tenant_len);
    copy(out->project, sizeof out->project, key->project, key->project_len);
    copy(out->subject, sizeof out->subject, key->id, key->id_len);
    return 0;
}

void mcp_caller_release(mcp_caller *c) {
    gw_keyset_unref(c->keyset);
    c->keyset = NULL;
    c->key = NULL;
}

int mcp_caller_may(const mcp_caller *c, const gw_mcp_server *srv, const char *tool, size_t len) {
    if (!c->key) return 1;
    char name[GW_MCP_NAME_MAX * 3 + 8];
    int n = snprintf(name, sizeof name, "mcp:%s/%.*s", srv->name, (int)len, tool);
    if (n < 0 || (size_t)n >= sizeof name) return 0;
    return gw_key_allows_model(c->key, name, (size_t)n);
}
