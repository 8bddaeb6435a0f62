/* What the PII files share and callers do not: byte classes, the set's and the table's
 * layouts, and the scan cursor. */
#ifndef AIGW_SECURITY_PII_INTERNAL_H
#define AIGW_SECURITY_PII_INTERNAL_H

#ifndef PCRE2_CODE_UNIT_WIDTH
#define PCRE2_CODE_UNIT_WIDTH 8
#endif

#include <pcre2.h>
#include <stddef.h>
#include <stdint.h>

#include "security/pii.h"

/* ---- Byte classes: ASCII only, so UTF-8 continuation bytes never count as letters. ---- */

static inline int pii_digit(unsigned char c) {
    return c >= '0' && c <= '9';
}

static inline int pii_alpha(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static inline int pii_hex(unsigned char c) {
    return pii_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static inline int pii_word(unsigned char c) {
    return pii_digit(c) || pii_alpha(c) || c == '_';
}

/* The end of the digit run starting at i. */
static inline size_t pii_digits_end(const char *t, size_t len, size_t i) {
    while (i < len && pii_digit((unsigned char)t[i]))
        i++;
    return i;
}

/* A number may start at i: it is not glued to a word or digits before it, and is not the
 * fraction of a decimal ("3.13812345678"). */
static inline int pii_number_starts(const char *t, size_t i) {
    if (i == 0) return 1;
    unsigned char c = (unsigned char)t[i - 1];
    if (pii_word(c)) return 0;
    return !(c == '.' && i >= 2 && pii_digit((unsigned char)t[i - 2]));
}

/* A number may end at i (exclusive): no word character follows, nor a decimal fraction. A
 * sentence's full stop is fine: "call 13812345678." */
static inline int pii_number_ends(const char *t, size_t len, size_t i) {
    if (i >= len) return 1;
    unsigned char c = (unsigned char)t[i];
    if (pii_word(c)) return 0;
    return !(c == '.' && i + 1 < len && pii_digit((unsigned char)t[i + 1]));
}

/* Fills a span with no set attached. */
static inline int pii_found(gw_pii_span *span, size_t start, size_t end, gw_pii_kind kind) {
    span->start = start;
    span->end = end;
    span->kind = kind;
    span->detector = 0;
    return 1;
}

/* the built-ins (ip counts twice: IPv4 and IPv6) and the custom patterns */
enum { PII_MAX_DETECTORS = GW_PII_BUILTIN_COUNT + 1 + GW_PII_MAX_CUSTOM };

/* ---- The set ---------------------------------------------------------------------------- */

/* The detectors as a set runs them: the first value that starts in [from, limit) (limit <=
 * len; the value itself may run to len). A stream only needs values that start before its
 * cut, so a detector stops looking there instead of crossing the whole window every time. */
typedef int (*pii_find_fn)(const char *text, size_t len, size_t from, size_t limit,
                           gw_pii_span *span);
int pii_find_email(const char *text, size_t len, size_t from, size_t limit, gw_pii_span *span);
int pii_find_phone(const char *text, size_t len, size_t from, size_t limit, gw_pii_span *span);
int pii_find_china_id(const char *text, size_t len, size_t from, size_t limit, gw_pii_span *span);
int pii_find_bank_card(const char *text, size_t len, size_t from, size_t limit, gw_pii_span *span);
int pii_find_secret(const char *text, size_t len, size_t from, size_t limit, gw_pii_span *span);
/* gw_pii_find_ip's halves: a set runs them as two detectors, so each keeps its own place in
 * the text and neither scans it again for every value the other finds. */
int pii_find_ipv4(const char *text, size_t len, size_t from, size_t limit, gw_pii_span *span);
int pii_find_ipv6(const char *text, size_t len, size_t from, size_t limit, gw_pii_span *span);

typedef struct pii_detector {
    gw_pii_kind kind;
    gw_pii_action action;
    pii_find_fn find;                /* a built-in; NULL for a custom regex */
    pcre2_code *regex;               /* a custom pattern, JIT-compiled when the CPU allows */
    char name[GW_PII_NAME_MAX + 1];  /* "email", or the custom name as written */
    char label[GW_PII_NAME_MAX + 1]; /* uppercased: masks and placeholders */
    size_t label_len;
    size_t max_len; /* the longest value a stream must see whole (gw_pii_kind_max_length) */
} pii_detector;

struct gw_pii_set {
    pii_detector det[PII_MAX_DETECTORS]; /* in priority order: ties go to the first */
    unsigned count;
    int has_restore;
    size_t max_entries, max_bytes;
    size_t window; /* gw_pii_set_window */
};

/* ---- The scratch: regex state and the scan cursor ---------------------------------------- */

enum { PII_NEXT_UNKNOWN = 0, PII_NEXT_FOUND, PII_NEXT_NONE };

struct gw_pii_scratch {
    pcre2_match_data *match;
    pcre2_match_context *limits;
    /* each detector's next value at or after the cursor, found once and kept until the cursor
     * passes its start: every detector scans the text about once */
    gw_pii_span next[PII_MAX_DETECTORS];
    unsigned char state[PII_MAX_DETECTORS];
    unsigned regex_errors;
    size_t start_limit; /* values must start before it; SIZE_MAX: anywhere (pii_scan_begin) */
};

/* Starts a scan of a new text. */
void pii_scan_begin(const gw_pii_set *set, gw_pii_scratch *scratch);
/* The next value at or after *pos (earliest, then longest, then first detector); moves *pos
 * past it. Returns 0 when there is none. */
int pii_scan_next(const gw_pii_set *set, gw_pii_scratch *scratch, const char *text, size_t len,
                  size_t *pos, gw_pii_span *span);

/* Writes the mask for a value a detector found (the scheme in pii.h). Returns 0 or -1 when
 * the write function refused. */
int pii_write_mask(const pii_detector *d, const char *value, size_t len, gw_pii_write_fn write,
                   void *ud);

/* ---- The restore table ------------------------------------------------------------------- */

typedef struct pii_entry {
    uint32_t hash;      /* of the value, to skip most comparisons */
    uint32_t off;       /* the placeholder at pool + off, the value right after it */
    uint32_t value_len; /* bounded by max_bytes, itself at most 1 GiB */
    uint16_t placeholder_len;
    uint16_t detector;
} pii_entry;

struct gw_pii_table {
    pii_entry *entries;
    size_t count, cap, max_entries;
    char *pool;
    size_t used, pool_cap, max_bytes;
    size_t longest; /* the longest placeholder */
};

/* The placeholder for a value, the existing one when the value was seen before. Returns 0
 * with the placeholder's bytes (valid until the next put), or -1 when the table is full. */
int pii_table_put(gw_pii_table *t, const pii_detector *d, unsigned detector, const char *value,
                  size_t len, const char **placeholder, size_t *placeholder_len);
/* The original for placeholder number n (1-based), when `text` is exactly its placeholder. */
int pii_table_find(const gw_pii_table *t, unsigned long n, const char *text, size_t len,
                   const char **value, size_t *value_len);

#endif
