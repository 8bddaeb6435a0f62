/* The request body's tree on demand (request_json.h). */
#include "core/request_json.h"

#include "core/json_strict.h"

struct json_object *gw_req_json(gw_req *r) {
    if (r->json || !r->json_deferred) return r->json;
    gw_json_strict_result parsed;
    /* the scan accepted the body, so this parse succeeds unless memory runs out */
    r->json = gw_json_parse_strict(r->body, r->body_len, GW_REQUEST_JSON_DEPTH, &parsed);
    if (r->json) r->json_deferred = 0;
    return r->json;
}
