#include "store/keys_secret.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/keys_sha256.h"

static void random_bytes(unsigned char *buf, size_t n) {
    if (RAND_bytes(buf, (int)n) != 1) {
        fputs("aigw: no randomness for a key secret\n", stderr);
        abort();
    }
}

void gw_key_secret_new(char out[GW_KEY_SECRET_LEN + 1]) {
    static const char b62[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    memcpy(out, GW_KEY_SECRET_PREFIX, GW_KEY_SECRET_PREFIX_LEN);
    size_t n = 0;
    unsigned char buf[64];
    while (n < GW_KEY_SECRET_RANDOM_LEN) {
        random_bytes(buf, sizeof buf);
        /* Rejection sampling: bytes >= 248 (= 4 * 62) are dropped, so each character is uniform
         * over the 62 (a plain % 62 would favour the first 8). */
        for (size_t i = 0; i < sizeof buf && n < GW_KEY_SECRET_RANDOM_LEN; i++)
            if (buf[i] < 248) out[GW_KEY_SECRET_PREFIX_LEN + n++] = b62[buf[i] % 62];
    }
    OPENSSL_cleanse(buf, sizeof buf);
    out[GW_KEY_SECRET_LEN] = '\0';
}

void gw_key_id_new(char out[GW_KEY_ID_MAX + 1]) {
    static const char hex[] = "0123456789abcdef";
    unsigned char buf[8];
    random_bytes(buf, sizeof buf);
    memcpy(out, "key_", 4);
    for (size_t i = 0; i < sizeof buf; i++) {
        out[4 + 2 * i] = hex[buf[i] >> 4];
        out[4 + 2 * i + 1] = hex[buf[i] & 15];
    }
    out[4 + 2 * sizeof buf] = '\0';
}

void gw_key_secret_hash(const char *secret, size_t len, uint8_t out[GW_KEY_HASH_LEN]) {
    gw_sha256(secret, len, out);
}

void gw_key_secret_display(const char *secret, size_t len, char out[GW_KEY_DISPLAY_LEN + 1]) {
    size_t n = len < GW_KEY_DISPLAY_LEN ? len : GW_KEY_DISPLAY_LEN;
    memcpy(out, secret, n);
    out[n] = '\0';
}

void gw_key_hash_hex(const uint8_t hash[GW_KEY_HASH_LEN], char out[2 * GW_KEY_HASH_LEN + 1]) {
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < GW_KEY_HASH_LEN; i++) {
        out[2 * i] = hex[hash[i] >> 4];
        out[2 * i + 1] = hex[hash[i] & 15];
    }
    out[2 * GW_KEY_HASH_LEN] = '\0';
}

static int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

int gw_key_hash_parse_hex(const char *hex, size_t len, uint8_t out[GW_KEY_HASH_LEN]) {
    if (len != 2 * GW_KEY_HASH_LEN) return -1;
    for (size_t i = 0; i < GW_KEY_HASH_LEN; i++) {
        int hi = hex_digit(hex[2 * i]), lo = hex_digit(hex[2 * i + 1]);
        if (hi < 0 || lo < 0) return -1;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}
