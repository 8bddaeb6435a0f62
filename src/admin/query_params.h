/* Parameters of a URL query string (a=1&b=x%20y), for the admin API's GET endpoints. */
#ifndef AIGW_ADMIN_QUERY_PARAMS_H
#define AIGW_ADMIN_QUERY_PARAMS_H

#include <stddef.h>

/* The value of name, percent-decoded ('+' is a space) into buf and NUL-terminated: its length;
 * -1 when absent; -2 when malformed (a bad escape, a NUL byte) or longer than cap - 1. A name
 * given twice is malformed too: which one would win is a guess. */
int gw_query_param(const char *query, size_t len, const char *name, char *buf, size_t cap);

/* The first parameter not named in allowed (NULL-terminated), its name into bad: 1; else 0. */
int gw_query_unknown(const char *query, size_t len, const char *const *allowed, char *bad,
                     size_t cap);

#endif
