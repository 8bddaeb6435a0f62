/* Payment card numbers: 13-19 digits passing the Luhn check, written contiguous or in the
 * groups card faces and forms print. Luhn alone lets 1 in 10 random numbers through, so the
 * shape matters as much: a contiguous card is exactly one digit run, and grouped digits must
 * be in the groups issuers use, joined by one kind of separator. */
#include "security/pii_internal.h"

enum { CARD_MIN = 13, CARD_MAX = 19, MAX_GROUPS = 8 };

/* Luhn over the digits of s[0, n), separators skipped. */
static int luhn_ok(const char *s, size_t n) {
    int sum = 0, dbl = 0;
    for (size_t i = n; i-- > 0;) {
        if (!pii_digit((unsigned char)s[i])) continue;
        int d = s[i] - '0';
        if (dbl) d = d * 2 > 9 ? d * 2 - 9 : d * 2;
        sum += d;
        dbl = !dbl;
    }
    return sum % 10 == 0;
}

/* The first digit is an issuer's industry (0 is none); 13 digits were only Visa's (4). */
static int issuer_ok(char first, size_t digits) {
    return first != '0' && (digits != CARD_MIN || first == '4');
}

/* Whether group lengths g[0, n) are a card's layout: 4-4-4-x with x 1-4 (13-19 digits), or
 * American Express's 4-6-5 and Diners' 4-6-4. */
static int layout_ok(const size_t *g, size_t n, size_t *digits) {
    size_t total = 0;
    for (size_t k = 0; k < n; k++)
        total += g[k];
    *digits = total;
    if (n == 3 && g[0] == 4 && g[1] == 6 && (g[2] == 5 || g[2] == 4)) return 1;
    if (n < 4 || total < CARD_MIN || total > CARD_MAX || g[n - 1] > 4) return 0;
    for (size_t k = 0; k + 1 < n; k++)
        if (g[k] != 4) return 0;
    return 1;
}

/* A grouped card starting at s with the first group ending at e (a separator follows).
 * Returns the end, or 0. With spaces the groups after a card are the next words ("4111 1111
 * 1111 1111 2025"), so shorter prefixes of the groups are tried; a dashed run is one token
 * and must be a card as a whole. */
static size_t grouped_at(const char *t, size_t len, size_t s, size_t e) {
    size_t g[MAX_GROUPS], end[MAX_GROUPS], n = 0;
    char sep = t[e];
    g[n] = e - s;
    end[n++] = e;
    while (n < MAX_GROUPS && end[n - 1] + 1 < len && t[end[n - 1]] == sep &&
           pii_digit((unsigned char)t[end[n - 1] + 1])) {
        size_t b = end[n - 1] + 1, x = pii_digits_end(t, len, b);
        g[n] = x - b;
        end[n++] = x;
    }
    for (size_t k = n; k >= 3; k--) {
        if (k < n && sep != ' ') break;
        size_t digits;
        if (layout_ok(g, k, &digits) && issuer_ok(t[s], digits) &&
            pii_number_ends(t, len, end[k - 1]) && luhn_ok(t + s, end[k - 1] - s))
            return end[k - 1];
    }
    return 0;
}

int pii_find_bank_card(const char *text, size_t len, size_t from, size_t limit, gw_pii_span *span) {
    size_t i = from;
    while (i < limit) {
        if (!pii_digit((unsigned char)text[i])) {
            i++;
            continue;
        }
        size_t e = pii_digits_end(text, len, i), run = e - i;
        if (pii_number_starts(text, i)) {
            if (run >= CARD_MIN && run <= CARD_MAX) {
                if (issuer_ok(text[i], run) && pii_number_ends(text, len, e) &&
                    luhn_ok(text + i, run))
                    return pii_found(span, i, e, GW_PII_BANK_CARD);
            } else if (run == 4 && e + 1 < len && (text[e] == ' ' || text[e] == '-') &&
                       pii_digit((unsigned char)text[e + 1])) {
                size_t end = grouped_at(text, len, i, e);
                if (end) return pii_found(span, i, end, GW_PII_BANK_CARD);
            }
        }
        i = e;
    }
    return 0;
}

int gw_pii_find_bank_card(const char *text, size_t len, size_t from, gw_pii_span *span) {
    return pii_find_bank_card(text, len, from, len, span);
}
