/* Which backend a metering.store locator names. */
#include "meter/store.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

/* The length of locator's URL scheme ("postgres" in "postgres://..."), 0 when it is a path. */
static size_t scheme_len(const char *locator) {
    size_t n = 0;
    if (!isalpha((unsigned char)locator[0])) return 0;
    while (isalnum((unsigned char)locator[n]) || locator[n] == '+' || locator[n] == '-' ||
           locator[n] == '.')
        n++;
    return strncmp(locator + n, "://", 3) ? 0 : n;
}

const gw_meter_store_ops *gw_meter_store_backend(const char *locator, char *err, size_t cap) {
    size_t n = scheme_len(locator);
    if (!n) return &gw_meter_store_sqlite;
    if ((n == 8 && !strncmp(locator, "postgres", 8)) ||
        (n == 10 && !strncmp(locator, "postgresql", 10)))
        snprintf(err, cap,
                 "the PostgreSQL backend of the metering store is not built into this aigw: "
                 "give metering.store a file path (SQLite)");
    else
        snprintf(err, cap, "unknown metering store '%.*s://' (expected a file path, for SQLite)",
                 (int)(n < 32 ? n : 32), locator);
    return NULL;
}
