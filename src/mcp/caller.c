/* Who calls an MCP server: the same API keys and tokens as the model APIs (auth:), read the way
 * filters/auth.c reads them, and what a key may call. A key names the MCP servers and tools it
 * may use in its models list, as globs of "mcp:<server>/<tool>": "mcp:crm/<any>" (written
 * with a star for <any>) is every tool of crm; a star alone, every model and tool. */
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/config.h"
#include "filters/auth.h"
#include "mcp/mcp_internal.h"
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

int mcp_authenticate(gw_worker *w, const gw_config *cfg, gw_http_req *req, mcp_caller *out) {
    memset(out, 0, sizeof *out);
    const gw_auth_conf *c = cfg->auth;
    if (!c || c->mode == GW_AUTH_OFF) return 0;
    const char *token;
    size_t len;
    if (!credential(req, &token, &len)) return -1;
    int64_t now = (int64_t)time(NULL);
    if (c->mode == GW_AUTH_JWT ||
        (c->mode == GW_AUTH_API_KEY_OR_JWT && gw_jwt_looks_like(token, len))) {
        gw_jwt_claims claims;
        if (gw_jwt_verify(c->jwks, &c->jwt, token, len, now, &claims) != GW_JWT_OK) return -1;
        copy(out->tenant, sizeof out->tenant, claims.tenant, strlen(claims.tenant));
        copy(out->project, sizeof out->project, claims.project, strlen(claims.project));
        copy(out->subject, sizeof out->subject, claims.subject, strlen(claims.subject));
        return 0;
    }
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
