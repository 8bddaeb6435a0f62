/* Model globs of a key: '*' matches any run of bytes (none included), '?' one character (one
 * UTF-8 sequence), anything else itself, case-sensitively as model names are. No escapes: model
 * names have no '*' or '?'. Matching allocates nothing and takes at most len(glob) * len(name)
 * steps (a failed '*' resumes one character further, never recursing). */
#ifndef AIGW_STORE_KEYS_GLOB_H
#define AIGW_STORE_KEYS_GLOB_H

#include <stddef.h>

int gw_glob_match(const char *glob, size_t glob_len, const char *s, size_t len);

#endif
