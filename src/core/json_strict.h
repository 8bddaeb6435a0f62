/* A strict JSON parser that builds the same json-c tree as json-c 0.16's tokener with
 * JSON_TOKENER_STRICT, without its costs per call: json_tokener_parse_ex switches the thread's
 * locale on every call (duplocale, newlocale, freelocale: ~4k instructions and three
 * allocations), walks the text one character at a time through its state machine, and
 * duplicates every object key twice. This one scans strings a run at a time, takes well-known
 * keys ("model", "messages", "role", ...) as json-c constant keys, and sizes arrays once.
 *
 * What it accepts, the tree it builds (ints, uint64 above INT64_MAX, doubles keeping the text
 * they were written as, duplicate keys: the last value under the first key), the error it
 * reports and the byte it reports it at are json-c's, quirks included: tests/unit/
 * test_json_strict.c compares the two on hand-written and random inputs. The quirks of json-c's
 * strict mode kept so: single-quoted object keys, NaN, Infinity and -Infinity are accepted; "00"
 * is 0; raw control characters and invalid UTF-8 pass in strings; a key's \u0000 ends the key;
 * a scalar at the top level needs one more character after it (else "continue"); a NUL byte
 * after the value ends parsing with success (parse end at the NUL), an error on a NUL byte is
 * "unexpected end of data". */
#ifndef AIGW_CORE_JSON_STRICT_H
#define AIGW_CORE_JSON_STRICT_H

#include <json-c/json_tokener.h>
#include <stddef.h>

struct json_object;

typedef struct gw_json_strict_result {
    enum json_tokener_error error; /* json_tokener_success, or what json-c would report */
    size_t end;                    /* as json_tokener_get_parse_end: where parsing stopped */
    int out_of_memory;             /* NULL because an allocation failed, not the text */
    int top_level_repeats;         /* the top-level object named a key twice (json-c keeps the
                                      last value; a caller may want to refuse that) */
} gw_json_strict_result;

/* text[0..len) as json_tokener_parse_ex would parse it with a fresh tokener of max_depth
 * (json_tokener_new_ex's depth) and JSON_TOKENER_STRICT: the value (NULL for a top-level null),
 * or NULL and res->error. */
struct json_object *gw_json_parse_strict(const char *text, size_t len, int max_depth,
                                         gw_json_strict_result *res);

/* The string token at text[at] (its opening double quote) decoded as json-c decodes a string
 * value (escapes, \u pairs, U+FFFD for a lone surrogate), handed to take with its length (it may
 * hold NUL bytes); the bytes live only during the call; *end is set after its closing quote. -1
 * when it is not a whole string or memory ran out for a long escaped one. */
int gw_json_strict_string(const char *text, size_t len, size_t at, size_t *end,
                          void (*take)(void *ud, const char *bytes, size_t n), void *ud);

#endif
