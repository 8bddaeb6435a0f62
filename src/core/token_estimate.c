/* Token estimate, calibrated against OpenAI's cl100k_base tokenizer (GPT-4, GPT-3.5). Qwen's
 * vocabulary starts from cl100k and adds Chinese words, so English counts about the same there.
 * The text is cut the way cl100k's pre-tokenizer cuts it, and each piece is priced by what
 * cl100k's merges make of such pieces on average. Costs are kept in eighths of a token and
 * rounded up once, at the end.
 *
 *   piece                                  cost (tokens)        cl100k, measured
 *   ASCII word (a leading space is free);  1, and 1/8 per       1.0 up to 7 letters, 1.25 at
 *     `_`, `'t` and a lower->upper step    letter past 6        8-11, 1.7 at 12+ (this repo's
 *     start a new word, as in identifiers                       English docs, 44 KB)
 *   digits                                 1 per 3              exact: cl100k groups by 3
 *   ASCII punctuation run                  1 per 2 marks        1.0 for 1-2, 1.9 for 4, 17 at 33
 *   whitespace                             a newline run 1, an indent of 2+ blanks 1; newlines
 *                                          right after punctuation are free (".\n" is a token)
 *   accented Latin letter in a word        +1                   " natürlicher" 3, " modèles" 2
 *   Cyrillic letter                        +1/2                 Russian prose 0.45 a letter
 *   CJK ideograph, kana, CJK or fullwidth  1 per char           Chinese 1.0, Japanese 1.1
 *     punctuation
 *   hangul syllable                        1.25 per char        Korean 1.3
 *   other 2- and 3-byte characters         1 per char           Greek 1.0, Arabic 0.85,
 *     (Greek, Arabic, Hebrew, Indic, Thai,                      Hindi 1.0, Thai 1.1
 *     symbols)
 *   4-byte characters (emoji, rare CJK)    2 per char           emoji 2-3
 *
 * Whole texts: this repo's English docs -0%, C source -3%, and the fixed samples of
 * tests/unit/test_token_estimate.c (English, code, JSON, Chinese, Japanese, Korean, Russian,
 * Hindi) within 25%. o200k (GPT-4o) needs about 30% fewer tokens than cl100k for CJK text and
 * half or less for Cyrillic, Greek, Arabic or Indic text, so with such vocabularies the estimate
 * errs high: a long-context rule fires early rather than late. */
#include "core/token_estimate.h"

#include <stdint.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include <json-c/json.h>

enum { EIGHTHS = 8 };

/* What a byte starts or continues, looked up once a byte: the estimate runs on every stream
 * event's few bytes of text, where a chain of range tests a byte cost more than the rest. */
enum {
    C_LOWER,      /* a-z */
    C_UPPER,      /* A-Z */
    C_DIGIT,      /* 0-9 */
    C_BLANK,      /* space, tab, form feed, vertical tab */
    C_NEWLINE,    /* \n, \r */
    C_UNDERSCORE, /* starts a word, as in identifiers */
    C_QUOTE,      /* ' starts a word before a letter ('t, 's), else it is punctuation */
    C_PUNCT,      /* any other ASCII byte, control bytes included */
    C_HIGH,       /* 0x80 and up: UTF-8 */
};

#define CLASS_OF(c)                                                                                \
    ((c) >= 0x80                                               ? C_HIGH                            \
     : (c) >= 'a' && (c) <= 'z'                                ? C_LOWER                           \
     : (c) >= 'A' && (c) <= 'Z'                                ? C_UPPER                           \
     : (c) >= '0' && (c) <= '9'                                ? C_DIGIT                           \
     : (c) == '\n' || (c) == '\r'                              ? C_NEWLINE                         \
     : (c) == ' ' || (c) == '\t' || (c) == '\f' || (c) == '\v' ? C_BLANK                           \
     : (c) == '_'                                              ? C_UNDERSCORE                      \
     : (c) == '\''                                             ? C_QUOTE                           \
                                                               : C_PUNCT)
#define CLASS_4(c) CLASS_OF(c), CLASS_OF((c) + 1), CLASS_OF((c) + 2), CLASS_OF((c) + 3)
#define CLASS_16(c) CLASS_4(c), CLASS_4((c) + 4), CLASS_4((c) + 8), CLASS_4((c) + 12)
#define CLASS_64(c) CLASS_16(c), CLASS_16((c) + 16), CLASS_16((c) + 32), CLASS_16((c) + 48)

static const unsigned char byte_class[256] = {CLASS_64(0), CLASS_64(64), CLASS_64(128),
                                              CLASS_64(192)};

static int is_ascii_letter(unsigned char c) {
    return byte_class[c] <= C_UPPER;
}

/* Decodes one UTF-8 character at p; returns its length, or 0 for an invalid sequence. */
static size_t decode_utf8(const unsigned char *p, const unsigned char *end, uint32_t *cp) {
    size_t n;
    *cp = 0; /* set on every path: gcc -O3 cannot see that callers read it only after n > 0 */
    if (*p >= 0xf0 && *p <= 0xf4) {
        n = 4;
        *cp = *p & 0x07;
    } else if (*p >= 0xe0 && *p < 0xf0) {
        n = 3;
        *cp = *p & 0x0f;
    } else if (*p >= 0xc2 && *p < 0xe0) {
        n = 2;
        *cp = *p & 0x1f;
    } else {
        return 0;
    }
    if ((size_t)(end - p) < n) return 0;
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80) return 0;
        *cp = (*cp << 6) | (p[i] & 0x3f);
    }
    return n;
}

/* What a non-ASCII letter adds to the word it is in, in eighths; 0: it is no word letter. An
 * accented Latin letter breaks cl100k's merges of a word (" natürlicher" is three tokens);
 * Cyrillic has merges of its own, about two letters a token. */
static unsigned word_letter_cost(uint32_t cp) {
    if (cp >= 0xc0 && cp <= 0x24f && cp != 0xd7 && cp != 0xf7) return EIGHTHS;
    if (cp >= 0x400 && cp <= 0x52f) return EIGHTHS / 2;
    return 0;
}

static int is_cjk(uint32_t cp) {
    return (cp >= 0x1100 && cp <= 0x11ff) || /* hangul jamo */
           (cp >= 0x3000 && cp <= 0x30ff) || /* CJK punctuation, hiragana, katakana */
           (cp >= 0x3130 && cp <= 0x318f) || /* hangul compatibility jamo */
           (cp >= 0x3400 && cp <= 0x4dbf) || /* CJK extension A */
           (cp >= 0x4e00 && cp <= 0x9fff) || /* CJK unified ideographs */
           (cp >= 0xac00 && cp <= 0xd7af) || /* hangul syllables */
           (cp >= 0xf900 && cp <= 0xfaff) || /* CJK compatibility ideographs */
           (cp >= 0xff00 && cp <= 0xffef);   /* halfwidth and fullwidth forms */
}

static uint64_t char_cost(uint32_t cp, size_t utf8_len) {
    if (cp >= 0xac00 && cp <= 0xd7af) return EIGHTHS + EIGHTHS / 4; /* hangul: 1.3 measured */
    if (is_cjk(cp)) return EIGHTHS;
    return utf8_len == 4 ? 2 * EIGHTHS : EIGHTHS;
}

/* One word: ASCII letters and the non-ASCII letters word_letter_cost prices; it starts at a
 * letter, `_` or `'`. Returns where it ends. A run of lower-case letters, the bulk of any word,
 * costs one table look-up a letter. */
static inline const unsigned char *scan_word(const unsigned char *p, const unsigned char *end,
                                             uint64_t *eighths) {
    const unsigned char *start = p;
    size_t other = 0, n; /* bytes of non-ASCII letters */
    uint64_t cost = 0;
    int prev_lower = 0;
    uint32_t cp;
    if (*p < 0x80) {
        prev_lower = byte_class[*p] == C_LOWER;
        p++;
    } else {
        n = decode_utf8(p, end, &cp);
        cost = word_letter_cost(cp);
        p += n;
        other = n;
    }
    while (p < end) {
        unsigned char k = byte_class[*p];
        if (k == C_LOWER) {
            do
                p++;
            while (p < end && byte_class[*p] == C_LOWER);
            prev_lower = 1;
        } else if (k == C_UPPER) {
            if (prev_lower) break; /* camelCase: cl100k splits there too */
            p++;
        } else if (k == C_HIGH && (n = decode_utf8(p, end, &cp)) && word_letter_cost(cp)) {
            cost += word_letter_cost(cp);
            prev_lower = 1;
            p += n;
            other += n;
        } else {
            break;
        }
    }
    size_t ascii = (size_t)(p - start) - other;
    if (ascii) cost += EIGHTHS + (ascii > 6 ? ascii - 6 : 0);
    *eighths += cost < EIGHTHS ? EIGHTHS : cost;
    return p;
}

static inline const unsigned char *scan_space(const unsigned char *p, const unsigned char *end,
                                              int after_punctuation, uint64_t *eighths) {
    /* cl100k keeps newlines with the punctuation before them (".\n", "{\n" are tokens) */
    if (after_punctuation)
        while (p < end && byte_class[*p] == C_NEWLINE)
            p++;
    int newline = 0;
    size_t blanks = 0; /* since the last newline */
    for (; p < end; p++) {
        unsigned char k = byte_class[*p];
        if (k == C_BLANK) {
            blanks++;
        } else if (k == C_NEWLINE) {
            newline = 1;
            blanks = 0;
        } else {
            break;
        }
    }
    /* one blank before a word rides with the word; a longer indent is a token of its own */
    *eighths += (uint64_t)(newline + (blanks >= 2)) * EIGHTHS;
    return p;
}

/* The shape of most stream events' text, " word" or "Word": at most one blank, then one ASCII
 * word of lower-case letters after its first, to the end. Returns its tokens as the full scan
 * would count them (the blank rides with the word), or 0 when the text has another shape. */
static size_t estimate_one_word(const unsigned char *p, const unsigned char *end) {
    if (p < end && *p == ' ') p++;
    if (p == end || byte_class[*p] > C_UPPER) return 0;
    const unsigned char *word = p++;
    while (p < end && byte_class[*p] == C_LOWER)
        p++;
    if (p != end) return 0;
    size_t letters = (size_t)(p - word);
    return letters > 6 ? (EIGHTHS + (letters - 6) + EIGHTHS - 1) / EIGHTHS : 1;
}

/* Past the run of lower-case ASCII letters that starts at p: sixteen bytes a step where SSE2 is
 * there (a byte a step was most of what a word cost). */
#ifdef __SSE2__
/* The lower-case ASCII letters among sixteen bytes, one bit a byte. Signed compares: bytes from
 * 0x80 up are negative, so never letters here. */
static inline unsigned lower_letters(__m128i chunk) {
    const __m128i before_a = _mm_set1_epi8('a' - 1), after_z = _mm_set1_epi8('z' + 1);
    return (unsigned)_mm_movemask_epi8(
        _mm_and_si128(_mm_cmpgt_epi8(chunk, before_a), _mm_cmpgt_epi8(after_z, chunk)));
}
#endif

static inline const unsigned char *lower_run_end(const unsigned char *p, const unsigned char *end) {
#ifdef __SSE2__
    while (end - p >= 16) {
        unsigned others =
            ~lower_letters(_mm_loadu_si128((const __m128i *)(const void *)p)) & 0xffffu;
        if (others) return p + __builtin_ctz(others);
        p += 16;
    }
#endif
    while (p < end && byte_class[*p] == C_LOWER)
        p++;
    return p;
}

#ifdef __SSE2__
/* Sixteen bytes at p: which are lower-case ASCII letters (the result) and which are spaces. */
static inline unsigned prose_masks(const unsigned char *p, unsigned *spaces) {
    __m128i chunk = _mm_loadu_si128((const __m128i *)(const void *)p);
    *spaces = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(chunk, _mm_set1_epi8(' ')));
    return lower_letters(chunk);
}

/* Prose sixteen bytes a step: a stretch of lower-case letters and spaces from p (where the scan
 * stands, so no word or blank run started before it) is priced as the scan would price it,
 * from bit masks: a word 1, and 1/8 for each letter with six letters before it in its word; a
 * run of two or more spaces 1 (scan_space's indent), one space nothing (it rides with its
 * word). Each is counted where it is first seen, so a run may span steps. The stretch's last run
 * is handed back: what follows it (an accented letter, a newline, more of the text) may change
 * its price. Returns where the scan goes on, after adding the runs before that; *stop is where
 * the stretch ended (the scan comes back no sooner). A window that is not all prose ends it. */
__attribute__((target_clones("popcnt", "default"))) /* a popcnt, or three calls a step */
static const unsigned char *
prose_stretch(const unsigned char *p, const unsigned char *end, uint64_t *eighths,
              const unsigned char **stop) {
    const unsigned char *q = p;
    uint32_t prev_letters = 0, prev_spaces = 0; /* the last step's masks: runs span steps */
    uint64_t cost = 0;
    while (end - q >= 16) {
        unsigned spaces, letters = prose_masks(q, &spaces);
        unsigned other = ~(letters | spaces) & 0xffffu;
        if (other) { /* the stretch ends inside: the bits before it count */
            unsigned before = (1u << __builtin_ctz(other)) - 1;
            letters &= before;
            spaces &= before;
        }
        /* bit i + 16 is byte i of this step, bits 0-15 the last step's */
        uint32_t l = letters << 16 | prev_letters, s = spaces << 16 | prev_spaces;
        unsigned word_starts = letters & ~(l >> 15);
        unsigned past_six = letters & (l >> 15) & (l >> 14) & (l >> 13) & (l >> 12) & (l >> 11) &
                            (l >> 10);                      /* six letters before it: 1/8 each */
        unsigned indents = spaces & (s >> 15) & ~(s >> 14); /* a run's second space */
        cost +=
            (uint64_t)(__builtin_popcount(word_starts) + __builtin_popcount(indents)) * EIGHTHS +
            (uint64_t)__builtin_popcount(past_six);
        if (other) {
            q += __builtin_ctz(other);
            break;
        }
        prev_letters = letters;
        prev_spaces = spaces;
        q += 16;
    }
    *stop = q;
    /* hand the last run back: take off what it was counted */
    const unsigned char *last = q;
    if (last > p && last[-1] == ' ') {
        while (last > p && last[-1] == ' ')
            last--;
        if (q - last >= 2) cost -= EIGHTHS;
    } else {
        while (last > p && byte_class[last[-1]] == C_LOWER)
            last--;
        size_t letters = (size_t)(q - last);
        if (letters) cost -= EIGHTHS + (letters > 6 ? letters - 6 : 0);
    }
    *eighths += cost;
    return last;
}
#endif

/* The full scan, apart from the short path so that a one-word text costs no stack frame. */
static __attribute__((noinline)) size_t estimate_scan(const unsigned char *p,
                                                      const unsigned char *end, int prose_steps) {
    uint64_t eighths = 0;
    int after_punctuation = 0;
#ifdef __SSE2__
    const unsigned char *prose_retry = p; /* no stretch is tried again before this */
#else
    (void)prose_steps;
#endif
    while (p < end) {
#ifdef __SSE2__
        if (prose_steps && p >= prose_retry && end - p >= 32 &&
            (*p == ' ' || byte_class[*p] == C_LOWER)) {
            const unsigned char *resume = prose_stretch(p, end, &eighths, &prose_retry);
            if (resume != p) {
                p = resume;
                after_punctuation = 0;
                continue;
            }
        }
#endif
        /* The bulk of prose, a word of lower-case ASCII letters with at most one blank before
         * it, counted here as scan_space and scan_word would count it (the blank costs nothing,
         * the word 1 and 1/8 a letter past 6), unless a non-ASCII byte follows the letters (it
         * may be a letter of the word): about a third of the instructions a word took. */
        const unsigned char *word = p + (*p == ' ');
        if (word < end && byte_class[*word] == C_LOWER) {
            const unsigned char *q = lower_run_end(word + 1, end);
            if (q == end || byte_class[*q] != C_HIGH) {
                size_t letters = (size_t)(q - word);
                eighths += EIGHTHS + (letters > 6 ? letters - 6 : 0);
                p = q;
                after_punctuation = 0;
                continue;
            }
        }
        int punctuation = 0;
        switch (byte_class[*p]) {
        case C_LOWER:
        case C_UPPER:
        case C_UNDERSCORE:
            p = scan_word(p, end, &eighths);
            break;
        case C_QUOTE:
            if (p + 1 < end && is_ascii_letter(p[1])) {
                p = scan_word(p, end, &eighths);
                break;
            } /* a quote before no letter is punctuation */
            /* fallthrough */
        case C_PUNCT: {
            const unsigned char *marks = p;
            do
                p++;
            while (p < end && byte_class[*p] >= C_QUOTE && byte_class[*p] <= C_PUNCT);
            eighths += ((size_t)(p - marks) + 1) / 2 * EIGHTHS;
            punctuation = 1;
            break;
        }
        case C_DIGIT: {
            const unsigned char *digits = p;
            do
                p++;
            while (p < end && byte_class[*p] == C_DIGIT);
            eighths += ((size_t)(p - digits) + 2) / 3 * EIGHTHS;
            break;
        }
        case C_BLANK:
        case C_NEWLINE:
            p = scan_space(p, end, after_punctuation, &eighths);
            break;
        default: { /* C_HIGH */
            uint32_t cp;
            size_t n = decode_utf8(p, end, &cp);
            if (!n) {
                eighths += EIGHTHS; /* a stray byte: one byte-level token */
                p++;
            } else if (word_letter_cost(cp)) {
                p = scan_word(p, end, &eighths);
            } else {
                eighths += char_cost(cp, n);
                p += n;
            }
        }
        }
        after_punctuation = punctuation;
    }
    return (size_t)((eighths + EIGHTHS - 1) / EIGHTHS);
}

size_t gw_estimate_prompt_tokens(const char *text, size_t len) {
    const unsigned char *p = (const unsigned char *)text, *end = p + len;
    size_t one_word = estimate_one_word(p, end);
    return one_word ? one_word : estimate_scan(p, end, 1);
}

size_t gw_estimate_prompt_tokens_bytewise(const char *text, size_t len) {
    const unsigned char *p = (const unsigned char *)text;
    return estimate_scan(p, p + len, 0);
}

static size_t estimate_string(json_object *s) {
    return gw_estimate_prompt_tokens(json_object_get_string(s),
                                     (size_t)json_object_get_string_len(s));
}

static size_t content_tokens(json_object *content) {
    if (json_object_is_type(content, json_type_string)) return estimate_string(content);
    if (!json_object_is_type(content, json_type_array)) return 0;
    size_t tokens = 0, parts = json_object_array_length(content);
    for (size_t i = 0; i < parts; i++) {
        json_object *part = json_object_array_get_idx(content, i), *type, *text;
        if (json_object_object_get_ex(part, "type", &type) &&
            json_object_is_type(type, json_type_string) &&
            !strcmp(json_object_get_string(type), "text") &&
            json_object_object_get_ex(part, "text", &text) &&
            json_object_is_type(text, json_type_string))
            tokens += estimate_string(text);
    }
    return tokens;
}

static size_t prompt_tokens(json_object *prompt) {
    if (json_object_is_type(prompt, json_type_string)) return estimate_string(prompt);
    if (!json_object_is_type(prompt, json_type_array)) return 0;
    size_t tokens = 0, items = json_object_array_length(prompt);
    for (size_t i = 0; i < items; i++) {
        json_object *item = json_object_array_get_idx(prompt, i);
        if (json_object_is_type(item, json_type_string))
            tokens += estimate_string(item);
        else if (json_object_is_type(item, json_type_int))
            tokens++; /* already a token id */
        else if (json_object_is_type(item, json_type_array))
            tokens += json_object_array_length(item); /* a tokenized prompt of a batch */
    }
    return tokens;
}

size_t gw_estimate_request_tokens(json_object *body, int api_is_chat) {
    json_object *v;
    if (!api_is_chat) return json_object_object_get_ex(body, "prompt", &v) ? prompt_tokens(v) : 0;
    if (!json_object_object_get_ex(body, "messages", &v) ||
        !json_object_is_type(v, json_type_array))
        return 0;
    size_t tokens = 0, count = json_object_array_length(v);
    for (size_t i = 0; i < count; i++) {
        json_object *content;
        tokens += GW_ESTIMATE_MESSAGE_OVERHEAD;
        if (json_object_object_get_ex(json_object_array_get_idx(v, i), "content", &content))
            tokens += content_tokens(content);
    }
    return tokens;
}
