/* Parses the body strictly and checks the fields the gateway and most engines rely on, so a
 * caller learns what is wrong from us, with the field named, not from an engine's stack trace.
 * A plain OpenAI body is read by a scan that builds nothing (filters/request_fields.h), its tree
 * left for whoever asks (core/request_json.h); every other body, and every one with an error,
 * is parsed into the tree here. */
#include <event2/buffer.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#include "core/json_scan.h"
#include "core/json_strict.h"
#include "core/request_json.h"
#include "filters/request.h"
#include "filters/request_fields.h"
#include "core/worker-t.h"
#include "filters/filter.h"

/* json-c keeps the last of duplicate keys while an allow-list check upstream might read the
 * first; two "model" members are refused. Only a body whose top-level object repeated a key
 * (the parser counts them for nothing) is scanned for which one. */
static int has_duplicate_model(const gw_req *r, const gw_json_strict_result *parsed) {
    if (!parsed->top_level_repeats) return 0;
    gw_json_scan_result scan;
    return gw_json_scan(r->body, r->body_len, "model", &scan) == 0 && scan.key_count > 1;
}

static void take_fields(gw_req *r, const gw_request_fields *f) {
    r->model_name = f->model;
    r->model_name_len = f->model_len;
    r->stream = f->stream;
    r->include_usage = f->include_usage;
    r->body_members = f->members;
}

static gw_filter_rc parse_request(gw_req *r) {
    r->body_len = evbuffer_get_length(r->body_buf);
    r->body = (const char *)evbuffer_pullup(r->body_buf, -1);
    if (r->body_len == 0 || !r->body) {
        gw_req_fail(r, 400, "invalid_request_error", "invalid_json", NULL,
                    "the request body is empty: expected a JSON object");
        return GW_FILTER_RESPOND;
    }
    gw_request_fields fields;
    if (!r->protocol->to_canonical && gw_request_scan(r->body, r->body_len, r->api, &fields)) {
        take_fields(r, &fields);
        r->json_deferred = 1;
        r->prompt_scanned = 1;
        r->prompt_start = fields.prompt_start;
        r->prompt_end = fields.prompt_end;
        r->max_new_tokens = fields.max_new_tokens;
        return GW_FILTER_CONTINUE;
    }
    gw_json_strict_result parsed;
    json_object *root = gw_json_parse_strict(r->body, r->body_len, GW_REQUEST_JSON_DEPTH, &parsed);
    size_t end = parsed.end;
    if (parsed.out_of_memory) {
        gw_req_fail(r, 503, "server_error", "out_of_memory", NULL, "the gateway is out of memory");
        return GW_FILTER_RESPOND;
    }
    if (!root || parsed.error != json_tokener_success) {
        if (root) json_object_put(root);
        gw_req_fail(r, 400, "invalid_request_error", "invalid_json", NULL,
                    "the request body is not valid JSON: %s at byte %zu",
                    parsed.error == json_tokener_continue ? "unexpected end of input"
                                                          : json_tokener_error_desc(parsed.error),
                    end);
        return GW_FILTER_RESPOND;
    }
    r->json = root;
    while (end < r->body_len && strchr(" \t\r\n", r->body[end]))
        end++;
    if (end < r->body_len) {
        gw_req_fail(r, 400, "invalid_request_error", "invalid_json", NULL,
                    "the request body is not valid JSON: unexpected data after the value at "
                    "byte %zu",
                    end);
        return GW_FILTER_RESPOND;
    }
    if (!json_object_is_type(root, json_type_object)) {
        gw_req_fail(r, 400, "invalid_request_error", "invalid_json", NULL,
                    "the request body must be a JSON object, found %s", gw_json_type_name(root));
        return GW_FILTER_RESPOND;
    }
    if (has_duplicate_model(r, &parsed)) { /* in the body as sent, whatever its dialect */
        gw_req_fail(r, 400, "invalid_request_error", "invalid_value", "model",
                    "the request body names 'model' more than once");
        return GW_FILTER_RESPOND;
    }
    if (r->protocol->to_canonical) { /* another dialect: checked in its terms, then converted */
        gw_error_info err;
        char message[512];
        if (r->protocol->to_canonical(r, &err, message, sizeof message) < 0) {
            gw_req_fail_with(r, &err);
            return GW_FILTER_RESPOND;
        }
        root = r->json;
    }
    gw_field_error err;
    if (gw_request_fields_from_tree(root, r->api, &fields, &err) < 0) {
        gw_req_fail(r, 400, "invalid_request_error", err.code, err.param[0] ? err.param : NULL,
                    "%s", err.message);
        return GW_FILTER_RESPOND;
    }
    take_fields(r, &fields);
    if (fields.add_include_usage) {
        /* metering needs the usage of every stream: ask for it anyway (the engine then sends
         * a usage chunk, which the gateway keeps from a caller that said no) */
        json_object *stream_options = json_object_object_get(root, "stream_options");
        json_object *yes = json_object_new_boolean(1);
        if (!yes || json_object_object_add(stream_options, "include_usage", yes) < 0) {
            json_object_put(yes);
            yes = NULL;
        }
        if (!yes || gw_req_replace_body(r) < 0) {
            gw_req_fail(r, 503, "server_error", "out_of_memory", NULL,
                        "the gateway is out of memory");
            return GW_FILTER_RESPOND;
        }
    }
    return GW_FILTER_CONTINUE;
}

const gw_filter_ops gw_filter_parse_request = {
    .name = "parse_request",
    .on_request = parse_request,
};
