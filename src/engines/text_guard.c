/* Canonical answers through the request's response guards (r->text_hook): the generated text of
 * each chunk (choices[0].delta.content, or .text for completions) or of a whole answer is
 * decoded, handed to the guards, and the chunk written again with what they release. Text a
 * guard holds back goes out with a later chunk, or in a chunk of its own just before the one
 * that carries finish_reason; a guard's error ends the answer (io->blocked). */
#include <stdlib.h>
#include <string.h>

#include "core/json_string.h"
#include "core/strbuf.h"
#include "engines/engine.h"

/* The first "content":"..." (or "text":"...") literal: [*start, *end) is its inside. A pattern
 * that begins with a quote cannot match inside a JSON string, where quotes are escaped. */
static int find_text(const gw_req *r, const char *json, size_t len, size_t *start, size_t *end) {
    const char *key = r->api == GW_API_COMPLETIONS ? "\"text\":\"" : "\"content\":\"";
    size_t klen = strlen(key);
    const char *at = memmem(json, len, key, klen);
    if (!at) return 0;
    const char *p = at + klen, *stop = json + len;
    *start = (size_t)(p - json);
    while (p < stop && *p != '"')
        p += *p == '\\' ? 2 : 1;
    if (p >= stop) return 0;
    *end = (size_t)(p - json);
    return 1;
}

static int guard_failed(gw_engine_io *io) {
    io->blocked = 1;
    io->err = "a response guard ended the answer";
    return -1;
}

static int run_hook(gw_engine_io *io, const char *text, size_t len, int final, gw_strbuf *out) {
    gw_req *r = io->r;
    if (r->text_hook(r, text, len, final, out, &io->error, io->error_message,
                     sizeof io->error_message) < 0)
        return guard_failed(io);
    if (out->failed) {
        io->err = "out of memory";
        return -1;
    }
    return 0;
}

/* json with [start, end) replaced by released (escaped), through the protocol. */
static int emit_with(gw_engine_io *io, const char *json, size_t len, size_t model_start,
                     size_t model_end, size_t start, size_t end, const gw_strbuf *released,
                     int whole) {
    gw_strbuf *b = gw_strbuf_reset(&io->r->guard_buf[GW_GUARD_CHUNK]);
    gw_strbuf_add(b, json, start);
    gw_strbuf_add_json_escaped(b, released->data ? released->data : "", released->len);
    size_t grown = b->len - start; /* the new literal's length */
    gw_strbuf_add(b, json + end, len - end);
    if (model_start > start) { /* the model member came after the text: it moved */
        model_start = model_start - (end - start) + grown;
        model_end = model_end - (end - start) + grown;
    }
    int rc = -1;
    if (b->failed)
        io->err = "out of memory";
    else
        rc = whole ? gw_emit_response_raw(io, b->data, b->len, model_start, model_end)
                   : gw_emit_chunk_raw(io, b->data, b->len, model_start, model_end);
    return rc;
}

/* What the guards still hold, in a chunk of its own. */
static int flush(gw_engine_io *io) {
    gw_strbuf *out = gw_strbuf_reset(&io->r->guard_buf[GW_GUARD_RELEASED]);
    int rc = run_hook(io, NULL, 0, 1, out);
    if (rc == 0 && out->len) {
        gw_strbuf *c = gw_strbuf_reset(&io->r->guard_buf[GW_GUARD_CHUNK]);
        size_t model_at = gw_engine_add_head(
            c, "chatcmpl-", io->r->id, strlen(io->r->id),
            io->r->api == GW_API_COMPLETIONS ? "text_completion" : "chat.completion.chunk", 0);
        gw_strbuf_adds(c, io->r->api == GW_API_COMPLETIONS
                              ? ",\"choices\":[{\"index\":0,\"text\":\""
                              : ",\"choices\":[{\"index\":0,"
                                "\"delta\":{\"content\":\"");
        gw_strbuf_add_json_escaped(c, out->data, out->len);
        gw_strbuf_adds(c, io->r->api == GW_API_COMPLETIONS ? "\"" : "\"}");
        gw_engine_add_finish(c, NULL);
        gw_strbuf_adds(c, "}]}");
        rc = c->failed ? -1 : gw_emit_chunk_raw(io, c->data, c->len, model_at, model_at + 2);
    }
    return rc;
}

/* The text literal at [start, end) decoded, through the guards, and the JSON written again with
 * what they released: a chunk, or (whole) an answer. */
static int guard_text(gw_engine_io *io, const char *json, size_t len, size_t model_start,
                      size_t model_end, size_t start, size_t end, int final, int whole) {
    gw_strbuf *text = gw_strbuf_reset(&io->r->guard_buf[GW_GUARD_TEXT]);
    gw_strbuf *released = gw_strbuf_reset(&io->r->guard_buf[GW_GUARD_RELEASED]);
    if (gw_json_string_decode(json + start, end - start, text) < 0 || text->failed) {
        io->err = "a malformed string in the engine's answer";
        return -1;
    }
    if (run_hook(io, text->data ? text->data : "", text->len, final, released) < 0) return -1;
    return emit_with(io, json, len, model_start, model_end, start, end, released, whole);
}

int gw_text_guard_chunk(gw_engine_io *io, const char *json, size_t len, size_t model_start,
                        size_t model_end) {
    size_t start, end;
    if (!find_text(io->r, json, len, &start, &end)) {
        /* the finish: what is held goes out before it */
        if (memmem(json, len, "\"finish_reason\":\"", 17) && flush(io) < 0) return -1;
        return gw_emit_chunk_raw(io, json, len, model_start, model_end);
    }
    /* a chunk that carries both text and the finish (MindIE) releases all that is held */
    int final = memmem(json, len, "\"finish_reason\":\"", 17) != NULL;
    return guard_text(io, json, len, model_start, model_end, start, end, final, 0);
}

int gw_text_guard_response(gw_engine_io *io, const char *json, size_t len, size_t model_start,
                           size_t model_end) {
    size_t start, end;
    if (!find_text(io->r, json, len, &start, &end))
        return gw_emit_response_raw(io, json, len, model_start, model_end);
    return guard_text(io, json, len, model_start, model_end, start, end, 1, 1);
}

int gw_text_guard_end(gw_engine_io *io) {
    return flush(io);
}
