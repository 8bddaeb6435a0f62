/* The members of an OpenAI request body the gateway reads itself (model, stream, ...) and the
 * checks on them it makes before any engine sees the body, so a caller learns what is wrong
 * from us, with the member named. Two ways to the same answer:
 * - gw_request_fields_from_tree: from the json-c tree; every body can go this way, and every
 *   error is written this way;
 * - gw_request_scan: one pass over the text that builds nothing, for the plain bodies nearly
 *   every caller sends. It says yes only where the tree's way would say yes with the same fields,
 *   and otherwise declines (the tree's way then decides). tests/unit/test_request_scan.c holds
 *   it to that. The tree is then built only when something asks for it (core/request_json.h). */
#ifndef AIGW_FILTERS_REQUEST_FIELDS_H
#define AIGW_FILTERS_REQUEST_FIELDS_H

#include <stddef.h>
#include <stdint.h>

#include "core/config-t.h"
#include "core/request-t.h" /* GW_BODY_HAS_* */

struct json_object;

/* A JSON value's type as a bit, and the types optional members callers commonly get wrong may
 * have. Unknown members pass through untouched: engines accept extra parameters (vLLM's top_k,
 * min_p, ...). */
enum {
    GW_JSON_STRING = 1,
    GW_JSON_BOOL = 2,
    GW_JSON_INT = 4,
    GW_JSON_NUMBER = 8, /* int or double */
    GW_JSON_ARRAY = 16,
    GW_JSON_OBJECT = 32,
    GW_JSON_NULL = 64,
};

typedef struct gw_field_rule {
    const char *name;
    size_t name_len;
    unsigned types;
    const char *expected; /* for the message */
} gw_field_rule;

/* Ends with a rule whose name is NULL. */
extern const gw_field_rule gw_request_rules[];

typedef struct gw_request_fields {
    const char *model; /* the "model" string: in the body (scan) or in the tree */
    size_t model_len;
    int stream;        /* "stream": true */
    int include_usage; /* "stream_options": {"include_usage": true} */
    unsigned members;  /* GW_BODY_HAS_* */
    /* a stream whose stream_options lack include_usage: true. Metering needs the usage of
     * every stream, so the member is to be added (the tree's way only; the scan declines) */
    int add_include_usage;
    /* the scan's only (the tree's way leaves them 0): [prompt_start, prompt_end) is the value of
     * "messages" (chat) or "prompt" (the other APIs) in the body, both 0 when it has none; and
     * what max_completion_tokens, else max_tokens, asks for when a positive integer, else 0 */
    size_t prompt_start, prompt_end;
    uint64_t max_new_tokens;
} gw_request_fields;

typedef struct gw_field_error {
    const char *code; /* "missing_required_parameter", "invalid_type" or "invalid_value" */
    char param[48];   /* the member, as OpenAI's error names it ("messages[2].role") */
    char message[256];
} gw_field_error;

/* "a string", "an integer", ...: what an error says it found. */
const char *gw_json_type_name(struct json_object *v);

/* The fields of a request whose body parsed to the object root, checked for the API: 0, or -1
 * with err filled (a 400 invalid_request_error). out->model points into root. */
int gw_request_fields_from_tree(struct json_object *root, gw_api_kind api, gw_request_fields *out,
                                gw_field_error *err);

/* The same from the text of the body: 1 when the body is a JSON object written plainly (see
 * request_scan.c for what that excludes) that gw_request_fields_from_tree would accept with
 * add_include_usage 0, out filled (out->model points into body); 0 otherwise, out undefined. */
int gw_request_scan(const char *body, size_t len, gw_api_kind api, gw_request_fields *out);

#endif
