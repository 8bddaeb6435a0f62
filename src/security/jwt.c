/* A compact JWS taken apart and checked in order (see jwt.h): shape, header, alg, key and
 * signature, and only then the payload's claims. */
#include "security/jwt.h"

#include <json-c/json.h>
#include <string.h>

#include "core/json_parse.h"
#include "security/jwt_base64url.h"
#include "security/jwt_claims.h"
#include "security/jwt_signature.h"

enum {
    /* a header or a payload decodes to at most 3/4 of the token */
    PART_MAX = GW_JWT_MAX_TOKEN_BYTES / 4 * 3 + 2,
    SIG_MAX = 8192 / 8, /* an RSA signature as long as the longest modulus loaded */
    JSON_DEPTH = 32,
    JSON_FLAGS = JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8,
};

const gw_jwt_conf gw_jwt_conf_default = {
    .issuer = NULL,
    .audience = NULL,
    .leeway_s = 60,
    .require_exp = 1,
    .tenant_claim = "tenant",
    .tenant_fallback_claim = "org_id",
    .project_claim = "project",
};

const char *gw_jwt_result_name(gw_jwt_result r) {
    switch (r) {
    case GW_JWT_OK:
        return "ok";
    case GW_JWT_MALFORMED:
        return "malformed";
    case GW_JWT_ALG_NOT_ALLOWED:
        return "alg_not_allowed";
    case GW_JWT_UNKNOWN_KEY:
        return "unknown_key";
    case GW_JWT_BAD_SIGNATURE:
        return "bad_signature";
    case GW_JWT_EXPIRED:
        return "expired";
    case GW_JWT_NOT_YET_VALID:
        return "not_yet_valid";
    case GW_JWT_MISSING_EXP:
        return "missing_exp";
    case GW_JWT_WRONG_ISSUER:
        return "wrong_issuer";
    case GW_JWT_WRONG_AUDIENCE:
        return "wrong_audience";
    case GW_JWT_INTERNAL:
        return "internal";
    }
    return "unknown";
}

static int is_b64url(unsigned char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
}

/* The offsets of the two dots; 0 unless exactly two, around non-empty base64url parts (the
 * signature may be empty: an "alg":"none" token is told apart by its header, later). */
static int split(const char *t, size_t len, size_t *dot1, size_t *dot2) {
    size_t dots = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)t[i];
        if (c == '.') {
            if (dots == 2) return 0;
            *(dots++ ? dot2 : dot1) = i;
        } else if (!is_b64url(c)) {
            return 0;
        }
    }
    return dots == 2 && *dot1 > 0 && *dot2 > *dot1 + 1;
}

int gw_jwt_looks_like(const char *token, size_t len) {
    size_t d1, d2;
    return len <= GW_JWT_MAX_TOKEN_BYTES && split(token, len, &d1, &d2) && d2 + 1 < len;
}

/* A base64url part decoded into buf and parsed as a JSON object; NULL when it is not one. */
static json_object *decode_object(const char *part, size_t len, unsigned char *buf) {
    long n = gw_b64url_decode(part, len, buf, PART_MAX);
    if (n <= 0) return NULL;
    return gw_json_object_only(gw_json_parse((const char *)buf, (size_t)n, JSON_DEPTH, JSON_FLAGS));
}

/* Reads alg and kid from the header into *alg and out->kid. */
static gw_jwt_result read_header(json_object *h, gw_jwt_alg *alg, gw_jwt_claims *out) {
    json_object *v;
    /* RFC 7515 §4.1.11: extensions listed in crit must be understood; none are here */
    if (json_object_object_get_ex(h, "crit", NULL)) return GW_JWT_MALFORMED;
    if (json_object_object_get_ex(h, "kid", &v)) {
        size_t n = (size_t)json_object_get_string_len(v);
        if (!json_object_is_type(v, json_type_string) || n > GW_JWK_KID_MAX ||
            memchr(json_object_get_string(v), '\0', n))
            return GW_JWT_MALFORMED;
        memcpy(out->kid, json_object_get_string(v), n);
        out->kid[n] = '\0';
    }
    if (!json_object_object_get_ex(h, "alg", &v) || !json_object_is_type(v, json_type_string))
        return GW_JWT_MALFORMED;
    *alg = gw_jwt_alg_parse(json_object_get_string(v), (size_t)json_object_get_string_len(v));
    if (!*alg) return GW_JWT_ALG_NOT_ALLOWED; /* "none", "HS512", "RS384", "PS256", ... */
    out->alg = gw_jwt_alg_name(*alg);
    return GW_JWT_OK;
}

gw_jwt_result gw_jwt_verify(const gw_jwks *keys, const gw_jwt_conf *conf, const char *token,
                            size_t len, int64_t now, gw_jwt_claims *out) {
    memset(out, 0, sizeof *out);
    out->alg = "";
    if (!conf) conf = &gw_jwt_conf_default;
    size_t d1, d2;
    if (!keys || !token || len > GW_JWT_MAX_TOKEN_BYTES || !split(token, len, &d1, &d2))
        return GW_JWT_MALFORMED;

    unsigned char buf[PART_MAX]; /* the header's bytes, then the payload's */
    json_object *header = decode_object(token, d1, buf);
    if (!header) return GW_JWT_MALFORMED;
    gw_jwt_alg alg = 0;
    gw_jwt_result r = read_header(header, &alg, out);
    json_object_put(header);
    if (r != GW_JWT_OK) return r;

    const char *sig_text = token + d2 + 1;
    size_t sig_chars = len - d2 - 1;
    unsigned char sig[SIG_MAX];
    long sig_len = sig_chars ? gw_b64url_decode(sig_text, sig_chars, sig, sizeof sig) : -1;
    if (sig_len <= 0) return GW_JWT_MALFORMED;
    const char *used_kid = NULL;
    r = gw_jwt_signature_check(keys, alg, out->kid[0] ? out->kid : NULL,
                               (const unsigned char *)token, d2, sig, (size_t)sig_len, &used_kid);
    if (r != GW_JWT_OK) return r;
    if (used_kid && !out->kid[0]) {
        size_t n = strlen(used_kid); /* at most GW_JWK_KID_MAX, checked at load */
        memcpy(out->kid, used_kid, n + 1);
    }

    json_object *payload = decode_object(token + d1 + 1, d2 - d1 - 1, buf);
    if (!payload) return GW_JWT_MALFORMED;
    r = gw_jwt_claims_check(payload, conf, now, out);
    json_object_put(payload);
    return r;
}
