/* SHA-256 of a short message, computed here rather than through OpenSSL's EVP: on the request
 * path every presented key is hashed, and OpenSSL 3's EVP_Digest fetches the algorithm from the
 * provider store (a read lock) and allocates a context on every call. This one takes no lock,
 * allocates nothing and is checked against OpenSSL's output in tests/unit/test_keys.c. */
#ifndef AIGW_STORE_KEYS_SHA256_H
#define AIGW_STORE_KEYS_SHA256_H

#include <stddef.h>
#include <stdint.h>

void gw_sha256(const void *data, size_t len, uint8_t out[32]);
/* The same without the CPU's SHA extensions, which gw_sha256 uses where it finds them: for the
 * test that holds both to OpenSSL. */
void gw_sha256_portable(const void *data, size_t len, uint8_t out[32]);

#endif
