/* JWK members into OpenSSL keys (see jwks_key.h). Keys are built from their parameters with
 * OSSL_PARAM_BLD and EVP_PKEY_fromdata, OpenSSL 3's way (the RSA_ and EC_KEY_ setters are
 * deprecated), then checked with EVP_PKEY_public_check. */
#include "security/jwks_key.h"

#include <json-c/json.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "security/jwt_base64url.h"

enum {
    MEMBER_MAX_CHARS = 4096, /* an 8192-bit modulus is 1366 characters; more is not a key */
    RSA_MIN_BITS = 2048,     /* NIST SP 800-131A: shorter RSA keys are disallowed */
    RSA_MAX_BITS = 8192,     /* verify time grows with the square of the modulus: bound it */
    RSA_MAX_E_BITS = 64,     /* and with the exponent (OpenSSL refuses more for large n too) */
    EC_COORD_BYTES = 32,     /* P-256; RFC 7518 §6.2.1.2: always the full size */
    HMAC_MIN_BYTES = 32,     /* RFC 7518 §3.2: a key at least as long as the SHA-256 output */
};

/* The base64url member `name` decoded into a new buffer (OPENSSL_malloc'd, for
 * OPENSSL_clear_free: it may be a secret). NULL with why when missing or malformed. */
static unsigned char *member_bytes(json_object *jwk, const char *name, size_t *len, char *why,
                                   size_t whylen) {
    json_object *v;
    if (!json_object_object_get_ex(jwk, name, &v) || !json_object_is_type(v, json_type_string)) {
        snprintf(why, whylen, "\"%s\" is missing or not a string", name);
        return NULL;
    }
    size_t chars = (size_t)json_object_get_string_len(v);
    if (chars == 0 || chars > MEMBER_MAX_CHARS) {
        snprintf(why, whylen, "\"%s\" is %s", name, chars ? "too long" : "empty");
        return NULL;
    }
    size_t cap = gw_b64url_decoded_max(chars);
    unsigned char *out = OPENSSL_malloc(cap);
    if (!out) {
        snprintf(why, whylen, "out of memory");
        return NULL;
    }
    long n = gw_b64url_decode(json_object_get_string(v), chars, out, cap);
    if (n <= 0) {
        OPENSSL_clear_free(out, cap);
        snprintf(why, whylen, "\"%s\" is not base64url (RFC 7515 §2: no padding, '-' and '_')",
                 name);
        return NULL;
    }
    *len = (size_t)n;
    return out;
}

/* A public key of OpenSSL type `name` from params, checked. NULL with why. */
static EVP_PKEY *pkey_from_params(const char *name, const OSSL_PARAM *params, const char *what,
                                  char *why, size_t whylen) {
    EVP_PKEY *pkey = NULL;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, name, NULL);
    if (!ctx || EVP_PKEY_fromdata_init(ctx) <= 0 ||
        EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, (OSSL_PARAM *)params) <= 0) {
        snprintf(why, whylen, "%s", what);
        EVP_PKEY_CTX_free(ctx);
        return NULL;
    }
    EVP_PKEY_CTX_free(ctx);
    ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
    if (!ctx || EVP_PKEY_public_check(ctx) != 1) {
        snprintf(why, whylen, "%s", what);
        EVP_PKEY_free(pkey);
        pkey = NULL;
    }
    EVP_PKEY_CTX_free(ctx);
    return pkey;
}

static int build_rsa(gw_jwk *k, json_object *jwk, char *why, size_t whylen) {
    int rc = -1;
    size_t nlen = 0, elen = 0;
    unsigned char *nb = member_bytes(jwk, "n", &nlen, why, whylen);
    unsigned char *eb = nb ? member_bytes(jwk, "e", &elen, why, whylen) : NULL;
    BIGNUM *n = NULL, *e = NULL;
    OSSL_PARAM_BLD *bld = NULL;
    OSSL_PARAM *params = NULL;
    if (!eb) goto out;
    n = BN_bin2bn(nb, (int)nlen, NULL);
    e = BN_bin2bn(eb, (int)elen, NULL);
    if (!n || !e) {
        snprintf(why, whylen, "out of memory");
        goto out;
    }
    int bits = BN_num_bits(n);
    if (bits < RSA_MIN_BITS || bits > RSA_MAX_BITS) {
        snprintf(why, whylen, "RSA modulus is %d bits; %d to %d are accepted", bits, RSA_MIN_BITS,
                 RSA_MAX_BITS);
        goto out;
    }
    if (BN_num_bits(e) > RSA_MAX_E_BITS) {
        snprintf(why, whylen, "RSA exponent is over %d bits", RSA_MAX_E_BITS);
        goto out;
    }
    bld = OSSL_PARAM_BLD_new();
    if (!bld || !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) ||
        !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) ||
        !(params = OSSL_PARAM_BLD_to_param(bld))) {
        snprintf(why, whylen, "out of memory");
        goto out;
    }
    k->pkey = pkey_from_params("RSA", params, "not a valid RSA public key (n, e)", why, whylen);
    rc = k->pkey ? 0 : -1;
out:
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_free(n);
    BN_free(e);
    OPENSSL_free(nb);
    OPENSSL_free(eb);
    return rc;
}

static int build_ec(gw_jwk *k, json_object *jwk, char *why, size_t whylen) {
    int rc = -1;
    size_t xlen = 0, ylen = 0;
    unsigned char *x = member_bytes(jwk, "x", &xlen, why, whylen);
    unsigned char *y = x ? member_bytes(jwk, "y", &ylen, why, whylen) : NULL;
    OSSL_PARAM_BLD *bld = NULL;
    OSSL_PARAM *params = NULL;
    if (!y) goto out;
    if (xlen != EC_COORD_BYTES || ylen != EC_COORD_BYTES) {
        snprintf(why, whylen, "P-256 \"x\" and \"y\" must be %d bytes each (are %zu and %zu)",
                 EC_COORD_BYTES, xlen, ylen);
        goto out;
    }
    /* SEC 1 uncompressed point: 0x04 || x || y */
    unsigned char point[1 + 2 * EC_COORD_BYTES];
    point[0] = 0x04;
    memcpy(point + 1, x, EC_COORD_BYTES);
    memcpy(point + 1 + EC_COORD_BYTES, y, EC_COORD_BYTES);
    bld = OSSL_PARAM_BLD_new();
    if (!bld ||
        !OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) ||
        !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point, sizeof point) ||
        !(params = OSSL_PARAM_BLD_to_param(bld))) {
        snprintf(why, whylen, "out of memory");
        goto out;
    }
    k->pkey = pkey_from_params("EC", params, "\"x\", \"y\" is not a point on P-256", why, whylen);
    rc = k->pkey ? 0 : -1;
out:
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    OPENSSL_free(x);
    OPENSSL_free(y);
    return rc;
}

static int build_oct(gw_jwk *k, json_object *jwk, char *why, size_t whylen) {
    size_t len = 0;
    unsigned char *secret = member_bytes(jwk, "k", &len, why, whylen);
    if (!secret) return -1;
    if (len < HMAC_MIN_BYTES) {
        snprintf(why, whylen, "HMAC secret \"k\" is %zu bytes; at least %d are required", len,
                 HMAC_MIN_BYTES);
        OPENSSL_clear_free(secret, len);
        return -1;
    }
    k->secret = secret;
    k->secret_len = len;
    return 0;
}

int gw_jwk_build(gw_jwk *k, gw_jwk_type t, json_object *jwk, char *why, size_t whylen) {
    switch (t) {
    case GW_JWK_RSA:
        return build_rsa(k, jwk, why, whylen);
    case GW_JWK_EC:
        return build_ec(k, jwk, why, whylen);
    case GW_JWK_OCT:
        return build_oct(k, jwk, why, whylen);
    }
    snprintf(why, whylen, "unknown key type");
    return -1;
}

void gw_jwk_clear(gw_jwk *k) {
    EVP_PKEY_free(k->pkey);
    if (k->secret) OPENSSL_clear_free(k->secret, k->secret_len);
    free(k->kid);
    memset(k, 0, sizeof *k);
}
