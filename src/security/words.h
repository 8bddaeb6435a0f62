/* Sensitive words: a list of literal words (UTF-8, ASCII letters matched in any case) found in
 * whole texts (request contents, whole answers) and in streamed text (each SSE chunk's delta),
 * to block or to mask.
 *
 * The matcher is built once on the control thread when the config loads (Hyperscan compiles
 * every word into one database), then it is immutable and shared by every worker. Matching
 * state lives in a gw_words_scratch, one per worker thread, which never allocates while
 * matching. A stream's carry-over (the held-back tail) lives in a gw_words_stream, a fixed-size
 * struct the filter keeps in its per-request slot, as nginx's sub_filter keeps its own.
 *
 * Matching is on bytes, which is exact on characters for UTF-8: a word is valid UTF-8, so it
 * starts with a lead byte and ends with a whole character, and in valid UTF-8 text a lead byte
 * never occurs inside a character; so an occurrence can only start and end on character
 * boundaries (a Chinese word is never found across two neighbouring characters' bytes). Case
 * is ignored for ASCII letters only: Chinese has no case; other scripts' letters (Cyrillic,
 * accented Latin, full-width Latin) match as written. */
#ifndef AIGW_SECURITY_WORDS_H
#define AIGW_SECURITY_WORDS_H

#include <stddef.h>
#include <stdint.h>

enum {
    GW_WORDS_MAX_COUNT = 100000, /* words added to one builder, duplicates included */
    GW_WORDS_MAX_LEN = 256,      /* bytes of one word, after trimming */
    /* The most a stream ever holds back: (longest word - 1) bytes, or the 3 bytes of an
     * incomplete character at the end of a piece. */
    GW_WORDS_HOLD_MAX = GW_WORDS_MAX_LEN - 1,
};

typedef struct gw_words gw_words;
typedef struct gw_words_builder gw_words_builder;
typedef struct gw_words_scratch gw_words_scratch;

typedef enum {
    GW_WORDS_BLOCK, /* a word refuses the text: a stream stops at the piece that completes it */
    GW_WORDS_MASK,  /* every occurrence becomes one '*' per character */
} gw_words_action;

/* One occurrence: byte offsets in the text (for a stream, counted from the stream's first
 * byte), and the word's index for gw_words_word. */
typedef struct gw_words_match {
    uint64_t start, end; /* [start, end) */
    size_t word;
} gw_words_match;

/* ---- Building (control thread) ----
 * Each word is trimmed of ASCII whitespace and U+3000 (the ideographic space) at both ends,
 * then must be non-empty, valid UTF-8 without NUL, and at most GW_WORDS_MAX_LEN bytes. Words
 * equal but for ASCII case are one word (the first spelling is kept). Errors go to `err` as
 * one line; those about a file line read "path:line: what". */
gw_words_builder *gw_words_builder_new(void); /* NULL when out of memory */
void gw_words_builder_free(gw_words_builder *b);

/* One word, as written in the config. Returns 0, or -1 with the reason in `err`. */
int gw_words_builder_add(gw_words_builder *b, const char *word, size_t len, char *err,
                         size_t err_size);

/* A word list: one word a line (LF or CRLF), blank lines and lines whose first non-blank
 * character is '#' skipped, a UTF-8 byte order mark at the start ignored. `name` is what
 * errors call the text. Returns 0, or -1 at the first bad line. */
int gw_words_builder_add_text(gw_words_builder *b, const char *text, size_t len, const char *name,
                              char *err, size_t err_size);

/* The same, read from a file (at most 64 MiB). */
int gw_words_builder_add_file(gw_words_builder *b, const char *path, char *err, size_t err_size);

/* Compiles what was added. The builder is left as it was (free it after). An empty list gives
 * a matcher that never matches. Returns NULL with the reason in `err`. */
gw_words *gw_words_build(const gw_words_builder *b, char *err, size_t err_size);
void gw_words_free(gw_words *m);

size_t gw_words_count(const gw_words *m);   /* distinct words */
size_t gw_words_max_len(const gw_words *m); /* bytes of the longest word, 0 for none */
/* Word `index` as first written, for logs; NULL when out of range. */
const char *gw_words_word(const gw_words *m, size_t index, size_t *len);

/* ---- Matching state: one per worker thread, never shared ----
 * It keeps nothing from one call to the next (a stream's carry-over is in its gw_words_stream),
 * so one scratch serves every request and stream of its thread. It fits the matchers it was
 * made or fitted for: a worker fits it to each new snapshot's matcher on reload (about 65 KiB
 * of buffers plus Hyperscan's scratch, a few KiB). */
gw_words_scratch *gw_words_scratch_new(const gw_words *m);        /* NULL when out of memory */
int gw_words_scratch_fit(gw_words_scratch *s, const gw_words *m); /* 0, or -1 */
void gw_words_scratch_free(gw_words_scratch *s);

/* ---- Whole texts ---- */

/* Returns 1 when a word occurs in the text (one occurrence in `match`, nullable; with several,
 * Hyperscan reports about in order of end, and the scan stops at the first report), 0 when none
 * does, -1 on error (a scratch that does not fit, a text over 4 GiB). Allocates nothing. */
int gw_words_find(const gw_words *m, gw_words_scratch *s, const char *text, size_t len,
                  gw_words_match *match);

/* Writes the text with every occurrence replaced by one '*' per UTF-8 character; overlapping
 * and adjacent occurrences are masked as their union. `out` (not overlapping `text`) needs
 * `len` bytes: masking never lengthens a text. Returns 0 and the written length, and the
 * number of characters masked (nullable), or -1 on error. Allocates nothing. */
int gw_words_mask(const gw_words *m, gw_words_scratch *s, const char *text, size_t len, char *out,
                  size_t out_cap, size_t *out_len, size_t *masked_chars);

/* ---- Streams: text that arrives in pieces ----
 * Each piece is scanned together with the tail held back from the piece before, and the
 * stream releases only text no word can still reach: it holds back the longest tail that is
 * the beginning of a word, and an incomplete UTF-8 character at the very end. So a word split
 * over two or more pieces is caught, and not one byte of it is released before the decision;
 * released text always ends on a character boundary (for valid UTF-8 input).
 *
 * The struct is public so it can live in a filter's per-request slot without an allocation;
 * its fields are private. The matcher must outlive it (the request's snapshot reference holds
 * it). */
typedef struct gw_words_stream {
    const gw_words *m;
    gw_words_action action;
    int state;           /* private: running, blocked, finished */
    uint64_t offset;     /* stream offset of held[0] */
    size_t masked_chars; /* stars written so far */
    uint16_t held_len;
    uint16_t held_masked; /* held[0..held_masked) lies in an occurrence that started earlier */
    unsigned char held[GW_WORDS_HOLD_MAX];
} gw_words_stream;

enum {
    GW_WORDS_ERROR = -1,
    GW_WORDS_PASS = 0,    /* `out` holds the text safe to send now (perhaps none) */
    GW_WORDS_BLOCKED = 1, /* block action: a word completed; `match` says which and where */
};

void gw_words_stream_init(gw_words_stream *st, const gw_words *m, gw_words_action action);

/* Scans a piece. `out` needs len + gw_words_stream_held(st) bytes (at most len +
 * GW_WORDS_HOLD_MAX). On GW_WORDS_BLOCKED nothing of the word was ever released, `out` holds
 * only text before it that earlier parts of this piece released (if any), and the stream takes
 * no more input. Allocates nothing. */
int gw_words_stream_feed(gw_words_stream *st, gw_words_scratch *s, const char *piece, size_t len,
                         char *out, size_t out_cap, size_t *out_len, gw_words_match *match);

/* The end of the stream: releases what was held (masked as needed). `out` needs
 * gw_words_stream_held(st) bytes. A held tail never holds a whole word in the block action, so
 * finish blocks nothing; it returns GW_WORDS_PASS or GW_WORDS_ERROR. */
int gw_words_stream_finish(gw_words_stream *st, gw_words_scratch *s, char *out, size_t out_cap,
                           size_t *out_len);

size_t gw_words_stream_held(const gw_words_stream *st);   /* bytes held back now */
size_t gw_words_stream_masked(const gw_words_stream *st); /* characters masked so far */

#endif
