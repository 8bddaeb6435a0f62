/* Unsigned integers as decimal text without printf: header values and log fields are written on
 * every request, where a snprintf of one number cost ~300 instructions. */
#ifndef AIGW_CORE_DECIMAL_H
#define AIGW_CORE_DECIMAL_H

#include <stddef.h>
#include <stdint.h>

enum { GW_DECIMAL_MAX = 21 }; /* UINT64_MAX's 20 digits and a NUL */

/* "00" to "99": a number is written two digits a division (for writers in place, too) */
extern const char gw_decimal_pairs[201];

/* v's digits and a NUL into out; returns the digits' count. */
size_t gw_decimal_u64(char out[GW_DECIMAL_MAX], uint64_t v);

#endif
