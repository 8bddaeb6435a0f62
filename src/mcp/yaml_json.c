#include "mcp/yaml_json.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_DEPTH = 128 };

static json_object *scalar(yaml_node_t *n) {
    const char *s = (const char *)n->data.scalar.value;
    size_t len = n->data.scalar.length;
    /* libyaml tags every untagged scalar !!str: the style alone tells a quoted one */
    if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return json_object_new_string_len(s, (int)len);
    if (len == 0 || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") ||
        !strcmp(s, "NULL"))
        return NULL;
    if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE"))
        return json_object_new_boolean(1);
    if (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "FALSE"))
        return json_object_new_boolean(0);
    char *end;
    errno = 0;
    long long i = strtoll(s, &end, 10);
    if (*end == '\0' && errno == 0 && (s[0] == '-' || s[0] == '+' || (s[0] >= '0' && s[0] <= '9')))
        return json_object_new_int64(i);
    double d = strtod(s, &end);
    if (*end == '\0' && errno == 0 && strspn(s, "+-0123456789.eE") == len)
        return json_object_new_double(d);
    return json_object_new_string_len(s, (int)len);
}

static json_object *convert(yaml_document_t *doc, yaml_node_t *n, int depth, char *err,
                            size_t errlen, int *failed) {
    if (*failed) return NULL;
    if (depth > MAX_DEPTH) {
        snprintf(err, errlen, "%zu:%zu: nested deeper than %d levels", n->start_mark.line + 1,
                 n->start_mark.column + 1, MAX_DEPTH);
        *failed = 1;
        return NULL;
    }
    switch (n->type) {
    case YAML_SCALAR_NODE:
        return scalar(n);
    case YAML_SEQUENCE_NODE: {
        json_object *arr = json_object_new_array();
        for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
             it++)
            json_object_array_add(arr, convert(doc, yaml_document_get_node(doc, *it), depth + 1,
                                               err, errlen, failed));
        return arr;
    }
    case YAML_MAPPING_NODE: {
        json_object *obj = json_object_new_object();
        for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top;
             p++) {
            yaml_node_t *k = yaml_document_get_node(doc, p->key);
            const char *key = k->type == YAML_SCALAR_NODE ? (const char *)k->data.scalar.value : "";
            json_object_object_add(obj, key,
                                   convert(doc, yaml_document_get_node(doc, p->value), depth + 1,
                                           err, errlen, failed));
        }
        return obj;
    }
    default:
        return NULL;
    }
}

json_object *gw_yaml_to_json(yaml_document_t *doc, yaml_node_t *node, char *err, size_t errlen) {
    int failed = 0;
    if (errlen) err[0] = '\0';
    json_object *v = convert(doc, node, 0, err, errlen, &failed);
    if (failed) {
        json_object_put(v);
        return NULL;
    }
    return v;
}

json_object *gw_yaml_text_to_json(const char *text, size_t len, char *err, size_t errlen) {
    yaml_parser_t parser;
    yaml_document_t doc;
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &doc)) {
        snprintf(err, errlen, "%zu:%zu: invalid YAML or JSON: %s", parser.problem_mark.line + 1,
                 parser.problem_mark.column + 1, parser.problem ? parser.problem : "error");
        yaml_parser_delete(&parser);
        return NULL;
    }
    yaml_parser_delete(&parser);
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    json_object *v = root ? gw_yaml_to_json(&doc, root, err, errlen) : NULL;
    if (!root || (!v && !err[0])) snprintf(err, errlen, "1:1: the document is empty");
    yaml_document_delete(&doc);
    return v;
}
