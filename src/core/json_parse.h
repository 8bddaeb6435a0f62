/* Parsing one whole JSON text with json-c: one value, nothing after it but whitespace (a second
 * value means a framing bug, not something to ignore), nested at most as deep as the caller
 * allows. For bodies and stream events the gateway reads whole; the request body's own parse
 * (filters/parse_request.c) reports json-c's error position and keeps its own. */
#ifndef AIGW_CORE_JSON_PARSE_H
#define AIGW_CORE_JSON_PARSE_H

#include <stddef.h>

struct json_object;
struct json_tokener;

/* A tokener for gw_json_parse_with: nesting up to depth; flags are json-c's tokener flags (0, or
 * JSON_TOKENER_STRICT to refuse what json-c otherwise forgives: trailing commas, comments,
 * single quotes, ...). NULL when out of memory. */
struct json_tokener *gw_json_tokener_new(int depth, int flags);

/* text[0..len) as one whole JSON text with a tokener of gw_json_tokener_new, reset first so one
 * serves a whole stream. NULL when malformed, empty, too deep or out of memory. */
struct json_object *gw_json_parse_with(struct json_tokener *tok, const char *text, size_t len);

/* The same with a tokener of its own. */
struct json_object *gw_json_parse(const char *text, size_t len, int depth, int flags);

/* v when it is an object; else NULL, v released. For callers that take nothing else:
 * gw_json_object_only(gw_json_parse(...)). */
struct json_object *gw_json_object_only(struct json_object *v);

#endif
