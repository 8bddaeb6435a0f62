/* OpenAI's API, the canonical dialect: answers go out as the adapters wrote them, with the
 * caller's model name spliced in; streams framed as `data: {...}` and closed with [DONE]. */
#include <event2/buffer.h>

#include "core/openai_error.h"
#include "core/request-t.h"
#include "inbound/protocol.h"

/* The chunk's text with its model value replaced by the name the caller asked for. */
static void write_spliced(const gw_req *r, const gw_chunk *c, struct evbuffer *out) {
    if (c->model_end <= c->model_start) {
        evbuffer_add(out, c->json, c->len);
        return;
    }
    evbuffer_add(out, c->json, c->model_start);
    evbuffer_add(out, r->model->name_json, r->model->name_json_len);
    evbuffer_add(out, c->json + c->model_end, c->len - c->model_end);
}

static int openai_response(gw_req *r, const gw_chunk *c, struct evbuffer *out, const char **err) {
    (void)err;
    write_spliced(r, c, out);
    return 0;
}

static int openai_stream_chunk(gw_req *r, const gw_chunk *c, struct evbuffer *out,
                               const char **err) {
    (void)err;
    evbuffer_add(out, "data: ", 6);
    write_spliced(r, c, out);
    evbuffer_add(out, "\n\n", 2);
    return 0;
}

static void openai_stream_end(gw_req *r, struct evbuffer *out) {
    (void)r;
    evbuffer_add(out, "data: [DONE]\n\n", 14);
}

static void openai_error_body(const gw_req *r, const gw_error_info *e, struct evbuffer *out) {
    (void)r;
    gw_openai_error_write(out, e);
}

/* The OpenAI SDKs raise an APIError on a data event holding "error"; [DONE] then ends the
 * stream for clients that read on. */
static void openai_stream_error(gw_req *r, const gw_error_info *e, struct evbuffer *out) {
    (void)r;
    evbuffer_add(out, "data: ", 6);
    gw_openai_error_write(out, e);
    evbuffer_add(out, "\n\ndata: [DONE]\n\n", 16);
}

const gw_protocol_ops gw_protocol_openai = {
    .name = "openai",
    .response = openai_response,
    .stream_chunk = openai_stream_chunk,
    .stream_end = openai_stream_end,
    .error_body = openai_error_body,
    .stream_error = openai_stream_error,
};
