/* A validating JSON scanner that builds nothing. The response path uses it to check an upstream
 * body or stream event and to find the byte span of one top-level member, so the gateway can
 * splice in another model name and pass every other byte through untouched: numbers, key order
 * and unknown fields stay exactly as the engine wrote them, at no allocation. */
#ifndef AIGW_CORE_JSON_SCAN_H
#define AIGW_CORE_JSON_SCAN_H

#include <stddef.h>

typedef struct gw_json_scan_result {
    int is_object;      /* the top-level value is an object */
    int key_count;      /* how many top-level members are named `key` (escapes decoded) */
    size_t value_start; /* span of the first such member's value: [value_start, value_end) */
    size_t value_end;
    size_t error_offset; /* where a malformed text went wrong */
    const char *error;   /* what was expected there; NULL when the text is valid */
} gw_json_scan_result;

/* Validates `text` as exactly one JSON value with optional surrounding whitespace.
 * Returns 0 when valid, -1 otherwise (see error, error_offset). `key` may be NULL. */
int gw_json_scan(const char *text, size_t len, const char *key, gw_json_scan_result *out);

#endif
