/* China resident identity numbers (GB 11643-1999): 6 digits of region, the birth date
 * YYYYMMDD, 3 digits of sequence, and an ISO 7064 MOD 11-2 check character. Three checks
 * against false positives on other 18-digit numbers: the region's province code exists, the
 * date is a real one, the check character fits (1 in 11 random numbers would pass it alone). */
#include "security/pii_internal.h"

enum { ID_LEN = 18 };

/* The province codes of GB/T 2260, and 71/81/82/83/91 (Taiwan, Hong Kong, Macau, and the
 * codes issued to residents of those and abroad). */
static int province_ok(const char *s) {
    static const char codes[] = "11121314152122233132333435363741424344454650515253546162636465"
                                "7181828391";
    for (size_t i = 0; i + 1 < sizeof(codes); i += 2)
        if (codes[i] == s[0] && codes[i + 1] == s[1]) return 1;
    return 0;
}

static int num(const char *s, int n) {
    int v = 0;
    for (int i = 0; i < n; i++)
        v = v * 10 + (s[i] - '0');
    return v;
}

static int date_ok(const char *s) {
    static const int days[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int y = num(s, 4), m = num(s + 4, 2), d = num(s + 6, 2);
    if (y < 1900 || y > 2100 || m < 1 || m > 12 || d < 1 || d > days[m - 1]) return 0;
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return !(m == 2 && d == 29 && !leap);
}

/* ISO 7064 MOD 11-2: the weights are 2^(17-i) mod 11. */
static int check_ok(const char *s) {
    static const int weight[17] = {7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2};
    static const char check[] = "10X98765432";
    int sum = 0;
    for (int i = 0; i < 17; i++)
        sum += (s[i] - '0') * weight[i];
    char c = s[17] == 'x' ? 'X' : s[17];
    return c == check[sum % 11];
}

static int id_ok(const char *s) {
    return province_ok(s) && date_ok(s + 6) && check_ok(s);
}

int pii_find_china_id(const char *text, size_t len, size_t from, size_t limit, gw_pii_span *span) {
    size_t i = from;
    while (i < limit) {
        if (!pii_digit((unsigned char)text[i])) {
            i++;
            continue;
        }
        size_t run_end = pii_digits_end(text, len, i), run = run_end - i;
        if (pii_number_starts(text, i)) {
            size_t e = 0;
            if (run == ID_LEN)
                e = run_end;
            else if (run == ID_LEN - 1 && run_end < len &&
                     (text[run_end] == 'X' || text[run_end] == 'x'))
                e = run_end + 1;
            if (e && pii_number_ends(text, len, e) && id_ok(text + i))
                return pii_found(span, i, e, GW_PII_CHINA_ID);
        }
        i = run_end;
    }
    return 0;
}

int gw_pii_find_china_id(const char *text, size_t len, size_t from, gw_pii_span *span) {
    return pii_find_china_id(text, len, from, len, span);
}
