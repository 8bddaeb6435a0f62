#ifndef AIGW_CORE_RANDOM_H
#define AIGW_CORE_RANDOM_H

#include <stddef.h>

/* Fills out with 2*nbytes lowercase hex characters of OS randomness, NUL-terminated. */
void gw_random_hex(char *out, size_t nbytes);

#endif
