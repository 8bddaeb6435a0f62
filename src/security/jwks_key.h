/* One JWK's key material into a verification key (see jwks.h for what is refused and why). */
#ifndef AIGW_SECURITY_JWKS_KEY_H
#define AIGW_SECURITY_JWKS_KEY_H

#include <stddef.h>

#include "security/jwks-t.h"

struct json_object;

/* Fills k's key (pkey or secret) from the members of jwk for type t. Returns 0, or -1 with the
 * reason in why (no file or key name: the caller adds them). k->type and k->kid are the
 * caller's. */
int gw_jwk_build(gw_jwk *k, gw_jwk_type t, struct json_object *jwk, char *why, size_t whylen);

/* Frees what gw_jwk_build filled in and the kid. */
void gw_jwk_clear(gw_jwk *k);

#endif
