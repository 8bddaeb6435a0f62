#include "mcp/openapi.h"

#include <ctype.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mcp/mcp-t.h"
#include "mcp/template.h"

enum { MAX_REF_DEPTH = 32 };

static const char *const methods[] = {"get", "put", "post", "delete", "patch", "head", "options"};
static const char *const method_names[] = {"GET",   "PUT",  "POST",   "DELETE",
                                           "PATCH", "HEAD", "OPTIONS"};

typedef struct resolver {
    json_object *doc;
    const char *stack[MAX_REF_DEPTH]; /* the $refs being expanded: a cycle stops there */
    int depth;
} resolver;

static json_object *ref_target(resolver *r, const char *ref) {
    if (ref[0] != '#') return NULL; /* only within the document */
    return gw_mcp_json_at(r->doc, ref + 1, strlen(ref + 1));
}

/* A deep copy of v with every $ref replaced by (a copy of) its target. */
static json_object *resolve(resolver *r, json_object *v) {
    if (json_object_is_type(v, json_type_array)) {
        json_object *arr = json_object_new_array();
        for (size_t i = 0; i < json_object_array_length(v); i++)
            json_object_array_add(arr, resolve(r, json_object_array_get_idx(v, i)));
        return arr;
    }
    if (!json_object_is_type(v, json_type_object)) return json_object_get(v);
    json_object *ref = NULL;
    if (json_object_object_get_ex(v, "$ref", &ref) && json_object_is_type(ref, json_type_string)) {
        const char *target = json_object_get_string(ref);
        json_object *t = ref_target(r, target);
        int cycle = r->depth >= MAX_REF_DEPTH;
        for (int i = 0; i < r->depth && !cycle; i++)
            cycle = !strcmp(r->stack[i], target);
        if (!t || cycle) /* outside the document, or a recursive type: left open */
            return json_object_new_object();
        r->stack[r->depth++] = target;
        json_object *out = resolve(r, t);
        r->depth--;
        return out;
    }
    json_object *obj = json_object_new_object();
    json_object_object_foreach(v, key, val) {
        /* OpenAPI-only annotations that are not JSON Schema */
        if (!strcmp(key, "xml") || !strcmp(key, "example") || !strcmp(key, "discriminator") ||
            !strcmp(key, "externalDocs"))
            continue;
        json_object_object_add(obj, key, resolve(r, val));
    }
    return obj;
}

static char *tool_name(const char *op_id, const char *method, const char *path) {
    char buf[GW_MCP_NAME_MAX + 1];
    size_t n = 0;
    char raw[512];
    if (op_id)
        snprintf(raw, sizeof raw, "%s", op_id);
    else
        snprintf(raw, sizeof raw, "%s_%s", method, path);
    for (size_t i = 0; raw[i] && n < GW_MCP_NAME_MAX; i++) {
        unsigned char c = (unsigned char)raw[i];
        char out = isalnum(c) || c == '_' || c == '-' ? (char)c : '_';
        if (out == '_' && n && buf[n - 1] == '_') continue;
        buf[n++] = out;
    }
    while (n > 1 && buf[n - 1] == '_')
        n--;
    buf[n] = '\0';
    return strdup(n ? buf : "operation");
}

static void strv_add(char ***v, size_t *n, const char *s) {
    char **p = realloc(*v, (*n + 1) * sizeof *p);
    if (!p) return;
    *v = p;
    p[(*n)++] = strdup(s);
}

static const char *str_of(json_object *o, const char *key) {
    json_object *v;
    return json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string)
               ? json_object_get_string(v)
               : NULL;
}

/* One parameter into the arguments' schema. */
static void add_param(resolver *r, gw_openapi_op *op, json_object *props, json_object *required,
                      json_object *param_in) {
    json_object *param = resolve(r, param_in);
    const char *name = str_of(param, "name"), *in = str_of(param, "in");
    if (!name || !in || !strcmp(in, "cookie")) {
        json_object_put(param);
        return;
    }
    json_object *schema = NULL, *req = NULL;
    if (json_object_object_get_ex(param, "schema", &schema))
        schema = json_object_get(schema);
    else
        schema = json_object_new_object();
    const char *desc = str_of(param, "description");
    if (desc && !json_object_object_get_ex(schema, "description", NULL))
        json_object_object_add(schema, "description", json_object_new_string(desc));
    json_object_object_add(props, name, schema);
    if ((json_object_object_get_ex(param, "required", &req) && json_object_get_boolean(req)) ||
        !strcmp(in, "path"))
        json_object_array_add(required, json_object_new_string(name));
    if (!strcmp(in, "query")) strv_add(&op->query, &op->query_count, name);
    if (!strcmp(in, "header")) strv_add(&op->headers, &op->header_count, name);
    json_object_put(param);
}

static int build_op(resolver *r, gw_openapi_op *op, const char *path, size_t m,
                    json_object *path_item, json_object *opj) {
    op->method = method_names[m];
    op->path = strdup(path);
    op->name = tool_name(str_of(opj, "operationId"), methods[m], path);
    const char *summary = str_of(opj, "summary"), *desc = str_of(opj, "description");
    char text[2048];
    snprintf(text, sizeof text, "%s%s%s", summary ? summary : "", summary && desc ? "\n\n" : "",
             desc ? desc : "");
    op->description = strdup(text[0] ? text : op->name);
    json_object *schema = json_object_new_object();
    json_object *props = json_object_new_object(), *required = json_object_new_array();
    json_object_object_add(schema, "type", json_object_new_string("object"));
    json_object_object_add(schema, "properties", props);
    json_object *params;
    /* the path item's parameters, then the operation's (which may override them) */
    if (json_object_object_get_ex(path_item, "parameters", &params) &&
        json_object_is_type(params, json_type_array))
        for (size_t i = 0; i < json_object_array_length(params); i++)
            add_param(r, op, props, required, json_object_array_get_idx(params, i));
    if (json_object_object_get_ex(opj, "parameters", &params) &&
        json_object_is_type(params, json_type_array))
        for (size_t i = 0; i < json_object_array_length(params); i++)
            add_param(r, op, props, required, json_object_array_get_idx(params, i));
    json_object *body_in = NULL;
    if (json_object_object_get_ex(opj, "requestBody", &body_in)) {
        json_object *body = resolve(r, body_in), *content, *media = NULL, *bschema = NULL, *req;
        if (json_object_object_get_ex(body, "content", &content) &&
            json_object_is_type(content, json_type_object)) {
            json_object_object_foreach(content, mt, mv) {
                if (!media && strstr(mt, "json")) media = mv; /* application/json, +json */
            }
        }
        if (media && json_object_object_get_ex(media, "schema", &bschema)) {
            op->has_body = 1;
            int body_required =
                json_object_object_get_ex(body, "required", &req) && json_object_get_boolean(req);
            json_object *bprops = NULL, *btype = NULL;
            int merge = json_object_object_get_ex(bschema, "properties", &bprops) &&
                        json_object_is_type(bprops, json_type_object) &&
                        (!json_object_object_get_ex(bschema, "type", &btype) ||
                         !strcmp(json_object_get_string(btype), "object"));
            if (merge) {
                json_object_object_foreach(bprops, pname, pval) {
                    (void)pval;
                    if (json_object_object_get_ex(props, pname, NULL)) merge = 0;
                }
            }
            if (merge) {
                json_object_object_foreach(bprops, pname, pval) {
                    json_object_object_add(props, pname, json_object_get(pval));
                }
                json_object *breq, *addl;
                if (json_object_object_get_ex(bschema, "required", &breq) && body_required)
                    for (size_t i = 0; i < json_object_array_length(breq); i++)
                        json_object_array_add(required,
                                              json_object_get(json_object_array_get_idx(breq, i)));
                if (json_object_object_get_ex(bschema, "additionalProperties", &addl) &&
                    json_object_is_type(addl, json_type_boolean) && !json_object_get_boolean(addl))
                    json_object_object_add(schema, "additionalProperties",
                                           json_object_new_boolean(0));
            } else {
                op->body_arg = strdup("body");
                json_object_object_add(props, "body", json_object_get(bschema));
                if (body_required) json_object_array_add(required, json_object_new_string("body"));
            }
        }
        json_object_put(body);
    }
    if (json_object_array_length(required))
        json_object_object_add(schema, "required", required);
    else
        json_object_put(required);
    op->schema = schema;
    return op->path && op->name && op->description ? 0 : -1;
}

int gw_openapi_operations(json_object *doc, const char *const *allow, size_t allow_count,
                          gw_openapi_op **ops_out, size_t *count_out, char *err, size_t errlen) {
    *ops_out = NULL;
    *count_out = 0;
    const char *ver = str_of(doc, "openapi");
    if (!ver || strncmp(ver, "3.", 2)) {
        snprintf(err, errlen, "not an OpenAPI 3 document (no openapi: 3.x)");
        return -1;
    }
    json_object *paths;
    if (!json_object_object_get_ex(doc, "paths", &paths) ||
        !json_object_is_type(paths, json_type_object)) {
        snprintf(err, errlen, "the document has no paths");
        return -1;
    }
    resolver r = {.doc = doc};
    gw_openapi_op *ops = NULL;
    size_t n = 0;
    int *used = allow_count ? calloc(allow_count, sizeof *used) : NULL;
    json_object_object_foreach(paths, path, item_in) {
        json_object *item = item_in, *ref;
        if (json_object_object_get_ex(item, "$ref", &ref))
            item = ref_target(&r, json_object_get_string(ref));
        if (!item || !json_object_is_type(item, json_type_object)) continue;
        for (size_t m = 0; m < sizeof methods / sizeof *methods; m++) {
            json_object *opj;
            if (!json_object_object_get_ex(item, methods[m], &opj)) continue;
            const char *op_id = str_of(opj, "operationId");
            if (allow_count) {
                size_t k = 0;
                while (k < allow_count && (!op_id || strcmp(allow[k], op_id)))
                    k++;
                if (k == allow_count) continue;
                used[k] = 1;
            }
            if (n == GW_MCP_TOOLS_MAX) {
                snprintf(err, errlen,
                         "more than %d operations: name the ones to serve (operations:)",
                         GW_MCP_TOOLS_MAX);
                gw_openapi_ops_free(ops, n);
                free(used);
                return -1;
            }
            gw_openapi_op *p = realloc(ops, (n + 1) * sizeof *ops);
            if (!p) break;
            ops = p;
            memset(&ops[n], 0, sizeof ops[n]);
            if (build_op(&r, &ops[n++], path, m, item, opj) < 0) {
                snprintf(err, errlen, "out of memory");
                gw_openapi_ops_free(ops, n);
                free(used);
                return -1;
            }
        }
    }
    for (size_t k = 0; k < allow_count; k++)
        if (!used[k]) {
            snprintf(err, errlen, "operations: '%s' is not an operationId of the document",
                     allow[k]);
            gw_openapi_ops_free(ops, n);
            free(used);
            return -1;
        }
    free(used);
    *ops_out = ops;
    *count_out = n;
    return 0;
}

void gw_openapi_ops_free(gw_openapi_op *ops, size_t count) {
    for (size_t i = 0; i < count; i++) {
        free(ops[i].name);
        free(ops[i].description);
        free(ops[i].path);
        for (size_t k = 0; k < ops[i].query_count; k++)
            free(ops[i].query[k]);
        for (size_t k = 0; k < ops[i].header_count; k++)
            free(ops[i].headers[k]);
        free(ops[i].query);
        free(ops[i].headers);
        free(ops[i].body_arg);
        json_object_put(ops[i].schema);
    }
    free(ops);
}
