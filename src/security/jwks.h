/* A JSON Web Key Set (RFC 7517) loaded into an immutable set of verification keys: RSA (n, e)
 * for RS256, EC P-256 (crv, x, y) for ES256, oct (k) for HS256. Loaded on the control thread
 * with the config; afterwards only read, so every worker verifies with it without a lock. */
#ifndef AIGW_SECURITY_JWKS_H
#define AIGW_SECURITY_JWKS_H

#include <stddef.h>

typedef struct gw_jwks gw_jwks;

enum {
    GW_JWKS_MAX_FILE_BYTES = 1024 * 1024, /* a JWKS is a few KiB; more is a wrong file */
    GW_JWK_KID_MAX = 255,                 /* longest kid accepted, in a file or a token */
};

/* Reads and parses a JWKS file. NULL on failure, with err (always NUL-terminated) naming the
 * file and, for a bad key, which one: "/etc/aigw/jwks.json: keys[2] (kid \"k2\"): RSA modulus
 * is 1024 bits; at least 2048 are required".
 *
 * What is loaded and what is left out:
 *  - kty RSA, EC with crv P-256, and oct are loaded; other kty (OKP, ...) and other curves are
 *    skipped and counted, as are keys with a "use" other than "sig" and keys whose "alg" is one
 *    the gateway does not accept (an IdP's set often holds such keys next to the one in use).
 *  - A key the gateway would use but cannot is an error, not a skip: bad base64url, a missing
 *    member, an EC point off the curve, an RSA modulus under 2048 (or over 8192) bits or an
 *    exponent over 64 bits, an HMAC secret under 32 bytes (RFC 7518 §3.2), an "alg" that does
 *    not fit its kty ("HS256" on an RSA key), two keys of one kty with one kid.
 *  - Private members (d, p, q, ...) are ignored: only the public half is kept.
 *  - A set with no usable key is an error. */
gw_jwks *gw_jwks_load(const char *path, char *err, size_t errlen);

/* The same from text in memory; name stands for the file in messages. */
gw_jwks *gw_jwks_parse(const char *text, size_t len, const char *name, char *err, size_t errlen);

void gw_jwks_free(gw_jwks *keys);

/* Keys loaded, and keys skipped (see gw_jwks_load), for the loader's log line. */
size_t gw_jwks_count(const gw_jwks *keys);
size_t gw_jwks_skipped(const gw_jwks *keys);

#endif
