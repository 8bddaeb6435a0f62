/* Errors in OpenAI's shape, {"error":{"message","type","param","code"}}, which every OpenAI SDK
 * parses, whatever shape the failure had where it began. */
#ifndef AIGW_CORE_OPENAI_ERROR_H
#define AIGW_CORE_OPENAI_ERROR_H

#include <stddef.h>

struct evbuffer;

/* Appends the error object. code and param may be NULL (written as null). */
void gw_openai_error(struct evbuffer *out, const char *message, const char *type, const char *code,
                     const char *param);

/* An upstream's error body of any shape (OpenAI nested, SGLang/old-vLLM flat, TGI/MindIE
 * {"error","error_type"}, plain text, empty) rewritten to OpenAI's shape. */
void gw_openai_normalize_error(int status, const char *body, size_t len, struct evbuffer *out);

/* The OpenAI error type conventionally paired with an HTTP status. */
const char *gw_openai_error_type(int status);

#endif
