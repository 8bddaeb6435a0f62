/* The inside of a loaded key set, shared by the loader (jwks.c, jwks_key.c) and the signature
 * check (jwt_signature.c) only; everyone else sees gw_jwks as opaque. */
#ifndef AIGW_SECURITY_JWKS_T_H
#define AIGW_SECURITY_JWKS_T_H

#include <openssl/types.h>
#include <stddef.h>

/* One kty per accepted algorithm: the type alone says which alg a key serves. */
typedef enum { GW_JWK_RSA = 1, GW_JWK_EC, GW_JWK_OCT } gw_jwk_type;

typedef struct gw_jwk {
    gw_jwk_type type;
    char *kid;             /* NULL when the JWK has none */
    EVP_PKEY *pkey;        /* RSA and EC: the public key */
    unsigned char *secret; /* oct: the HMAC secret (cleared when freed) */
    size_t secret_len;
} gw_jwk;

struct gw_jwks {
    gw_jwk *keys;
    size_t count, skipped;
    /* fetched once at load: an implicit fetch on every verify costs a lookup in a locked
     * store; fetched objects are immutable and safe to share between threads */
    EVP_MD *sha256;
    EVP_MAC *hmac;
};

#endif
