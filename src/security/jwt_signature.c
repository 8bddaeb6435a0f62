/* Signature checks for HS256, RS256 and ES256 with OpenSSL 3's EVP interfaces (see
 * jwt_signature.h). Every context is made and freed within the call: the key set is shared
 * by all workers and must stay untouched. */
#include "security/jwt_signature.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <string.h>

#include "security/jwks-t.h"

enum { SHA256_BYTES = 32, ES256_SIG_BYTES = 64, ES256_DER_MAX = 72 };

gw_jwt_alg gw_jwt_alg_parse(const char *name, size_t len) {
    if (len != 5) return 0;
    if (memcmp(name, "HS256", 5) == 0) return GW_JWT_HS256;
    if (memcmp(name, "RS256", 5) == 0) return GW_JWT_RS256;
    if (memcmp(name, "ES256", 5) == 0) return GW_JWT_ES256;
    return 0;
}

const char *gw_jwt_alg_name(gw_jwt_alg alg) {
    switch (alg) {
    case GW_JWT_HS256:
        return "HS256";
    case GW_JWT_RS256:
        return "RS256";
    case GW_JWT_ES256:
        return "ES256";
    }
    return "";
}

static gw_jwk_type kty_of(gw_jwt_alg alg) {
    return alg == GW_JWT_HS256 ? GW_JWK_OCT : alg == GW_JWT_RS256 ? GW_JWK_RSA : GW_JWK_EC;
}

static gw_jwt_result check_hmac(const gw_jwks *keys, const gw_jwk *k, const unsigned char *input,
                                size_t input_len, const unsigned char *sig, size_t sig_len) {
    if (sig_len != SHA256_BYTES) return GW_JWT_BAD_SIGNATURE;
    unsigned char mac[SHA256_BYTES];
    size_t mac_len = 0;
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                           OSSL_PARAM_construct_end()};
    EVP_MAC_CTX *ctx = EVP_MAC_CTX_new(keys->hmac);
    int ok = ctx && EVP_MAC_init(ctx, k->secret, k->secret_len, params) == 1 &&
             EVP_MAC_update(ctx, input, input_len) == 1 &&
             EVP_MAC_final(ctx, mac, &mac_len, sizeof mac) == 1 && mac_len == SHA256_BYTES;
    EVP_MAC_CTX_free(ctx);
    if (!ok) return GW_JWT_INTERNAL;
    /* constant time: a compare that stops at the first difference tells a forger how many
     * leading bytes were right */
    gw_jwt_result r = CRYPTO_memcmp(mac, sig, SHA256_BYTES) == 0 ? GW_JWT_OK : GW_JWT_BAD_SIGNATURE;
    OPENSSL_cleanse(mac, sizeof mac);
    return r;
}

/* JWS carries an ECDSA signature as r || s, 32 bytes each (RFC 7518 §3.4); OpenSSL verifies
 * the DER SEQUENCE of two INTEGERs. Returns the DER length, 0 when it cannot be built. */
static size_t es256_to_der(const unsigned char *sig, unsigned char der[ES256_DER_MAX]) {
    size_t len = 0;
    ECDSA_SIG *s = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(sig, ES256_SIG_BYTES / 2, NULL);
    BIGNUM *sv = BN_bin2bn(sig + ES256_SIG_BYTES / 2, ES256_SIG_BYTES / 2, NULL);
    if (s && r && sv && ECDSA_SIG_set0(s, r, sv) == 1) {
        r = sv = NULL; /* owned by s now */
        int n = i2d_ECDSA_SIG(s, NULL);
        unsigned char *p = der;
        if (n > 0 && n <= ES256_DER_MAX && i2d_ECDSA_SIG(s, &p) == n) len = (size_t)n;
    }
    BN_free(r);
    BN_free(sv);
    ECDSA_SIG_free(s);
    return len;
}

static gw_jwt_result check_pkey(const gw_jwks *keys, const gw_jwk *k, const unsigned char *input,
                                size_t input_len, const unsigned char *sig, size_t sig_len) {
    unsigned char der[ES256_DER_MAX];
    if (k->type == GW_JWK_EC) {
        /* a DER signature here is a signer's bug; refusing it keeps one spelling per token */
        if (sig_len != ES256_SIG_BYTES) return GW_JWT_BAD_SIGNATURE;
        sig_len = es256_to_der(sig, der);
        if (sig_len == 0) return GW_JWT_INTERNAL;
        sig = der;
    } else if (sig_len != (size_t)EVP_PKEY_get_size(k->pkey)) {
        return GW_JWT_BAD_SIGNATURE; /* RFC 8017 §8.2.2: exactly the modulus' length */
    }
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx) return GW_JWT_INTERNAL;
    gw_jwt_result r = GW_JWT_INTERNAL;
    /* RSA keys default to PKCS #1 v1.5 padding, which is RS256's */
    if (EVP_DigestVerifyInit(ctx, NULL, keys->sha256, NULL, k->pkey) == 1) {
        int v = EVP_DigestVerify(ctx, sig, sig_len, input, input_len);
        r = v == 1 ? GW_JWT_OK : GW_JWT_BAD_SIGNATURE;
    }
    EVP_MD_CTX_free(ctx);
    return r;
}

static gw_jwt_result check_with(const gw_jwks *keys, const gw_jwk *k, const unsigned char *input,
                                size_t input_len, const unsigned char *sig, size_t sig_len) {
    gw_jwt_result r = k->type == GW_JWK_OCT ? check_hmac(keys, k, input, input_len, sig, sig_len)
                                            : check_pkey(keys, k, input, input_len, sig, sig_len);
    /* a failed verify leaves reasons on this thread's OpenSSL error queue; they would pile up
     * and later be blamed on an unrelated TLS call */
    if (r != GW_JWT_OK) ERR_clear_error();
    return r;
}

gw_jwt_result gw_jwt_signature_check(const gw_jwks *keys, gw_jwt_alg alg, const char *kid,
                                     const unsigned char *input, size_t input_len,
                                     const unsigned char *sig, size_t sig_len,
                                     const char **used_kid) {
    gw_jwk_type want = kty_of(alg);
    *used_kid = NULL;
    if (kid) {
        int other_kty = 0;
        for (size_t i = 0; i < keys->count; i++) {
            const gw_jwk *k = &keys->keys[i];
            if (!k->kid || strcmp(k->kid, kid) != 0) continue;
            if (k->type != want) {
                other_kty = 1;
                continue;
            }
            gw_jwt_result r = check_with(keys, k, input, input_len, sig, sig_len);
            if (r == GW_JWT_OK) *used_kid = k->kid;
            return r; /* the load made the (kid, kty) pair unique */
        }
        /* the classic confusion: an HS256 token whose "secret" is the named RSA key */
        return other_kty ? GW_JWT_ALG_NOT_ALLOWED : GW_JWT_UNKNOWN_KEY;
    }
    gw_jwt_result r = GW_JWT_UNKNOWN_KEY;
    for (size_t i = 0; i < keys->count; i++) {
        const gw_jwk *k = &keys->keys[i];
        if (k->type != want) continue;
        r = check_with(keys, k, input, input_len, sig, sig_len);
        if (r == GW_JWT_OK) {
            *used_kid = k->kid;
            return r;
        }
        if (r == GW_JWT_INTERNAL) return r;
    }
    return r;
}
