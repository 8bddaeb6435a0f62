/* A YAML node as a json-c value, for what the config and OpenAPI documents hold as JSON (tool
 * schemas, whole OpenAPI documents written in YAML). Plain scalars are typed as YAML's core
 * schema says (null, true/false, integers, floats); quoted and block scalars are strings. */
#ifndef AIGW_MCP_YAML_JSON_H
#define AIGW_MCP_YAML_JSON_H

#include <stddef.h>
#include <yaml.h>

struct json_object;

/* The value (NULL is JSON null), or NULL with err set ("line:col: ...") when nested past 128
 * levels (an alias loop); err is "" otherwise. */
struct json_object *gw_yaml_to_json(yaml_document_t *doc, yaml_node_t *node, char *err,
                                    size_t errlen);
/* A whole document's text (YAML or JSON, which is YAML) as json-c; NULL with err. */
struct json_object *gw_yaml_text_to_json(const char *text, size_t len, char *err, size_t errlen);

#endif
