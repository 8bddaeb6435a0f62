#include "core/error_response.h"

#include <event2/buffer.h>

#include "core/openai_error.h"

void gw_http_respond_openai_error(gw_http_req *req, int status, const char *type, const char *code,
                                  const char *message) {
    struct evbuffer *body = evbuffer_new();
    if (!body) {
        static const char oom[] = GW_OPENAI_OOM_BODY;
        gw_http_respond(req, 503, "application/json", oom, sizeof oom - 1, NULL, 0);
        return;
    }
    gw_openai_error(body, message, type, code, NULL);
    gw_http_respond_buffer(req, status, "application/json", body, NULL, 0);
    evbuffer_free(body);
}
