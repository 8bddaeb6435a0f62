/* Masks (the scheme in pii.h). Numbers keep their length and layout, so a reader, or the
 * model, still sees that a phone or a card was there and which one of several it was, while
 * the digits that identify a person are gone. Other kinds have no part worth keeping: the
 * domain of an address can name its owner, any part of a key helps guess it. */
#include <string.h>

#include "security/pii_internal.h"

enum { TAIL = 4, MIN_HIDDEN = 4 };

static int number_char(unsigned char c, gw_pii_kind kind) {
    return pii_digit(c) || (kind == GW_PII_CHINA_ID && (c == 'X' || c == 'x'));
}

/* The digits that stay at the front: the issuer's (card, region) or the carrier's (phone),
 * after a China country prefix, which says nothing about the person. */
static size_t head_digits(gw_pii_kind kind, const char *first, size_t digits) {
    if (kind != GW_PII_PHONE) return 4;
    if (digits == 13 && !memcmp(first, "86", 2)) return 5;
    if (digits == 15 && !memcmp(first, "0086", 4)) return 7;
    return 3;
}

static int mask_number(const pii_detector *d, const char *v, size_t n, gw_pii_write_fn write,
                       void *ud) {
    char first[4] = {0};
    size_t digits = 0;
    for (size_t i = 0; i < n; i++)
        if (number_char((unsigned char)v[i], d->kind)) {
            if (digits < sizeof(first)) first[digits] = v[i];
            digits++;
        }
    size_t head = head_digits(d->kind, first, digits);
    /* a short international number still hides four digits */
    if (digits < head + TAIL + MIN_HIDDEN)
        head = digits > TAIL + MIN_HIDDEN ? digits - TAIL - MIN_HIDDEN : 0;
    char buf[64];
    size_t b = 0, k = 0;
    for (size_t i = 0; i < n; i++) {
        char c = v[i];
        if (number_char((unsigned char)c, d->kind)) {
            if (k >= head && k + TAIL < digits) c = '*';
            k++;
        }
        buf[b++] = c;
        if (b == sizeof(buf)) {
            if (write(ud, buf, b) < 0) return -1;
            b = 0;
        }
    }
    return b && write(ud, buf, b) < 0 ? -1 : 0;
}

int pii_write_mask(const pii_detector *d, const char *value, size_t len, gw_pii_write_fn write,
                   void *ud) {
    if (d->kind == GW_PII_PHONE || d->kind == GW_PII_BANK_CARD || d->kind == GW_PII_CHINA_ID)
        return mask_number(d, value, len, write, ud);
    char tag[GW_PII_NAME_MAX + 2];
    tag[0] = '[';
    memcpy(tag + 1, d->label, d->label_len);
    tag[d->label_len + 1] = ']';
    return write(ud, tag, d->label_len + 2);
}
