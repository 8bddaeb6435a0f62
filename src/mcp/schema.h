/* JSON Schema, the subset real tool schemas use: type (one or a list), properties, required,
 * additionalProperties (true, false or a schema), items, enum, const, minimum, maximum,
 * exclusiveMinimum, exclusiveMaximum, multipleOf, minLength, maxLength, pattern (PCRE2, compiled
 * once), minItems, maxItems, uniqueItems, minProperties, maxProperties, allOf, anyOf, oneOf,
 * not, nullable (OpenAPI 3.0). Other keywords (format, description, title, default, examples,
 * $schema) are accepted and not checked. A schema is compiled when the config loads, so a bad
 * one is a config error there, and checking arguments reads no text. */
#ifndef AIGW_MCP_SCHEMA_H
#define AIGW_MCP_SCHEMA_H

#include <stddef.h>

struct json_object;
typedef struct gw_schema gw_schema;

/* Compiles schema (a json-c tree, not kept) into a compiled schema (malloc'd, freed with
 * gw_schema_free). NULL with err ("at /properties/id: pattern: ...") when it is not one. */
gw_schema *gw_schema_compile(struct json_object *schema, char *err, size_t errlen);
void gw_schema_free(gw_schema *s);

/* 0 when value is valid; else -1 and err names where and why ("/customer: expected a string,
 * found a number"). Bounded: at most 64 levels deep. */
int gw_schema_validate(const gw_schema *s, struct json_object *value, char *err, size_t errlen);
/* The same with match data of the caller's (gw_schema_match_data_new: a worker keeps one), so
 * patterns are matched without an allocation; NULL: made for the call. */
int gw_schema_validate_with(const gw_schema *s, void *match_data, struct json_object *value,
                            char *err, size_t errlen);
void *gw_schema_match_data_new(void);
void gw_schema_match_data_free(void *match_data);

#endif
