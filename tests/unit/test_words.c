/* Sensitive words: ASCII case, Chinese text, character boundaries, overlapping words, word
 * lists and their errors, bounds, and streams: a word split over pieces is caught in both
 * actions and nothing of it is ever released, checked against a brute-force reference on
 * random texts cut at random bytes. Matching allocates nothing, and 5,000 words cost
 * microseconds on a 4 KB text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "security/words.h"

/* Counting allocations: this executable's malloc family stands in for glibc's for every
 * library in the process, Hyperscan included. AddressSanitizer brings its own. */
#if defined(__SANITIZE_ADDRESS__)
#define COUNTS_ALLOCATIONS 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define COUNTS_ALLOCATIONS 0
#endif
#endif
#ifndef COUNTS_ALLOCATIONS
#define COUNTS_ALLOCATIONS 1
#endif

static size_t allocations;

#if COUNTS_ALLOCATIONS
extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t size);

void *malloc(size_t size) {
    allocations++;
    return __libc_malloc(size);
}

void *calloc(size_t n, size_t size) {
    allocations++;
    return __libc_calloc(n, size);
}

void *realloc(void *p, size_t size) {
    allocations++;
    return __libc_realloc(p, size);
}
#endif

/* ---- helpers ---- */

static gw_words *build(const char *const *words, size_t n) {
    gw_words_builder *b = gw_words_builder_new();
    assert_non_null(b);
    char err[512] = "";
    for (size_t i = 0; i < n; i++) {
        if (gw_words_builder_add(b, words[i], strlen(words[i]), err, sizeof err))
            fail_msg("add %s: %s", words[i], err);
    }
    gw_words *m = gw_words_build(b, err, sizeof err);
    if (!m) fail_msg("build: %s", err);
    gw_words_builder_free(b);
    return m;
}

static int find(const gw_words *m, gw_words_scratch *s, const char *text, gw_words_match *match) {
    return gw_words_find(m, s, text, strlen(text), match);
}

/* Masks a NUL-terminated text into a static-size buffer and compares. */
static void assert_masked(const gw_words *m, gw_words_scratch *s, const char *text,
                          const char *expected) {
    char out[4096];
    size_t len = 0, stars = 0;
    assert_int_equal(gw_words_mask(m, s, text, strlen(text), out, sizeof out, &len, &stars), 0);
    out[len] = '\0';
    assert_string_equal(out, expected);
}

static int is_cont(unsigned char c) {
    return (c & 0xC0) == 0x80;
}

static unsigned char fold(unsigned char c) {
    return c >= 'A' && c <= 'Z' ? (unsigned char)(c + 32) : c;
}

static int caseless_eq(const char *a, const char *b, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (fold((unsigned char)a[i]) != fold((unsigned char)b[i])) return 0;
    return 1;
}

static int valid_utf8(const unsigned char *p, size_t len) {
    for (size_t i = 0; i < len;) {
        unsigned char c = p[i];
        size_t n = c < 0x80                 ? 1
                   : c >= 0xC2 && c <= 0xDF ? 2
                   : c >= 0xE0 && c <= 0xEF ? 3
                   : c >= 0xF0 && c <= 0xF4 ? 4
                                            : 0;
        if (!n || len - i < n) return 0;
        for (size_t k = 1; k < n; k++)
            if (!is_cont(p[i + k])) return 0;
        i += n;
    }
    return 1;
}

/* The reference: every occurrence of every word by brute force, the union masked with one '*'
 * a character. */
typedef struct reference {
    char *out;
    size_t out_len, stars;
    int any;
    size_t min_start, min_end; /* the leftmost start, the earliest end */
} reference;

static reference ref_run(const char *const *words, size_t nw, const char *text, size_t len) {
    reference r = {0};
    unsigned char *mark = calloc(len + 1, 1);
    r.out = malloc(len + 1);
    assert_true(mark && r.out);
    r.min_start = r.min_end = SIZE_MAX;
    int valid = valid_utf8((const unsigned char *)text, len);
    for (size_t i = 0; i < len; i++)
        for (size_t w = 0; w < nw; w++) {
            size_t wl = strlen(words[w]);
            if (wl > len - i || !caseless_eq(text + i, words[w], wl)) continue;
            /* UTF-8: a valid word in valid text can only lie on character boundaries */
            if (valid) {
                assert_false(is_cont((unsigned char)text[i]));
                assert_true(i + wl == len || !is_cont((unsigned char)text[i + wl]));
            }
            memset(mark + i, 1, wl);
            r.any = 1;
            if (i < r.min_start) r.min_start = i;
            if (i + wl < r.min_end) r.min_end = i + wl;
        }
    for (size_t i = 0; i < len; i++) {
        if (!mark[i])
            r.out[r.out_len++] = text[i];
        else if (!is_cont((unsigned char)text[i])) {
            r.out[r.out_len++] = '*';
            r.stars++;
        }
    }
    free(mark);
    return r;
}

static size_t hold_bound(const gw_words *m) {
    size_t b = gw_words_max_len(m) ? gw_words_max_len(m) - 1 : 0;
    return b > 3 ? b : 3;
}

/* Runs the text through a stream in both actions, cut at `cuts` (sorted byte offsets, any
 * byte, empty pieces allowed), and checks everything against the reference:
 *  - mask: what is released at every moment is a prefix of the reference's masked text (no
 *    byte is ever released and later found to belong to a word), and at the end all of it;
 *  - block: the stream blocks at the piece where the first word completes, never earlier,
 *    and up to then it released the text unchanged and only before the leftmost occurrence's
 *    start: not one byte of a word, not a prefix of one;
 *  - the held tail stays within its bound, released text ends on a character boundary. */
static void check_stream(const gw_words *m, gw_words_scratch *s, const char *const *words,
                         size_t nw, const char *text, size_t len, const size_t *cuts,
                         size_t ncuts) {
    reference r = ref_run(words, nw, text, len);
    int valid = valid_utf8((const unsigned char *)text, len);
    char *got = malloc(len + GW_WORDS_HOLD_MAX + 1);
    assert_non_null(got);

    for (int action = 0; action < 2; action++) {
        gw_words_stream st;
        gw_words_stream_init(&st, m, action == 0 ? GW_WORDS_BLOCK : GW_WORDS_MASK);
        size_t got_len = 0, at = 0;
        int blocked = 0;
        for (size_t c = 0; c <= ncuts && !blocked; c++) {
            size_t to = c < ncuts ? cuts[c] : len, n = 0;
            gw_words_match match = {0};
            int rc = gw_words_stream_feed(&st, s, text + at, to - at, got + got_len,
                                          len + GW_WORDS_HOLD_MAX - got_len, &n, &match);
            got_len += n;
            if (action == 0 && r.any && to >= r.min_end) {
                assert_int_equal(rc, GW_WORDS_BLOCKED);
                size_t wl = 0;
                const char *w = gw_words_word(m, match.word, &wl);
                assert_non_null(w);
                assert_int_equal(match.end - match.start, wl);
                assert_true(match.end <= to);
                assert_true(caseless_eq(text + match.start, w, wl));
                blocked = 1;
            } else
                assert_int_equal(rc, GW_WORDS_PASS);
            if (action == 0) {
                assert_memory_equal(got, text, got_len);
                if (r.any) assert_true(got_len <= r.min_start);
            } else {
                assert_true(got_len <= r.out_len);
                assert_memory_equal(got, r.out, got_len);
            }
            if (!blocked) {
                assert_true(gw_words_stream_held(&st) <= hold_bound(m));
                const char *full = action ? r.out : text;
                size_t full_len = action ? r.out_len : len;
                if (valid && got_len < full_len)
                    assert_false(is_cont((unsigned char)full[got_len]));
            }
            at = to;
        }
        if (!blocked) {
            size_t n = 0;
            assert_int_equal(gw_words_stream_finish(&st, s, got + got_len, GW_WORDS_HOLD_MAX, &n),
                             GW_WORDS_PASS);
            got_len += n;
            assert_int_equal(gw_words_stream_held(&st), 0);
            if (action == 0) {
                assert_false(r.any);
                assert_int_equal(got_len, len);
                assert_memory_equal(got, text, len);
            } else {
                assert_int_equal(got_len, r.out_len);
                assert_memory_equal(got, r.out, r.out_len);
                assert_int_equal(gw_words_stream_masked(&st), r.stars);
            }
        }
        /* The whole-text calls agree with the reference too. */
        if (action == 0) {
            gw_words_match match;
            assert_int_equal(gw_words_find(m, s, text, len, &match), r.any);
        } else {
            size_t n = 0, stars = 0;
            assert_int_equal(gw_words_mask(m, s, text, len, got, len, &n, &stars), 0);
            assert_int_equal(n, r.out_len);
            assert_memory_equal(got, r.out, n);
            assert_int_equal(stars, r.stars);
        }
    }
    free(got);
    free(r.out);
}

/* Feeds NUL-terminated pieces in one action; returns what was released (static storage),
 * the last return code, and after which piece the stream blocked (-1: never). */
typedef struct piece_run {
    char out[1024];
    size_t len;
    size_t released_after[8]; /* bytes released in total after each piece */
    int blocked_at;
    gw_words_match match;
} piece_run;

static void run_pieces(const gw_words *m, gw_words_scratch *s, gw_words_action action,
                       const char *const *pieces, size_t n, int finish, piece_run *pr) {
    memset(pr, 0, sizeof *pr);
    pr->blocked_at = -1;
    gw_words_stream st;
    gw_words_stream_init(&st, m, action);
    for (size_t i = 0; i < n; i++) {
        size_t got = 0;
        int rc = gw_words_stream_feed(&st, s, pieces[i], strlen(pieces[i]), pr->out + pr->len,
                                      sizeof pr->out - pr->len, &got, &pr->match);
        pr->len += got;
        pr->released_after[i] = pr->len;
        if (rc == GW_WORDS_BLOCKED) {
            pr->blocked_at = (int)i;
            pr->out[pr->len] = '\0';
            return;
        }
        assert_int_equal(rc, GW_WORDS_PASS);
    }
    if (finish) {
        size_t got = 0;
        assert_int_equal(
            gw_words_stream_finish(&st, s, pr->out + pr->len, sizeof pr->out - pr->len, &got),
            GW_WORDS_PASS);
        pr->len += got;
    }
    pr->out[pr->len] = '\0';
}

/* A small deterministic generator: tests must repeat exactly. */
static uint64_t next_random(uint64_t *state) {
    uint64_t x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *state = x;
}

static int compare_doubles(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double elapsed_ms(const struct timespec *a, const struct timespec *b) {
    return (double)(b->tv_sec - a->tv_sec) * 1e3 + (double)(b->tv_nsec - a->tv_nsec) / 1e6;
}

/* ---- whole texts ---- */

static void test_ascii_case_insensitive(void **state) {
    (void)state;
    const char *words[] = {"Forbidden Phrase", "secret"};
    gw_words *m = build(words, 2);
    gw_words_scratch *s = gw_words_scratch_new(m);
    assert_non_null(s);
    gw_words_match match;

    assert_int_equal(find(m, s, "this is a FORBIDDEN phrase!", &match), 1);
    assert_int_equal(match.start, 10);
    assert_int_equal(match.end, 26);
    assert_string_equal(gw_words_word(m, match.word, NULL), "Forbidden Phrase");
    assert_int_equal(find(m, s, "top SeCrEt", &match), 1);
    assert_int_equal(match.start, 4);
    assert_int_equal(find(m, s, "a secre t", NULL), 0);
    assert_int_equal(find(m, s, "", NULL), 0);
    assert_int_equal(find(m, s, "forbidden  phrase", NULL), 0);

    assert_masked(m, s, "Top SECRET: the forbidden PHRASE.", "Top ******: the ****************.");
    assert_masked(m, s, "nothing to see", "nothing to see");
    gw_words_scratch_free(s);
    gw_words_free(m);
}

static void test_chinese_in_chinese_text(void **state) {
    (void)state;
    const char *words[] = {"敏感词", "中国人民", "禁止"};
    gw_words *m = build(words, 3);
    gw_words_scratch *s = gw_words_scratch_new(m);
    gw_words_match match;

    assert_int_equal(find(m, s, "这是一个敏感词测试", &match), 1);
    assert_int_equal(match.start, 12); /* four characters of three bytes */
    assert_int_equal(match.end, 21);
    assert_int_equal(find(m, s, "敏感的词", NULL), 0);
    assert_int_equal(find(m, s, "中国人", NULL), 0);
    /* one star per character, not per byte */
    assert_masked(m, s, "这是一个敏感词测试", "这是一个***测试");
    assert_masked(m, s, "中国人民万岁，禁止入内", "****万岁，**入内");
    assert_masked(m, s, "mixed 敏感词 and ASCII", "mixed *** and ASCII");
    gw_words_scratch_free(s);
    gw_words_free(m);
}

static void test_utf8_boundaries(void **state) {
    (void)state;
    /* 中 is E4 B8 AD. Caseless matching folds ASCII letters only: a byte of a multi-byte
     * character that differs by 0x20 (E4 98 AD is U+462D) is another character. */
    const char *words[] = {"中", "\xd0\x94" /* Д */, "\xc3\x89" /* É */, "abc", "文字"};
    gw_words *m = build(words, 5);
    gw_words_scratch *s = gw_words_scratch_new(m);
    gw_words_match match;

    assert_int_equal(find(m, s, "\xe4\x98\xad", NULL), 0);
    assert_int_equal(find(m, s, "\xd0\xb4" /* д */, NULL), 0); /* ASCII case only */
    assert_int_equal(find(m, s, "\xc3\xa9" /* é */, NULL), 0); /* ASCII case only */
    assert_int_equal(find(m, s, "\xef\xbd\x81\xef\xbd\x82\xef\xbd\x83" /* ａｂｃ */, NULL), 0);
    assert_int_equal(find(m, s, "\xd0\x94", NULL), 1);
    /* 文 is E6 96 87, 字 E5 AD 97: no pair of characters holds 文字's bytes across their
     * boundary, and a stray byte before a word does not hide it. */
    assert_int_equal(find(m, s, "\xe6\x96\x87\xe5\xad", NULL), 0);
    assert_int_equal(find(m, s, "\xe4\xe6\x96\x87\xe5\xad\x97", &match), 1);
    assert_int_equal(match.start, 1);
    /* Every character whose bytes contain B8 AD after its lead byte: none matches 中. */
    char text[8];
    for (unsigned lead = 0xE0; lead <= 0xEF; lead++) {
        if (lead == 0xE4) continue;
        snprintf(text, sizeof text, "%c\xb8\xad", (char)lead);
        assert_int_equal(find(m, s, text, NULL), 0);
    }
    assert_masked(m, s,
                  "A中B\xd0\x94"
                  "C",
                  "A*B*C");

    /* Random valid UTF-8 texts: the reference asserts each occurrence lies on boundaries, and
     * Hyperscan's answer equals the reference. */
    const char *pieces[] = {
        "中",       "文", "字",           "a", "B",   "c", "\xd0\x94", "\xd0\xb4",
        "\xc3\x89", "😀",  "\xe4\x98\xad", " ", "文字"};
    uint64_t rnd = 0x9e3779b97f4a7c15ULL;
    char buf[256];
    for (int iter = 0; iter < 500; iter++) {
        size_t len = 0;
        int n = (int)(next_random(&rnd) % 24);
        for (int i = 0; i < n; i++) {
            const char *p = pieces[next_random(&rnd) % (sizeof pieces / sizeof *pieces)];
            memcpy(buf + len, p, strlen(p));
            len += strlen(p);
        }
        check_stream(m, s, words, 5, buf, len, NULL, 0);
    }
    gw_words_scratch_free(s);
    gw_words_free(m);
}

static void test_overlapping_words(void **state) {
    (void)state;
    const char *words[] = {"abc", "bcd", "she", "he", "hers", "xyzw", "yz", "ab2", "cd2"};
    gw_words *m = build(words, 9);
    gw_words_scratch *s = gw_words_scratch_new(m);
    assert_masked(m, s, "xabcdx", "x****x");       /* overlapping: the union */
    assert_masked(m, s, "ushers", "u*****");       /* she, he, hers */
    assert_masked(m, s, "-xyzw-yz-", "-****-**-"); /* nested */
    assert_masked(m, s, "ab2cd2", "******");       /* adjacent */
    assert_masked(m, s, "abcabc", "******");       /* repeated */
    assert_masked(m, s, "ab cd", "ab cd");
    gw_words_scratch_free(s);
    gw_words_free(m);
}

static void test_empty_matcher(void **state) {
    (void)state;
    gw_words *m = build(NULL, 0);
    assert_int_equal(gw_words_count(m), 0);
    gw_words_scratch *s = gw_words_scratch_new(m);
    assert_non_null(s);
    assert_int_equal(find(m, s, "anything", NULL), 0);
    assert_masked(m, s, "anything 中文", "anything 中文");
    /* a stream still holds an incomplete character back, and nothing else */
    gw_words_stream st;
    gw_words_stream_init(&st, m, GW_WORDS_MASK);
    char out[64];
    size_t n = 0;
    assert_int_equal(gw_words_stream_feed(&st, s, "ab\xe4\xb8", 4, out, sizeof out, &n, NULL),
                     GW_WORDS_PASS);
    assert_int_equal(n, 2);
    assert_int_equal(gw_words_stream_held(&st), 2);
    assert_int_equal(gw_words_stream_feed(&st, s, "\xad", 1, out, sizeof out, &n, NULL),
                     GW_WORDS_PASS);
    assert_int_equal(n, 3);
    assert_memory_equal(out, "中", 3);
    gw_words_scratch_free(s);
    gw_words_free(m);
}

/* ---- streams ---- */

static void test_split_across_two_pieces(void **state) {
    (void)state;
    const char *words[] = {"forbidden"};
    gw_words *m = build(words, 1);
    gw_words_scratch *s = gw_words_scratch_new(m);
    piece_run pr;

    const char *two[] = {"this is FORB", "idden!"};
    run_pieces(m, s, GW_WORDS_BLOCK, two, 2, 1, &pr);
    assert_int_equal(pr.blocked_at, 1);
    assert_int_equal(pr.released_after[0], 8); /* "this is ": the prefix "FORB" held back */
    assert_string_equal(pr.out, "this is ");
    assert_int_equal(pr.match.start, 8);
    assert_int_equal(pr.match.end, 17);

    run_pieces(m, s, GW_WORDS_MASK, two, 2, 1, &pr);
    assert_int_equal(pr.blocked_at, -1);
    assert_int_equal(pr.released_after[0], 8);
    assert_string_equal(pr.out, "this is *********!");

    /* A held prefix that does not become the word is released: at the next piece when it
     * turns away ("form"), at the end when the stream ends on it ("forbid"). */
    const char *turns[] = {"I like FORM", "s and forbid"};
    run_pieces(m, s, GW_WORDS_BLOCK, turns, 2, 1, &pr);
    assert_int_equal(pr.blocked_at, -1);
    assert_int_equal(pr.released_after[0], 11);
    assert_int_equal(pr.released_after[1], 17); /* "forbid" held until the end */
    assert_string_equal(pr.out, "I like FORMs and forbid");
    gw_words_scratch_free(s);
    gw_words_free(m);
}

static void test_split_across_three_pieces(void **state) {
    (void)state;
    const char *words[] = {"敏感词", "top secret"};
    gw_words *m = build(words, 2);
    gw_words_scratch *s = gw_words_scratch_new(m);
    piece_run pr;

    /* 敏感词 cut inside 感 (E6 84 9F) and again before 词 */
    const char *three[] = {"这是敏\xe6", "\x84\x9f", "词。"};
    run_pieces(m, s, GW_WORDS_BLOCK, three, 3, 1, &pr);
    assert_int_equal(pr.blocked_at, 2);
    assert_int_equal(pr.released_after[0], 6); /* 这是 */
    assert_int_equal(pr.released_after[1], 6);
    assert_string_equal(pr.out, "这是");
    assert_int_equal(pr.match.start, 6);
    assert_int_equal(pr.match.end, 15);

    run_pieces(m, s, GW_WORDS_MASK, three, 3, 1, &pr);
    assert_int_equal(pr.released_after[1], 6);
    assert_string_equal(pr.out, "这是***。");

    const char *ascii[] = {"the TOP", " SEC", "RET plan"};
    run_pieces(m, s, GW_WORDS_BLOCK, ascii, 3, 1, &pr);
    assert_int_equal(pr.blocked_at, 2);
    assert_string_equal(pr.out, "the ");
    run_pieces(m, s, GW_WORDS_MASK, ascii, 3, 1, &pr);
    assert_string_equal(pr.out, "the ********** plan");

    /* Before the end decides, what was released never ends with the word's beginning. */
    const char *unfinished[] = {"a top", " sec"};
    run_pieces(m, s, GW_WORDS_MASK, unfinished, 2, 0, &pr);
    assert_string_equal(pr.out, "a ");
    run_pieces(m, s, GW_WORDS_MASK, unfinished, 2, 1, &pr);
    assert_string_equal(pr.out, "a top sec");
    gw_words_scratch_free(s);
    gw_words_free(m);
}

static void test_mask_across_release_point(void **state) {
    (void)state;
    /* "abc" completes while "cd" may still become "cde": "ab" is released masked, "c" is held
     * and must stay masked although the next scan no longer sees "abc" whole. */
    const char *words[] = {"abc", "cde", "cdef"};
    gw_words *m = build(words, 3);
    gw_words_scratch *s = gw_words_scratch_new(m);
    piece_run pr;

    const char *a[] = {"xxabcd", "eyy"};
    run_pieces(m, s, GW_WORDS_MASK, a, 2, 1, &pr);
    assert_int_equal(pr.released_after[0], 4); /* "xx**" */
    assert_string_equal(pr.out, "xx*****yy");

    const char *b[] = {"xabc", "dz"};
    run_pieces(m, s, GW_WORDS_MASK, b, 2, 1, &pr);
    assert_string_equal(pr.out, "x***dz");

    const char *c[] = {"xabc", "d", "e", "f!"};
    run_pieces(m, s, GW_WORDS_MASK, c, 4, 1, &pr);
    assert_string_equal(pr.out, "x******!");
    gw_words_scratch_free(s);
    gw_words_free(m);
}

static void test_random_splits_against_reference(void **state) {
    (void)state;
    const char *words[] = {"abc",  "bcd", "abcdef", "cde", "中国", "中国人民",
                           "国人", "😀好", "é",      "Dd",  "x y",  "bb"};
    size_t nw = sizeof words / sizeof *words;
    gw_words *m = build(words, nw);
    gw_words_scratch *s = gw_words_scratch_new(m);
    const char *pieces[] = {"a", "b", "c", "d",  "e",  "f",  "A",    "B",    "C",       "D",
                            "E", " ", "x", "y",  "X",  "中", "国",   "人",   "民",      "好",
                            "é", "É", "😀", "的", "ab", "cd", "中国", "国人", "\xd0\x94"};
    uint64_t rnd = 42;
    char text[512];
    size_t cuts[8];
    for (int iter = 0; iter < 4000; iter++) {
        size_t len = 0;
        int n = (int)(next_random(&rnd) % 40);
        for (int i = 0; i < n; i++) {
            const char *p = pieces[next_random(&rnd) % (sizeof pieces / sizeof *pieces)];
            memcpy(text + len, p, strlen(p));
            len += strlen(p);
        }
        size_t ncuts = (size_t)(next_random(&rnd) % 8);
        for (size_t i = 0; i < ncuts; i++)
            cuts[i] = len ? (size_t)(next_random(&rnd) % (len + 1)) : 0;
        for (size_t i = 1; i < ncuts; i++) /* sort: cuts at any byte, repeats allowed */
            for (size_t j = i; j > 0 && cuts[j - 1] > cuts[j]; j--) {
                size_t t = cuts[j];
                cuts[j] = cuts[j - 1];
                cuts[j - 1] = t;
            }
        check_stream(m, s, words, nw, text, len, cuts, ncuts);
    }
    /* one byte a piece: the harshest cut */
    const char *one = "xx ABCDEF 中国人民 y 😀好 éD d bb";
    size_t len = strlen(one);
    size_t every[64];
    for (size_t i = 0; i < len; i++)
        every[i] = i + 1;
    check_stream(m, s, words, nw, one, len, every, len - 1);
    gw_words_scratch_free(s);
    gw_words_free(m);
}

static void test_big_pieces_cross_segments(void **state) {
    (void)state;
    /* A piece larger than the stream's segment (16 KiB) is scanned in parts behind the held
     * tail: a word across a part boundary is still caught. */
    const char *words[] = {"needle", "针头"};
    gw_words *m = build(words, 2);
    gw_words_scratch *s = gw_words_scratch_new(m);
    size_t len = 100000;
    char *text = malloc(len);
    assert_non_null(text);
    memset(text, '.', len);
    size_t at[] = {16384 - 3, 32768 - 1, 50000, 65536 - 5, len - 6};
    for (size_t i = 0; i < 5; i++)
        memcpy(text + at[i], i % 2 ? "NEEDLE" : "针头", 6);
    check_stream(m, s, words, 2, text, len, NULL, 0);
    size_t cuts[] = {10, 16383, 40000};
    check_stream(m, s, words, 2, text, len, cuts, 3);
    free(text);
    gw_words_scratch_free(s);
    gw_words_free(m);
}

static void test_hold_is_bounded(void **state) {
    (void)state;
    /* The longest word allowed: 255 q and an r. A run of q is always a possible start of it,
     * and the stream holds at most 255 bytes of it back. */
    char longest[GW_WORDS_MAX_LEN + 1];
    memset(longest, 'q', GW_WORDS_MAX_LEN - 1);
    longest[GW_WORDS_MAX_LEN - 1] = 'r';
    longest[GW_WORDS_MAX_LEN] = '\0';
    const char *words[] = {longest, "short"};
    gw_words *m = build(words, 2);
    assert_int_equal(gw_words_max_len(m), GW_WORDS_MAX_LEN);
    gw_words_scratch *s = gw_words_scratch_new(m);
    gw_words_stream st;
    gw_words_stream_init(&st, m, GW_WORDS_BLOCK);
    char out[2048];
    size_t n = 0, released = 0;
    for (int i = 0; i < 20; i++) {
        assert_int_equal(gw_words_stream_feed(&st, s, longest, 100, out, sizeof out, &n, NULL),
                         GW_WORDS_PASS);
        released += n;
        assert_true(gw_words_stream_held(&st) <= GW_WORDS_HOLD_MAX);
        if (i >= 2) assert_int_equal(gw_words_stream_held(&st), GW_WORDS_HOLD_MAX);
        assert_int_equal(released + gw_words_stream_held(&st), 100 * (size_t)(i + 1));
    }
    /* 255 q held back entirely, and the R that completes the word blocks it */
    gw_words_stream_init(&st, m, GW_WORDS_BLOCK);
    assert_int_equal(gw_words_stream_feed(&st, s, longest, 255, out, sizeof out, &n, NULL),
                     GW_WORDS_PASS);
    assert_int_equal(n, 0);
    assert_int_equal(gw_words_stream_feed(&st, s, "R", 1, out, sizeof out, &n, NULL),
                     GW_WORDS_BLOCKED);
    gw_words_scratch_free(s);
    gw_words_free(m);
}

static void test_stream_misuse(void **state) {
    (void)state;
    const char *words[] = {"bad"};
    gw_words *m = build(words, 1);
    gw_words_scratch *s = gw_words_scratch_new(m);
    gw_words_stream st;
    char out[64];
    size_t n = 0;
    gw_words_stream_init(&st, m, GW_WORDS_MASK);
    assert_int_equal(gw_words_stream_feed(&st, s, "xxba", 4, out, 3, &n, NULL), GW_WORDS_ERROR);
    assert_int_equal(gw_words_stream_feed(&st, s, "xxba", 4, out, 4, &n, NULL), GW_WORDS_PASS);
    assert_int_equal(gw_words_stream_held(&st), 2);
    /* out needs the new piece plus what is held */
    assert_int_equal(gw_words_stream_feed(&st, s, "d", 1, out, 2, &n, NULL), GW_WORDS_ERROR);
    assert_int_equal(gw_words_stream_finish(&st, s, out, 1, &n), GW_WORDS_ERROR);
    assert_int_equal(gw_words_stream_finish(&st, s, out, 2, &n), GW_WORDS_PASS);
    assert_int_equal(gw_words_stream_feed(&st, s, "x", 1, out, sizeof out, &n, NULL),
                     GW_WORDS_ERROR);
    gw_words_stream_init(&st, m, GW_WORDS_BLOCK);
    assert_int_equal(gw_words_stream_feed(&st, s, "BAD", 3, out, sizeof out, &n, NULL),
                     GW_WORDS_BLOCKED);
    assert_int_equal(gw_words_stream_feed(&st, s, "x", 1, out, sizeof out, &n, NULL),
                     GW_WORDS_ERROR);
    assert_int_equal(gw_words_stream_finish(&st, s, out, sizeof out, &n), GW_WORDS_ERROR);
    char small[2];
    assert_int_equal(gw_words_mask(m, s, "abc", 3, small, sizeof small, &n, NULL), -1);
    gw_words_scratch_free(s);
    gw_words_free(m);
}

static void test_scratch_fits_other_matchers(void **state) {
    (void)state;
    const char *few[] = {"a1"};
    gw_words *small = build(few, 1);
    char *many_text = malloc(3000 * 12);
    const char **many = malloc(3000 * sizeof *many);
    assert_true(many_text && many);
    for (int i = 0; i < 3000; i++) {
        snprintf(many_text + i * 12, 12, "w%dx%d", i, i * 7);
        many[i] = many_text + i * 12;
    }
    gw_words *big = build(many, 3000);
    gw_words_scratch *s = gw_words_scratch_new(small);
    assert_non_null(s);
    assert_int_equal(gw_words_scratch_fit(s, big), 0);
    assert_int_equal(find(big, s, "...W2999X20993...", NULL), 1);
    assert_int_equal(find(small, s, "..a1..", NULL), 1); /* still fits the first */
    gw_words_scratch_free(s);
    gw_words_free(big);
    gw_words_free(small);
    free(many);
    free(many_text);
}

/* ---- building ---- */

static void test_word_lists(void **state) {
    (void)state;
    char path[] = "/tmp/test_words_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char list[] = "\xef\xbb\xbf# sensitive words\n"
                        "\n"
                        "  forbidden phrase  \r\n"
                        "\t# indented comment\n"
                        "\xe3\x80\x80敏感词\xe3\x80\x80\n" /* ideographic spaces around */
                        "FORBIDDEN PHRASE\n"               /* the same word: one */
                        "C#\n"                             /* '#' inside a word is the word's */
                        "last without newline";
    assert_int_equal(write(fd, list, sizeof list - 1), (ssize_t)(sizeof list - 1));
    close(fd);

    gw_words_builder *b = gw_words_builder_new();
    char err[512] = "";
    if (gw_words_builder_add_file(b, path, err, sizeof err)) fail_msg("%s", err);
    assert_int_equal(gw_words_builder_add(b, "  from config ", 14, err, sizeof err), 0);
    gw_words *m = gw_words_build(b, err, sizeof err);
    assert_non_null(m);
    assert_int_equal(gw_words_count(m), 5);
    gw_words_scratch *s = gw_words_scratch_new(m);
    gw_words_match match;
    assert_int_equal(find(m, s, "a Forbidden Phrase", &match), 1);
    assert_string_equal(gw_words_word(m, match.word, NULL), "forbidden phrase"); /* first */
    assert_int_equal(find(m, s, "含有敏感词", NULL), 1);
    assert_int_equal(find(m, s, "I write c# daily", NULL), 1);
    assert_int_equal(find(m, s, "the LAST WITHOUT NEWLINE", NULL), 1);
    assert_int_equal(find(m, s, "words FROM CONFIG", NULL), 1);
    assert_int_equal(find(m, s, "sensitive words", NULL), 0); /* the comment is not a word */
    assert_null(gw_words_word(m, 5, NULL));
    gw_words_scratch_free(s);
    gw_words_free(m);
    gw_words_builder_free(b);
    unlink(path);

    /* errors name the file and line, and the byte */
    b = gw_words_builder_new();
    const char bad_utf8[] = "ok\n# fine\n\ngood \xe4\xb8 word\n";
    assert_int_equal(
        gw_words_builder_add_text(b, bad_utf8, sizeof bad_utf8 - 1, "words.txt", err, sizeof err),
        -1);
    assert_string_equal(err, "words.txt:4: invalid UTF-8 at byte 6");
    const char overlong[] = "\xc0\xaf\n"; /* an overlong '/' */
    assert_int_equal(
        gw_words_builder_add_text(b, overlong, sizeof overlong - 1, "o.txt", err, sizeof err), -1);
    assert_string_equal(err, "o.txt:1: invalid UTF-8 at byte 1");
    const char surrogate[] = "x\n\xed\xa0\x80\n";
    assert_int_equal(
        gw_words_builder_add_text(b, surrogate, sizeof surrogate - 1, "s.txt", err, sizeof err),
        -1);
    assert_string_equal(err, "s.txt:2: invalid UTF-8 at byte 1");
    const char nul[] = "a\0b\n";
    assert_int_equal(gw_words_builder_add_text(b, nul, sizeof nul - 1, "n.txt", err, sizeof err),
                     -1);
    assert_string_equal(err, "n.txt:1: NUL byte at byte 2");
    char toolong[400];
    memset(toolong, 'z', 300);
    memcpy(toolong + 300, "\n", 2);
    assert_int_equal(
        gw_words_builder_add_text(b, toolong, strlen(toolong), "l.txt", err, sizeof err), -1);
    assert_string_equal(err, "l.txt:1: word of 300 bytes, longer than 256");
    assert_int_equal(gw_words_builder_add(b, " \t ", 3, err, sizeof err), -1);
    assert_string_equal(err, "empty word");
    assert_int_equal(gw_words_builder_add(b, "\xff", 1, err, sizeof err), -1);
    assert_string_equal(err, "invalid UTF-8 at byte 1");
    assert_int_equal(gw_words_builder_add_file(b, "/nonexistent/words.txt", err, sizeof err), -1);
    assert_string_equal(err, "/nonexistent/words.txt: No such file or directory");
    assert_int_equal(gw_words_builder_add_file(b, "/tmp", err, sizeof err), -1);
    assert_string_equal(err, "/tmp: not a regular file");
    gw_words_builder_free(b);
}

static void test_bounds(void **state) {
    (void)state;
    gw_words_builder *b = gw_words_builder_new();
    char err[256] = "";
    char word[GW_WORDS_MAX_LEN + 2];
    memset(word, 'w', sizeof word);
    assert_int_equal(gw_words_builder_add(b, word, GW_WORDS_MAX_LEN, err, sizeof err), 0);
    assert_int_equal(gw_words_builder_add(b, word, GW_WORDS_MAX_LEN + 1, err, sizeof err), -1);
    assert_string_equal(err, "word of 257 bytes, longer than 256");
    /* Chinese: 85 characters (255 bytes) fit, 86 do not */
    char han[GW_WORDS_MAX_LEN + 3];
    for (int i = 0; i < 86; i++)
        memcpy(han + 3 * i, "汉", 3);
    assert_int_equal(gw_words_builder_add(b, han, 255, err, sizeof err), 0);
    assert_int_equal(gw_words_builder_add(b, han, 258, err, sizeof err), -1);
    gw_words_builder_free(b);

    /* 100,000 words are accepted, one more is refused where it stands */
    b = gw_words_builder_new();
    size_t text_len = 0;
    char *text = malloc((size_t)GW_WORDS_MAX_COUNT * 8 + 16);
    assert_non_null(text);
    for (int i = 0; i < GW_WORDS_MAX_COUNT; i++)
        text_len += (size_t)sprintf(text + text_len, "k%d\n", i);
    assert_int_equal(gw_words_builder_add_text(b, text, text_len, "big.txt", err, sizeof err), 0);
    assert_int_equal(gw_words_builder_add_text(b, "one more\n", 9, "more.txt", err, sizeof err),
                     -1);
    assert_string_equal(err, "more.txt:1: more than 100000 words");
    free(text);
    gw_words_builder_free(b);
}

/* ---- cost ---- */

static void test_no_allocation_when_matching(void **state) {
    (void)state;
    const char *words[] = {"secret", "敏感词", "abcdef"};
    gw_words *m = build(words, 3);
    gw_words_scratch *s = gw_words_scratch_new(m);
    char out[256];
    size_t n = 0;
    const char *text = "a SECRET 敏感词 abc";
    size_t before = allocations;
    gw_words_match match;
    assert_int_equal(gw_words_find(m, s, text, strlen(text), &match), 1);
    assert_int_equal(gw_words_mask(m, s, text, strlen(text), out, sizeof out, &n, NULL), 0);
    gw_words_stream st;
    gw_words_stream_init(&st, m, GW_WORDS_MASK);
    assert_int_equal(gw_words_stream_feed(&st, s, text, strlen(text), out, sizeof out, &n, NULL),
                     GW_WORDS_PASS);
    assert_int_equal(gw_words_stream_finish(&st, s, out, sizeof out, &n), GW_WORDS_PASS);
    assert_int_equal(allocations, before);
    gw_words_scratch_free(s);
    gw_words_free(m);
}

static void test_five_thousand_words_in_microseconds(void **state) {
    (void)state;
    enum { WORDS = 5000, TEXT = 4096, RUNS = 200 };
    uint64_t rnd = 7;
    char *storage = malloc(WORDS * 16);
    const char **words = malloc(WORDS * sizeof *words);
    assert_true(storage && words);
    for (int i = 0; i < WORDS; i++) {
        char *w = storage + i * 16;
        size_t len = 0;
        if (i % 2) { /* ASCII, 5 to 12 letters */
            size_t n = 5 + next_random(&rnd) % 8;
            for (size_t k = 0; k < n; k++)
                w[len++] = (char)('a' + next_random(&rnd) % 26);
        } else { /* Chinese, 2 to 4 characters of the common block */
            size_t n = 2 + next_random(&rnd) % 3;
            for (size_t k = 0; k < n; k++) {
                unsigned cp = 0x4E00 + (unsigned)(next_random(&rnd) % 0x51A6);
                w[len++] = (char)(0xE0 | cp >> 12);
                w[len++] = (char)(0x80 | (cp >> 6 & 0x3F));
                w[len++] = (char)(0x80 | (cp & 0x3F));
            }
        }
        w[len] = '\0';
        words[i] = w;
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    gw_words *m = build(words, WORDS);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double build_ms = elapsed_ms(&t0, &t1);
    gw_words_scratch *s = gw_words_scratch_new(m);

    /* 4 KB of mixed text, common Chinese and English prose: one clean (find must scan all of
     * it, the usual case), one with a word near the end (mask and the stream work on it) */
    static const char *filler[] = {"the model answers ", "我们的模型回答问题，", "data ",
                                   "速度很快。", "and then "};
    char *clean = malloc(TEXT), *text = malloc(TEXT);
    assert_true(clean && text);
    size_t len = 0, f = 0;
    while (len < TEXT - 64) {
        const char *p = filler[f++ % 5];
        memcpy(clean + len, p, strlen(p));
        len += strlen(p);
    }
    while (len < TEXT)
        clean[len++] = '.';
    memcpy(text, clean, TEXT);
    memcpy(text + TEXT - 40, words[1], strlen(words[1]));

    char *out = malloc(TEXT + GW_WORDS_HOLD_MAX);
    size_t n = 0;
    static double find_ms[RUNS], mask_ms[RUNS], stream_ms[RUNS];
    for (int run = 0; run < RUNS; run++) {
        clock_gettime(CLOCK_MONOTONIC, &t0);
        int found = gw_words_find(m, s, clean, TEXT, NULL);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        assert_int_equal(found, 0);
        find_ms[run] = elapsed_ms(&t0, &t1);

        clock_gettime(CLOCK_MONOTONIC, &t0);
        assert_int_equal(gw_words_mask(m, s, text, TEXT, out, TEXT, &n, NULL), 0);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        mask_ms[run] = elapsed_ms(&t0, &t1);
        assert_int_equal(n, TEXT); /* an ASCII word: as many stars as bytes */
        assert_memory_not_equal(out, text, TEXT);

        /* a stream of 32-byte pieces, as SSE deltas come: 128 scans and hold checks */
        gw_words_stream st;
        gw_words_stream_init(&st, m, GW_WORDS_MASK);
        clock_gettime(CLOCK_MONOTONIC, &t0);
        for (size_t at = 0; at < TEXT; at += 32) {
            assert_int_equal(gw_words_stream_feed(&st, s, text + at, 32, out,
                                                  TEXT + GW_WORDS_HOLD_MAX, &n, NULL),
                             GW_WORDS_PASS);
        }
        assert_int_equal(gw_words_stream_finish(&st, s, out, TEXT, &n), GW_WORDS_PASS);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        stream_ms[run] = elapsed_ms(&t0, &t1);
        assert_true(gw_words_stream_masked(&st) > 0);
    }
    /* Medians: one run preempted on a busy machine must not fail the test. */
    qsort(find_ms, RUNS, sizeof *find_ms, compare_doubles);
    qsort(mask_ms, RUNS, sizeof *mask_ms, compare_doubles);
    qsort(stream_ms, RUNS, sizeof *stream_ms, compare_doubles);
    print_message("5000 words: build %.1f ms; 4 KB text, medians of %d: find (no word) %.1f us, "
                  "mask %.1f us, stream of 32-byte pieces %.1f us (slowest %.3f ms)\n",
                  build_ms, RUNS, find_ms[RUNS / 2] * 1e3, mask_ms[RUNS / 2] * 1e3,
                  stream_ms[RUNS / 2] * 1e3, stream_ms[RUNS - 1]);
    assert_true(find_ms[RUNS / 2] < 5.0);
    assert_true(mask_ms[RUNS / 2] < 5.0);
    assert_true(stream_ms[RUNS / 2] < 5.0);
    free(clean);
    free(out);
    free(text);
    gw_words_scratch_free(s);
    gw_words_free(m);
    free(words);
    free(storage);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ascii_case_insensitive),
        cmocka_unit_test(test_chinese_in_chinese_text),
        cmocka_unit_test(test_utf8_boundaries),
        cmocka_unit_test(test_overlapping_words),
        cmocka_unit_test(test_empty_matcher),
        cmocka_unit_test(test_split_across_two_pieces),
        cmocka_unit_test(test_split_across_three_pieces),
        cmocka_unit_test(test_mask_across_release_point),
        cmocka_unit_test(test_random_splits_against_reference),
        cmocka_unit_test(test_big_pieces_cross_segments),
        cmocka_unit_test(test_hold_is_bounded),
        cmocka_unit_test(test_stream_misuse),
        cmocka_unit_test(test_scratch_fits_other_matchers),
        cmocka_unit_test(test_word_lists),
        cmocka_unit_test(test_bounds),
        cmocka_unit_test(test_no_allocation_when_matching),
        cmocka_unit_test(test_five_thousand_words_in_microseconds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
