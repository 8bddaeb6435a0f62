/* FIPS 180-4 SHA-256, one call for one whole message: the SHA extensions' rounds where the CPU
 * has them (x86 SHA-NI), the portable rounds elsewhere. */
#include "store/keys_sha256.h"

#include <string.h>
#if defined(__x86_64__) && defined(__GNUC__)
#include <cpuid.h>
#include <immintrin.h>
#define HAVE_SHA_NI_PATH 1
#endif

static const uint32_t K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

static inline uint32_t ror(uint32_t x, unsigned n) {
    return (x >> n) | (x << (32 - n));
}

static void block(uint32_t st[8], const uint8_t p[64]) {
    uint32_t w[64];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
               (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = ror(w[i - 15], 7) ^ ror(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = ror(w[i - 2], 17) ^ ror(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t a = st[0], b = st[1], c = st[2], d = st[3], e = st[4], f = st[5], g = st[6], h = st[7];
    for (int i = 0; i < 64; i++) {
        uint32_t t1 =
            h + (ror(e, 6) ^ ror(e, 11) ^ ror(e, 25)) + ((e & f) ^ (~e & g)) + K[i] + w[i];
        uint32_t t2 = (ror(a, 2) ^ ror(a, 13) ^ ror(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
        h = g;
        g = f;
        f = e;
        e = d + t1;
        d = c;
        c = b;
        b = a;
        a = t1 + t2;
    }
    st[0] += a;
    st[1] += b;
    st[2] += c;
    st[3] += d;
    st[4] += e;
    st[5] += f;
    st[6] += g;
    st[7] += h;
}

#ifdef HAVE_SHA_NI_PATH
/* One block with the SHA extensions: sha256rnds2 does two rounds on the state held as {A,B,E,F}
 * and {C,D,G,H} (high lane first), and sha256msg1/msg2 extend the message four words at a time.
 * About 300 instructions a block against 4,000 for the portable rounds. */
__attribute__((target("sha,ssse3,sse4.1"))) static void block_sha_ni(uint32_t st[8],
                                                                     const uint8_t p[64]) {
    const __m128i byte_swap = _mm_set_epi8(12, 13, 14, 15, 8, 9, 10, 11, 4, 5, 6, 7, 0, 1, 2, 3);
    __m128i abef = _mm_set_epi32((int)st[0], (int)st[1], (int)st[4], (int)st[5]);
    __m128i cdgh = _mm_set_epi32((int)st[2], (int)st[3], (int)st[6], (int)st[7]);
    const __m128i abef_in = abef, cdgh_in = cdgh;
    __m128i w[4]; /* the last sixteen message words, four to a vector, lane 0 the earliest */
    for (int i = 0; i < 4; i++)
        w[i] = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(const void *)(p + 16 * i)),
                                byte_swap);
    for (int r = 0; r < 16; r++) { /* four rounds a step */
        __m128i words = w[r & 3];
        if (r >= 4) { /* W[t] = s1(W[t-2]) + W[t-7] + s0(W[t-15]) + W[t-16] */
            __m128i x = _mm_sha256msg1_epu32(w[r & 3], w[(r + 1) & 3]);
            x = _mm_add_epi32(x, _mm_alignr_epi8(w[(r + 3) & 3], w[(r + 2) & 3], 4));
            words = w[r & 3] = _mm_sha256msg2_epu32(x, w[(r + 3) & 3]);
        }
        __m128i wk =
            _mm_add_epi32(words, _mm_loadu_si128((const __m128i *)(const void *)&K[4 * r]));
        /* two rounds: the result is the new {A,B,E,F}, and the old one is the new {C,D,G,H}
         * (C, D, G, H take A, B, E, F's values); two more with the next two words, and the
         * variables hold their names again */
        cdgh = _mm_sha256rnds2_epu32(cdgh, abef, wk);
        abef = _mm_sha256rnds2_epu32(abef, cdgh, _mm_shuffle_epi32(wk, 0x0e));
    }
    abef = _mm_add_epi32(abef, abef_in);
    cdgh = _mm_add_epi32(cdgh, cdgh_in);
    uint32_t lanes[4];
    _mm_storeu_si128((__m128i *)(void *)lanes, abef); /* F, E, B, A */
    st[0] = lanes[3];
    st[1] = lanes[2];
    st[4] = lanes[1];
    st[5] = lanes[0];
    _mm_storeu_si128((__m128i *)(void *)lanes, cdgh); /* H, G, D, C */
    st[2] = lanes[3];
    st[3] = lanes[2];
    st[6] = lanes[1];
    st[7] = lanes[0];
}

/* CPUID once: leaf 7's SHA bit, and leaf 1's SSSE3 and SSE4.1 (the shuffles around it). */
static int cpu_has_sha_ni(void) {
    static int known = -1;
    int has = __atomic_load_n(&known, __ATOMIC_RELAXED);
    if (has < 0) {
        unsigned a, b, c, d;
        int sse = __get_cpuid(1, &a, &b, &c, &d) && (c >> 9 & 1) && (c >> 19 & 1);
        has = sse && __get_cpuid_count(7, 0, &a, &b, &c, &d) && (b >> 29 & 1);
        __atomic_store_n(&known, has, __ATOMIC_RELAXED);
    }
    return has;
}
#endif

static void sha256(const void *data, size_t len, uint8_t out[32], int portable) {
    void (*rounds)(uint32_t *, const uint8_t *) = block;
#ifdef HAVE_SHA_NI_PATH
    if (!portable && cpu_has_sha_ni()) rounds = block_sha_ni;
#else
    (void)portable;
#endif
    uint32_t st[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                      0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    const uint8_t *p = data;
    size_t left = len;
    for (; left >= 64; p += 64, left -= 64)
        rounds(st, p);
    /* The tail, the 0x80 byte, zeros and the bit length: one block or two. */
    uint8_t tail[128] = {0};
    if (left) memcpy(tail, p, left);
    tail[left] = 0x80;
    size_t n = left + 1 + 8 <= 64 ? 64 : 128;
    uint64_t bits = (uint64_t)len * 8;
    for (int i = 0; i < 8; i++)
        tail[n - 1 - i] = (uint8_t)(bits >> (8 * i));
    rounds(st, tail);
    if (n == 128) rounds(st, tail + 64);
    for (int i = 0; i < 8; i++) {
        out[4 * i] = (uint8_t)(st[i] >> 24);
        out[4 * i + 1] = (uint8_t)(st[i] >> 16);
        out[4 * i + 2] = (uint8_t)(st[i] >> 8);
        out[4 * i + 3] = (uint8_t)st[i];
    }
}

void gw_sha256(const void *data, size_t len, uint8_t out[32]) {
    sha256(data, len, out, 0);
}

void gw_sha256_portable(const void *data, size_t len, uint8_t out[32]) {
    sha256(data, len, out, 1);
}
