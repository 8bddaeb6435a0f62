/* A validating JSON scanner that builds nothing. The response path uses it to check an upstream
 * body or stream event and to find the byte span of one top-level member, so the gateway can
 * splice in another model name and pass every other byte through untouched: numbers, key order
 * and unknown fields stay exactly as the engine wrote them, at no allocation. */
#ifndef AIGW_CORE_JSON_SCAN_H
#define AIGW_CORE_JSON_SCAN_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct gw_json_scan_result {
    int is_object;      /* the top-level value is an object */
    int key_count;      /* how many top-level members are named `key` (escapes decoded) */
    size_t value_start; /* span of the first such member's value: [value_start, value_end) */
    size_t value_end;
    size_t error_offset; /* where a malformed text went wrong */
    const char *error;   /* what was expected there; NULL when the text is valid */
} gw_json_scan_result;

/* Validates `text` as exactly one JSON value with optional surrounding whitespace.
 * Returns 0 when valid, -1 otherwise (see error, error_offset). `key` may be NULL. */
int gw_json_scan(const char *text, size_t len, const char *key, gw_json_scan_result *out);

/* One scan that also finds what the stream path needs of an event, so it reads each byte
 * once: the spans of several top-level members, and the string values of members with given
 * names at any depth (the texts a model generated, for estimates). */
typedef struct gw_json_member {
    const char *name; /* in: the member's name (escapes in the text decoded, as above) */
    size_t name_len;
    int count;          /* out: how many top-level members have the name */
    size_t value_start; /* out: the first one's value span, when count > 0 */
    size_t value_end;
} gw_json_member;

typedef struct gw_json_text_key {
    const char *name; /* matched against keys written without escapes */
    size_t len;
} gw_json_text_key;

typedef struct gw_json_find {
    gw_json_member *members;
    size_t member_count;
    const gw_json_text_key *text_keys;
    size_t text_key_count;
    /* each string value of a member named text_keys[which], as written (escapes undecoded),
     * in document order; only once the value was found valid */
    void (*on_text)(void *ud, size_t which, const char *raw, size_t raw_len);
    void *ud;
} gw_json_find;

/* gw_json_scan with `find` instead of one key (out's key_count and value span stay 0). A scan
 * that fails may have reported texts before its error. */
int gw_json_scan_find(const char *text, size_t len, const gw_json_find *find,
                      gw_json_scan_result *out);
/* The same for a top-level object whose first `resume` bytes are known valid: a prefix scanned
 * before (a stream's events repeat their first members byte for byte) that ends right after a
 * top-level member's value. The scan goes on from there; find's members are not reset, the
 * caller sets them to what the prefix holds. */
int gw_json_scan_find_from(const char *text, size_t len, size_t resume, const gw_json_find *find,
                           gw_json_scan_result *out);

/* The string token at text[at] (its opening quote): 0 with *end after its closing quote when it
 * is a valid JSON string, -1 otherwise (a stream's repeated event checks its one new string so;
 * a full scan says what is wrong). */
int gw_json_scan_string(const char *text, size_t len, size_t at, size_t *end);
/* The same, and *has_escape whether the string holds an escape (its text as written is then
 * not its value). */
int gw_json_scan_string_escaped(const char *text, size_t len, size_t at, size_t *end,
                                int *has_escape);

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define GW_JSON_WORD_AT_A_TIME 1
/* The high bit of each byte of w (eight string bytes in memory order) that is a quote, a
 * backslash or a control character. Every such byte is flagged; a byte right after one may be
 * too (a borrow), never a byte before the first. */
static inline uint64_t gw_json_special_bytes(uint64_t w) {
    const uint64_t ones = 0x0101010101010101ull, high = 0x8080808080808080ull;
    uint64_t quote = w ^ (ones * '"'), backslash = w ^ (ones * '\\');
    uint64_t hit = ((quote - ones) & ~quote) | ((backslash - ones) & ~backslash) |
                   (w - ones * 0x20); /* a byte under 0x20 borrows */
    return hit & ~w & high;           /* bytes from 0x80 up are UTF-8, never flagged */
}
#endif

/* gw_json_scan_string_to's answer for a string its look flagged: the full reading. */
int gw_json_scan_string_to_exact(const char *text, size_t at, size_t close);

/* Whether the string token opened by the quote at text[at] is valid and closed by the quote at
 * text[close]: 0 when so, -1 otherwise. Inline, for a stream's every event: a string with no
 * escape costs a few word compares (the bytes up to text[close] are read, and up to 8 bytes
 * before it). */
static inline __attribute__((always_inline)) int gw_json_scan_string_to(const char *text, size_t at,
                                                                        size_t close) {
    if (close <= at || text[at] != '"' || text[close] != '"') return -1;
    const char *p = text + at + 1, *end = text + close;
#ifdef GW_JSON_WORD_AT_A_TIME
    /* nothing to stop at between the quotes: no escape, and the string ends at `close` */
    while (end - p >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        if (gw_json_special_bytes(w)) return gw_json_scan_string_to_exact(text, at, close);
        p += 8;
    }
    if (p < end && close >= 8) { /* the rest: the word that ends there, bytes before p masked */
        uint64_t w;
        memcpy(&w, end - 8, 8);
        if (gw_json_special_bytes(w) & (~0ull << (8 * (8 - (end - p)))))
            return gw_json_scan_string_to_exact(text, at, close);
        return 0;
    }
#endif
    for (; p < end; p++) {
        unsigned char ch = (unsigned char)*p;
        if (ch == '"' || ch == '\\' || ch < 0x20)
            return gw_json_scan_string_to_exact(text, at, close);
    }
    return 0;
}

#endif
