/* A verified token's claims checked against the settings and mapped to an identity (see
 * jwt.h for the rules). */
#ifndef AIGW_SECURITY_JWT_CLAIMS_H
#define AIGW_SECURITY_JWT_CLAIMS_H

#include <stdint.h>

#include "security/jwt.h"

struct json_object;

/* Checks exp, nbf, iat, iss and aud of payload (a JSON object) at time now, then fills out's
 * subject, tenant, project and exp. GW_JWT_OK or the first failure. */
gw_jwt_result gw_jwt_claims_check(struct json_object *payload, const gw_jwt_conf *conf, int64_t now,
                                  gw_jwt_claims *out);

#endif
