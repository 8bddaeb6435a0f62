/* The request body's tree on demand, and what is read of the body without it
 * (request_json.h). */
#include "core/request_json.h"

#include <json-c/json.h>

#include "core/json_strict.h"
#include "core/token_estimate.h"

struct json_object *gw_req_json(gw_req *r) {
    if (r->json || !r->json_deferred) return r->json;
    gw_json_strict_result parsed;
    /* the scan accepted the body, so this parse succeeds unless memory runs out */
    r->json = gw_json_parse_strict(r->body, r->body_len, GW_REQUEST_JSON_DEPTH, &parsed);
    if (r->json) r->json_deferred = 0;
    return r->json;
}

size_t gw_req_prompt_tokens(gw_req *r) {
    int chat = r->api == GW_API_CHAT;
    if (r->prompt_scanned) {
        size_t tokens = gw_estimate_request_tokens_text(r->body, r->body_len, r->prompt_start,
                                                        r->prompt_end, chat);
        if (tokens != SIZE_MAX) return tokens;
    }
    return gw_estimate_request_tokens(gw_req_json(r), chat);
}

uint64_t gw_req_max_new_tokens(gw_req *r) {
    if (r->prompt_scanned) return r->max_new_tokens;
    json_object *v, *body = gw_req_json(r);
    if (!body || !(json_object_object_get_ex(body, "max_completion_tokens", &v) ||
                   json_object_object_get_ex(body, "max_tokens", &v)))
        return 0;
    return json_object_is_type(v, json_type_int) && json_object_get_int64(v) > 0
               ? (uint64_t)json_object_get_int64(v)
               : 0;
}
