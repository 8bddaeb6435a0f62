/* JWT verification against keys made here: an RSA 2048 key, an EC P-256 key and an HMAC
 * secret are generated with OpenSSL, written as a JWKS file into a temporary directory, and
 * tokens are signed here (ES256 converted from OpenSSL's DER to JOSE's r || s), so every
 * check runs against real signatures: each alg, tampering, time and audience rules, the
 * refused algs and the alg/kty confusion, key selection, malformed input and claim mapping. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "security/jwks.h"
#include "security/jwt.h"
#include "security/jwt_base64url.h"

#define NOW INT64_C(1700000000)
#define ISSUER "https://idp.example"
#define AUDIENCE "aigw"

typedef struct fixture {
    char dir[64];
    char path[128];
    EVP_PKEY *rsa, *rsa_other, *ec;
    unsigned char hmac[32];
    gw_jwks *keys;
    gw_jwt_conf conf; /* issuer and audience set, the rest default */
} fixture;

static fixture fx;

/* ---- encoding and signing, done independently of the code under test ---- */

/* base64url without padding through OpenSSL's standard base64 */
static char *b64url(const unsigned char *in, size_t len) {
    char *out = malloc(4 * ((len + 2) / 3) + 1);
    assert_non_null(out);
    int n = EVP_EncodeBlock((unsigned char *)out, in, (int)len);
    assert_true(n >= 0);
    while (n > 0 && out[n - 1] == '=')
        n--;
    out[n] = '\0';
    for (char *p = out; *p; p++) {
        if (*p == '+')
            *p = '-';
        else if (*p == '/')
            *p = '_';
    }
    return out;
}

static char *b64url_str(const char *s) {
    return b64url((const unsigned char *)s, strlen(s));
}

static char *bn_b64url(const EVP_PKEY *pkey, const char *param, int pad) {
    BIGNUM *bn = NULL;
    assert_int_equal(EVP_PKEY_get_bn_param(pkey, param, &bn), 1);
    unsigned char buf[1024];
    int n = pad ? BN_bn2binpad(bn, buf, pad) : BN_bn2bin(bn, buf);
    assert_true(n > 0);
    BN_free(bn);
    return b64url(buf, (size_t)n);
}

typedef enum { HS256, RS256, ES256 } alg;

/* The signature over input as JWS writes it; *len set. */
static unsigned char *sign(alg a, EVP_PKEY *key, const unsigned char *secret, size_t secret_len,
                           const char *input, size_t *len) {
    unsigned char *sig = malloc(1024);
    assert_non_null(sig);
    if (a == HS256) {
        unsigned int n = 0;
        assert_non_null(HMAC(EVP_sha256(), secret, (int)secret_len, (const unsigned char *)input,
                             strlen(input), sig, &n));
        *len = n;
        return sig;
    }
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    size_t n = 1024;
    assert_int_equal(EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, key), 1);
    assert_int_equal(EVP_DigestSign(ctx, sig, &n, (const unsigned char *)input, strlen(input)), 1);
    EVP_MD_CTX_free(ctx);
    if (a == ES256) { /* DER SEQUENCE { r, s } -> r || s, 32 bytes each */
        const unsigned char *p = sig;
        ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)n);
        assert_non_null(es);
        const BIGNUM *r, *s;
        ECDSA_SIG_get0(es, &r, &s);
        assert_int_equal(BN_bn2binpad(r, sig, 32), 32);
        assert_int_equal(BN_bn2binpad(s, sig + 32, 32), 32);
        ECDSA_SIG_free(es);
        n = 64;
    }
    *len = n;
    return sig;
}

/* header.payload.signature from JSON texts, signed with a (key or secret). */
static char *token_raw(const char *header, const char *payload, alg a, EVP_PKEY *key,
                       const unsigned char *secret, size_t secret_len) {
    char *h = b64url_str(header), *p = b64url_str(payload);
    size_t in_len = strlen(h) + 1 + strlen(p);
    char *input = malloc(in_len + 1);
    assert_non_null(input);
    snprintf(input, in_len + 1, "%s.%s", h, p);
    size_t sig_len;
    unsigned char *sig = sign(a, key, secret, secret_len, input, &sig_len);
    char *s = b64url(sig, sig_len);
    char *tok = malloc(in_len + 2 + strlen(s));
    assert_non_null(tok);
    sprintf(tok, "%s.%s", input, s);
    free(h);
    free(p);
    free(input);
    free(sig);
    free(s);
    return tok;
}

static const char *alg_name(alg a) {
    return a == HS256 ? "HS256" : a == RS256 ? "RS256" : "ES256";
}

/* A token of fixture key a with kid (NULL: no kid) and payload. */
static char *token(alg a, const char *kid, const char *payload) {
    char header[256];
    if (kid)
        snprintf(header, sizeof header, "{\"alg\":\"%s\",\"typ\":\"JWT\",\"kid\":\"%s\"}",
                 alg_name(a), kid);
    else
        snprintf(header, sizeof header, "{\"alg\":\"%s\",\"typ\":\"JWT\"}", alg_name(a));
    EVP_PKEY *key = a == RS256 ? fx.rsa : fx.ec;
    return token_raw(header, payload, a, key, fx.hmac, sizeof fx.hmac);
}

/* The usual payload: valid at NOW for ISSUER and AUDIENCE, with tenant and project. */
static char *payload(void) {
    char *p = malloc(512);
    assert_non_null(p);
    snprintf(p, 512,
             "{\"iss\":\"%s\",\"aud\":\"%s\",\"sub\":\"user-1\",\"exp\":%lld,\"iat\":%lld,"
             "\"nbf\":%lld,\"tenant\":\"acme\",\"project\":\"search\"}",
             ISSUER, AUDIENCE, (long long)(NOW + 600), (long long)(NOW - 10),
             (long long)(NOW - 10));
    return p;
}

static gw_jwt_result verify_conf(const char *tok, const gw_jwt_conf *conf, gw_jwt_claims *out) {
    return gw_jwt_verify(fx.keys, conf, tok, strlen(tok), NOW, out);
}

static gw_jwt_result verify(const char *tok, gw_jwt_claims *out) {
    return verify_conf(tok, &fx.conf, out);
}

/* payload text signed by alg's key, verified with conf; the token is freed */
static gw_jwt_result check_payload_conf(alg a, const char *pl, const gw_jwt_conf *conf,
                                        gw_jwt_claims *out) {
    char *tok = token(a, NULL, pl);
    gw_jwt_result r = verify_conf(tok, conf, out);
    free(tok);
    return r;
}

static gw_jwt_result check_payload(alg a, const char *pl, gw_jwt_claims *out) {
    return check_payload_conf(a, pl, &fx.conf, out);
}

/* ---- fixture ---- */

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int setup(void **state) {
    (void)state;
    snprintf(fx.dir, sizeof fx.dir, "/tmp/aigw_jwt_XXXXXX");
    if (!mkdtemp(fx.dir)) return -1;
    snprintf(fx.path, sizeof fx.path, "%s/jwks.json", fx.dir);
    fx.rsa = EVP_RSA_gen(2048);
    fx.rsa_other = EVP_RSA_gen(2048);
    fx.ec = EVP_EC_gen("P-256");
    if (!fx.rsa || !fx.rsa_other || !fx.ec || RAND_bytes(fx.hmac, sizeof fx.hmac) != 1) return -1;

    char *n = bn_b64url(fx.rsa, OSSL_PKEY_PARAM_RSA_N, 0);
    char *e = bn_b64url(fx.rsa, OSSL_PKEY_PARAM_RSA_E, 0);
    char *x = bn_b64url(fx.ec, OSSL_PKEY_PARAM_EC_PUB_X, 32);
    char *y = bn_b64url(fx.ec, OSSL_PKEY_PARAM_EC_PUB_Y, 32);
    char *k = b64url(fx.hmac, sizeof fx.hmac);
    char *text = malloc(8192);
    /* the three keys, and three an IdP's set may also hold, which must be skipped: an
     * Ed25519 key, an encryption key, a key for an alg the gateway refuses */
    snprintf(text, 8192,
             "{\"keys\":["
             "{\"kty\":\"RSA\",\"kid\":\"rsa1\",\"use\":\"sig\",\"alg\":\"RS256\",\"n\":\"%s\","
             "\"e\":\"%s\"},"
             "{\"kty\":\"EC\",\"kid\":\"ec1\",\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\"},"
             "{\"kty\":\"oct\",\"kid\":\"hs1\",\"k\":\"%s\"},"
             "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"kid\":\"ed\",\"x\":\"%s\"},"
             "{\"kty\":\"RSA\",\"kid\":\"enc1\",\"use\":\"enc\",\"n\":\"%s\",\"e\":\"%s\"},"
             "{\"kty\":\"RSA\",\"kid\":\"ps1\",\"alg\":\"PS256\",\"n\":\"%s\",\"e\":\"%s\"}"
             "]}",
             n, e, x, y, k, x, n, e, n, e);
    write_file(fx.path, text);
    free(n);
    free(e);
    free(x);
    free(y);
    free(k);
    free(text);
    char err[256];
    fx.keys = gw_jwks_load(fx.path, err, sizeof err);
    if (!fx.keys) {
        fprintf(stderr, "jwks: %s\n", err);
        return -1;
    }
    fx.conf = gw_jwt_conf_default;
    fx.conf.issuer = ISSUER;
    fx.conf.audience = AUDIENCE;
    return 0;
}

static int teardown(void **state) {
    (void)state;
    gw_jwks_free(fx.keys);
    EVP_PKEY_free(fx.rsa);
    EVP_PKEY_free(fx.rsa_other);
    EVP_PKEY_free(fx.ec);
    unlink(fx.path);
    rmdir(fx.dir);
    return 0;
}

/* ---- tests ---- */

static void jwks_loads_usable_keys_and_skips_others(void **state) {
    (void)state;
    assert_int_equal(gw_jwks_count(fx.keys), 3);
    assert_int_equal(gw_jwks_skipped(fx.keys), 3);
}

static void valid_token_of_each_alg(void **state) {
    (void)state;
    const struct {
        alg a;
        const char *kid;
    } cases[] = {{RS256, "rsa1"}, {ES256, "ec1"}, {HS256, "hs1"}};
    char *pl = payload();
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *tok = token(cases[i].a, cases[i].kid, pl);
        assert_true(gw_jwt_looks_like(tok, strlen(tok)));
        gw_jwt_claims c;
        gw_jwt_result r = verify(tok, &c);
        assert_string_equal(gw_jwt_result_name(r), "ok");
        assert_string_equal(c.alg, alg_name(cases[i].a));
        assert_string_equal(c.kid, cases[i].kid);
        assert_string_equal(c.subject, "user-1");
        assert_string_equal(c.tenant, "acme");
        assert_string_equal(c.project, "search");
        assert_true(c.exp == NOW + 600);
        free(tok);
    }
    free(pl);
}

static void without_kid_each_key_of_the_type_is_tried(void **state) {
    (void)state;
    char *pl = payload();
    for (alg a = HS256; a <= ES256; a++) {
        gw_jwt_claims c;
        assert_int_equal(check_payload(a, pl, &c), GW_JWT_OK);
        /* the log learns which key verified it */
        assert_string_equal(c.kid, a == HS256 ? "hs1" : a == RS256 ? "rsa1" : "ec1");
    }
    /* signed by an RSA key the set does not hold: no RSA key verifies it */
    char *tok = token_raw("{\"alg\":\"RS256\"}", pl, RS256, fx.rsa_other, NULL, 0);
    gw_jwt_claims c;
    assert_int_equal(verify(tok, &c), GW_JWT_BAD_SIGNATURE);
    free(tok);
    free(pl);
}

/* The token with one byte of its decoded signature flipped. */
static char *flip_signature_byte(const char *tok, size_t at) {
    const char *dot = strrchr(tok, '.');
    size_t sig_chars = strlen(dot + 1);
    unsigned char sig[1024];
    long n = gw_b64url_decode(dot + 1, sig_chars, sig, sizeof sig);
    assert_true(n > 0);
    sig[at % (size_t)n] ^= 0x01;
    char *s = b64url(sig, (size_t)n);
    char *out = malloc((size_t)(dot - tok) + 2 + strlen(s));
    sprintf(out, "%.*s.%s", (int)(dot - tok), tok, s);
    free(s);
    return out;
}

static void bad_signature_is_refused(void **state) {
    (void)state;
    char *pl = payload();
    for (alg a = HS256; a <= ES256; a++) {
        char *tok = token(a, NULL, pl);
        for (size_t at = 0; at < 64; at += 21) {
            char *bad = flip_signature_byte(tok, at);
            gw_jwt_claims c;
            assert_string_equal(gw_jwt_result_name(verify(bad, &c)), "bad_signature");
            /* nothing of the payload was taken */
            assert_string_equal(c.tenant, "");
            free(bad);
        }
        /* the payload swapped for another (tenant "evil") under the original signature */
        char *other = strdup(pl);
        memcpy(strstr(other, "acme"), "evil", 4);
        char *tok2 = token(a, NULL, other);
        char *mixed = malloc(strlen(tok) + strlen(tok2));
        const char *d1 = strchr(tok, '.'), *d2 = strchr(tok2, '.'), *s1 = strrchr(tok, '.');
        sprintf(mixed, "%.*s.%.*s%s", (int)(d1 - tok), tok, (int)(strrchr(tok2, '.') - d2 - 1),
                d2 + 1, s1);
        gw_jwt_claims c;
        assert_int_equal(verify(mixed, &c), GW_JWT_BAD_SIGNATURE);
        free(mixed);
        free(tok2);
        free(other);
        free(tok);
    }
    free(pl);
}

static void es256_der_signature_is_refused(void **state) {
    (void)state;
    /* a signer that sends OpenSSL's DER instead of r || s */
    const char *header = "{\"alg\":\"ES256\",\"kid\":\"ec1\"}";
    char *pl = payload();
    char *h = b64url_str(header), *p = b64url_str(pl);
    char input[2048];
    snprintf(input, sizeof input, "%s.%s", h, p);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned char der[128];
    size_t n = sizeof der;
    assert_int_equal(EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, fx.ec), 1);
    assert_int_equal(EVP_DigestSign(ctx, der, &n, (unsigned char *)input, strlen(input)), 1);
    EVP_MD_CTX_free(ctx);
    char *s = b64url(der, n);
    char tok[4096];
    snprintf(tok, sizeof tok, "%s.%s", input, s);
    gw_jwt_claims c;
    assert_int_equal(verify(tok, &c), GW_JWT_BAD_SIGNATURE);
    free(s);
    free(h);
    free(p);
    free(pl);
}

static void time_claims_with_leeway(void **state) {
    (void)state;
    char pl[512];
    gw_jwt_claims c;
    const struct {
        const char *claims;
        long long at;
        gw_jwt_result want;
    } cases[] = {
        {"\"exp\":%lld", NOW - 61, GW_JWT_EXPIRED},
        {"\"exp\":%lld", NOW - 60, GW_JWT_EXPIRED}, /* valid only before exp + leeway */
        {"\"exp\":%lld", NOW - 59, GW_JWT_OK},
        {"\"exp\":%lld.5", NOW - 59, GW_JWT_OK}, /* NumericDate may have a fraction */
        {"\"exp\":1e300,\"x\":%lld", 0, GW_JWT_OK},
        {"\"exp\":-1e300,\"x\":%lld", 0, GW_JWT_EXPIRED},
        {"\"exp\":99999999999999999999,\"x\":%lld", 0, GW_JWT_OK}, /* past int64: clamped */
        {"\"exp\":\"%lld\"", NOW + 100, GW_JWT_MALFORMED},
        {"\"exp\":null,\"x\":%lld", 0, GW_JWT_MALFORMED},
        {"\"exp\":%lld,\"nbf\":9999999999", NOW + 100, GW_JWT_NOT_YET_VALID},
        {"\"exp\":9999999999,\"nbf\":%lld", NOW + 61, GW_JWT_NOT_YET_VALID},
        {"\"exp\":9999999999,\"nbf\":%lld", NOW + 60, GW_JWT_OK},
        {"\"exp\":9999999999,\"iat\":%lld", NOW + 120, GW_JWT_NOT_YET_VALID},
        {"\"exp\":9999999999,\"iat\":%lld", NOW + 30, GW_JWT_OK},
        {"\"exp\":9999999999,\"iat\":\"%lld\"", NOW, GW_JWT_MALFORMED},
        {"\"x\":%lld", 0, GW_JWT_MISSING_EXP},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char claims[128];
        snprintf(claims, sizeof claims, cases[i].claims, cases[i].at);
        snprintf(pl, sizeof pl, "{\"iss\":\"%s\",\"aud\":\"%s\",%s}", ISSUER, AUDIENCE, claims);
        gw_jwt_result r = check_payload(HS256, pl, &c);
        if (r != cases[i].want) fail_msg("%s: %s", pl, gw_jwt_result_name(r));
    }
    /* exp optional when so configured; a leeway of 0 */
    gw_jwt_conf conf = fx.conf;
    conf.require_exp = 0;
    snprintf(pl, sizeof pl, "{\"iss\":\"%s\",\"aud\":\"%s\"}", ISSUER, AUDIENCE);
    assert_int_equal(check_payload_conf(HS256, pl, &conf, &c), GW_JWT_OK);
    conf.leeway_s = 0;
    snprintf(pl, sizeof pl, "{\"iss\":\"%s\",\"aud\":\"%s\",\"exp\":%lld}", ISSUER, AUDIENCE,
             (long long)NOW);
    assert_int_equal(check_payload_conf(HS256, pl, &conf, &c), GW_JWT_EXPIRED);
    snprintf(pl, sizeof pl, "{\"iss\":\"%s\",\"aud\":\"%s\",\"exp\":%lld}", ISSUER, AUDIENCE,
             (long long)NOW + 1);
    assert_int_equal(check_payload_conf(HS256, pl, &conf, &c), GW_JWT_OK);
}

/* The window verify reports is exactly where its own time checks hold: the JWT cache serves a
 * verdict only inside it, so a cached token expires when a verified one would. */
static void validity_window_matches_the_time_checks(void **state) {
    (void)state;
    char pl[512];
    const char *const shapes[] = {
        "\"exp\":%lld,\"nbf\":%lld,\"iat\":%lld", /* nbf later than iat */
        "\"exp\":%lld,\"iat\":%lld,\"nbf\":%lld", /* iat later than nbf */
    };
    for (size_t k = 0; k < 2; k++) {
        char claims[160];
        snprintf(claims, sizeof claims, shapes[k], (long long)(NOW + 600), (long long)(NOW - 5),
                 (long long)(NOW - 20));
        snprintf(pl, sizeof pl, "{\"iss\":\"%s\",\"aud\":\"%s\",%s}", ISSUER, AUDIENCE, claims);
        char *tok = token(HS256, NULL, pl);
        gw_jwt_claims c;
        assert_int_equal(verify(tok, &c), GW_JWT_OK);
        assert_int_equal(c.valid_until, NOW + 600 + 60); /* exp + leeway */
        assert_int_equal(c.valid_from, NOW - 5 - 60);    /* the later of nbf and iat - leeway */
        gw_jwt_claims at;
        assert_int_equal(gw_jwt_verify(fx.keys, &fx.conf, tok, strlen(tok), c.valid_until - 1, &at),
                         GW_JWT_OK);
        assert_int_equal(gw_jwt_verify(fx.keys, &fx.conf, tok, strlen(tok), c.valid_until, &at),
                         GW_JWT_EXPIRED);
        assert_int_equal(gw_jwt_verify(fx.keys, &fx.conf, tok, strlen(tok), c.valid_from, &at),
                         GW_JWT_OK);
        assert_int_equal(gw_jwt_verify(fx.keys, &fx.conf, tok, strlen(tok), c.valid_from - 1, &at),
                         GW_JWT_NOT_YET_VALID);
        free(tok);
    }
    /* no exp (allowed by the settings), no nbf, no iat: unbounded both ways */
    gw_jwt_conf conf = fx.conf;
    conf.require_exp = 0;
    snprintf(pl, sizeof pl, "{\"iss\":\"%s\",\"aud\":\"%s\"}", ISSUER, AUDIENCE);
    gw_jwt_claims c;
    assert_int_equal(check_payload_conf(HS256, pl, &conf, &c), GW_JWT_OK);
    assert_true(c.valid_from == INT64_MIN);
    assert_true(c.valid_until == INT64_MAX);
}

static void audience_string_and_array(void **state) {
    (void)state;
    const struct {
        const char *aud;
        gw_jwt_result want;
    } cases[] = {
        {"\"aud\":\"aigw\"", GW_JWT_OK},
        {"\"aud\":[\"billing\",\"aigw\"]", GW_JWT_OK},
        {"\"aud\":\"other\"", GW_JWT_WRONG_AUDIENCE},
        {"\"aud\":\"aigw2\"", GW_JWT_WRONG_AUDIENCE},
        {"\"aud\":\"aig\"", GW_JWT_WRONG_AUDIENCE},
        {"\"aud\":[\"billing\",\"other\"]", GW_JWT_WRONG_AUDIENCE},
        {"\"aud\":[]", GW_JWT_WRONG_AUDIENCE},
        {"\"aud\":[[\"aigw\"]]", GW_JWT_WRONG_AUDIENCE},
        {"\"aud\":{\"aigw\":1}", GW_JWT_WRONG_AUDIENCE},
        {"\"aud\":\"aigw\\u0000x\"", GW_JWT_WRONG_AUDIENCE},
        {"\"x\":1", GW_JWT_WRONG_AUDIENCE},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char pl[256];
        snprintf(pl, sizeof pl, "{\"iss\":\"%s\",\"exp\":9999999999,%s}", ISSUER, cases[i].aud);
        gw_jwt_claims c;
        gw_jwt_result r = check_payload(ES256, pl, &c);
        if (r != cases[i].want) fail_msg("%s: %s", pl, gw_jwt_result_name(r));
    }
    /* not configured: not checked */
    gw_jwt_conf conf = fx.conf;
    conf.audience = NULL;
    gw_jwt_claims c;
    assert_int_equal(check_payload_conf(
                         ES256, "{\"iss\":\"" ISSUER "\",\"exp\":9999999999,\"aud\":1}", &conf, &c),
                     GW_JWT_OK);
}

static void issuer_must_match_exactly(void **state) {
    (void)state;
    const char *iss[] = {"\"iss\":\"https://evil.example\"", "\"iss\":\"https://idp.example/\"",
                         "\"iss\":\"HTTPS://IDP.EXAMPLE\"", "\"iss\":1", "\"x\":1"};
    for (size_t i = 0; i < sizeof iss / sizeof iss[0]; i++) {
        char pl[256];
        snprintf(pl, sizeof pl, "{\"aud\":\"aigw\",\"exp\":9999999999,%s}", iss[i]);
        gw_jwt_claims c;
        assert_string_equal(gw_jwt_result_name(check_payload(RS256, pl, &c)), "wrong_issuer");
    }
    gw_jwt_conf conf = fx.conf;
    conf.issuer = NULL;
    gw_jwt_claims c;
    assert_int_equal(
        check_payload_conf(RS256, "{\"aud\":\"aigw\",\"exp\":9999999999,\"iss\":\"x\"}", &conf, &c),
        GW_JWT_OK);
}

/* header.payload. with an empty signature, or one given */
static char *unsigned_token(const char *header, const char *pl, const char *sig) {
    char *h = b64url_str(header), *p = b64url_str(pl);
    char *tok = malloc(strlen(h) + strlen(p) + strlen(sig) + 3);
    sprintf(tok, "%s.%s.%s", h, p, sig);
    free(h);
    free(p);
    return tok;
}

static void alg_none_and_others_refused(void **state) {
    (void)state;
    char *pl = payload();
    const char *headers[] = {
        "{\"alg\":\"none\"}",  "{\"alg\":\"None\"}",   "{\"alg\":\"NONE\"}",
        "{\"alg\":\"HS512\"}", "{\"alg\":\"RS384\"}",  "{\"alg\":\"PS256\"}",
        "{\"alg\":\"hs256\"}", "{\"alg\":\"HS256 \"}", "{\"alg\":\"\"}",
    };
    for (size_t i = 0; i < sizeof headers / sizeof headers[0]; i++) {
        gw_jwt_claims c;
        char *tok = unsigned_token(headers[i], pl, "");
        assert_string_equal(gw_jwt_result_name(verify(tok, &c)), "alg_not_allowed");
        free(tok);
        /* with something in the signature's place: still the alg decides */
        tok = unsigned_token(headers[i], pl, "c2ln");
        assert_int_equal(verify(tok, &c), GW_JWT_ALG_NOT_ALLOWED);
        free(tok);
    }
    /* no alg, or not a string: malformed */
    const char *bad[] = {"{\"typ\":\"JWT\"}", "{\"alg\":null}", "{\"alg\":[\"HS256\"]}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        gw_jwt_claims c;
        char *tok = unsigned_token(bad[i], pl, "c2ln");
        assert_int_equal(verify(tok, &c), GW_JWT_MALFORMED);
        free(tok);
    }
    /* a valid HS256 header with an empty signature */
    gw_jwt_claims c;
    char *tok = unsigned_token("{\"alg\":\"HS256\"}", pl, "");
    assert_int_equal(verify(tok, &c), GW_JWT_MALFORMED);
    free(tok);
    free(pl);
}

static void alg_kty_confusion_refused(void **state) {
    (void)state;
    /* The classic attack: the RSA public key is public, so a forger HMACs a token with its
     * bytes and says HS256, hoping the verifier feeds the "key" to HMAC. */
    BIO *bio = BIO_new(BIO_s_mem());
    assert_int_equal(PEM_write_bio_PUBKEY(bio, fx.rsa), 1);
    char *pem;
    long pem_len = BIO_get_mem_data(bio, &pem);
    unsigned char *der = NULL;
    int der_len = i2d_PUBKEY(fx.rsa, &der);
    assert_true(der_len > 0);
    char *pl = payload();
    const struct {
        const unsigned char *secret;
        size_t len;
    } forged[] = {{(unsigned char *)pem, (size_t)pem_len}, {der, (size_t)der_len}};
    for (size_t i = 0; i < 2; i++) {
        gw_jwt_claims c;
        char *tok = token_raw("{\"alg\":\"HS256\",\"kid\":\"rsa1\"}", pl, HS256, NULL,
                              forged[i].secret, forged[i].len);
        assert_string_equal(gw_jwt_result_name(verify(tok, &c)), "alg_not_allowed");
        free(tok);
        /* without the kid only oct keys are tried, and the forged secret is none of them */
        tok = token_raw("{\"alg\":\"HS256\"}", pl, HS256, NULL, forged[i].secret, forged[i].len);
        assert_int_equal(verify(tok, &c), GW_JWT_BAD_SIGNATURE);
        free(tok);
    }
    /* the other way round: an RS256 token naming the HMAC key, an ES256 one naming the RSA */
    gw_jwt_claims c;
    char *tok = token_raw("{\"alg\":\"RS256\",\"kid\":\"hs1\"}", pl, RS256, fx.rsa, NULL, 0);
    assert_int_equal(verify(tok, &c), GW_JWT_ALG_NOT_ALLOWED);
    free(tok);
    tok = token_raw("{\"alg\":\"ES256\",\"kid\":\"rsa1\"}", pl, ES256, fx.ec, NULL, 0);
    assert_int_equal(verify(tok, &c), GW_JWT_ALG_NOT_ALLOWED);
    free(tok);
    /* a skipped key's kid is unknown: PS256 keys are not loaded */
    tok = token_raw("{\"alg\":\"RS256\",\"kid\":\"ps1\"}", pl, RS256, fx.rsa, NULL, 0);
    assert_int_equal(verify(tok, &c), GW_JWT_UNKNOWN_KEY);
    free(tok);
    OPENSSL_free(der);
    BIO_free(bio);
    free(pl);
}

static void unknown_kid_and_missing_key_type(void **state) {
    (void)state;
    char *pl = payload();
    gw_jwt_claims c;
    char *tok = token(RS256, "rotated-away", pl);
    assert_string_equal(gw_jwt_result_name(verify(tok, &c)), "unknown_key");
    assert_string_equal(c.kid, "rotated-away"); /* for the log */
    free(tok);
    /* a set with only an HMAC key: an ES256 token without kid has no key to try */
    char *k = b64url(fx.hmac, sizeof fx.hmac);
    char text[256];
    snprintf(text, sizeof text, "{\"keys\":[{\"kty\":\"oct\",\"k\":\"%s\"}]}", k);
    char err[256];
    gw_jwks *only_hmac = gw_jwks_parse(text, strlen(text), "inline", err, sizeof err);
    assert_non_null(only_hmac);
    tok = token(ES256, NULL, pl);
    assert_int_equal(gw_jwt_verify(only_hmac, &fx.conf, tok, strlen(tok), NOW, &c),
                     GW_JWT_UNKNOWN_KEY);
    free(tok);
    /* and an HS256 token without kid verifies with the kid-less key */
    tok = token(HS256, NULL, pl);
    assert_int_equal(gw_jwt_verify(only_hmac, &fx.conf, tok, strlen(tok), NOW, &c), GW_JWT_OK);
    assert_string_equal(c.kid, "");
    free(tok);
    /* a kid that is not a string, or too long */
    tok = token_raw("{\"alg\":\"HS256\",\"kid\":7}", pl, HS256, NULL, fx.hmac, sizeof fx.hmac);
    assert_int_equal(verify(tok, &c), GW_JWT_MALFORMED);
    free(tok);
    char header[512];
    snprintf(header, sizeof header, "{\"alg\":\"HS256\",\"kid\":\"%0300d\"}", 0);
    tok = token_raw(header, pl, HS256, NULL, fx.hmac, sizeof fx.hmac);
    assert_int_equal(verify(tok, &c), GW_JWT_MALFORMED);
    free(tok);
    gw_jwks_free(only_hmac);
    free(k);
    free(pl);
}

static void malformed_tokens(void **state) {
    (void)state;
    char *pl = payload();
    char *good = token(HS256, "hs1", pl);
    const char *d1 = strchr(good, '.'), *d2 = strrchr(good, '.');
    char *h = strndup(good, (size_t)(d1 - good));
    char *p = strndup(d1 + 1, (size_t)(d2 - d1 - 1));
    const char *s = d2 + 1;
    char buf[8 * 1024];
    const char *shapes[] = {"",          ".",          "..",
                            "%s",        "%s.%s",      "%s.%s.%s.%s",
                            ".%s.%s",    "%s..%s",     "%s.%s.%s=",
                            "%s=.%s.%s", "%s.%s.%s ",  " %s.%s.%s",
                            "%s.%s+.%s", "%s.%s.%s\n", "Bearer %s.%s.%s"};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
#pragma GCC diagnostic ignored "-Wformat-extra-args"
        snprintf(buf, sizeof buf, shapes[i], h, p, s, s);
#pragma GCC diagnostic pop
        gw_jwt_claims c;
        gw_jwt_result r = verify(buf, &c);
        if (r != GW_JWT_MALFORMED) fail_msg("\"%s\": %s", shapes[i], gw_jwt_result_name(r));
        assert_false(gw_jwt_looks_like(buf, strlen(buf)));
    }
    /* headers: a JSON array, an object with trailing data, not JSON, cut short, a valid
     * one (yet not the one signed), one with its last byte changed */
    const char *headers[] = {"WyJIUzI1NiJd" /* ["HS256"] */,     "eyJhbGciOiJIUzI1NiJ9e30",
                             "bm90IGpzb24" /* not json */,       "eyJhbGciOiJIUzI1NiJ" /* cut */,
                             "eyJhbGciOiJIUzI1NiJ9" /* valid */, "eyJhbGciOiJIUzI1NiJ8"};
    const gw_jwt_result want[] = {GW_JWT_MALFORMED, GW_JWT_MALFORMED,     GW_JWT_MALFORMED,
                                  GW_JWT_MALFORMED, GW_JWT_BAD_SIGNATURE, GW_JWT_MALFORMED};
    for (size_t i = 0; i < sizeof headers / sizeof headers[0]; i++) {
        snprintf(buf, sizeof buf, "%s.%s.%s", headers[i], p, s);
        gw_jwt_claims c;
        assert_int_equal(verify(buf, &c), want[i]);
    }
    /* a crit header: extensions the gateway cannot honour */
    gw_jwt_claims c;
    char *tok = token_raw("{\"alg\":\"HS256\",\"crit\":[\"exp\"],\"exp\":1}", pl, HS256, NULL,
                          fx.hmac, sizeof fx.hmac);
    assert_int_equal(verify(tok, &c), GW_JWT_MALFORMED);
    free(tok);
    /* a properly signed payload that is not an object, or JSON with trailing garbage */
    const char *payloads[] = {"[1]", "\"x\"", "{\"exp\":9999999999} x", "{\"a\":1,}", "\xff"};
    for (size_t i = 0; i < sizeof payloads / sizeof payloads[0]; i++) {
        tok = token(HS256, "hs1", payloads[i]);
        assert_int_equal(verify(tok, &c), GW_JWT_MALFORMED);
        free(tok);
    }
    /* no keys or no token */
    assert_int_equal(gw_jwt_verify(NULL, NULL, good, strlen(good), NOW, &c), GW_JWT_MALFORMED);
    assert_int_equal(gw_jwt_verify(fx.keys, NULL, NULL, 0, NOW, &c), GW_JWT_MALFORMED);
    free(h);
    free(p);
    free(good);
    free(pl);
}

static void oversized_token_refused(void **state) {
    (void)state;
    /* a correctly signed token just under the bound passes, one just over does not */
    char *pad = malloc(8192);
    size_t lens[2];
    gw_jwt_result got[2];
    for (int over = 0; over < 2; over++) {
        size_t pad_len = 5900 + (size_t)over * 120;
        memset(pad, 'a', pad_len);
        pad[pad_len] = '\0';
        char *pl = malloc(pad_len + 256);
        sprintf(pl, "{\"iss\":\"%s\",\"aud\":\"%s\",\"exp\":9999999999,\"pad\":\"%s\"}", ISSUER,
                AUDIENCE, pad);
        char *tok = token(HS256, "hs1", pl);
        lens[over] = strlen(tok);
        gw_jwt_claims c;
        got[over] = verify(tok, &c);
        free(tok);
        free(pl);
    }
    assert_true(lens[0] <= GW_JWT_MAX_TOKEN_BYTES);
    assert_true(lens[1] > GW_JWT_MAX_TOKEN_BYTES);
    assert_int_equal(got[0], GW_JWT_OK);
    assert_int_equal(got[1], GW_JWT_MALFORMED);
    /* a huge input is refused by its length alone */
    size_t big = 1 << 20;
    char *huge = malloc(big);
    memset(huge, 'A', big);
    huge[100] = huge[200] = '.';
    gw_jwt_claims c;
    assert_int_equal(gw_jwt_verify(fx.keys, &fx.conf, huge, big, NOW, &c), GW_JWT_MALFORMED);
    assert_false(gw_jwt_looks_like(huge, big));
    free(huge);
    free(pad);
}

static void claims_mapped_to_identity(void **state) {
    (void)state;
    gw_jwt_claims c;
#define BASE "\"iss\":\"" ISSUER "\",\"aud\":\"" AUDIENCE "\",\"exp\":9999999999"
    /* the fallback: org_id when tenant is absent or empty */
    assert_int_equal(check_payload(HS256, "{" BASE ",\"org_id\":\"org-9\",\"sub\":\"u\"}", &c),
                     GW_JWT_OK);
    assert_string_equal(c.tenant, "org-9");
    assert_string_equal(c.project, "");
    assert_int_equal(check_payload(HS256, "{" BASE ",\"tenant\":\"\",\"org_id\":\"org-9\"}", &c),
                     GW_JWT_OK);
    assert_string_equal(c.tenant, "org-9");
    assert_int_equal(check_payload(HS256, "{" BASE ",\"tenant\":\"t\",\"org_id\":\"org-9\"}", &c),
                     GW_JWT_OK);
    assert_string_equal(c.tenant, "t");
    /* integers are taken in decimal */
    assert_int_equal(check_payload(HS256, "{" BASE ",\"tenant\":42,\"project\":-7,\"sub\":1}", &c),
                     GW_JWT_OK);
    assert_string_equal(c.tenant, "42");
    assert_string_equal(c.project, "-7");
    assert_string_equal(c.subject, "1");
    /* nothing to map: empty fields, the caller decides */
    assert_int_equal(check_payload(HS256, "{" BASE "}", &c), GW_JWT_OK);
    assert_string_equal(c.tenant, "");
    assert_string_equal(c.subject, "");
    /* configured names, taken whole (no path syntax), and no fallback */
    gw_jwt_conf conf = fx.conf;
    conf.tenant_claim = "https://idp.example/tenant";
    conf.tenant_fallback_claim = NULL;
    conf.project_claim = "proj.id";
    assert_int_equal(
        check_payload_conf(HS256,
                           "{" BASE ",\"https://idp.example/tenant\":\"acme\",\"proj.id\":\"p1\","
                           "\"org_id\":\"ignored\",\"tenant\":\"ignored\"}",
                           &conf, &c),
        GW_JWT_OK);
    assert_string_equal(c.tenant, "acme");
    assert_string_equal(c.project, "p1");
    assert_int_equal(check_payload_conf(HS256, "{" BASE ",\"org_id\":\"x\"}", &conf, &c),
                     GW_JWT_OK);
    assert_string_equal(c.tenant, "");
    /* a value that is not a plain string or integer, too long, or with control characters */
    char longv[300];
    memset(longv, 'x', GW_JWT_NAME_MAX + 1);
    longv[GW_JWT_NAME_MAX + 1] = '\0';
    char pl[512];
    const char *bad[] = {"\"tenant\":[\"a\"]", "\"tenant\":{\"id\":1}", "\"tenant\":true",
                         "\"tenant\":1.5",     "\"project\":\"a\\nb\"", "\"sub\":\"a\\u0000b\"",
                         "\"tenant\":\"%s\"",  "\"org_id\":[1]"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char claim[400];
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
#pragma GCC diagnostic ignored "-Wformat-extra-args"
        snprintf(claim, sizeof claim, bad[i], longv);
#pragma GCC diagnostic pop
        snprintf(pl, sizeof pl, "{" BASE ",%s}", claim);
        gw_jwt_result r = check_payload(HS256, pl, &c);
        if (r != GW_JWT_MALFORMED) fail_msg("%s: %s", pl, gw_jwt_result_name(r));
    }
    /* exactly the longest value fits, and UTF-8 is kept as is */
    longv[GW_JWT_NAME_MAX] = '\0';
    snprintf(pl, sizeof pl, "{" BASE ",\"tenant\":\"%s\",\"project\":\"\xe6\xb5\x8b\xe8\xaf\x95\"}",
             longv);
    assert_int_equal(check_payload(HS256, pl, &c), GW_JWT_OK);
    assert_int_equal(strlen(c.tenant), GW_JWT_NAME_MAX);
    assert_string_equal(c.project, "\xe6\xb5\x8b\xe8\xaf\x95");
#undef BASE
}

static void base64url_is_strict(void **state) {
    (void)state;
    unsigned char out[16];
    assert_int_equal(gw_b64url_decode("", 0, out, sizeof out), 0);
    assert_int_equal(gw_b64url_decode("QQ", 2, out, sizeof out), 1);
    assert_int_equal(out[0], 'A');
    assert_int_equal(gw_b64url_decode("QUI", 3, out, sizeof out), 2);
    assert_int_equal(gw_b64url_decode("QUJD", 4, out, sizeof out), 3);
    assert_int_equal(gw_b64url_decode("-_8", 3, out, sizeof out), 2);
    assert_int_equal(out[0], 0xfb);
    assert_int_equal(out[1], 0xff);
    assert_int_equal(gw_b64url_decode("QQ==", 4, out, sizeof out), -1); /* padding */
    assert_int_equal(gw_b64url_decode("QR", 2, out, sizeof out), -1);   /* bits after the end */
    assert_int_equal(gw_b64url_decode("QUJ", 3, out, sizeof out), -1);
    assert_int_equal(gw_b64url_decode("Q", 1, out, sizeof out), -1);   /* no encoding is 1 long */
    assert_int_equal(gw_b64url_decode("+/8", 3, out, sizeof out), -1); /* standard alphabet */
    assert_int_equal(gw_b64url_decode("QU JD", 5, out, sizeof out), -1);
    assert_int_equal(gw_b64url_decode("QUJD", 4, out, 2), -1); /* no room */
}

/* Loads text as a JWKS and returns the error, "" when it loaded. */
static const char *load_error(const char *text) {
    static char err[512];
    write_file(fx.path, text);
    gw_jwks *k = gw_jwks_load(fx.path, err, sizeof err);
    if (k) {
        gw_jwks_free(k);
        return "";
    }
    return err;
}

static void assert_contains(const char *hay, const char *needle) {
    if (!strstr(hay, needle)) fail_msg("\"%s\" does not contain \"%s\"", hay, needle);
}

static void jwks_errors_name_file_and_key(void **state) {
    (void)state;
    char *n = bn_b64url(fx.rsa, OSSL_PKEY_PARAM_RSA_N, 0);
    char *e = bn_b64url(fx.rsa, OSSL_PKEY_PARAM_RSA_E, 0);
    char *x = bn_b64url(fx.ec, OSSL_PKEY_PARAM_EC_PUB_X, 32);
    char *y = bn_b64url(fx.ec, OSSL_PKEY_PARAM_EC_PUB_Y, 32);
    EVP_PKEY *small = EVP_RSA_gen(1024);
    char *small_n = bn_b64url(small, OSSL_PKEY_PARAM_RSA_N, 0);
    char text[8192];
    const char *err;

    char missing[200];
    snprintf(missing, sizeof missing, "%s/nope.json", fx.dir);
    char errbuf[256];
    assert_null(gw_jwks_load(missing, errbuf, sizeof errbuf));
    assert_contains(errbuf, missing);
    assert_contains(errbuf, "No such file");

    assert_contains(load_error("{\"keys\":[}"), fx.path);
    assert_contains(load_error("{\"keys\":[}"), "not a JSON object");
    assert_contains(load_error("{\"kty\":\"oct\",\"k\":\"x\"}"), "no \"keys\" array");
    assert_contains(load_error("{\"keys\":[]}"), "no key for HS256, RS256 or ES256");
    assert_contains(load_error("{\"keys\":[{\"kty\":\"OKP\"}]}"), "1 skipped");
    assert_contains(load_error("{\"keys\":[1]}"), "keys[0]: not a JSON object");
    assert_contains(load_error("{\"keys\":[{\"k\":\"x\"}]}"), "keys[0]: \"kty\" missing");

    /* the second key is the bad one; the message says which, by index and kid */
    snprintf(text, sizeof text,
             "{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"ok\",\"n\":\"%s\",\"e\":\"%s\"},"
             "{\"kty\":\"RSA\",\"kid\":\"bad\",\"n\":\"%s=\",\"e\":\"%s\"}]}",
             n, e, n, e);
    err = load_error(text);
    assert_contains(err, fx.path);
    assert_contains(err, "keys[1] (kid \"bad\")");
    assert_contains(err, "\"n\" is not base64url");

    snprintf(text, sizeof text, "{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"r\",\"n\":\"%s\"}]}", n);
    assert_contains(load_error(text), "\"e\" is missing");
    snprintf(text, sizeof text, "{\"keys\":[{\"kty\":\"RSA\",\"n\":\"%s\",\"e\":\"%s\"}]}", small_n,
             e);
    assert_contains(load_error(text), "keys[0]: RSA modulus is 1024 bits");
    snprintf(text, sizeof text,
             "{\"keys\":[{\"kty\":\"RSA\",\"n\":\"%s\",\"e\":\"AQABAQABAQABAQAB\"}]}", n);
    assert_contains(load_error(text), "exponent");
    unsigned char big_n[1025];
    memset(big_n, 0xff, sizeof big_n);
    char *big_n_text = b64url(big_n, sizeof big_n);
    snprintf(text, sizeof text, "{\"keys\":[{\"kty\":\"RSA\",\"n\":\"%s\",\"e\":\"%s\"}]}",
             big_n_text, e);
    assert_contains(load_error(text), "RSA modulus is 8200 bits; 2048 to 8192 are accepted");
    free(big_n_text);
    snprintf(text, sizeof text, "{\"keys\":[{\"kty\":\"RSA\",\"n\":\"%s\",\"e\":\"AQAA\"}]}", n);
    assert_contains(load_error(text), "not a valid RSA public key"); /* even exponent */
    snprintf(text, sizeof text,
             "{\"keys\":[{\"kty\":\"RSA\",\"alg\":\"HS256\",\"n\":\"%s\",\"e\":\"%s\"}]}", n, e);
    assert_contains(load_error(text), "\"alg\" HS256 does not fit \"kty\" RSA");
    /* one kid twice for one kty is ambiguous; across kty it is allowed */
    snprintf(text, sizeof text,
             "{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"a\",\"n\":\"%s\",\"e\":\"%s\"},"
             "{\"kty\":\"RSA\",\"kid\":\"a\",\"n\":\"%s\",\"e\":\"%s\"}]}",
             n, e, n, e);
    assert_contains(load_error(text), "keys[1] (kid \"a\"): a key of the same kty has this kid");
    snprintf(text, sizeof text,
             "{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"a\",\"n\":\"%s\",\"e\":\"%s\"},"
             "{\"kty\":\"EC\",\"kid\":\"a\",\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\"}]}",
             n, e, x, y);
    assert_string_equal(load_error(text), "");

    /* EC: a point off the curve, short coordinates, a curve given for ES256 that is not P-256 */
    snprintf(text, sizeof text,
             "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\"}]}", x, x);
    assert_contains(load_error(text), "not a point on P-256");
    snprintf(text, sizeof text,
             "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"AAAA\",\"y\":\"%s\"}]}", y);
    assert_contains(load_error(text), "32 bytes each");
    snprintf(text, sizeof text,
             "{\"keys\":[{\"kty\":\"EC\",\"alg\":\"ES256\",\"crv\":\"P-384\",\"x\":\"%s\","
             "\"y\":\"%s\"}]}",
             x, y);
    assert_contains(load_error(text), "needs \"crv\" P-256");
    /* HMAC: too short a secret */
    assert_contains(load_error("{\"keys\":[{\"kty\":\"oct\",\"kid\":\"h\",\"k\":\"c2hvcnQ\"}]}"),
                    "keys[0] (kid \"h\"): HMAC secret \"k\" is 5 bytes");
    /* a kid that is not a string */
    assert_contains(load_error("{\"keys\":[{\"kty\":\"oct\",\"kid\":1,\"k\":\"c2hvcnQ\"}]}"),
                    "\"kid\" is not a string");
    assert_contains(load_error("{\"keys\":[{\"kty\":\"oct\",\"kid\":\"a\\u0000b\",\"k\":\"x\"}]}"),
                    "\"kid\" is not a string");

    EVP_PKEY_free(small);
    free(small_n);
    free(n);
    free(e);
    free(x);
    free(y);
}

/* Workers verify with one shared key set at once. */
typedef struct worker_arg {
    char *tokens[3];
    int failures;
} worker_arg;

static void *verify_many(void *p) {
    worker_arg *w = p;
    for (int i = 0; i < 150; i++) {
        gw_jwt_claims c;
        const char *t = w->tokens[i % 3];
        if (gw_jwt_verify(fx.keys, &fx.conf, t, strlen(t), NOW, &c) != GW_JWT_OK ||
            strcmp(c.tenant, "acme") != 0)
            w->failures++;
    }
    return NULL;
}

static void concurrent_verification(void **state) {
    (void)state;
    char *pl = payload();
    worker_arg args[4];
    pthread_t th[4];
    for (int t = 0; t < 4; t++) {
        args[t].failures = 0;
        for (alg a = HS256; a <= ES256; a++)
            args[t].tokens[a] = token(a, NULL, pl);
        assert_int_equal(pthread_create(&th[t], NULL, verify_many, &args[t]), 0);
    }
    for (int t = 0; t < 4; t++) {
        pthread_join(th[t], NULL);
        assert_int_equal(args[t].failures, 0);
        for (int a = 0; a < 3; a++)
            free(args[t].tokens[a]);
    }
    free(pl);
}

static void result_names(void **state) {
    (void)state;
    const char *names[] = {
        "ok",      "malformed",     "alg_not_allowed", "unknown_key",  "bad_signature",
        "expired", "not_yet_valid", "missing_exp",     "wrong_issuer", "wrong_audience",
        "internal"};
    for (int r = GW_JWT_OK; r <= GW_JWT_INTERNAL; r++)
        assert_string_equal(gw_jwt_result_name((gw_jwt_result)r), names[r]);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(jwks_loads_usable_keys_and_skips_others),
        cmocka_unit_test(valid_token_of_each_alg),
        cmocka_unit_test(without_kid_each_key_of_the_type_is_tried),
        cmocka_unit_test(bad_signature_is_refused),
        cmocka_unit_test(es256_der_signature_is_refused),
        cmocka_unit_test(time_claims_with_leeway),
        cmocka_unit_test(validity_window_matches_the_time_checks),
        cmocka_unit_test(audience_string_and_array),
        cmocka_unit_test(issuer_must_match_exactly),
        cmocka_unit_test(alg_none_and_others_refused),
        cmocka_unit_test(alg_kty_confusion_refused),
        cmocka_unit_test(unknown_kid_and_missing_key_type),
        cmocka_unit_test(malformed_tokens),
        cmocka_unit_test(oversized_token_refused),
        cmocka_unit_test(claims_mapped_to_identity),
        cmocka_unit_test(base64url_is_strict),
        cmocka_unit_test(concurrent_verification),
        cmocka_unit_test(result_names),
        cmocka_unit_test(jwks_errors_name_file_and_key),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
