/* OpenAI's API, the canonical dialect: answers go out as the adapters wrote them, with the
 * caller's model name spliced in; streams framed as `data: {...}` and closed with [DONE]. */
#include <event2/buffer.h>
#include <string.h>

#include "core/openai_error.h"
#include "core/request-t.h"
#include "inbound/frames.h"
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

/* `data: {chunk}\n\n` in one piece: the frame is measured, its room taken once and the pieces
 * copied in (five evbuffer_add a frame cost ~540 instructions and a chain per event). Memory
 * that runs out is latched in out, which the attempt reports: the chunk was not malformed. */
static int openai_stream_chunk(gw_req *r, const gw_chunk *c, gw_strbuf *out, const char **err) {
    (void)err;
    int spliced = c->model_end > c->model_start;
    size_t len = 6 + c->len + 2;
    if (spliced) len += r->model->name_json_len - (c->model_end - c->model_start);
    char *p = gw_frames_room(out, len);
    if (!p) return 0;
    p = gw_frames_put(p, "data: ", 6);
    if (spliced) {
        p = gw_frames_put(p, c->json, c->model_start);
        p = gw_frames_put(p, r->model->name_json, r->model->name_json_len);
        p = gw_frames_put(p, c->json + c->model_end, c->len - c->model_end);
    } else {
        p = gw_frames_put(p, c->json, c->len);
    }
    memcpy(p, "\n\n", 2);
    gw_frames_commit(out, len);
    return 0;
}

static void openai_stream_end(gw_req *r, gw_strbuf *out) {
    (void)r;
    gw_strbuf_add(out, "data: [DONE]\n\n", 14);
}

static void openai_error_body(const gw_req *r, const gw_error_info *e, struct evbuffer *out) {
    (void)r;
    gw_openai_error_write(out, e);
}

/* The OpenAI SDKs raise an APIError on a data event holding "error"; [DONE] then ends the
 * stream for clients that read on. */
static void openai_stream_error(gw_req *r, const gw_error_info *e, gw_strbuf *out) {
    (void)r;
    struct evbuffer *error = evbuffer_new(); /* once a stream at most: its writer takes one */
    gw_strbuf_add(out, "data: ", 6);
    if (error) {
        gw_openai_error_write(error, e);
        gw_frames_take(out, error);
        evbuffer_free(error);
    } else {
        gw_strbuf_add(out, GW_OPENAI_OOM_BODY, sizeof GW_OPENAI_OOM_BODY - 1);
    }
    gw_strbuf_add(out, "\n\ndata: [DONE]\n\n", 16);
}

const gw_protocol_ops gw_protocol_openai = {
    .name = "openai",
    .response = openai_response,
    .stream_chunk = openai_stream_chunk,
    .stream_end = openai_stream_end,
    .error_body = openai_error_body,
    .stream_error = openai_stream_error,
};
