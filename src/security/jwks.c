/* Loading a JWKS file into an immutable key set (see jwks.h): the file, the set's shape, which
 * keys are used and which skipped, kids. The key material itself is jwks_key.c's. */
#include "security/jwks.h"

#include <errno.h>
#include <json-c/json.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json_parse.h"
#include "security/jwks-t.h"
#include "security/jwks_key.h"

enum { JWKS_MAX_DEPTH = 16, WHY_MAX = 200 };

/* A string member, NULL when absent; *bad when present but not a string. */
static const char *member_string(json_object *o, const char *name, int *bad) {
    json_object *v;
    if (!json_object_object_get_ex(o, name, &v)) return NULL;
    if (!json_object_is_type(v, json_type_string)) {
        *bad = 1;
        return NULL;
    }
    return json_object_get_string(v);
}

/* What one JWK is: a type to load, 0 to skip, -1 (with why) when it is wrong. */
static int classify(json_object *jwk, char *why, size_t whylen) {
    int bad = 0;
    const char *kty = member_string(jwk, "kty", &bad);
    const char *use = member_string(jwk, "use", &bad);
    const char *alg = member_string(jwk, "alg", &bad);
    const char *crv = member_string(jwk, "crv", &bad);
    if (bad || !kty) {
        snprintf(why, whylen,
                 "\"kty\" missing, or \"kty\", \"use\", \"alg\" or \"crv\" is not a "
                 "string");
        return -1;
    }
    gw_jwk_type t;
    const char *fits;
    if (strcmp(kty, "RSA") == 0) {
        t = GW_JWK_RSA;
        fits = "RS256";
    } else if (strcmp(kty, "EC") == 0) {
        t = GW_JWK_EC;
        fits = "ES256";
    } else if (strcmp(kty, "oct") == 0) {
        t = GW_JWK_OCT;
        fits = "HS256";
    } else {
        return 0; /* OKP and the like: not verifiable here, and not ours to judge */
    }
    if (use && strcmp(use, "sig") != 0) return 0; /* an encryption key */
    if (alg) {
        int ours = !strcmp(alg, "RS256") || !strcmp(alg, "ES256") || !strcmp(alg, "HS256");
        if (!ours) return 0; /* published for RS384, PS256, ...: never accepted here */
        if (strcmp(alg, fits) != 0) {
            /* a key labelled for another family is a broken set, and the very confusion
             * (RSA key as HMAC secret) the alg/kty match prevents: say so */
            snprintf(why, whylen, "\"alg\" %s does not fit \"kty\" %s", alg, kty);
            return -1;
        }
    }
    if (t == GW_JWK_EC && (!crv || strcmp(crv, "P-256") != 0)) {
        if (alg) { /* said ES256 yet is not P-256: wrong, not merely unsupported */
            snprintf(why, whylen, "\"alg\" ES256 needs \"crv\" P-256");
            return -1;
        }
        return 0;
    }
    return (int)t;
}

static void key_error(char *err, size_t errlen, const char *name, size_t i, const char *kid,
                      const char *why) {
    if (kid)
        snprintf(err, errlen, "%s: keys[%zu] (kid \"%.64s\"): %s", name, i, kid, why);
    else
        snprintf(err, errlen, "%s: keys[%zu]: %s", name, i, why);
}

/* Adds keys[i] to set when it is one to use. 0 on success or skip, -1 with err. */
static int add_key(gw_jwks *set, json_object *jwk, size_t i, const char *name, char *err,
                   size_t errlen) {
    char why[WHY_MAX];
    if (!json_object_is_type(jwk, json_type_object)) {
        key_error(err, errlen, name, i, NULL, "not a JSON object");
        return -1;
    }
    int bad = 0;
    const char *kid = member_string(jwk, "kid", &bad);
    json_object *kid_v = NULL;
    /* a NUL inside would make two kids compare equal as C strings */
    if (kid && json_object_object_get_ex(jwk, "kid", &kid_v) &&
        (size_t)json_object_get_string_len(kid_v) != strlen(kid))
        bad = 1;
    if (bad || (kid && strlen(kid) > GW_JWK_KID_MAX)) {
        snprintf(why, sizeof why, "\"kid\" is not a string of at most %d bytes", GW_JWK_KID_MAX);
        key_error(err, errlen, name, i, NULL, why);
        return -1;
    }
    int t = classify(jwk, why, sizeof why);
    if (t < 0) {
        key_error(err, errlen, name, i, kid, why);
        return -1;
    }
    if (t == 0) {
        set->skipped++;
        return 0;
    }
    /* one kid per kty: the kid picks the key, and two candidates would make the choice the
     * file's order (RFC 7517 §4.5 allows a shared kid only across kty) */
    for (size_t j = 0; kid && j < set->count; j++) {
        if (set->keys[j].kid && set->keys[j].type == (gw_jwk_type)t &&
            strcmp(set->keys[j].kid, kid) == 0) {
            key_error(err, errlen, name, i, kid, "a key of the same kty has this kid already");
            return -1;
        }
    }
    gw_jwk *k = &set->keys[set->count];
    if (gw_jwk_build(k, (gw_jwk_type)t, jwk, why, sizeof why) != 0) {
        key_error(err, errlen, name, i, kid, why);
        gw_jwk_clear(k);
        return -1;
    }
    k->type = (gw_jwk_type)t;
    if (kid && !(k->kid = strdup(kid))) {
        key_error(err, errlen, name, i, kid, "out of memory");
        gw_jwk_clear(k);
        return -1;
    }
    set->count++;
    return 0;
}

gw_jwks *gw_jwks_parse(const char *text, size_t len, const char *name, char *err, size_t errlen) {
    if (errlen) err[0] = '\0';
    json_object *root = gw_json_object_only(
        gw_json_parse(text, len, JWKS_MAX_DEPTH, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8));
    if (!root) {
        snprintf(err, errlen, "%s: not a JSON object (or not valid JSON)", name);
        return NULL;
    }
    json_object *keys;
    if (!json_object_object_get_ex(root, "keys", &keys) ||
        !json_object_is_type(keys, json_type_array)) {
        snprintf(err, errlen,
                 "%s: no \"keys\" array (a single JWK must be wrapped: {\"keys\": [...]})", name);
        json_object_put(root);
        return NULL;
    }
    size_t n = json_object_array_length(keys);
    gw_jwks *set = calloc(1, sizeof *set);
    if (!set || !(set->keys = calloc(n ? n : 1, sizeof *set->keys))) {
        snprintf(err, errlen, "%s: out of memory", name);
        free(set);
        json_object_put(root);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        if (add_key(set, json_object_array_get_idx(keys, i), i, name, err, errlen) != 0) {
            json_object_put(root);
            gw_jwks_free(set);
            return NULL;
        }
    }
    json_object_put(root);
    if (set->count == 0) {
        snprintf(err, errlen,
                 "%s: no key for HS256, RS256 or ES256 (%zu skipped: another kty, curve, use "
                 "or alg)",
                 name, set->skipped);
        gw_jwks_free(set);
        return NULL;
    }
    set->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
    set->hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    if (!set->sha256 || !set->hmac) {
        snprintf(err, errlen, "%s: OpenSSL has no SHA256 or HMAC", name);
        gw_jwks_free(set);
        return NULL;
    }
    return set;
}

gw_jwks *gw_jwks_load(const char *path, char *err, size_t errlen) {
    if (errlen) err[0] = '\0';
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    /* one byte more than allowed tells an oversized file from one exactly at the limit */
    char *text = malloc(GW_JWKS_MAX_FILE_BYTES + 1);
    size_t len = text ? fread(text, 1, GW_JWKS_MAX_FILE_BYTES + 1, f) : 0;
    int failed = !text || ferror(f);
    int saved = errno;
    fclose(f);
    gw_jwks *set = NULL;
    if (failed)
        snprintf(err, errlen, "%s: %s", path, text ? strerror(saved) : "out of memory");
    else if (len > GW_JWKS_MAX_FILE_BYTES)
        snprintf(err, errlen, "%s: larger than %d bytes: not a JWKS", path, GW_JWKS_MAX_FILE_BYTES);
    else
        set = gw_jwks_parse(text, len, path, err, errlen);
    free(text);
    return set;
}

void gw_jwks_free(gw_jwks *keys) {
    if (!keys) return;
    for (size_t i = 0; i < keys->count; i++)
        gw_jwk_clear(&keys->keys[i]);
    free(keys->keys);
    EVP_MD_free(keys->sha256);
    EVP_MAC_free(keys->hmac);
    free(keys);
}

size_t gw_jwks_count(const gw_jwks *keys) {
    return keys ? keys->count : 0;
}

size_t gw_jwks_skipped(const gw_jwks *keys) {
    return keys ? keys->skipped : 0;
}
