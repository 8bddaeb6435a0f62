/* A JWS signature checked with the key the header names (see jwt.h for the rules). */
#ifndef AIGW_SECURITY_JWT_SIGNATURE_H
#define AIGW_SECURITY_JWT_SIGNATURE_H

#include <stddef.h>

#include "security/jwks.h"
#include "security/jwt.h"

/* The algorithms accepted; each maps to exactly one kty. */
typedef enum { GW_JWT_HS256 = 1, GW_JWT_RS256, GW_JWT_ES256 } gw_jwt_alg;

/* The alg named by a header's "alg" (len bytes); 0 for any other, "none" included. */
gw_jwt_alg gw_jwt_alg_parse(const char *name, size_t len);
const char *gw_jwt_alg_name(gw_jwt_alg alg);

/* Verifies sig over input (the ASCII "header.payload") with the key kid names (NULL: each key
 * of alg's kty in turn). GW_JWT_OK, GW_JWT_UNKNOWN_KEY, GW_JWT_ALG_NOT_ALLOWED (the kid is a
 * key of another kty), GW_JWT_BAD_SIGNATURE or GW_JWT_INTERNAL. On success *used_kid is the
 * verifying key's kid (NULL when it has none). */
gw_jwt_result gw_jwt_signature_check(const gw_jwks *keys, gw_jwt_alg alg, const char *kid,
                                     const unsigned char *input, size_t input_len,
                                     const unsigned char *sig, size_t sig_len,
                                     const char **used_kid);

#endif
