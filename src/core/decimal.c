/* Decimal text (decimal.h), two digits a step from a table. */
#include "core/decimal.h"

#include <string.h>

const char gw_decimal_pairs[201] = "0001020304050607080910111213141516171819"
                                   "2021222324252627282930313233343536373839"
                                   "4041424344454647484950515253545556575859"
                                   "6061626364656667686970717273747576777879"
                                   "8081828384858687888990919293949596979899";

size_t gw_decimal_u64(char out[GW_DECIMAL_MAX], uint64_t v) {
    char buf[GW_DECIMAL_MAX];
    size_t at = sizeof buf;
    while (v >= 100) {
        at -= 2;
        memcpy(buf + at, gw_decimal_pairs + (v % 100) * 2, 2);
        v /= 100;
    }
    if (v >= 10) {
        at -= 2;
        memcpy(buf + at, gw_decimal_pairs + v * 2, 2);
    } else {
        buf[--at] = (char)('0' + v);
    }
    size_t len = sizeof buf - at;
    memcpy(out, buf + at, len);
    out[len] = '\0';
    return len;
}
