/* The request body's json-c tree, built when something first asks for it. Most requests are
 * read by a scan that builds no tree (filters/request_fields.h); a filter or adapter that needs
 * the whole body (a guard, a rule on content, an adapter that rewrites the request) asks here. */
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

#endif
