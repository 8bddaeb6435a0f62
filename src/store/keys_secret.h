/* Key secrets and ids: made from OpenSSL's RAND_bytes, kept only as a SHA-256 hash.
 *
 * Why a plain SHA-256 and not a keyed hash (HMAC with a server pepper) or a slow KDF (bcrypt,
 * argon2): those protect secrets a person chose, which are guessable; a stolen table of their
 * fast hashes would be brute-forced. These secrets are 238 random bits: no guess list exists,
 * and 2^238 SHA-256 evaluations are out of reach whatever the speed, so a keyed or slow hash
 * would add nothing but a key to manage (or milliseconds per request). The hash must also be
 * deterministic and unsalted, because it is the index a presented key is looked up by. */
#ifndef AIGW_STORE_KEYS_SECRET_H
#define AIGW_STORE_KEYS_SECRET_H

#include <stddef.h>
#include <stdint.h>

#include "store/key-t.h"

/* A new secret, "sk-aigw-" and 40 base62 characters, NUL-terminated. Aborts when the OS has no
 * randomness: no key is safer than a predictable one. */
void gw_key_secret_new(char out[GW_KEY_SECRET_LEN + 1]);

/* A new key id: "key_" and 16 lowercase hex characters (64 random bits). */
void gw_key_id_new(char out[GW_KEY_ID_MAX + 1]);

/* The SHA-256 of a secret as presented, the form the store and the snapshot index keep. */
void gw_key_secret_hash(const char *secret, size_t len, uint8_t out[GW_KEY_HASH_LEN]);

/* What is shown of a secret in lists: its first GW_KEY_DISPLAY_LEN bytes (fewer when shorter). */
void gw_key_secret_display(const char *secret, size_t len, char out[GW_KEY_DISPLAY_LEN + 1]);

/* 64 lowercase hex characters of a hash, NUL-terminated; and back (-1 when not 64 hex). */
void gw_key_hash_hex(const uint8_t hash[GW_KEY_HASH_LEN], char out[2 * GW_KEY_HASH_LEN + 1]);
int gw_key_hash_parse_hex(const char *hex, size_t len, uint8_t out[GW_KEY_HASH_LEN]);

#endif
