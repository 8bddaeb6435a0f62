/* Strict base64url without padding (RFC 4648 §5), the encoding of every part of a compact JWS
 * and of a JWK's key material (RFC 7515 §2, RFC 7518 §6). Hand-written because OpenSSL only
 * decodes standard base64, and its EVP_DecodeBlock counts padding bytes into the length. */
#ifndef AIGW_SECURITY_JWT_BASE64URL_H
#define AIGW_SECURITY_JWT_BASE64URL_H

#include <stddef.h>

/* The most bytes len characters can decode to. */
static inline size_t gw_b64url_decoded_max(size_t len) {
    return len / 4 * 3 + 2;
}

/* Decodes in[0..len) into out (room for outcap bytes). Returns the decoded length, or -1 for a
 * character outside the alphabet ('=' and whitespace included), a length no encoding has
 * (len % 4 == 1), non-zero bits after the last byte (a second spelling of the same bytes), or
 * too little room. */
long gw_b64url_decode(const char *in, size_t len, unsigned char *out, size_t outcap);

#endif
