/* Strict base64url (see jwt_base64url.h). */
#include "security/jwt_base64url.h"

#include <limits.h>
#include <stdint.h>

/* 0..63 for the alphabet, -1 for everything else */
static int sextet(unsigned char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '-') return 62;
    if (c == '_') return 63;
    return -1;
}

long gw_b64url_decode(const char *in, size_t len, unsigned char *out, size_t outcap) {
    size_t rest = len % 4;
    if (rest == 1) return -1;
    size_t need = len / 4 * 3 + (rest ? rest - 1 : 0);
    if (need > outcap || need > (size_t)LONG_MAX) return -1;
    size_t o = 0, i = 0;
    for (; i + 4 <= len; i += 4) {
        int a = sextet((unsigned char)in[i]), b = sextet((unsigned char)in[i + 1]);
        int c = sextet((unsigned char)in[i + 2]), d = sextet((unsigned char)in[i + 3]);
        if ((a | b | c | d) < 0) return -1;
        uint32_t v = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)c << 6 | (uint32_t)d;
        out[o++] = (unsigned char)(v >> 16);
        out[o++] = (unsigned char)(v >> 8);
        out[o++] = (unsigned char)v;
    }
    if (rest) {
        int a = sextet((unsigned char)in[i]), b = sextet((unsigned char)in[i + 1]);
        int c = rest == 3 ? sextet((unsigned char)in[i + 2]) : 0;
        if ((a | b | c) < 0) return -1;
        uint32_t v = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)c << 6;
        /* the bits past the last whole byte must be zero: "AB" and "AC" must not both decode */
        if (rest == 2 && (v & 0xffff)) return -1;
        if (rest == 3 && (v & 0xff)) return -1;
        out[o++] = (unsigned char)(v >> 16);
        if (rest == 3) out[o++] = (unsigned char)(v >> 8);
    }
    return (long)o;
}
