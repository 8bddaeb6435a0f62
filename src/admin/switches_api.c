#include "admin/switches_api.h"

#include <event2/buffer.h>
#include <http_parser.h>
#include <json-c/json.h>
#include <string.h>

#include "admin/audit.h"
#include "core/error_response.h"
#include "core/json_parse.h"
#include "filters/switches.h"

static void respond_list(gw_http_req *req, const gw_switches *set) {
    json_object *o = json_object_new_object(), *tenants = json_object_new_array(),
                *models = json_object_new_array();
    for (size_t i = 0; set && i < set->count; i++)
        json_object_array_add(set->items[i].kind == GW_SWITCH_TENANT ? tenants : models,
                              json_object_new_string(set->items[i].value));
    json_object_object_add(o, "disabled_tenants", tenants);
    json_object_object_add(o, "disabled_models", models);
    const char *text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
    gw_http_respond(req, 200, "application/json", text, strlen(text), NULL, 0);
    json_object_put(o);
}

void gw_admin_switches(gw_http_req *req, const gw_admin_ops *ops, void *ud) {
    if (req->method == HTTP_GET) {
        respond_list(req, ops->switches(ud));
        return;
    }
    if (req->method != HTTP_POST) {
        gw_http_respond_openai_error(req, 405, "invalid_request_error", "method_not_allowed",
                                     "use GET or POST /admin/switches");
        return;
    }
    size_t len = evbuffer_get_length(req->body);
    const char *text = len ? (const char *)evbuffer_pullup(req->body, -1) : NULL;
    json_object *root = text ? gw_json_parse(text, len, 8, JSON_TOKENER_STRICT) : NULL, *v, *d;
    gw_switch_kind kind = GW_SWITCH_TENANT;
    const char *value = NULL;
    if (root && json_object_object_get_ex(root, "tenant", &v) &&
        json_object_is_type(v, json_type_string)) {
        value = json_object_get_string(v);
    } else if (root && json_object_object_get_ex(root, "model", &v) &&
               json_object_is_type(v, json_type_string)) {
        kind = GW_SWITCH_MODEL;
        value = json_object_get_string(v);
    }
    if (!value || !*value || strlen(value) > GW_SWITCH_VALUE_MAX ||
        !json_object_object_get_ex(root, "disabled", &d) ||
        !json_object_is_type(d, json_type_boolean)) {
        json_object_put(root);
        gw_http_respond_openai_error(req, 400, "invalid_request_error", "invalid_value",
                                     "expected {\"tenant\" or \"model\": name, \"disabled\": "
                                     "true|false}");
        return;
    }
    int off = json_object_get_boolean(d);
    if (ops->set_switch(ud, kind, value, off) < 0) {
        gw_admin_audit(req, "switch", value, 503);
        json_object_put(root);
        gw_http_respond_openai_error(req, 503, "server_error", "switches_full",
                                     "the switches could not be changed (too many, out of "
                                     "memory, or the store could not save it: see the log); "
                                     "nothing changed");
        return;
    }
    gw_admin_audit(req,
                   kind == GW_SWITCH_TENANT ? (off ? "tenant.disable" : "tenant.enable")
                                            : (off ? "model.disable" : "model.enable"),
                   value, 200);
    json_object_put(root);
    respond_list(req, ops->switches(ud));
}
