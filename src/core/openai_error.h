/* Errors in OpenAI's shape, {"error":{"message","type","param","code"}}, which every OpenAI SDK
 * parses, whatever shape the failure had where it began. */
#ifndef AIGW_CORE_OPENAI_ERROR_H
#define AIGW_CORE_OPENAI_ERROR_H

#include <stddef.h>

#include "core/protocol-t.h"

struct evbuffer;

/* The answer when even an error body cannot be allocated: static, written as it is. */
#define GW_OPENAI_OOM_BODY                                                                         \
    "{\"error\":{\"message\":\"the gateway is out of memory\",\"type\":\"server_error\","          \
    "\"param\":null,\"code\":\"out_of_memory\"}}"

/* Appends the error object. code and param may be NULL (written as null). */
void gw_openai_error(struct evbuffer *out, const char *message, const char *type, const char *code,
                     const char *param);

/* Writes a neutral error (an engine's, normalized; or the gateway's own) in OpenAI's shape. */
void gw_openai_error_write(struct evbuffer *out, const gw_error_info *e);

/* The OpenAI error type conventionally paired with an HTTP status. */
const char *gw_openai_error_type(int status);
/* The one type the gateway pairs with each of its own codes, so a code never comes with two
 * types (upstream_timeout is always timeout_error); else gw_openai_error_type(status). */
const char *gw_openai_error_type_for(int status, const char *code);

#endif
