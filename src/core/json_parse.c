/* Whole JSON texts (see json_parse.h). */
#include "core/json_parse.h"

#include "core/json_strict.h"

#include <json-c/json.h>
#include <limits.h>
#include <string.h>

json_tokener *gw_json_tokener_new(int depth, int flags) {
    json_tokener *tok = json_tokener_new_ex(depth);
    if (tok && flags) json_tokener_set_flags(tok, flags);
    return tok;
}

json_object *gw_json_parse_with(json_tokener *tok, const char *text, size_t len) {
    if (!tok || !text || len == 0 || len > INT_MAX) return NULL; /* json-c takes an int length */
    json_tokener_reset(tok);
    json_object *v = json_tokener_parse_ex(tok, text, (int)len);
    if (!v || json_tokener_get_error(tok) != json_tokener_success) {
        json_object_put(v);
        return NULL;
    }
    /* whitespace may follow; a NUL byte is not whitespace (strchr would find the terminator) */
    for (size_t end = json_tokener_get_parse_end(tok); end < len; end++) {
        if (text[end] == '\0' || !strchr(" \t\r\n", text[end])) {
            json_object_put(v);
            return NULL;
        }
    }
    return v;
}

json_object *gw_json_parse(const char *text, size_t len, int depth, int flags) {
    if (flags == JSON_TOKENER_STRICT) { /* the same tree, without json-c's locale switch */
        gw_json_strict_result res;
        json_object *v = text && len ? gw_json_parse_strict(text, len, depth, &res) : NULL;
        if (v && (res.error != json_tokener_success || res.end != len)) { /* a NUL after it */
            json_object_put(v);
            return NULL;
        }
        return v;
    }
    json_tokener *tok = gw_json_tokener_new(depth, flags);
    json_object *v = gw_json_parse_with(tok, text, len);
    if (tok) json_tokener_free(tok);
    return v;
}

json_object *gw_json_object_only(json_object *v) {
    if (v && !json_object_is_type(v, json_type_object)) {
        json_object_put(v);
        return NULL;
    }
    return v;
}
