/* Registered claims (RFC 7519 §4.1) and the identity mapping (see jwt_claims.h). */
#include "security/jwt_claims.h"

#include <inttypes.h>
#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

/* Times are clamped to ±2^62 s so that adding a (clamped) leeway cannot overflow; the bound is
 * far beyond any real date. */
#define TIME_LIMIT ((int64_t)1 << 62)
#define LEEWAY_LIMIT ((int64_t)1 << 40)

static int64_t clamp(int64_t v, int64_t lim) {
    return v > lim ? lim : v < -lim ? -lim : v;
}

/* A NumericDate (seconds, possibly fractional). 1 present and set, 0 absent, -1 not a number. */
static int numeric_date(json_object *payload, const char *name, int64_t *out) {
    json_object *v;
    if (!json_object_object_get_ex(payload, name, &v)) return 0;
    if (json_object_is_type(v, json_type_int)) {
        *out = clamp(json_object_get_int64(v), TIME_LIMIT);
        return 1;
    }
    if (json_object_is_type(v, json_type_double)) {
        double d = json_object_get_double(v);
        if (isnan(d)) return -1;
        /* cut toward the past: at worst a token counts as expiring (or as valid) under a
         * second early, well inside any leeway */
        *out = d >= (double)TIME_LIMIT    ? TIME_LIMIT
               : d <= -(double)TIME_LIMIT ? -TIME_LIMIT
                                          : (int64_t)floor(d);
        return 1;
    }
    return -1;
}

static int string_is(json_object *v, const char *want) {
    size_t n = strlen(want);
    return json_object_is_type(v, json_type_string) && (size_t)json_object_get_string_len(v) == n &&
           memcmp(json_object_get_string(v), want, n) == 0;
}

/* aud is one string or an array of strings (RFC 7519 §4.1.3); anything else never matches. */
static int audience_matches(json_object *aud, const char *want) {
    if (json_object_is_type(aud, json_type_array)) {
        size_t n = json_object_array_length(aud);
        for (size_t i = 0; i < n; i++)
            if (string_is(json_object_array_get_idx(aud, i), want)) return 1;
        return 0;
    }
    return string_is(aud, want);
}

/* Copies claim `name` into out[0..cap) as text. 1 copied, 0 absent or "", -1 of a type other
 * than string or integer, too long, or holding a control character. */
static int copy_claim(json_object *payload, const char *name, char *out, size_t cap) {
    json_object *v;
    out[0] = '\0';
    if (!name || !json_object_object_get_ex(payload, name, &v)) return 0;
    if (json_object_is_type(v, json_type_int)) {
        int n = snprintf(out, cap, "%" PRId64, json_object_get_int64(v));
        return n > 0 && (size_t)n < cap ? 1 : -1;
    }
    if (!json_object_is_type(v, json_type_string)) return -1;
    const char *s = json_object_get_string(v);
    size_t len = (size_t)json_object_get_string_len(v);
    if (len >= cap) return -1;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f) return -1; /* NUL included: it would cut the value */
    }
    memcpy(out, s, len);
    out[len] = '\0';
    return len ? 1 : 0;
}

static gw_jwt_result check_times(json_object *payload, const gw_jwt_conf *conf, int64_t now,
                                 gw_jwt_claims *out) {
    int64_t leeway = clamp(conf->leeway_s < 0 ? 0 : conf->leeway_s, LEEWAY_LIMIT);
    now = clamp(now, TIME_LIMIT);
    int64_t exp = 0, nbf = 0, iat = 0;
    int has_exp = numeric_date(payload, "exp", &exp);
    int has_nbf = numeric_date(payload, "nbf", &nbf);
    int has_iat = numeric_date(payload, "iat", &iat);
    if (has_exp < 0 || has_nbf < 0 || has_iat < 0) return GW_JWT_MALFORMED;
    if (has_exp) {
        out->exp = exp;
        if (now - leeway >= exp) return GW_JWT_EXPIRED; /* valid only before exp (§4.1.4) */
    } else if (conf->require_exp) {
        return GW_JWT_MISSING_EXP;
    }
    if (has_nbf && now + leeway < nbf) return GW_JWT_NOT_YET_VALID;
    /* issued in the future: a token minted by a host whose clock is wrong, or made to outlive
     * its exp; either way not to be trusted yet */
    if (has_iat && iat > now + leeway) return GW_JWT_NOT_YET_VALID;
    /* the same checks, solved for now (the values are clamped: no overflow) */
    out->valid_until = has_exp ? exp + leeway : INT64_MAX;
    out->valid_from = INT64_MIN;
    if (has_nbf) out->valid_from = nbf - leeway;
    if (has_iat && iat - leeway > out->valid_from) out->valid_from = iat - leeway;
    return GW_JWT_OK;
}

gw_jwt_result gw_jwt_claims_check(json_object *payload, const gw_jwt_conf *conf, int64_t now,
                                  gw_jwt_claims *out) {
    gw_jwt_result r = check_times(payload, conf, now, out);
    if (r != GW_JWT_OK) return r;
    json_object *v;
    if (conf->issuer &&
        (!json_object_object_get_ex(payload, "iss", &v) || !string_is(v, conf->issuer)))
        return GW_JWT_WRONG_ISSUER;
    if (conf->audience &&
        (!json_object_object_get_ex(payload, "aud", &v) || !audience_matches(v, conf->audience)))
        return GW_JWT_WRONG_AUDIENCE;
    if (copy_claim(payload, "sub", out->subject, sizeof out->subject) < 0) return GW_JWT_MALFORMED;
    int t = copy_claim(payload, conf->tenant_claim, out->tenant, sizeof out->tenant);
    if (t == 0)
        t = copy_claim(payload, conf->tenant_fallback_claim, out->tenant, sizeof out->tenant);
    if (t < 0) return GW_JWT_MALFORMED;
    if (copy_claim(payload, conf->project_claim, out->project, sizeof out->project) < 0)
        return GW_JWT_MALFORMED;
    return GW_JWT_OK;
}
