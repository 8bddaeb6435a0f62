/* TGI's text-generation protocol, and the canonical output of every native text-generation
 * adapter (see textgen.h). */
#include "engines/textgen.h"

#include <curl/curl.h>
#include <json-c/json.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/error_parse.h"
#include "core/json_parse.h"
#include "core/openai_error.h"
#include "core/request_json.h"

const gw_textgen_conf gw_textgen_tgi_default = {
    .tmpl = NULL, /* chatml */
    .max_stops = 4,
    .decoder_input_details = 1,
    .image_error = "image input is not supported by channel type tgi with a text template",
    .tools_error = "tools are not supported by channel type tgi: its text-generation protocol "
                   "has no tool calling (use a channel that speaks the OpenAI chat API)",
    .embeddings_error = "the embeddings API (/v1/embeddings) is not served by channel type tgi",
};

static const gw_chat_template *template_of(const gw_chat_template *t) {
    return t ? t : gw_chat_template_builtin("chatml");
}

json_object *gw_textgen_member(json_object *obj, const char *key) {
    json_object *v;
    if (!obj || !json_object_object_get_ex(obj, key, &v) || json_object_is_type(v, json_type_null))
        return NULL;
    return v;
}

int gw_textgen_is_number(json_object *v) {
    return json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_double);
}

/* --- stop strings --- */

static const char too_many_stops[] =
    "too many stop strings for this model's engine: its native text-generation protocol takes "
    "at most 4, the chat template's own stop strings included";

static int add_stop(gw_textgen_stops *out, const char *s, size_t len, size_t limit,
                    const char **err) {
    if (!len) return 0; /* an empty stop string would end every generation before it starts */
    for (size_t i = 0; i < out->count; i++)
        if (out->len[i] == len && !memcmp(out->s[i], s, len)) return 0;
    if (out->count >= limit) {
        *err = too_many_stops;
        return -1;
    }
    out->s[out->count] = s;
    out->len[out->count++] = len;
    return 0;
}

int gw_textgen_stops_collect(const gw_req *r, const gw_chat_template *tmpl, size_t limit,
                             gw_textgen_stops *out, const char **err) {
    memset(out, 0, sizeof *out);
    if (limit > GW_TEXTGEN_MAX_STOPS) limit = GW_TEXTGEN_MAX_STOPS;
    tmpl = r->api == GW_API_CHAT ? template_of(tmpl) : NULL; /* completions have no template */
    json_object *req = r->json;
    for (size_t i = 0; tmpl && i < tmpl->stop_count; i++)
        if (add_stop(out, tmpl->stops[i], strlen(tmpl->stops[i]), limit, err) < 0) return -1;
    json_object *stop = gw_textgen_member(req, "stop");
    if (!stop) return 0;
    if (json_object_is_type(stop, json_type_string))
        return add_stop(out, json_object_get_string(stop), (size_t)json_object_get_string_len(stop),
                        limit, err);
    if (!json_object_is_type(stop, json_type_array)) {
        *err = "'stop' must be a string or an array of strings";
        return -1;
    }
    for (size_t i = 0, n = json_object_array_length(stop); i < n; i++) {
        json_object *s = json_object_array_get_idx(stop, i);
        if (!json_object_is_type(s, json_type_string)) {
            *err = "'stop' must be a string or an array of strings";
            return -1;
        }
        if (add_stop(out, json_object_get_string(s), (size_t)json_object_get_string_len(s), limit,
                     err) < 0)
            return -1;
    }
    return 0;
}

/* The stops prepare collected: it checked them against a limit no larger than this one, so
 * there is no error here. */
static void request_stops(const gw_req *r, const gw_chat_template *tmpl, gw_textgen_stops *out) {
    const char *ignored = NULL;
    if (gw_textgen_stops_collect(r, tmpl, GW_TEXTGEN_MAX_STOPS, out, &ignored) < 0) out->count = 0;
}

size_t gw_textgen_strip_stop(const gw_req *r, const gw_chat_template *tmpl, const char *text,
                             size_t len) {
    gw_textgen_stops stops;
    request_stops(r, tmpl, &stops);
    for (size_t i = 0; i < stops.count; i++)
        if (stops.len[i] <= len && !memcmp(text + len - stops.len[i], stops.s[i], stops.len[i]))
            return len - stops.len[i];
    return len;
}

/* --- the prompt --- */

json_object *gw_textgen_max_tokens(json_object *req) {
    json_object *v = gw_textgen_member(req, "max_completion_tokens");
    return v ? v : gw_textgen_member(req, "max_tokens");
}

static int offers_tools(json_object *req) {
    json_object *tools = gw_textgen_member(req, "tools"),
                *choice = gw_textgen_member(req, "tool_choice");
    if (!tools || !json_object_is_type(tools, json_type_array) ||
        json_object_array_length(tools) == 0)
        return 0;
    /* tool_choice "none": the caller wants text, which is all these protocols give */
    return !(choice && json_object_is_type(choice, json_type_string) &&
             !strcmp(json_object_get_string(choice), "none"));
}

int gw_textgen_prompt(gw_req *r, const gw_chat_template *tmpl, const char *image_error,
                      const char *tools_error, const char *embeddings_error, gw_strbuf *b,
                      int *status, const char **err) {
    *status = 400;
    if (r->api == GW_API_EMBEDDINGS) {
        *err = embeddings_error;
        return -1;
    }
    /* the tree, built here if the scan left it: the stops and parameters read it after this */
    json_object *req = gw_req_json(r);
    if (!req && r->json_deferred) {
        *status = 503;
        *err = "out of memory";
        return -1;
    }
    if (!req || !json_object_is_type(req, json_type_object)) {
        *status = 500;
        *err = "the request was not parsed before it reached the engine";
        return -1;
    }
    json_object *n = gw_textgen_member(r->json, "n");
    if (n && (!json_object_is_type(n, json_type_int) || json_object_get_int64(n) != 1)) {
        *err = "'n' must be 1 for this model's engine: its native text-generation protocol "
               "returns one choice per request";
        return -1;
    }
    if (r->api == GW_API_CHAT) {
        if (offers_tools(r->json)) {
            *err = tools_error;
            return -1;
        }
        /* Without BOS: TGI's /generate always tokenizes `inputs` with the tokenizer's special
         * tokens (add_special_tokens is not a request field there), and SGLang's and MindIE's
         * native routes do the same, so a template's BOS would be doubled. */
        return gw_chat_template_render(template_of(tmpl), gw_textgen_member(r->json, "messages"), 0,
                                       1, image_error, b, err);
    }
    json_object *prompt = gw_textgen_member(r->json, "prompt");
    if (prompt && json_object_is_type(prompt, json_type_array) &&
        json_object_array_length(prompt) == 1)
        prompt = json_object_array_get_idx(prompt, 0);
    if (!prompt || !json_object_is_type(prompt, json_type_string)) {
        *err = "'prompt' must be a string, or an array of exactly one string, for this model's "
               "engine: its native text-generation protocol takes one text prompt per request";
        return -1;
    }
    gw_strbuf_add_json_escaped(b, json_object_get_string(prompt),
                               (size_t)json_object_get_string_len(prompt));
    return 0;
}

size_t gw_textgen_body_max(const gw_req *r) {
    /* escaping can grow text up to 6 times; anything past that is a runaway template */
    return r->body_len * 8 + ((size_t)1 << 20);
}

int gw_textgen_call(gw_strbuf *b, const char *path, gw_engine_call *call, int *status,
                    const char **err) {
    if (b->failed) {
        *status = 500;
        *err = "out of memory building the engine's request";
        gw_strbuf_free(b);
        return -1;
    }
    call->path = path;
    call->owned_body = b->data;
    call->body = b->data;
    call->body_len = b->len;
    return 0;
}

/* --- canonical output --- */

const char *gw_textgen_finish_reason(const char *tgi_reason) {
    if (tgi_reason && !strcmp(tgi_reason, "length")) return "length";
    return "stop"; /* eos_token, stop_sequence; an engine that reports nothing finished too */
}

/* {"id":...,"object":...,"created":...,"model":"" — returns where the model's "" begins, for
 * the caller's protocol to write the model name the caller asked for. */
static size_t write_head(gw_strbuf *b, const gw_req *r, const char *object, long long created) {
    return gw_engine_add_head(b, r->api == GW_API_CHAT ? "chatcmpl-" : "cmpl-", r->id, r->id_len,
                              object, created);
}

static void write_usage(gw_strbuf *b, const gw_usage *u) {
    gw_strbuf_adds(b, "\"usage\":{\"prompt_tokens\":");
    gw_strbuf_add_int(b, u->prompt_tokens);
    gw_strbuf_adds(b, ",\"completion_tokens\":");
    gw_strbuf_add_int(b, u->completion_tokens);
    gw_strbuf_adds(b, ",\"total_tokens\":");
    gw_strbuf_add_int(b, u->prompt_tokens + u->completion_tokens);
    if (u->cached_tokens > 0) {
        gw_strbuf_adds(b, ",\"prompt_tokens_details\":{\"cached_tokens\":");
        gw_strbuf_add_int(b, u->cached_tokens);
        gw_strbuf_adds(b, "}");
    }
    gw_strbuf_adds(b, "}");
}

/* Hands the built text to the caller's protocol and frees it. */
static int emit(gw_engine_io *io, gw_strbuf *b, size_t model_at, int chunk) {
    int rc = -1;
    if (b->failed)
        io->err = "out of memory writing the answer";
    else if (chunk)
        rc = gw_emit_chunk(io, b->data, b->len, model_at, model_at + 2);
    else
        rc = gw_emit_response(io, b->data, b->len, model_at, model_at + 2);
    gw_strbuf_free(b);
    return rc < 0 ? -1 : 0;
}

int gw_textgen_emit_response(gw_engine_io *io, const char *text, size_t len, const char *finish,
                             const gw_usage *u) {
    gw_req *r = io->r;
    int chat = r->api == GW_API_CHAT;
    gw_strbuf b = {0};
    size_t at = write_head(&b, r, chat ? "chat.completion" : "text_completion", time(NULL));
    gw_strbuf_adds(&b, chat ? ",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
                              "\"content\":\""
                            : ",\"choices\":[{\"index\":0,\"text\":\"");
    gw_strbuf_add_json_escaped(&b, text, len);
    gw_strbuf_adds(&b, chat ? "\"}" : "\"");
    gw_engine_add_finish(&b, finish);
    gw_strbuf_adds(&b, "}]");
    if (u && u->known) {
        gw_strbuf_adds(&b, ",");
        write_usage(&b, u);
        r->usage = *u;
    }
    gw_strbuf_adds(&b, "}");
    return emit(io, &b, at, 0);
}

enum { CHUNK_TEXT, CHUNK_ROLE, CHUNK_FINISH };

/* One chat.completion.chunk or text_completion chunk of the stream. */
static int write_chunk(gw_engine_io *io, const gw_textgen_stream *s, int kind, const char *text,
                       size_t len, const char *finish) {
    int chat = io->r->api == GW_API_CHAT;
    gw_strbuf b = {0};
    size_t at =
        write_head(&b, io->r, chat ? "chat.completion.chunk" : "text_completion", s->created);
    if (chat) {
        gw_strbuf_adds(&b, ",\"choices\":[{\"index\":0,\"delta\":{");
        if (kind == CHUNK_ROLE) gw_strbuf_adds(&b, "\"role\":\"assistant\",\"content\":\"\"");
        if (kind == CHUNK_TEXT) {
            gw_strbuf_adds(&b, "\"content\":\"");
            gw_strbuf_add_json_escaped(&b, text, len);
            gw_strbuf_adds(&b, "\"");
        }
        gw_strbuf_adds(&b, "}");
    } else {
        gw_strbuf_adds(&b, ",\"choices\":[{\"index\":0,\"text\":\"");
        if (kind == CHUNK_TEXT) gw_strbuf_add_json_escaped(&b, text, len);
        gw_strbuf_adds(&b, "\"");
    }
    gw_engine_add_finish(&b, finish);
    gw_strbuf_adds(&b, "}]}");
    return emit(io, &b, at, 1);
}

static int write_usage_chunk(gw_engine_io *io, const gw_textgen_stream *s, const gw_usage *u) {
    int chat = io->r->api == GW_API_CHAT;
    gw_strbuf b = {0};
    size_t at =
        write_head(&b, io->r, chat ? "chat.completion.chunk" : "text_completion", s->created);
    gw_strbuf_adds(&b, ",\"choices\":[],");
    write_usage(&b, u);
    gw_strbuf_adds(&b, "}");
    return emit(io, &b, at, 1);
}

int gw_textgen_stream_begin(gw_engine_io *io, gw_textgen_stream *s, const gw_chat_template *tmpl) {
    s->started = 1;
    s->created = (long long)time(NULL);
    request_stops(io->r, tmpl, &s->stops);
    for (size_t i = 0; i < s->stops.count; i++)
        if (s->stops.len[i] > s->max_stop_len) s->max_stop_len = s->stops.len[i];
    return io->r->api == GW_API_CHAT ? write_chunk(io, s, CHUNK_ROLE, NULL, 0, NULL) : 0;
}

int gw_textgen_stream_text(gw_engine_io *io, gw_textgen_stream *s, const char *text, size_t len) {
    if (s->stopped || s->finished || !len) return 0;
    if (!s->stops.count) return write_chunk(io, s, CHUNK_TEXT, text, len, NULL);
    gw_strbuf_add(&s->held, text, len);
    if (s->held.failed) {
        io->err = "out of memory holding back a possible stop string";
        return -1;
    }
    /* a whole stop string: the text before it is the last the caller sees */
    size_t cut = SIZE_MAX;
    for (size_t i = 0; i < s->stops.count; i++) {
        const char *at = memmem(s->held.data, s->held.len, s->stops.s[i], s->stops.len[i]);
        if (at && (size_t)(at - s->held.data) < cut) cut = (size_t)(at - s->held.data);
    }
    if (cut != SIZE_MAX) {
        s->stopped = 1;
        s->held.len = 0;
        return cut ? write_chunk(io, s, CHUNK_TEXT, s->held.data, cut, NULL) : 0;
    }
    /* the longest tail that begins a stop string waits for the next text */
    size_t keep = 0;
    for (size_t k = s->held.len < s->max_stop_len ? s->held.len : s->max_stop_len - 1; k && !keep;
         k--)
        for (size_t i = 0; i < s->stops.count && !keep; i++)
            if (s->stops.len[i] > k && !memcmp(s->held.data + s->held.len - k, s->stops.s[i], k))
                keep = k;
    size_t out = s->held.len - keep;
    int rc = out ? write_chunk(io, s, CHUNK_TEXT, s->held.data, out, NULL) : 0;
    memmove(s->held.data, s->held.data + out, keep);
    s->held.len = keep;
    return rc;
}

int gw_textgen_stream_finish(gw_engine_io *io, gw_textgen_stream *s, const char *finish,
                             const gw_usage *u) {
    if (s->finished) return 0;
    if (!s->stopped && s->held.len) { /* it never became a stop string */
        if (write_chunk(io, s, CHUNK_TEXT, s->held.data, s->held.len, NULL) < 0) return -1;
    }
    s->held.len = 0;
    s->finished = 1;
    if (write_chunk(io, s, CHUNK_FINISH, NULL, 0, finish) < 0) return -1;
    gw_usage zero = {0};
    if (u && u->known) io->r->usage = *u;
    if (io->r->include_usage) return write_usage_chunk(io, s, u ? u : &zero);
    return 0;
}

void gw_textgen_stream_free(void *state) {
    gw_textgen_stream *s = state;
    gw_strbuf_free(&s->held);
}

/* --- errors --- */

static int openai_type(const char *type) {
    static const char *const known[] = {"invalid_request_error", "authentication_error",
                                        "permission_error",      "not_found_error",
                                        "rate_limit_exceeded",   "insufficient_quota",
                                        "server_error",          "overloaded_error",
                                        "timeout_error",         NULL};
    for (size_t i = 0; known[i]; i++)
        if (!strcmp(type, known[i])) return 1;
    return 0;
}

void gw_textgen_error_map(gw_error_info *e, int empty_body, char *msg, size_t msg_cap) {
    if (e->status == 422) /* TGI's and MindIE's validation errors; OpenAI says 400 */
        e->status = 400;
    else if (e->status == 424) /* a generation error */
        e->status = 500;
    if (e->status == 503 && empty_body && msg_cap) {
        /* an unhealthy MindIE answers 503 with nothing else to say */
        snprintf(msg, msg_cap, "the engine is unavailable");
        *e = (gw_error_info){.status = 503, .message = msg, .message_len = strlen(msg)};
    }
    if (!e->type || !openai_type(e->type)) e->type = gw_openai_error_type(e->status);
}

void gw_textgen_error(int status, const char *body, size_t len, gw_error_info *e, char *msg,
                      size_t msg_cap) {
    gw_error_parse(status, body, len, e, msg, msg_cap);
    size_t blank = 0;
    while (blank < len && strchr(" \t\r\n", body[blank]))
        blank++;
    gw_textgen_error_map(e, blank == len, msg, msg_cap);
}

/* An error the engine reported inside a 2xx answer or a stream: 429 when TGI says it is
 * overloaded (the caller may back off or go elsewhere), else 500. */
static int engine_error(gw_engine_io *io, json_object *obj, const char *text, size_t len) {
    json_object *type = gw_textgen_member(obj, "error_type");
    int status = type && json_object_is_type(type, json_type_string) &&
                         !strcmp(json_object_get_string(type), "overloaded")
                     ? 429
                     : 500;
    int rc = gw_engine_fail(io, status, text, len);
    gw_textgen_error_map(&io->error, 0, io->error_message, sizeof io->error_message);
    return rc;
}

/* --- TGI's protocol --- */

static void param_sep(gw_strbuf *b, int *count) {
    if ((*count)++) gw_strbuf_adds(b, ",");
}

void gw_textgen_param(gw_strbuf *b, int *count, const char *key, json_object *v) {
    size_t len = 0;
    const char *text = json_object_to_json_string_length(v, JSON_C_TO_STRING_PLAIN, &len);
    if (!text) {
        b->failed = 1;
        return;
    }
    param_sep(b, count);
    gw_strbuf_adds(b, "\"");
    gw_strbuf_adds(b, key);
    gw_strbuf_adds(b, "\":");
    gw_strbuf_add(b, text, len);
}

int gw_textgen_param_stops(gw_strbuf *b, int *count, const gw_req *r, const gw_chat_template *tmpl,
                           size_t limit, const char **err) {
    gw_textgen_stops stops;
    if (gw_textgen_stops_collect(r, tmpl, limit, &stops, err) < 0) return -1;
    if (!stops.count) return 0;
    param_sep(b, count);
    gw_strbuf_adds(b, "\"stop\":[");
    for (size_t i = 0; i < stops.count; i++) {
        gw_strbuf_adds(b, i ? ",\"" : "\"");
        gw_strbuf_add_json_escaped(b, stops.s[i], stops.len[i]);
        gw_strbuf_adds(b, "\"");
    }
    gw_strbuf_adds(b, "]");
    return 0;
}

static int write_parameters(const gw_textgen_conf *c, gw_req *r, gw_strbuf *b, const char **err) {
    json_object *req = r->json, *v;
    int count = 0;
    if ((v = gw_textgen_max_tokens(req))) {
        if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 1) {
            *err = "max_tokens must be a positive integer";
            return -1;
        }
        gw_textgen_param(b, &count, "max_new_tokens", v);
    }
    json_object *temperature = gw_textgen_member(req, "temperature");
    if (temperature &&
        (!gw_textgen_is_number(temperature) || json_object_get_double(temperature) < 0)) {
        *err = "temperature must be a number, 0 or more";
        return -1;
    }
    /* TGI takes only temperature > 0: 0 means greedy, which is do_sample false; without one
     * the caller gets OpenAI's default, sampling at temperature 1 */
    int sample = !temperature || json_object_get_double(temperature) > 0;
    if (temperature && sample) gw_textgen_param(b, &count, "temperature", temperature);
    if ((v = gw_textgen_member(req, "top_p"))) {
        double p = gw_textgen_is_number(v) ? json_object_get_double(v) : -1;
        if (p <= 0 || p > 1) {
            *err = "top_p must be a number above 0 and at most 1";
            return -1;
        }
        /* TGI takes 0 < top_p < 1: 1.0 is the same as none; a greedy request leaves it out,
         * since TGI samples whenever top_p or top_k is set */
        if (p < 1 && sample) gw_textgen_param(b, &count, "top_p", v);
    }
    if ((v = gw_textgen_member(req, "top_k")) && json_object_is_type(v, json_type_int) &&
        json_object_get_int64(v) > 0 && sample) /* 0 and -1 mean none (vLLM's convention) */
        gw_textgen_param(b, &count, "top_k", v);
    if ((v = gw_textgen_member(req, "repetition_penalty")) && gw_textgen_is_number(v))
        gw_textgen_param(b, &count, "repetition_penalty", v);
    if ((v = gw_textgen_member(req, "seed")) && json_object_is_type(v, json_type_int))
        gw_textgen_param(b, &count, "seed", v);
    if (gw_textgen_param_stops(b, &count, r, c->tmpl, c->max_stops, err) < 0) return -1;
    param_sep(b, &count);
    gw_strbuf_adds(b, sample ? "\"do_sample\":true" : "\"do_sample\":false");
    gw_strbuf_adds(b, ",\"details\":true");
    /* TGI refuses decoder_input_details on a stream; its stream details carry input_length */
    if (c->decoder_input_details && !r->stream)
        gw_strbuf_adds(b, ",\"decoder_input_details\":true");
    return 0;
}

int gw_textgen_prepare(const gw_textgen_conf *c, gw_req *r, gw_engine_call *call, int *status,
                       const char **err) {
    if (!c) c = &gw_textgen_tgi_default;
    gw_strbuf b = {.max = gw_textgen_body_max(r)};
    gw_strbuf_adds(&b, "{\"inputs\":\"");
    if (gw_textgen_prompt(r, c->tmpl, c->image_error, c->tools_error, c->embeddings_error, &b,
                          status, err) < 0)
        goto fail;
    gw_strbuf_adds(&b, "\",\"parameters\":{");
    *status = 400;
    if (write_parameters(c, r, &b, err) < 0) goto fail;
    gw_strbuf_adds(&b, "}}");
    return gw_textgen_call(&b, r->stream ? "/generate_stream" : "/generate", call, status, err);
fail:
    gw_strbuf_free(&b);
    return -1;
}

int64_t gw_textgen_count(json_object *obj, const char *key, int *found) {
    json_object *v = gw_textgen_member(obj, key);
    if (!v || !gw_textgen_is_number(v)) return 0;
    int64_t n = json_object_get_int64(v);
    *found = 1;
    return n < 0 ? 0 : n > ((int64_t)1 << 50) ? (int64_t)1 << 50 : n;
}

/* Usage from TGI's or MindIE's details: prompt_tokens (MindIE), input_length (TGI's stream),
 * or the prefill tokens (TGI's /generate with decoder_input_details). */
static void details_usage(json_object *details, gw_usage *u) {
    *u = (gw_usage){0};
    if (!details || !json_object_is_type(details, json_type_object)) return;
    int found = 0;
    u->prompt_tokens = gw_textgen_count(details, "prompt_tokens", &found);
    if (!found) u->prompt_tokens = gw_textgen_count(details, "input_length", &found);
    json_object *prefill = gw_textgen_member(details, "prefill");
    if (!found && prefill && json_object_is_type(prefill, json_type_array)) {
        u->prompt_tokens = (int64_t)json_object_array_length(prefill);
        found = 1;
    }
    u->completion_tokens = gw_textgen_count(details, "generated_tokens", &found);
    u->known = found;
}

static const char *details_finish(json_object *details) {
    json_object *v = gw_textgen_member(details, "finish_reason");
    return gw_textgen_finish_reason(
        v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL);
}

json_object *gw_textgen_single_object(json_object *root) {
    if (root && json_object_is_type(root, json_type_array))
        root = json_object_array_length(root) == 1 ? json_object_array_get_idx(root, 0) : NULL;
    return root && json_object_is_type(root, json_type_object) ? root : NULL;
}

int gw_textgen_response(const gw_textgen_conf *c, gw_engine_io *io, const char *body, size_t len) {
    if (!c) c = &gw_textgen_tgi_default;
    json_object *root = gw_json_parse(body, len, JSON_TOKENER_DEFAULT_DEPTH, 0);
    json_object *obj = gw_textgen_single_object(root); /* MindIE's POST / (TGI's compat route) */
    int rc = -1;
    if (!obj) {
        io->err = "the engine's answer is not a JSON object (or an array of one)";
        goto done;
    }
    if (gw_textgen_member(obj, "error")) {
        size_t elen = 0;
        const char *text = json_object_to_json_string_length(obj, JSON_C_TO_STRING_PLAIN, &elen);
        rc = engine_error(io, obj, text ? text : "", text ? elen : 0);
        goto done;
    }
    json_object *generated = gw_textgen_member(obj, "generated_text"),
                *details = gw_textgen_member(obj, "details");
    if (!generated || !json_object_is_type(generated, json_type_string)) {
        io->err = "the engine's answer has no generated_text";
        goto done;
    }
    gw_usage u;
    details_usage(details, &u);
    const char *text = json_object_get_string(generated);
    size_t text_len =
        gw_textgen_strip_stop(io->r, c->tmpl, text, (size_t)json_object_get_string_len(generated));
    rc = gw_textgen_emit_response(io, text, text_len, details_finish(details), &u);
done:
    json_object_put(root);
    return rc;
}

int gw_textgen_stream_event(const gw_textgen_conf *c, gw_engine_io *io, const char *data,
                            size_t len) {
    if (!c) c = &gw_textgen_tgi_default;
    gw_textgen_stream *s = io->state;
    if (s->ended) return GW_EVENT_END;
    json_object *ev = gw_json_parse(data, len, JSON_TOKENER_DEFAULT_DEPTH, 0);
    int rc = GW_EVENT_MALFORMED;
    if (!ev || !json_object_is_type(ev, json_type_object)) {
        io->err = "a stream event of the engine is not a JSON object";
        goto done;
    }
    if (gw_textgen_member(ev, "error")) {
        rc = engine_error(io, ev, data, len);
        goto done;
    }
    if (!s->started && gw_textgen_stream_begin(io, s, c->tmpl) < 0) goto done;
    json_object *token = gw_textgen_member(ev, "token"), *text, *special;
    if (token && json_object_is_type(token, json_type_object) &&
        (text = gw_textgen_member(token, "text")) && json_object_is_type(text, json_type_string) &&
        !((special = gw_textgen_member(token, "special")) && json_object_get_boolean(special)) &&
        gw_textgen_stream_text(io, s, json_object_get_string(text),
                               (size_t)json_object_get_string_len(text)) < 0)
        goto done;
    /* the last event: details (TGI, MindIE) or at least the whole generated_text */
    json_object *details = gw_textgen_member(ev, "details");
    if (details || gw_textgen_member(ev, "generated_text")) {
        gw_usage u;
        details_usage(details, &u);
        if (gw_textgen_stream_finish(io, s, details_finish(details), &u) < 0) goto done;
        gw_emit_end(io);
        s->ended = 1;
        rc = GW_EVENT_END;
        goto done;
    }
    rc = GW_EVENT_CONTINUE;
done:
    json_object_put(ev);
    return rc;
}

int gw_textgen_stream_end(gw_engine_io *io) {
    const gw_textgen_stream *s = io->state;
    if (s->ended) return 0;
    io->err = "the engine's stream ended before its last event (the one with details)";
    return -1;
}

/* --- configuration --- */

const gw_chat_template *gw_textgen_template_option(const gw_engine_option *options, size_t count,
                                                   gw_arena *arena, gw_engine_config_error *err) {
    const gw_engine_option *o = gw_engine_option_get(options, count, "chat_template");
    const gw_chat_template *t =
        gw_chat_template_load(o ? o->value : "chatml", arena, err->message, sizeof err->message);
    if (!t) err->option = o ? (int)(o - options) : -1;
    return t;
}
