/* What words.c (building) and words_scan.c (matching) share: the matcher's layout. */
#ifndef AIGW_SECURITY_WORDS_IMPL_H
#define AIGW_SECURITY_WORDS_IMPL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "security/hyperscan.h"
#include "security/words.h"

/* One distinct word. The Hyperscan pattern id is the word's index in the sorted array, so a
 * match gives the word's length (its start is end - len: literals need no start-of-match
 * tracking) and its spelling. */
typedef struct gw_words_entry {
    uint32_t folded;   /* offset in pool: the word with ASCII letters lowercased */
    uint32_t original; /* offset in pool: the first spelling added, NUL-terminated */
    uint16_t len;
} gw_words_entry;

struct gw_words {
    hs_database_t *db;      /* block mode; NULL when there are no words */
    const gw_hyperscan *hs; /* the library that made db; NULL with it */
    size_t count;
    size_t max_len;
    gw_words_entry *entries; /* sorted by folded bytes (memcmp order, a prefix first) */
    char *pool;
    /* Per folded first byte: the entries that start with it, [lo, hi), and the longest of
     * them. The hold-back check only looks there; a byte no word starts with (every UTF-8
     * continuation byte among them) is skipped at once. */
    uint32_t first_lo[256], first_hi[256];
    uint16_t first_max_len[256];
};

/* Segment size for streams and for masking: a piece is scanned at most this much at a time,
 * behind the held tail, in the scratch's buffers. */
enum { GW_WORDS_SEGMENT = 16384, GW_WORDS_WINDOW = GW_WORDS_HOLD_MAX + GW_WORDS_SEGMENT };

struct gw_words_scratch {
    hs_scratch_t *hs;                        /* NULL until fitted to a matcher with words */
    unsigned char buf[GW_WORDS_WINDOW];      /* held tail + segment, contiguous for hs_scan */
    uint16_t end_len[GW_WORDS_WINDOW + 1];   /* [e]: longest occurrence ending at e, 0: none */
    unsigned char masked[GW_WORDS_WINDOW];   /* [i]: byte i lies in an occurrence */
    unsigned char folded[GW_WORDS_HOLD_MAX]; /* the tail being checked, lowercased */
};

static inline unsigned char gw_words_fold(unsigned char c) {
    return c >= 'A' && c <= 'Z' ? (unsigned char)(c + ('a' - 'A')) : c;
}

/* memcmp order with a prefix before its extensions: the words that start with a given text
 * are then one run, beginning at the first word not below it (what the hold-back search
 * needs). */
static inline int gw_words_compare(const unsigned char *a, size_t alen, const unsigned char *b,
                                   size_t blen) {
    int c = memcmp(a, b, alen < blen ? alen : blen);
    if (c) return c;
    return alen < blen ? -1 : alen > blen;
}

#endif
