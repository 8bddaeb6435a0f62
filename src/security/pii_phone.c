/* Phone numbers: mainland China mobiles, the form most Chinese text carries, and international
 * numbers written the E.164 way, with a "+". Bare national numbers of other countries are
 * not detected: without the "+" any 8-15 digit run (an order number, an amount) would be one. */
#include <string.h>

#include "security/pii_internal.h"

enum { E164_MIN_DIGITS = 8, E164_MAX_DIGITS = 15, CN_MOBILE_DIGITS = 11 };

static int group_sep(unsigned char c) {
    return c == ' ' || c == '-';
}

/* A China mobile's 11 digits at i, contiguous (and not part of a longer run) or 3-4-4 with
 * one kind of separator. Returns the end, or 0. */
static size_t cn_mobile_at(const char *t, size_t len, size_t i) {
    if (len - i < CN_MOBILE_DIGITS || t[i] != '1' || t[i + 1] < '3' || t[i + 1] > '9') return 0;
    size_t run = pii_digits_end(t, len, i) - i;
    if (run == CN_MOBILE_DIGITS) return i + CN_MOBILE_DIGITS;
    if (run != 3 || i + 13 > len || !group_sep((unsigned char)t[i + 3])) return 0;
    char sep = t[i + 3];
    if (pii_digits_end(t, len, i + 4) != i + 8 || t[i + 8] != sep ||
        pii_digits_end(t, len, i + 9) != i + 13)
        return 0;
    /* "138-1234-5678-9" is one dashed token, not a phone and a digit; after a space the next
     * digits are another number */
    if (sep == '-' && i + 14 < len && t[i + 13] == '-' && pii_digit((unsigned char)t[i + 14]))
        return 0;
    return i + 13;
}

/* A China mobile starting at s, with or without its country prefix. Returns the end, or 0. */
static size_t cn_phone_at(const char *t, size_t len, size_t s) {
    size_t e = t[s] == '+' ? 0 : cn_mobile_at(t, len, s);
    if (e) return e;
    size_t i = s;
    if (len - s >= 3 && !memcmp(t + s, "+86", 3))
        i = s + 3;
    else if (len - s >= 4 && !memcmp(t + s, "0086", 4))
        i = s + 4;
    else if (len - s >= 2 && !memcmp(t + s, "86", 2))
        i = s + 2;
    else
        return 0;
    if (i < len && group_sep((unsigned char)t[i])) i++;
    return i < len ? cn_mobile_at(t, len, i) : 0;
}

/* The separators between an international number's groups: one or two of " -.()", as in
 * "+1 (415) 555-2671". Returns how many there are before the next digit, or 0. */
static size_t e164_gap(const char *t, size_t len, size_t i) {
    size_t k = i;
    while (k < len && k - i < 2 && t[k] && strchr(" -.()", t[k]))
        k++;
    return k > i && k < len && pii_digit((unsigned char)t[k]) ? k - i : 0;
}

/* "+" and 8-15 digits at s. A group that would pass 15 digits after a plain space is the next
 * number of a list ("+86 13812345678 13912345678"); after anything else the whole is too long
 * to be a phone. Returns the end, or 0. */
static size_t e164_at(const char *t, size_t len, size_t s) {
    size_t i = s + 1, digits = 0, end = 0;
    if (i >= len || !pii_digit((unsigned char)t[i])) return 0;
    for (;;) {
        size_t j = pii_digits_end(t, len, i);
        if (digits + (j - i) > E164_MAX_DIGITS) {
            if (end && i - end == 1 && t[end] == ' ') break;
            return 0;
        }
        digits += j - i;
        end = j;
        size_t gap = e164_gap(t, len, j);
        if (!gap) break;
        i = j + gap;
    }
    if (digits < E164_MIN_DIGITS || !pii_number_ends(t, len, end)) return 0;
    return end;
}

int pii_find_phone(const char *text, size_t len, size_t from, size_t limit, gw_pii_span *span) {
    size_t i = from;
    while (i < limit) {
        unsigned char c = (unsigned char)text[i];
        if (c == '+') {
            if (i == 0 || !pii_word((unsigned char)text[i - 1])) {
                size_t cn = cn_phone_at(text, len, i), intl = e164_at(text, len, i);
                size_t e = cn > intl ? cn : intl;
                if (e && (e == intl || pii_number_ends(text, len, e)))
                    return pii_found(span, i, e, GW_PII_PHONE);
            }
            i++;
        } else if (pii_digit(c)) {
            if (pii_number_starts(text, i)) {
                size_t e = cn_phone_at(text, len, i);
                if (e && pii_number_ends(text, len, e)) return pii_found(span, i, e, GW_PII_PHONE);
            }
            i = pii_digits_end(text, len, i); /* no number starts inside a digit run */
        } else {
            i++;
        }
    }
    return 0;
}

int gw_pii_find_phone(const char *text, size_t len, size_t from, gw_pii_span *span) {
    return pii_find_phone(text, len, from, len, span);
}
