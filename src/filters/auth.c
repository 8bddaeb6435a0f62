/* auth: the caller's API key (Authorization: Bearer, x-api-key as Anthropic's SDK sends it,
 * api-key as Azure's) or JWT, checked before the body is parsed; then, once the model is known,
 * whether the key may call it. A refusal says nothing that helps a guesser: one message for a
 * key that is unknown, disabled or expired, and a JWT's reason goes to the log only. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/clock.h"
#include "core/http_server.h"
#include "core/log.h"
#include "core/worker-t.h"
#include "filters/auth.h"
#include "filters/filter.h"
#include "filters/request.h"
#include "security/jwt_cache.h"

static const gw_http_header *credential(const gw_http_req *http, const char **value, size_t *len) {
    const gw_http_header *h = gw_http_find_header(http, "authorization");
    if (h && h->value_len > 7 && !strncasecmp(h->value, "Bearer ", 7)) {
        *value = h->value + 7;
        *len = h->value_len - 7;
        while (*len && (*value)[0] == ' ') {
            (*value)++;
            (*len)--;
        }
        return h;
    }
    static const char *const others[] = {"x-api-key", "api-key"};
    for (size_t i = 0; i < 2; i++)
        if ((h = gw_http_find_header(http, others[i]))) {
            *value = h->value;
            *len = h->value_len;
            return h;
        }
    return NULL;
}

static gw_filter_rc refuse(gw_req *r, const char *why) {
    gw_log_debug("auth_refused", "\"request_id\":\"%s\",\"reason\":\"%s\"", r->id, why);
    gw_req_fail(r, 401, "invalid_request_error", "invalid_api_key", NULL,
                "Incorrect API key provided (request id %s)", r->id);
    return GW_FILTER_RESPOND;
}

static void copy(char *out, size_t cap, const char *s, size_t len) {
    size_t n = len < cap - 1 ? len : cap - 1;
    memcpy(out, s, n);
    out[n] = '\0';
}

/* The worker's cache of verified tokens for this request's snapshot; NULL when off. A cache made
 * for another snapshot forgets what it holds (other keys, other rules), or goes when the size
 * changed. A request of an older snapshot than the cache's (one that began before the worker
 * took a reload) does without. */
static gw_jwt_cache *jwt_cache(gw_req *r, const gw_auth_conf *c) {
    gw_worker *w = r->worker;
    uint64_t generation = r->cfg->generation;
    if (w->jwt_cache && gw_jwt_cache_generation(w->jwt_cache) != generation) {
        if (gw_jwt_cache_generation(w->jwt_cache) > generation) return NULL;
        if (gw_jwt_cache_capacity(w->jwt_cache) == gw_jwt_cache_capacity_for(c->jwt_cache_size)) {
            gw_jwt_cache_reset(w->jwt_cache, generation);
        } else {
            gw_jwt_cache_free(w->jwt_cache);
            w->jwt_cache = NULL;
        }
    }
    if (!w->jwt_cache && c->jwt_cache_size)
        w->jwt_cache = gw_jwt_cache_new(c->jwt_cache_size, generation); /* once per worker */
    return w->jwt_cache;
}

static gw_filter_rc auth_jwt(gw_req *r, const gw_auth_conf *c, gw_auth_identity *who,
                             const char *token, size_t len, int64_t now) {
    gw_jwt_cache *cache = jwt_cache(r, c);
    uint8_t digest[GW_JWT_DIGEST_LEN];
    if (cache && gw_jwt_cache_digest(cache, token, len, digest) < 0) cache = NULL;
    gw_jwt_cached hit;
    if (cache && gw_jwt_cache_get(cache, digest, now, &hit)) {
        gw_log_debug("auth_jwt", "\"request_id\":\"%s\",\"cached\":true", r->id);
        copy(who->tenant, sizeof who->tenant, hit.tenant, strlen(hit.tenant));
        copy(who->project, sizeof who->project, hit.project, strlen(hit.project));
        copy(who->subject, sizeof who->subject, hit.subject, strlen(hit.subject));
        return GW_FILTER_CONTINUE;
    }
    gw_jwt_claims claims;
    gw_jwt_result res = gw_jwt_verify(c->jwks, &c->jwt, token, len, now, &claims);
    if (res != GW_JWT_OK) return refuse(r, gw_jwt_result_name(res)); /* never cached */
    gw_log_debug("auth_jwt", "\"request_id\":\"%s\",\"cached\":false", r->id);
    if (cache) gw_jwt_cache_put(cache, digest, &claims, now);
    copy(who->tenant, sizeof who->tenant, claims.tenant, strlen(claims.tenant));
    copy(who->project, sizeof who->project, claims.project, strlen(claims.project));
    copy(who->subject, sizeof who->subject, claims.subject, strlen(claims.subject));
    return GW_FILTER_CONTINUE;
}

static gw_filter_rc auth_request(gw_req *r) {
    const gw_auth_conf *c = gw_filter_conf(r, &gw_filter_auth);
    gw_auth_identity *who = gw_filter_state(r, &gw_filter_auth);
    const char *token = NULL;
    size_t len = 0;
    if (!credential(r->http, &token, &len) || len == 0) return refuse(r, "no_credential");
    /* the gateway's wall clock: what tests move (POST /admin/clock) moves expiry too */
    int64_t now = gw_wall_ns() / 1000000000;
    int jwt = c->mode == GW_AUTH_JWT ||
              (c->mode == GW_AUTH_API_KEY_OR_JWT && gw_jwt_looks_like(token, len));
    if (jwt) return auth_jwt(r, c, who, token, len, now);
    const gw_key *key = NULL;
    gw_key_verdict v = c->keys ? gw_keyset_check(c->keys, token, len, now, &key) : GW_KEY_UNKNOWN;
    if (v == GW_KEY_UNKNOWN && r->worker->keys_inbox) { /* the store's keys */
        gw_worker *w = r->worker;
        w->keys = gw_keyset_inbox_take(w->keys_inbox, w->keys);
        if (w->keys) {
            v = gw_keyset_check(w->keys, token, len, now, &key);
            /* the request keeps the snapshot its key lives in: the worker may move on */
            if (key) who->keyset = gw_keyset_ref(w->keys);
        }
    }
    if (v != GW_KEY_OK)
        return refuse(r, v == GW_KEY_DISABLED  ? "key_disabled"
                         : v == GW_KEY_EXPIRED ? "key_expired"
                                               : "key_unknown");
    who->key = key;
    copy(who->tenant, sizeof who->tenant, key->tenant, key->tenant_len);
    copy(who->project, sizeof who->project, key->project, key->project_len);
    copy(who->subject, sizeof who->subject, key->id, key->id_len);
    return GW_FILTER_CONTINUE;
}

const gw_auth_identity *gw_auth_identity_of(gw_req *r) {
    return gw_filter_state(r, &gw_filter_auth);
}

static void auth_done(gw_req *r) {
    gw_auth_identity *who = gw_filter_state(r, &gw_filter_auth);
    if (who) gw_keyset_unref(who->keyset);
}

const gw_filter_ops gw_filter_auth = {
    .name = "auth",
    .state_size = sizeof(gw_auth_identity),
    .on_request = auth_request,
    .on_done = auth_done,
};

/* After resolve_model: an API key calls only the models its globs name. */
static gw_filter_rc model_access(gw_req *r) {
    const gw_auth_identity *who = gw_auth_identity_of(r);
    if (!who || !who->key || gw_key_allows_model(who->key, r->model->name, r->model->name_len))
        return GW_FILTER_CONTINUE;
    gw_req_fail(r, 403, "permission_error", "model_not_allowed", "model",
                "this API key may not call the model `%s` (request id %s)", r->model->name, r->id);
    return GW_FILTER_RESPOND;
}

const gw_filter_ops gw_filter_model_access = {
    .name = "model_access",
    .on_request = model_access,
};
