/* What every adapter shares: option handling, the channel's fixed headers and canonical output
 * through the caller's protocol. */
#include "engines/engine.h"

#include "core/token_estimate.h"

#include <curl/curl.h>
#include <stdio.h>
#include <string.h>

#include "core/error_parse.h"

const gw_engine_option *gw_engine_option_get(const gw_engine_option *options, size_t count,
                                             const char *key) {
    for (size_t i = 0; i < count; i++)
        if (!strcmp(options[i].key, key)) return &options[i];
    return NULL;
}

int gw_engine_options_check(const gw_engine_option *options, size_t count, const char *const *known,
                            const char *engine, gw_engine_config_error *err) {
    for (size_t i = 0; i < count; i++) {
        size_t k = 0;
        while (known[k] && strcmp(known[k], options[i].key))
            k++;
        if (known[k]) continue;
        char list[200] = "";
        size_t used = 0;
        for (k = 0; known[k] && used < sizeof list; k++) {
            int n = snprintf(list + used, sizeof list - used, "%s%s", k ? ", " : "", known[k]);
            used += n > 0 ? (size_t)n : 0;
        }
        snprintf(err->message, sizeof err->message,
                 "unknown key '%s' for a channel of type %s (it takes %s, besides the keys every "
                 "channel has)",
                 options[i].key, engine, known[0] ? list : "none");
        err->option = (int)i;
        return -1;
    }
    return 0;
}

struct curl_slist *gw_engine_headers(const char *auth, const char *const *extra) {
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json"), *next;
    if (!h) return NULL;
    /* no 100-continue round trip before the body */
    if (!(next = curl_slist_append(h, "Expect:"))) goto oom;
    if (auth && !(next = curl_slist_append(h, auth))) goto oom;
    for (size_t i = 0; extra && extra[i]; i++)
        if (!(next = curl_slist_append(h, extra[i]))) goto oom;
    return h;
oom:
    curl_slist_free_all(h);
    return NULL;
}

int gw_engine_auth_headers(gw_channel *ch, gw_arena *arena, const char *auth_prefix,
                           const char *const *extra, gw_engine_config_error *err) {
    char *auth = NULL;
    if (ch->api_key && *ch->api_key) {
        if (strpbrk(ch->api_key, "\r\n")) {
            snprintf(err->message, sizeof err->message,
                     "api_key holds a line break (a stray newline in the variable it came from?)");
            err->option = -1;
            return -1;
        }
        size_t len = strlen(auth_prefix) + strlen(ch->api_key) + 1;
        auth = gw_arena_alloc(arena, len);
        snprintf(auth, len, "%s%s", auth_prefix, ch->api_key);
    }
    struct curl_slist *headers = gw_engine_headers(auth, extra);
    if (!headers) {
        snprintf(err->message, sizeof err->message, "out of memory building the headers");
        err->option = -1;
        return -1;
    }
    ch->headers = headers;
    return 0;
}

size_t gw_engine_add_head(gw_strbuf *b, const char *id_prefix, const char *id, size_t id_len,
                          const char *object, int64_t created) {
    gw_strbuf_adds(b, "{\"id\":\"");
    gw_strbuf_adds(b, id_prefix);
    gw_strbuf_add_json_escaped(b, id, id_len);
    gw_strbuf_adds(b, "\",\"object\":\"");
    gw_strbuf_adds(b, object);
    gw_strbuf_adds(b, "\",\"created\":");
    gw_strbuf_add_int(b, created);
    gw_strbuf_adds(b, ",\"model\":");
    size_t at = b->len;
    gw_strbuf_adds(b, "\"\"");
    return at;
}

void gw_engine_add_finish(gw_strbuf *b, const char *finish) {
    gw_strbuf_adds(b, ",\"logprobs\":null,\"finish_reason\":");
    if (finish) {
        gw_strbuf_adds(b, "\"");
        gw_strbuf_adds(b, finish);
        gw_strbuf_adds(b, "\"");
    } else {
        gw_strbuf_adds(b, "null");
    }
}

/* Adds the estimated tokens of the string literal after `key` (which starts with a quote, so
 * it cannot match inside another string) to *sum; every occurrence counts (several choices or
 * tool calls). */
static void estimate_literals(const char *json, size_t len, const char *key, size_t klen,
                              int64_t *sum) {
    const char *p = json, *stop = json + len;
    while ((p = memmem(p, (size_t)(stop - p), key, klen))) {
        const char *start = p += klen, *q = start;
        while (q < stop && *q != '"')
            q += *q == '\\' ? 2 : 1;
        if (q > stop) q = stop;
        *sum += (int64_t)gw_estimate_prompt_tokens(start, (size_t)(q - start));
        p = q;
    }
}

/* What the model generated in a canonical chunk or answer, estimated: metering's count when the
 * engine reports no usage, or the stream is cut before it does. */
static void estimate_generated(gw_req *r, const char *json, size_t len) {
    if (r->usage.known) return; /* the engine said it already: no need to guess */
    int64_t *sum = &r->completion_estimate;
    if (r->api == GW_API_COMPLETIONS) {
        estimate_literals(json, len, "\"text\":\"", 8, sum);
        return;
    }
    estimate_literals(json, len, "\"content\":\"", 11, sum);
    estimate_literals(json, len, "\"reasoning_content\":\"", 21, sum);
    estimate_literals(json, len, "\"arguments\":\"", 13, sum);
}

int gw_emit_response_raw(gw_engine_io *io, const char *json, size_t len, size_t model_start,
                         size_t model_end) {
    estimate_generated(io->r, json, len);
    gw_chunk c = {json, len, model_start, model_end};
    return io->r->protocol->response(io->r, &c, io->out, &io->err);
}

int gw_emit_chunk_raw(gw_engine_io *io, const char *json, size_t len, size_t model_start,
                      size_t model_end) {
    estimate_generated(io->r, json, len);
    gw_chunk c = {json, len, model_start, model_end};
    return io->r->protocol->stream_chunk(io->r, &c, &io->frames, &io->err);
}

int gw_emit_response_counted(gw_engine_io *io, const char *json, size_t len, size_t model_start,
                             size_t model_end, int64_t generated) {
    gw_req *r = io->r;
    if (r->text_hook) return gw_text_guard_response(io, json, len, model_start, model_end);
    if (!r->usage.known) r->completion_estimate += generated;
    gw_chunk c = {json, len, model_start, model_end};
    return r->protocol->response(r, &c, io->out, &io->err);
}

int gw_emit_chunk_counted(gw_engine_io *io, const char *json, size_t len, size_t model_start,
                          size_t model_end, int64_t generated) {
    gw_req *r = io->r;
    if (r->text_hook) return gw_text_guard_chunk(io, json, len, model_start, model_end);
    if (!r->usage.known) r->completion_estimate += generated;
    gw_chunk c = {json, len, model_start, model_end};
    return r->protocol->stream_chunk(r, &c, &io->frames, &io->err);
}

int gw_emit_response(gw_engine_io *io, const char *json, size_t len, size_t model_start,
                     size_t model_end) {
    if (io->r->text_hook) return gw_text_guard_response(io, json, len, model_start, model_end);
    return gw_emit_response_raw(io, json, len, model_start, model_end);
}

int gw_emit_chunk(gw_engine_io *io, const char *json, size_t len, size_t model_start,
                  size_t model_end) {
    if (io->r->text_hook) return gw_text_guard_chunk(io, json, len, model_start, model_end);
    return gw_emit_chunk_raw(io, json, len, model_start, model_end);
}

void gw_emit_end(gw_engine_io *io) {
    if (io->r->text_hook && gw_text_guard_end(io) < 0) return; /* the attempt sees io->blocked */
    io->r->protocol->stream_end(io->r, &io->frames);
}

int gw_engine_fail(gw_engine_io *io, int status, const char *body, size_t len) {
    gw_error_parse(status, body, len, &io->error, io->error_message, sizeof io->error_message);
    return GW_EVENT_ERROR;
}
