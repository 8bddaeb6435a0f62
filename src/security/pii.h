/* PII interception: detectors that find personal data and secrets in UTF-8 text, the actions a
 * guard takes on what they find (block, mask, or replace with a placeholder and restore), and
 * the restorer that puts the originals back into the model's answer, whole or streamed.
 *
 * A detector set is built once per config load and is immutable afterwards: every worker
 * shares it. Per-thread state (regex match data, the scan cursor) lives in a gw_pii_scratch,
 * per-request state (placeholder -> original) in a gw_pii_table, per-stream state in a
 * gw_pii_restorer. A scan allocates nothing; only the table grows, within its bounds.
 *
 * Mask scheme (one rule per shape, so a reader still sees what was there):
 *   numbers keep their layout (separators, "+") and the digits that do not identify anyone;
 *   every other digit becomes '*':
 *     phone      the first 3 digits of the number (after a +86/0086/86 prefix, which stays)
 *                and the last 4:                  13812345678    -> 138****5678
 *                                                 +44 20 7946 0958 -> +44 2* **** 0958
 *     bank_card  the first 4 (issuer) and last 4: 6222 0212 3456 7890 -> 6222 **** **** 7890
 *     china_id   the first 4 (province and city) and the last 4:
 *                                                 11010519491231002X -> 1101**********002X
 *   at least 4 digits are always hidden: a short number keeps fewer at the front
 *                                                 +49 3012 3456  -> +49 **** 3456
 *   everything else becomes its kind in brackets: [EMAIL], [IP], [SECRET], and a custom
 *   pattern's name uppercased: [EMPLOYEE_ID].
 * Placeholders (restore): "[[PII_<LABEL>_<n>]]", LABEL as in the brackets above, n counting
 * from 1 over the whole request, so no two values share one, whatever their kinds.
 *
 * Answers: the same detectors can run on what the model writes, whole or streamed
 * (gw_pii_stream). There block ends the answer, mask masks, and restore masks too: the caller
 * never sent that value, so there is nothing to give back. */
#ifndef AIGW_SECURITY_PII_H
#define AIGW_SECURITY_PII_H

#include <stddef.h>

typedef enum {
    GW_PII_EMAIL,
    GW_PII_PHONE,
    GW_PII_CHINA_ID,
    GW_PII_BANK_CARD,
    GW_PII_IP,
    GW_PII_SECRET,
    GW_PII_BUILTIN_COUNT,
    GW_PII_CUSTOM = GW_PII_BUILTIN_COUNT, /* a named regex; its name says which */
} gw_pii_kind;

typedef enum {
    GW_PII_OFF = 0, /* the detector does not run */
    GW_PII_BLOCK,   /* the request is refused: 400 naming the kind, never the value */
    GW_PII_MASK,    /* the value is replaced for good (the scheme above) */
    GW_PII_RESTORE, /* the model sees a placeholder, the caller gets the value back */
} gw_pii_action;

enum {
    GW_PII_MAX_CUSTOM = 32,
    GW_PII_NAME_MAX = 32, /* a custom pattern's name: [A-Za-z0-9_]{1,32} */
    /* "[[PII_" + a 32-byte label + "_" + 5 digits + "]]": the most a restorer holds back */
    GW_PII_PLACEHOLDER_MAX = 48,
    GW_PII_CUSTOM_MAX_LENGTH_DEFAULT = 64,
    GW_PII_CUSTOM_MAX_LENGTH = 4096,
    /* A stream holds a value that is still growing (a key whose end has not come) up to this
     * many bytes; past it the value is judged as it stands. */
    GW_PII_STREAM_HOLD_MAX = 16384,
    GW_PII_TABLE_MAX_ENTRIES = 65535, /* placeholders number at most 5 digits */
};

/* A value found in text: bytes [start, end). `detector` indexes the set that found it (0 from
 * the gw_pii_find_* functions, which know no set). */
typedef struct gw_pii_span {
    size_t start, end;
    gw_pii_kind kind;
    unsigned detector;
} gw_pii_span;

/* ---- Detectors ---------------------------------------------------------------------------
 * Each finds the first value of its kind that starts at or after `from` in text[0, len) and
 * returns 1 with *span, or 0. The whole text is given, not text + from, because a value's
 * edges are judged by the bytes around it: digits glued to letters or to a longer digit run
 * are not a value ("a20digitnumber" and "order12345678901" hold no phone). Bytes >= 0x80
 * (CJK and other scripts) separate values like spaces do: "手机13812345678谢谢" holds a phone.
 * Whether a value starts at a position never depends on `from`, so scanning again from the
 * end of a value that overlapped finds what a scan from there would. */
/* At most 254 bytes in all (RFC 5321's limit on a path): a longer run keeps the longest
 * address within it. */
int gw_pii_find_email(const char *text, size_t len, size_t from, gw_pii_span *span);
/* Mainland China mobile 1[3-9]X{9}, contiguous or 3-4-4 with spaces or dashes, after an
 * optional +86 / 0086 / 86 prefix (itself optionally followed by a space or dash); and
 * international numbers: "+" then 8-15 digits, groups separated by one or two of " -.()". */
int gw_pii_find_phone(const char *text, size_t len, size_t from, gw_pii_span *span);
/* 18-character resident id: a known province code, a valid date 1900-2100 and the ISO 7064
 * MOD 11-2 check character (X or x for 10). 15-digit ids (before 1999) are not detected: they
 * have no check digit, so any 15-digit number with a date in it would match; a custom pattern
 * can add them where they matter. */
int gw_pii_find_china_id(const char *text, size_t len, size_t from, gw_pii_span *span);
/* 13-19 digits passing Luhn: contiguous, or in groups of 4 (the last 1-4) or 4-6-5 / 4-6-4
 * joined by one kind of separator (space or dash). The first digit is not 0 (no issuer has
 * one), and 13 digits must start with 4 (only Visa issued them; this keeps millisecond
 * timestamps out). */
int gw_pii_find_bank_card(const char *text, size_t len, size_t from, gw_pii_span *span);
/* IPv4 dotted quads (each part 0-255) and IPv6 (checked with inet_pton; at least two colons,
 * two hex digits and a decimal digit, so "::", "::1" and code's "a::b" are not reported). */
int gw_pii_find_ip(const char *text, size_t len, size_t from, gw_pii_span *span);
/* Keys by their well-known shapes: sk-... (OpenAI, Anthropic; 20+ [A-Za-z0-9_-] with two of
 * lower case, upper case and digits, so "sk-learn-..." is not one), sk_/rk_ live/test
 * (Stripe), AKIA/ASIA (AWS), AIza (Google), gh[pousr]_ and github_pat_ (GitHub),
 * xox[baprs]- (Slack), JWTs (eyJ...eyJ...sig), and PEM private keys from their BEGIN line
 * through their END line (to the end of the text when it has none). A text that ends inside a
 * JWT's first two parts holds a cut one (to its end) once it is 16 bytes long: like a PEM key's
 * BEGIN line, a key shows what it is long before it ends, which is what lets a stream hold
 * back only a short window and still catch keys of any length (gw_pii_stream). */
int gw_pii_find_secret(const char *text, size_t len, size_t from, gw_pii_span *span);

/* ---- A detector set ---------------------------------------------------------------------- */

typedef struct gw_pii_set gw_pii_set;

typedef struct gw_pii_custom_desc {
    const char *name;    /* [A-Za-z0-9_]{1,32}, unique, not a built-in kind's name */
    const char *pattern; /* PCRE2, UTF-8; matched with PCRE2_NOTEMPTY */
    gw_pii_action action;
    /* The longest value the pattern matches, in bytes: what a stream holds back for it (see
     * gw_pii_stream). 0: GW_PII_CUSTOM_MAX_LENGTH_DEFAULT; at most GW_PII_CUSTOM_MAX_LENGTH. */
    size_t max_length;
} gw_pii_custom_desc;

typedef struct gw_pii_config {
    gw_pii_action builtin[GW_PII_BUILTIN_COUNT]; /* by gw_pii_kind; GW_PII_OFF: not run */
    const gw_pii_custom_desc *custom;            /* copied; at most GW_PII_MAX_CUSTOM */
    size_t custom_count;
    size_t restore_max_entries; /* per request; 0: 256; at most GW_PII_TABLE_MAX_ENTRIES */
    size_t restore_max_bytes;   /* per request, originals and placeholders; 0: 64 KiB */
} gw_pii_config;

/* Returns the set, or NULL with a message in err: an unknown action, a bad or duplicate
 * name, "custom NAME: PCRE2 error at offset N: ...", or out of memory. */
gw_pii_set *gw_pii_set_new(const gw_pii_config *config, char *err, size_t err_size);
void gw_pii_set_free(gw_pii_set *set);
/* Whether any detector restores: only then does a request need a table and a restorer. */
int gw_pii_set_has_restore(const gw_pii_set *set);
/* What a stream holds back (gw_pii_stream): one byte more than the longest text some detector
 * could still be reading without having reported it. email 254 (the longest address), phone 44
 * ("+" and 15 digits, each group apart), ip 45 (the longest IPv6 text), bank_card 23 (19 digits
 * in groups), china_id 18, secret 72 (a PEM key's BEGIN line: keys are reported as they grow),
 * a custom pattern its max_length. 0 for an empty set. */
size_t gw_pii_set_window(const gw_pii_set *set);
/* The same for one detector kind's longest value (secret: 72); custom: 0. */
size_t gw_pii_kind_max_length(gw_pii_kind kind);
/* "email", "phone", "china_id", "bank_card", "ip", "secret", or the custom pattern's name:
 * what a 400 names. */
const char *gw_pii_detector_name(const gw_pii_set *set, unsigned detector);

const char *gw_pii_kind_name(gw_pii_kind kind); /* the built-in names above, "custom" */
/* The config loader's spellings: the kind names above; "block", "mask", "restore", "off".
 * Return 0, or -1 when unknown. */
int gw_pii_kind_parse(const char *name, gw_pii_kind *kind);
int gw_pii_action_parse(const char *name, gw_pii_action *action);

/* Per-thread scan state: never share one between threads. It does not depend on a set, so a
 * worker keeps it across reloads. */
typedef struct gw_pii_scratch gw_pii_scratch;
gw_pii_scratch *gw_pii_scratch_new(void);
void gw_pii_scratch_free(gw_pii_scratch *scratch);

/* Every enabled detector's values in text order, without overlaps: the earliest start wins,
 * then the longest, then the detector first in the set (built-ins in the order secret,
 * china_id, bank_card, phone, email, ip; then the custom patterns in config order). Writes up
 * to cap spans and returns how many there are (more than cap: the rest were not written).
 * A custom regex that hits its match limit stops for this text (counted in *regex_errors when
 * given). */
size_t gw_pii_scan(const gw_pii_set *set, gw_pii_scratch *scratch, const char *text, size_t len,
                   gw_pii_span *spans, size_t cap, unsigned *regex_errors);

/* ---- Actions ------------------------------------------------------------------------------ */

/* Where rewritten text goes: the caller's buffer (a gw_strbuf through a two-line wrapper).
 * Returns 0, or -1 when it cannot take more, which ends the operation with GW_PII_ERR_OUTPUT. */
typedef int (*gw_pii_write_fn)(void *ud, const char *s, size_t len);

/* The per-request restore table: placeholder -> original, bounded by the set's
 * restore_max_entries and restore_max_bytes. One per request, shared by all its texts, so a
 * value written twice (in one message or two) gets the same placeholder. */
typedef struct gw_pii_table gw_pii_table;
gw_pii_table *gw_pii_table_new(const gw_pii_set *set); /* NULL: out of memory */
void gw_pii_table_free(gw_pii_table *table);
size_t gw_pii_table_count(const gw_pii_table *table);
size_t gw_pii_table_bytes(const gw_pii_table *table);
size_t gw_pii_table_longest(const gw_pii_table *table); /* longest placeholder; 0 when empty */

typedef enum {
    GW_PII_OK = 0,
    GW_PII_BLOCKED = 1,       /* result->blocked_*: the caller answers 400 naming the kind */
    GW_PII_ERR_OUTPUT = -1,   /* the write function refused */
    GW_PII_ERR_ARGUMENT = -2, /* a NULL set, scratch or text */
} gw_pii_status;

typedef struct gw_pii_result {
    /* GW_PII_BLOCKED: the first blocking value in the text. Output written before it and
     * table entries added for this request are to be discarded with the request. */
    gw_pii_kind blocked_kind;
    unsigned blocked_detector;
    const char *blocked_name; /* gw_pii_detector_name: "china_id", or a custom name */
    int changed;              /* 0: nothing was written; the text goes on as it was */
    size_t masked, restored;  /* values replaced by a mask, by a placeholder */
    /* restore values masked instead: the table was full (or NULL). The model still never sees
     * them; the caller gets the mask back, not the value. Worth a log line. */
    size_t restore_overflow;
    unsigned regex_errors; /* custom regexes cut short by their match limit */
} gw_pii_result;

/* Applies the set's actions to one text (a message's content). When some value is to be
 * masked or restored, writes the whole rewritten text through `write` and sets changed;
 * otherwise writes nothing. Blocking wins: the first blocking value ends the call. */
gw_pii_status gw_pii_apply(const gw_pii_set *set, gw_pii_scratch *scratch, const char *text,
                           size_t len, gw_pii_write_fn write, void *ud, gw_pii_table *table,
                           gw_pii_result *result);

/* ---- Restoring the answer ----------------------------------------------------------------
 * Every placeholder of the table found in the model's output is replaced by its original;
 * anything else, including placeholders the table does not hold, passes byte for byte. */

/* One answer, whole. */
gw_pii_status gw_pii_restore(const gw_pii_table *table, const char *text, size_t len,
                             gw_pii_write_fn write, void *ud);

/* A stream's restorer, embedded in its state: fed each piece of output text (an SSE chunk's
 * delta) in order. A piece's tail that could begin a placeholder ("...[[PII_PH") is held back
 * until the next piece decides, never more than the table's longest placeholder less one
 * byte; flush releases it at the end of the stream. The table must outlive it and take no
 * more entries while it runs. */
typedef struct gw_pii_restorer {
    const gw_pii_table *table;
    size_t held;
    int json; /* originals are written escaped for the inside of a JSON string */
    char hold[GW_PII_PLACEHOLDER_MAX];
} gw_pii_restorer;

void gw_pii_restorer_init(gw_pii_restorer *r, const gw_pii_table *table);
/* The same for text that is JSON (a tool call's arguments): a placeholder sits inside one of
 * its strings, so an original with a quote, a backslash or a line break is written escaped
 * ("\"", "\\", "\n") and the JSON stays valid. */
void gw_pii_restorer_init_json(gw_pii_restorer *r, const gw_pii_table *table);
gw_pii_status gw_pii_restorer_feed(gw_pii_restorer *r, const char *piece, size_t len,
                                   gw_pii_write_fn write, void *ud);
gw_pii_status gw_pii_restorer_flush(gw_pii_restorer *r, gw_pii_write_fn write, void *ud);
size_t gw_pii_restorer_held(const gw_pii_restorer *r); /* bytes held back now */

/* ---- Detecting in the model's output -------------------------------------------------------
 * A stream of text (an answer's content, streamed or whole) through the set's detectors, with
 * their actions as answers take them: mask and restore write the mask, block stops the stream.
 *
 * Pieces come in any sizes, and a value may be split across them, so the stream holds back a
 * window of K = gw_pii_set_window bytes: K is more than any value a detector can be reading
 * without reporting it. After each piece the whole held text is scanned; what lies before
 * (held - K) is released, values in it masked, except that a value that crosses that cut (it
 * may still grow, or was seen only in part) moves the cut back to its start. A value that ends
 * before the cut is decided: at least K bytes follow it, more than it could ever grow by or any
 * detector looks at past it. A value before the cut that has not been reported could only be
 * one that is longer than K without being reported: there is none. Released text keeps the
 * last 72 bytes as context, so a value's edges are judged as in the whole text ("order" +
 * "13812345678" is still no phone). A value still growing past GW_PII_STREAM_HOLD_MAX is
 * judged as it stands. The final piece releases everything. Released text ends on a UTF-8
 * character boundary. Whole texts (one final piece) are scanned in place, without a copy.
 *
 * The struct lives in a per-request slot; its buffer is allocated when first needed, grows to
 * about K + a piece and is kept for the stream's next texts; free it with gw_pii_stream_free. */
typedef struct gw_pii_stream {
    const gw_pii_set *set;
    char *buf; /* context (released), then the held text */
    size_t context, len, cap;
} gw_pii_stream;

void gw_pii_stream_init(gw_pii_stream *st, const gw_pii_set *set); /* keeps buf for reuse */
/* Feeds a piece (final: the text ends with it). Writes what may be released through write.
 * GW_PII_BLOCKED: a blocking value (result->blocked_*); the text is to be dropped. */
gw_pii_status gw_pii_stream_feed(gw_pii_stream *st, gw_pii_scratch *scratch, const char *piece,
                                 size_t len, int final, gw_pii_write_fn write, void *ud,
                                 gw_pii_result *result);
size_t gw_pii_stream_held(const gw_pii_stream *st); /* bytes held back now */
void gw_pii_stream_free(gw_pii_stream *st);

#endif
