/* The directories above a file the gateway creates (its databases), made when missing, as
 * `mkdir -p` would: `store: var/aigw.db` works in a fresh directory. */
#ifndef AIGW_CORE_MAKE_DIRS_H
#define AIGW_CORE_MAKE_DIRS_H

#include <stddef.h>

/* 0, or -1 with err (the directory and why) when one cannot be made. Mode 0750: databases
 * hold usage and keys' hashes, not for every local user. */
int gw_make_parent_dirs(const char *file, char *err, size_t cap);

#endif
