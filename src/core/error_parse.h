/* Reads an upstream's error body of any shape into a neutral gw_error_info: OpenAI's nested
 * {"error":{"message","type","param","code"}} (vLLM >= 0.10.1, Azure), SGLang's and old vLLM's
 * flat {"object":"error","message",...}, TGI's and MindIE's {"error":"...","error_type":"..."},
 * Anthropic's {"type":"error","error":{"type","message"}}, plain text, or nothing at all. */
#ifndef AIGW_CORE_ERROR_PARSE_H
#define AIGW_CORE_ERROR_PARSE_H

#include <stddef.h>

#include "core/protocol-t.h"

/* The strings e points at are packed into buf (message first; cap >= 256 keeps every part).
 * e->status is `status`; e->type is NULL when the body names none. */
void gw_error_parse(int status, const char *body, size_t len, gw_error_info *e, char *buf,
                    size_t cap);

#endif
