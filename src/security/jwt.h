/* Verifying a JSON Web Token (RFC 7519) in JWS compact form (RFC 7515) against a key set
 * (jwks.h): HS256, RS256 and ES256 only, then its claims (exp, nbf, iat, iss, aud) against the
 * gateway's settings, and mapping its claims to a subject, a tenant and a project.
 *
 * A pure function of its inputs: the time is a parameter (never read here), nothing is cached,
 * the key set is only read and every OpenSSL context is the call's own, so any thread may
 * verify at any time. The result names the reason for the log; a caller answers every failure
 * the same way (401 invalid_api_key), so the answer tells a guesser nothing. */
#ifndef AIGW_SECURITY_JWT_H
#define AIGW_SECURITY_JWT_H

#include <stddef.h>
#include <stdint.h>

#include "security/jwks.h"

enum {
    GW_JWT_MAX_TOKEN_BYTES = 8192, /* longer tokens are refused before any decoding */
    GW_JWT_SUBJECT_MAX = 255,      /* longest sub, tenant and project accepted (bytes) */
    GW_JWT_NAME_MAX = 127,
};

typedef enum {
    GW_JWT_OK = 0,
    GW_JWT_MALFORMED,       /* not three base64url parts of JSON objects, too long, a "crit"
                               header, an empty signature, a claim of the wrong type or size */
    GW_JWT_ALG_NOT_ALLOWED, /* alg not HS256/RS256/ES256 ("none" included), or the kid's key
                               is of another kty (an HS256 token naming an RSA key) */
    GW_JWT_UNKNOWN_KEY,     /* no key with the token's kid, or none of the alg's kty */
    GW_JWT_BAD_SIGNATURE,
    GW_JWT_EXPIRED,       /* now >= exp + leeway */
    GW_JWT_NOT_YET_VALID, /* now + leeway < nbf, or iat later than now + leeway */
    GW_JWT_MISSING_EXP,   /* no exp while conf.require_exp */
    GW_JWT_WRONG_ISSUER,
    GW_JWT_WRONG_AUDIENCE,
    GW_JWT_INTERNAL, /* out of memory or an OpenSSL failure: not the token's fault */
} gw_jwt_result;

/* "ok", "malformed", "alg_not_allowed", "unknown_key", "bad_signature", "expired",
 * "not_yet_valid", "missing_exp", "wrong_issuer", "wrong_audience", "internal": for the log. */
const char *gw_jwt_result_name(gw_jwt_result r);

typedef struct gw_jwt_conf {
    const char *issuer;   /* iss must equal it exactly; NULL: iss is not checked */
    const char *audience; /* aud (a string, or an array of strings) must be or hold it; NULL:
                             not checked */
    int64_t leeway_s;     /* clock skew allowed on exp, nbf and iat, seconds (default 60) */
    int require_exp;      /* a token without exp is refused (default 1: a token that never
                             expires is a password that cannot be changed) */
    /* Top-level claim names mapped to the caller's identity. Names are taken whole, with no
     * path syntax: "https://idp.example/tenant" is one claim. The tenant comes from
     * tenant_claim, else from tenant_fallback_claim (default "org_id", what Auth0
     * Organizations and several IdPs issue; NULL for none). A claim absent or "" leaves the
     * field empty: whether that is allowed is the caller's decision. */
    const char *tenant_claim;          /* default "tenant" */
    const char *tenant_fallback_claim; /* default "org_id" */
    const char *project_claim;         /* default "project" */
} gw_jwt_conf;

extern const gw_jwt_conf gw_jwt_conf_default;

/* What a verified token says. Strings are NUL-terminated and never truncated: a value too long
 * for its field makes the token malformed (a cut tenant could be another tenant). A claim may
 * be a string or an integer (written in decimal); control characters are refused, since these
 * values end up in logs, keys and metrics labels. */
typedef struct gw_jwt_claims {
    char subject[GW_JWT_SUBJECT_MAX + 1]; /* sub */
    char tenant[GW_JWT_NAME_MAX + 1];
    char project[GW_JWT_NAME_MAX + 1];
    char kid[GW_JWK_KID_MAX + 1]; /* the token's kid, also on failure once the header was
                                     read ("" when it has none), for the log */
    const char *alg;              /* "HS256", "RS256", "ES256"; "" until the header was read */
    int64_t exp;                  /* 0 when absent */
    /* When a verified token's time checks (exp, nbf, iat, leeway included) hold: from
     * valid_from (INT64_MIN: always) up to, not including, valid_until (INT64_MAX: never ends).
     * Everything else verify checks is a function of the token and the settings alone, so the
     * verdict stands for any time in that window (what jwt_cache.h relies on). */
    int64_t valid_from, valid_until;
} gw_jwt_claims;

/* Verifies token[0..len) (the text after "Bearer ") at time now (Unix seconds) with keys and
 * conf (NULL: gw_jwt_conf_default). Fills out (always, as far as it got) and returns GW_JWT_OK
 * or the first reason to refuse, checked in this order: the token's shape and header, the
 * alg, the key, the signature, then the claims (exp, nbf, iat, iss, aud, the mapped claims).
 * Nothing of the payload is read before the signature holds.
 *
 * The header's kid picks the key; without a kid each key of the alg's kty is tried. Keys
 * embedded in or pointed at by the header (jwk, jku, x5c, x5u) are never used. */
gw_jwt_result gw_jwt_verify(const gw_jwks *keys, const gw_jwt_conf *conf, const char *token,
                            size_t len, int64_t now, gw_jwt_claims *out);

/* Whether token[0..len) has a JWS compact shape (three non-empty base64url parts, at most
 * GW_JWT_MAX_TOKEN_BYTES): how a caller with both API keys and JWTs tells which it was given
 * without verifying anything. */
int gw_jwt_looks_like(const char *token, size_t len);

#endif
