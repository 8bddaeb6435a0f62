#include "mcp/jsonrpc.h"

#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#include "core/json_parse.h"

enum { MAX_DEPTH = 64 };

int gw_jsonrpc_parse(const char *text, size_t len, gw_jsonrpc_msg *msg, char *err, size_t errlen) {
    return gw_jsonrpc_parse_with(NULL, text, len, msg, err, errlen);
}

int gw_jsonrpc_parse_with(struct json_tokener *tok, const char *text, size_t len,
                          gw_jsonrpc_msg *msg, char *err, size_t errlen) {
    memset(msg, 0, sizeof *msg);
    json_object *root = NULL;
    if (len)
        root = tok ? gw_json_parse_with(tok, text, len)
                   : gw_json_parse(text, len, MAX_DEPTH, JSON_TOKENER_STRICT);
    if (!root) {
        snprintf(err, errlen, "Parse error: the body is not one valid JSON text");
        return GW_JSONRPC_PARSE_ERROR;
    }
    if (json_object_is_type(root, json_type_array)) {
        msg->root = root;
        msg->kind = GW_JSONRPC_BATCH; /* the caller decides whether its revision takes one */
        return 0;
    }
    return gw_jsonrpc_from_object(root, msg, err, errlen);
}

int gw_jsonrpc_from_object(json_object *root, gw_jsonrpc_msg *msg, char *err, size_t errlen) {
    memset(msg, 0, sizeof *msg);
    msg->root = root;
    if (!json_object_is_type(msg->root, json_type_object)) {
        snprintf(err, errlen, "Invalid Request: expected a JSON-RPC object");
        return GW_JSONRPC_INVALID_REQUEST;
    }
    json_object *v = NULL, *id = NULL, *method = NULL, *params = NULL;
    int has_id = json_object_object_get_ex(msg->root, "id", &id);
    if (has_id &&
        (json_object_is_type(id, json_type_string) || json_object_is_type(id, json_type_int)))
        msg->id = id;
    if (!json_object_object_get_ex(msg->root, "jsonrpc", &v) ||
        !json_object_is_type(v, json_type_string) || strcmp(json_object_get_string(v), "2.0")) {
        snprintf(err, errlen, "Invalid Request: \"jsonrpc\" must be \"2.0\"");
        return GW_JSONRPC_INVALID_REQUEST;
    }
    if (has_id && !msg->id) {
        /* MCP: a string or an integer, never null */
        snprintf(err, errlen, "Invalid Request: \"id\" must be a string or an integer");
        return GW_JSONRPC_INVALID_REQUEST;
    }
    int has_method = json_object_object_get_ex(msg->root, "method", &method);
    if (!has_method) {
        if (msg->id && (json_object_object_get_ex(msg->root, "result", NULL) ||
                        json_object_object_get_ex(msg->root, "error", NULL))) {
            msg->kind = GW_JSONRPC_RESPONSE;
            return 0;
        }
        snprintf(err, errlen, "Invalid Request: \"method\" is missing");
        return GW_JSONRPC_INVALID_REQUEST;
    }
    if (!json_object_is_type(method, json_type_string) || json_object_get_string_len(method) == 0) {
        snprintf(err, errlen, "Invalid Request: \"method\" must be a non-empty string");
        return GW_JSONRPC_INVALID_REQUEST;
    }
    msg->method = json_object_get_string(method);
    if (json_object_object_get_ex(msg->root, "params", &params) && params) {
        if (!json_object_is_type(params, json_type_object)) {
            snprintf(err, errlen, "Invalid Request: \"params\" must be an object");
            return GW_JSONRPC_INVALID_REQUEST;
        }
        msg->params = params;
    }
    msg->kind = msg->id ? GW_JSONRPC_REQUEST : GW_JSONRPC_NOTIFICATION;
    return 0;
}

void gw_jsonrpc_msg_free(gw_jsonrpc_msg *msg) {
    json_object_put(msg->root);
    memset(msg, 0, sizeof *msg);
}

static void add_id(gw_strbuf *out, json_object *id) {
    if (id)
        gw_strbuf_add_json(out, id);
    else
        gw_strbuf_adds(out, "null");
}

void gw_jsonrpc_write_result(gw_strbuf *out, json_object *id, const char *result_json, size_t len) {
    gw_strbuf_adds(out, "{\"jsonrpc\":\"2.0\",\"id\":");
    add_id(out, id);
    gw_strbuf_adds(out, ",\"result\":");
    gw_strbuf_add(out, result_json, len);
    gw_strbuf_adds(out, "}");
}

void gw_jsonrpc_write_error(gw_strbuf *out, json_object *id, int code, const char *message,
                            const char *data_json) {
    gw_strbuf_adds(out, "{\"jsonrpc\":\"2.0\",\"id\":");
    add_id(out, id);
    gw_strbuf_adds(out, ",\"error\":{\"code\":");
    gw_strbuf_add_int(out, code);
    gw_strbuf_adds(out, ",\"message\":\"");
    gw_strbuf_add_json_escaped(out, message, strlen(message));
    gw_strbuf_adds(out, "\"");
    if (data_json) {
        gw_strbuf_adds(out, ",\"data\":");
        gw_strbuf_adds(out, data_json);
    }
    gw_strbuf_adds(out, "}}");
}
