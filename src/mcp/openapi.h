/* OpenAPI 3 (3.0 and 3.1) to tools: each operation of the document (those of an allow-list, when
 * one is given) becomes a tool named by its operationId, its arguments the operation's path,
 * query and header parameters and its JSON request body (the body's properties beside the
 * parameters when none clashes, else one argument `body`), every $ref within the document
 * resolved into a self-contained schema. */
#ifndef AIGW_MCP_OPENAPI_H
#define AIGW_MCP_OPENAPI_H

#include <stddef.h>

struct json_object;

typedef struct gw_openapi_op {
    char *name;        /* operationId, or METHOD_path, made to fit ^[a-zA-Z0-9_-]{1,64}$ */
    char *description; /* summary and description */
    const char *method;
    char *path; /* "/pet/{petId}": the same holes as a tool's URL template */
    char **query, **headers;
    size_t query_count, header_count;
    int has_body;
    char *body_arg;             /* the body is this one argument, or NULL (merged) */
    struct json_object *schema; /* the arguments' schema, owned */
} gw_openapi_op;

/* The operations of doc, in document order. allow (NULL: all) names operationIds; one that
 * matches nothing is an error. 0, or -1 with err. */
int gw_openapi_operations(struct json_object *doc, const char *const *allow, size_t allow_count,
                          gw_openapi_op **ops, size_t *count, char *err, size_t errlen);
void gw_openapi_ops_free(gw_openapi_op *ops, size_t count);

#endif
