/* An engine adapter translates between the gateway's canonical forms (OpenAI chat,
 * completions, embeddings) and one upstream wire protocol, both ways, streams included.
 * The proxy talks to upstreams only through this table. */
#ifndef AIGW_ENGINES_ENGINE_H
#define AIGW_ENGINES_ENGINE_H

#include <stddef.h>

#include "core/request-t.h"

struct evbuffer;

typedef struct gw_engine_ops {
    const char *name;
    /* The body to send: *out points at r->body when nothing changes, else at a buffer the
     * adapter allocated into *owned (freed by the caller). Returns -1 with *err on failure. */
    int (*build_request)(gw_req *r, const char **out, size_t *out_len, char **owned,
                         const char **err);
    /* A whole successful response body, into out in OpenAI's shape. -1 and *err if malformed. */
    int (*translate_response)(gw_req *r, const char *body, size_t len, struct evbuffer *out,
                              const char **err);
    /* One stream event's data, framed as SSE into out; *done set on the terminal event. */
    int (*translate_event)(gw_req *r, const char *data, size_t len, struct evbuffer *out, int *done,
                           const char **err);
    /* An error body of any shape, into out in OpenAI's shape. */
    void (*normalize_error)(int status, const char *body, size_t len, struct evbuffer *out);
    int stream_has_done_marker; /* a stream that ends without [DONE] was cut */
} gw_engine_ops;

const gw_engine_ops *gw_engine_find(const char *name);
const char *gw_engine_names(void); /* "openai, ..." for config errors */

extern const gw_engine_ops gw_engine_openai;

#endif
