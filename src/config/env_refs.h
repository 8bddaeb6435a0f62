/* ${VAR} inside a YAML flow collection ("auth: { bearer: ${CRM_TOKEN} }") is not valid YAML: '{'
 * and '}' are flow indicators there, so a parser stops at them. The config's documented form
 * writes it so anyway; before parsing, each such reference that stands as a whole plain value
 * inside a flow collection is wrapped in single quotes (a quoted scalar ld_expand reads the same
 * way). Quotes, comments and block scalars' text are left alone. */
#ifndef AIGW_CONFIG_ENV_REFS_H
#define AIGW_CONFIG_ENV_REFS_H

#include <stddef.h>

/* A malloc'd copy of yaml[0..len) with those references quoted (*out_len its length), or NULL
 * when there was none to quote (or memory ran out): parse the original then. */
char *gw_config_quote_env_refs(const char *yaml, size_t len, size_t *out_len);

#endif
