/* Who the caller is: the settings of authentication (auth:), parsed by the config loader, and
 * what the auth filter found, for the filters after it (model permission, limits, metering). */
#ifndef AIGW_FILTERS_AUTH_H
#define AIGW_FILTERS_AUTH_H

#include "core/request-t.h"
#include "security/jwks.h"
#include "security/jwt.h"
#include "store/keyset.h"

typedef enum {
    GW_AUTH_OFF,
    GW_AUTH_API_KEY,
    GW_AUTH_JWT,
    GW_AUTH_API_KEY_OR_JWT,
} gw_auth_mode;

typedef struct gw_auth_conf {
    gw_auth_mode mode;
    gw_keyset *keys; /* the config file's static keys; owned by the snapshot */
    gw_jwks *jwks;   /* owned by the snapshot */
    gw_jwt_conf jwt;
    size_t jwt_cache_size; /* auth.jwt.cache_size: verified tokens a worker keeps; 0: none */
} gw_auth_conf;

/* The caller, once authenticated. */
typedef struct gw_auth_identity {
    const gw_key *key; /* the API key (NULL for a JWT) */
    gw_keyset *keyset; /* a reference to the store snapshot key lives in; NULL for others */
    char tenant[128], project[128];
    char subject[256]; /* the key's id, or the token's sub */
} gw_auth_identity;

/* The request's caller; NULL when authentication is off or has not run. */
const gw_auth_identity *gw_auth_identity_of(gw_req *r);

#endif
