/* Any OpenAI-compatible upstream (OpenAI itself, vLLM, SGLang's /v1, ...). The body goes up
 * as the caller wrote it except for the model name, spliced in place; responses come back
 * byte for byte except for the model name, so unknown fields and exact numbers survive. */
#include <event2/buffer.h>
#include <stdlib.h>
#include <string.h>

#include "core/json_scan.h"
#include "core/openai_error.h"
#include "engines/engine.h"

/* Writes text with [start,end) replaced by `with`. */
static void splice_into(struct evbuffer *out, const char *text, size_t len, size_t start,
                        size_t end, const char *with, size_t with_len) {
    evbuffer_add(out, text, start);
    evbuffer_add(out, with, with_len);
    evbuffer_add(out, text + end, len - end);
}

static int openai_build_request(gw_req *r, const char **out, size_t *out_len, char **owned,
                                const char **err) {
    *owned = NULL;
    if (!r->target->rewrite) {
        *out = r->body;
        *out_len = r->body_len;
        return 0;
    }
    gw_json_scan_result scan;
    if (gw_json_scan(r->body, r->body_len, "model", &scan) < 0 || scan.key_count != 1) {
        *err = "cannot locate the model member in the request body";
        return -1;
    }
    const char *lit = r->target->upstream_model_json;
    size_t lit_len = r->target->upstream_model_json_len;
    size_t len = r->body_len - (scan.value_end - scan.value_start) + lit_len;
    char *buf = malloc(len);
    if (!buf) {
        *err = "out of memory";
        return -1;
    }
    memcpy(buf, r->body, scan.value_start);
    memcpy(buf + scan.value_start, lit, lit_len);
    memcpy(buf + scan.value_start + lit_len, r->body + scan.value_end,
           r->body_len - scan.value_end);
    *out = *owned = buf;
    *out_len = len;
    return 0;
}

/* The caller sees the model name it asked for. Validates first and writes nothing when the
 * text is malformed, so a bad stream event leaves no half-written frame behind. */
static int restore_model_name(gw_req *r, const char *json, size_t len, const char *prefix,
                              size_t prefix_len, const char *suffix, size_t suffix_len,
                              struct evbuffer *out, const char **err) {
    gw_json_scan_result scan;
    if (gw_json_scan(json, len, r->target->rewrite ? "model" : NULL, &scan) < 0) {
        *err = scan.error;
        return -1;
    }
    evbuffer_add(out, prefix, prefix_len);
    if (!r->target->rewrite || scan.key_count == 0 || json[scan.value_start] != '"')
        evbuffer_add(out, json, len);
    else
        splice_into(out, json, len, scan.value_start, scan.value_end, r->model->name_json,
                    r->model->name_json_len);
    evbuffer_add(out, suffix, suffix_len);
    return 0;
}

static int openai_translate_response(gw_req *r, const char *body, size_t len, struct evbuffer *out,
                                     const char **err) {
    return restore_model_name(r, body, len, "", 0, "", 0, out, err);
}

static int openai_translate_event(gw_req *r, const char *data, size_t len, struct evbuffer *out,
                                  int *done, const char **err) {
    if (len == 6 && !memcmp(data, "[DONE]", 6)) {
        *done = 1;
        evbuffer_add(out, "data: [DONE]\n\n", 14);
        return 0;
    }
    return restore_model_name(r, data, len, "data: ", 6, "\n\n", 2, out, err);
}

const gw_engine_ops gw_engine_openai = {
    .name = "openai",
    .build_request = openai_build_request,
    .translate_response = openai_translate_response,
    .translate_event = openai_translate_event,
    .normalize_error = gw_openai_normalize_error,
    .stream_has_done_marker = 1,
};
