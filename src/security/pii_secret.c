/* API keys, tokens and private keys, by the shapes their issuers give them: a fixed prefix
 * and a run of token characters. A key starts where no token character precedes it, so
 * "task-..." holds no "sk-" key, and takes the whole run after its prefix. */
#include <string.h>

#include "security/pii_internal.h"

typedef enum {
    CLASS_TOKEN, /* [A-Za-z0-9_-] */
    CLASS_ALNUM, /* [A-Za-z0-9] */
    CLASS_UPPER, /* [A-Z0-9] */
    CLASS_WORD,  /* [A-Za-z0-9_] */
    CLASS_SLACK, /* [A-Za-z0-9-] */
} char_class;

typedef struct key_shape {
    const char *prefix;
    char_class cls;
    size_t min, max; /* the run after the prefix; max 0: unbounded */
    int mixed;       /* the run mixes two of lower case, upper case and digits */
} key_shape;

static const key_shape shapes[] = {
    {"sk-", CLASS_TOKEN, 20, 0, 1},      /* OpenAI (sk-, sk-proj-), Anthropic (sk-ant-) */
    {"sk_live_", CLASS_ALNUM, 16, 0, 0}, /* Stripe */
    {"sk_test_", CLASS_ALNUM, 16, 0, 0},
    {"rk_live_", CLASS_ALNUM, 16, 0, 0},
    {"rk_test_", CLASS_ALNUM, 16, 0, 0},
    {"AKIA", CLASS_UPPER, 16, 16, 0}, /* AWS access key ids, long-term and temporary */
    {"ASIA", CLASS_UPPER, 16, 16, 0},
    {"AIza", CLASS_TOKEN, 35, 35, 0}, /* Google API keys */
    {"ghp_", CLASS_ALNUM, 36, 0, 0},  /* GitHub: personal, OAuth, user, server, refresh */
    {"gho_", CLASS_ALNUM, 36, 0, 0},
    {"ghu_", CLASS_ALNUM, 36, 0, 0},
    {"ghs_", CLASS_ALNUM, 36, 0, 0},
    {"ghr_", CLASS_ALNUM, 36, 0, 0},
    {"github_pat_", CLASS_WORD, 22, 0, 0},
    {"xoxb-", CLASS_SLACK, 10, 0, 0}, /* Slack: bot, app, user, refresh, service */
    {"xoxa-", CLASS_SLACK, 10, 0, 0},
    {"xoxp-", CLASS_SLACK, 10, 0, 0},
    {"xoxr-", CLASS_SLACK, 10, 0, 0},
    {"xoxs-", CLASS_SLACK, 10, 0, 0},
};

static int token_char(unsigned char c) {
    return pii_word(c) || c == '-';
}

static int in_class(unsigned char c, char_class cls) {
    switch (cls) {
    case CLASS_TOKEN:
        return token_char(c);
    case CLASS_ALNUM:
        return pii_digit(c) || pii_alpha(c);
    case CLASS_UPPER:
        return pii_digit(c) || (c >= 'A' && c <= 'Z');
    case CLASS_WORD:
        return pii_word(c);
    case CLASS_SLACK:
        return pii_digit(c) || pii_alpha(c) || c == '-';
    }
    return 0;
}

/* Random keys mix character kinds; names and words ("sk-learn-is-a-library") do not. */
static int mixed(const char *s, size_t n) {
    int lower = 0, upper = 0, digit = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        lower |= c >= 'a' && c <= 'z';
        upper |= c >= 'A' && c <= 'Z';
        digit |= pii_digit(c);
    }
    return lower + upper + digit >= 2;
}

static size_t shape_at(const char *t, size_t len, size_t s, const key_shape *k) {
    size_t p = strlen(k->prefix);
    if (len - s < p || memcmp(t + s, k->prefix, p)) return 0;
    size_t e = s + p;
    while (e < len && in_class((unsigned char)t[e], k->cls))
        e++;
    size_t run = e - s - p;
    if (run < k->min || (k->max && run > k->max)) return 0;
    /* a fixed-length key glued to more letters is some other word */
    if (e < len && token_char((unsigned char)t[e])) return 0;
    if (k->mixed && !mixed(t + s + p, run)) return 0;
    return e;
}

/* "eyJ" is base64url for '{"': a JWT is two such JSON parts and a signature. A text that ends
 * before the signature began holds a cut one once it is JWT_CUT_MIN bytes long: its header
 * alone says what it is (and a stream is not left waiting for a payload of any length). */
enum { JWT_CUT_MIN = 16 };

static size_t jwt_cut(size_t len, size_t s) {
    return len - s >= JWT_CUT_MIN ? len : 0;
}

static size_t jwt_at(const char *t, size_t len, size_t s) {
    size_t i = s;
    for (int part = 0; part < 3; part++) {
        if (part < 2) {
            size_t have = len - i < 3 ? len - i : 3;
            if (memcmp(t + i, "eyJ", have)) return 0;
            if (have < 3) return part ? jwt_cut(len, s) : 0; /* cut after a dot */
        }
        size_t b = i;
        while (i < len && token_char((unsigned char)t[i]))
            i++;
        if (part < 2 && i == len) return jwt_cut(len, s);
        if (i == b || (part < 2 && i - b < 4)) return part == 2 && i == len ? jwt_cut(len, s) : 0;
        if (part < 2) {
            if (t[i] != '.') return 0;
            i++;
        }
    }
    return i;
}

/* "-----BEGIN [label ]PRIVATE KEY-----" through its END line, or to the end of the text when
 * it has been cut: what follows a BEGIN line is key material either way. */
static size_t pem_at(const char *t, size_t len, size_t s) {
    static const char begin[] = "-----BEGIN ", tail[] = "PRIVATE KEY-----";
    const size_t blen = sizeof(begin) - 1, tlen = sizeof(tail) - 1, label_max = 40;
    if (len - s < blen + tlen || memcmp(t + s, begin, blen)) return 0;
    size_t i = s + blen;
    while (i < len && i - s - blen <= label_max && ((t[i] >= 'A' && t[i] <= 'Z') || t[i] == ' '))
        i++;
    if (i - s - blen < tlen - 5 || len - (i - (tlen - 5)) < tlen) return 0;
    /* the label run ended on the dashes; it must end with "PRIVATE KEY" */
    size_t key = i - (tlen - 5);
    if (memcmp(t + key, tail, tlen)) return 0;
    size_t after = key + tlen;
    const char *end = memmem(t + after, len - after, "-----END ", 9);
    if (!end) return len;
    const char *close = memmem(end + 9, len - (size_t)(end + 9 - t), "-----", 5);
    return close ? (size_t)(close + 5 - t) : len;
}

int pii_find_secret(const char *text, size_t len, size_t from, size_t limit, gw_pii_span *span) {
    for (size_t i = from; i < limit; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c != 's' && c != 'r' && c != 'A' && c != 'g' && c != 'x' && c != 'e' && c != '-')
            continue;
        if (i > 0 && token_char((unsigned char)text[i - 1])) continue;
        size_t e = 0;
        if (c == '-')
            e = pem_at(text, len, i);
        else if (c == 'e')
            e = jwt_at(text, len, i);
        else
            for (size_t k = 0; k < sizeof(shapes) / sizeof(shapes[0]) && !e; k++)
                if ((unsigned char)shapes[k].prefix[0] == c) e = shape_at(text, len, i, &shapes[k]);
        if (e) return pii_found(span, i, e, GW_PII_SECRET);
    }
    return 0;
}

int gw_pii_find_secret(const char *text, size_t len, size_t from, gw_pii_span *span) {
    return pii_find_secret(text, len, from, len, span);
}
