/* Random edits of a text, for the unit tests that hold a fast path to the reference it stands
 * in for over many mutated inputs (test_h1_request_head.c, test_request_scan.c). Header-only:
 * each test includes it once. */
#ifndef AIGW_TESTS_MUTATE_H
#define AIGW_TESTS_MUTATE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* xorshift64: the same sequence every run, so a failure repeats */
static inline uint32_t mutate_random(uint64_t *state) {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    return (uint32_t)*state;
}

typedef struct mutation_kit {
    const char *bytes; /* a byte from here replaces or is inserted */
    size_t byte_count;
    const char *const *words; /* a word from here is inserted (none: word_count 0) */
    size_t word_count;
    uint64_t state;
} mutation_kit;

/* One to three edits of buf[0..len) (its room: cap): a byte replaced, inserted or deleted, a
 * word inserted, or the text cut. Returns the new length. */
static inline size_t mutate(mutation_kit *kit, char *buf, size_t len, size_t cap) {
    int edits = 1 + (int)(mutate_random(&kit->state) % 3);
    unsigned kinds = kit->word_count ? 5 : 4;
    for (int e = 0; e < edits && len > 0; e++) {
        size_t at = mutate_random(&kit->state) % len;
        char ch = kit->bytes[mutate_random(&kit->state) % kit->byte_count];
        switch (mutate_random(&kit->state) % kinds) {
        case 0: /* replace */
            buf[at] = ch;
            break;
        case 1: /* insert */
            if (len + 1 < cap) {
                memmove(buf + at + 1, buf + at, len - at);
                buf[at] = ch;
                len++;
            }
            break;
        case 2: /* delete */
            memmove(buf + at, buf + at + 1, len - at - 1);
            len--;
            break;
        case 3: /* cut */
            len = at;
            break;
        default: { /* insert a word that means something here */
            const char *w = kit->words[mutate_random(&kit->state) % kit->word_count];
            size_t wl = strlen(w);
            if (len + wl < cap) {
                memmove(buf + at + wl, buf + at, len - at);
                memcpy(buf + at, w, wl);
                len += wl;
            }
            break;
        }
        }
    }
    return len;
}

#endif
