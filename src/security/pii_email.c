/* Email addresses, RFC 5322 as people write them: local@domain.tld. The local part takes the
 * characters mail systems hand out ([A-Za-z0-9._%+-]), not every atext character: with "=" or
 * "/" a query string's "user=bob@x.com" would become one address and mask its key. No dot at
 * either end of it, none doubled. The domain is labels of letters, digits and inner hyphens,
 * and ends with an alphabetic TLD (or an IDN "xn--" one), so a sentence's final full stop and
 * a version number after a dot stay outside. */
#include <string.h>

#include "security/pii_internal.h"

enum { LOCAL_MAX = 64, LABEL_MAX = 63, DOMAIN_MAX = 253, ADDRESS_MAX = 254 };

static int local_char(unsigned char c) {
    return pii_digit(c) || pii_alpha(c) || c == '.' || c == '_' || c == '%' || c == '+' || c == '-';
}

static int label_char(unsigned char c) {
    return pii_digit(c) || pii_alpha(c) || c == '-';
}

static int tld_ok(const char *s, size_t n) {
    if (n >= 5 && !memcmp(s, "xn--", 4)) return 1;
    if (n < 2) return 0;
    for (size_t i = 0; i < n; i++)
        if (!pii_alpha((unsigned char)s[i])) return 0;
    return 1;
}

/* The start of the local part that ends before the '@' at `at`, or `at` when there is none
 * that is valid. Leading dots are left out ("...bob@x.com" is bob's address). */
static size_t local_start(const char *t, size_t at) {
    size_t s = at;
    while (s > 0 && local_char((unsigned char)t[s - 1])) {
        if (at - s == LOCAL_MAX) return at; /* too long for a local part: not an address */
        s--;
    }
    while (s < at && t[s] == '.')
        s++;
    if (s == at || t[at - 1] == '.') return at;
    for (size_t i = s; i + 1 < at; i++)
        if (t[i] == '.' && t[i + 1] == '.') return at;
    return s;
}

/* The end of the domain after the '@' at `at`: after the last label that is a TLD with at
 * least one label before it and ends by `limit`; 0 when there is none. */
static size_t domain_end(const char *t, size_t len, size_t at, size_t limit) {
    size_t i = at + 1, labels = 0, end = 0;
    while (i < len && i - at <= DOMAIN_MAX) {
        size_t ls = i;
        while (i < len && label_char((unsigned char)t[i]) && i - ls < LABEL_MAX)
            i++;
        if (i == ls || t[ls] == '-' || t[i - 1] == '-') break;
        if (i < len && label_char((unsigned char)t[i])) break; /* a label over 63 bytes */
        if (i > limit) break; /* past the longest address: it ends before this label */
        labels++;
        if (labels >= 2 && tld_ok(t + ls, i - ls)) end = i;
        if (i + 1 < len && t[i] == '.' && label_char((unsigned char)t[i + 1])) {
            i++;
            continue;
        }
        break;
    }
    return end;
}

int pii_find_email(const char *text, size_t len, size_t from, size_t limit, gw_pii_span *span) {
    /* an address that starts before limit has its '@' within the longest local part after it */
    size_t i = from, at_end = len - limit > LOCAL_MAX ? limit + LOCAL_MAX : len;
    while (i < at_end) {
        const char *at = memchr(text + i, '@', at_end - i);
        if (!at) return 0;
        size_t a = (size_t)(at - text);
        i = a + 1;
        size_t s = local_start(text, a);
        if (s != a && s >= limit) return 0; /* later ones start later still */
        /* an address that starts before `from` overlaps a value already taken */
        if (s == a || s < from) continue;
        /* RFC 5321 takes 254 bytes at most: a label that ends past them is not part of the
         * address, so where an address ends never depends on more than the 254 bytes from its
         * start and the label that crosses them (what a stream holds back for it) */
        size_t e = domain_end(text, len, a, s + ADDRESS_MAX);
        if (e) return pii_found(span, s, e, GW_PII_EMAIL);
    }
    return 0;
}

int gw_pii_find_email(const char *text, size_t len, size_t from, gw_pii_span *span) {
    return pii_find_email(text, len, from, len, span);
}
