/* An OpenAI-shaped error answered straight on an HTTP request, for requests that never became
 * a gw_req (fixed routes, the admin API). */
#ifndef AIGW_CORE_ERROR_RESPONSE_H
#define AIGW_CORE_ERROR_RESPONSE_H

#include "core/http_server.h"

/* {"error":{"message","type","param":null,"code"}}; a static 503 when memory runs out. */
void gw_http_respond_openai_error(gw_http_req *req, int status, const char *type, const char *code,
                                  const char *message);

#endif
