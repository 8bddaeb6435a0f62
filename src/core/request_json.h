/* The request body's json-c tree, built when something first asks for it, and the estimates
 * read from the body's text when the scan left no tree. Most requests are read by a scan that
 * builds no tree (filters/request_fields.h); a filter or adapter that needs the whole body (a
 * guard, a rule on content, an adapter that rewrites the request) asks here. */
#ifndef AIGW_CORE_REQUEST_JSON_H
#define AIGW_CORE_REQUEST_JSON_H

#include "core/request-t.h"

struct json_object;

/* As deep as a request body may nest: the depth the workers' json-c tokener had. */
#define GW_REQUEST_JSON_DEPTH 128

/* The canonical request's tree: r->json, parsed from r->body on the first call after the scan
 * accepted the body. NULL when the body was never accepted (the request did not get that far)
 * or the gateway is out of memory. */
struct json_object *gw_req_json(gw_req *r);

/* gw_estimate_request_tokens of the canonical request: from the body's text when the scan read
 * it, else from the tree (built if need be; 0 without memory for it). */
size_t gw_req_prompt_tokens(gw_req *r);

/* What the caller asks to generate: max_completion_tokens, else max_tokens, when a positive
 * integer; else 0. */
uint64_t gw_req_max_new_tokens(gw_req *r);

#endif
