/* SGLang's native /generate (see sglang_native.h). The canonical output, the held-back stop
 * strings and the error vocabulary are textgen's. */
#include "engines/sglang_native.h"

#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#include "core/json_parse.h"
#include "core/openai_error.h"
#include "engines/textgen.h"

static const char image_error[] =
    "image input is not supported by channel type sglang with a text template";
static const char tools_error[] =
    "tools are not supported by channel type sglang with api: native (its /generate has no tool "
    "calling; api: openai has)";
static const char embeddings_error[] =
    "the embeddings API (/v1/embeddings) is not served by channel type sglang with api: native "
    "(api: openai serves it)";

/* SamplingParams(**sampling_params) refuses keys it does not know, so only its own go up: the
 * OpenAI names mapped, and the SGLang/vLLM extras a caller may add (top_k, min_p, ...). */
static int write_sampling_params(const gw_chat_template *tmpl, gw_req *r, gw_strbuf *b,
                                 const char **err) {
    json_object *req = r->json, *v;
    int count = 0;
    if ((v = gw_textgen_max_tokens(req))) {
        if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 0) {
            *err = "max_tokens must be a non-negative integer";
            return -1;
        }
        gw_textgen_param(b, &count, "max_new_tokens", v);
    }
    static const char *const numbers[] = {
        "temperature",        "top_p", "min_p", "frequency_penalty", "presence_penalty",
        "repetition_penalty", NULL};
    for (size_t i = 0; numbers[i]; i++)
        if ((v = gw_textgen_member(req, numbers[i])) && gw_textgen_is_number(v))
            gw_textgen_param(b, &count, numbers[i], v);
    /* 0 and -1 both mean "no top_k" to callers of vLLM-style APIs; SGLang knows only -1 */
    if ((v = gw_textgen_member(req, "top_k")) && json_object_is_type(v, json_type_int) &&
        json_object_get_int64(v) != 0)
        gw_textgen_param(b, &count, "top_k", v);
    if ((v = gw_textgen_member(req, "min_tokens")) && json_object_is_type(v, json_type_int))
        gw_textgen_param(b, &count, "min_new_tokens", v);
    if ((v = gw_textgen_member(req, "ignore_eos")) && json_object_is_type(v, json_type_boolean))
        gw_textgen_param(b, &count, "ignore_eos", v);
    if ((v = gw_textgen_member(req, "skip_special_tokens")) &&
        json_object_is_type(v, json_type_boolean))
        gw_textgen_param(b, &count, "skip_special_tokens", v);
    if ((v = gw_textgen_member(req, "stop_token_ids")) && json_object_is_type(v, json_type_array))
        gw_textgen_param(b, &count, "stop_token_ids", v);
    return gw_textgen_param_stops(b, &count, r, tmpl, GW_TEXTGEN_MAX_STOPS, err);
}

int gw_sglang_native_prepare(const gw_chat_template *tmpl, gw_req *r, gw_engine_call *call,
                             int *status, const char **err) {
    gw_strbuf b = {.max = gw_textgen_body_max(r)};
    gw_strbuf_adds(&b, "{\"text\":\"");
    if (gw_textgen_prompt(r, tmpl, image_error, tools_error, embeddings_error, &b, status, err) < 0)
        goto fail;
    gw_strbuf_adds(&b, "\",\"sampling_params\":{");
    *status = 400;
    if (write_sampling_params(tmpl, r, &b, err) < 0) goto fail;
    gw_strbuf_adds(&b, r->stream ? "},\"stream\":true}" : "},\"stream\":false}");
    return gw_textgen_call(&b, "/generate", call, status, err);
fail:
    gw_strbuf_free(&b);
    return -1;
}

static void meta_usage(json_object *meta, gw_usage *u) {
    *u = (gw_usage){0};
    int found = 0;
    u->prompt_tokens = gw_textgen_count(meta, "prompt_tokens", &found);
    u->completion_tokens = gw_textgen_count(meta, "completion_tokens", &found);
    u->cached_tokens = gw_textgen_count(meta, "cached_tokens", &found);
    u->known = found;
}

/* meta_info.finish_reason.type, or NULL while generating. */
static const char *finish_type(json_object *meta, json_object **reason) {
    *reason = gw_textgen_member(meta, "finish_reason");
    json_object *type = gw_textgen_member(*reason, "type");
    if (*reason && !type && json_object_is_type(*reason, json_type_string))
        return json_object_get_string(*reason); /* a bare string, as some builds write it */
    return type && json_object_is_type(type, json_type_string) ? json_object_get_string(type)
           : *reason                                           ? "stop"
                                                               : NULL;
}

/* SGLang aborts a request it cannot finish (a prompt over the context, a scheduler failure, an
 * abort from outside) with finish_reason "abort": an explicit error, since passing it on as
 * "stop" would hand the caller a truncated answer as a whole one. */
static int abort_error(gw_engine_io *io, json_object *reason) {
    json_object *code = gw_textgen_member(reason, "status_code"),
                *message = gw_textgen_member(reason, "message");
    int64_t status =
        code && json_object_is_type(code, json_type_int) ? json_object_get_int64(code) : 500;
    if (status < 400 || status > 599) status = 500;
    const char *text = message && json_object_is_type(message, json_type_string)
                           ? json_object_get_string(message)
                           : "";
    int n = snprintf(io->error_message, sizeof io->error_message,
                     "the engine aborted the generation%s%s", *text ? ": " : "", text);
    io->error = (gw_error_info){
        .status = (int)status,
        .type = gw_openai_error_type((int)status),
        .message = io->error_message,
        .message_len = n < 0                                  ? 0
                       : (size_t)n < sizeof io->error_message ? (size_t)n
                                                              : sizeof io->error_message - 1,
    };
    return GW_EVENT_ERROR;
}

static int error_event(gw_engine_io *io, const char *data, size_t len) {
    int rc = gw_engine_fail(io, 500, data, len);
    gw_textgen_error_map(&io->error, 0, io->error_message, sizeof io->error_message);
    return rc;
}

int gw_sglang_native_response(const gw_chat_template *tmpl, gw_engine_io *io, const char *body,
                              size_t len) {
    json_object *root = gw_json_parse(body, len, JSON_TOKENER_DEFAULT_DEPTH, 0);
    json_object *obj = gw_textgen_single_object(root), *text, *reason; /* a batch's one answer */
    int rc = -1;
    if (!obj) {
        io->err = "the engine's answer is not a JSON object";
        goto done;
    }
    if (gw_textgen_member(obj, "error")) {
        rc = error_event(io, body, len);
        goto done;
    }
    json_object *meta = gw_textgen_member(obj, "meta_info");
    if (!(text = gw_textgen_member(obj, "text")) || !json_object_is_type(text, json_type_string)) {
        io->err = "the engine's answer has no text";
        goto done;
    }
    const char *type = finish_type(meta, &reason);
    if (type && !strcmp(type, "abort")) {
        rc = abort_error(io, reason);
        goto done;
    }
    gw_usage u;
    meta_usage(meta, &u);
    /* SGLang trims a matched stop string itself; this catches builds that do not */
    size_t n = gw_textgen_strip_stop(io->r, tmpl, json_object_get_string(text),
                                     (size_t)json_object_get_string_len(text));
    rc = gw_textgen_emit_response(io, json_object_get_string(text), n,
                                  gw_textgen_finish_reason(type), &u);
done:
    json_object_put(root);
    return rc;
}

int gw_sglang_native_stream_event(const gw_chat_template *tmpl, gw_engine_io *io, const char *data,
                                  size_t len) {
    gw_textgen_stream *s = io->state;
    if (s->ended) return GW_EVENT_END;
    if (len == 6 && !memcmp(data, "[DONE]", 6)) {
        if (!s->finished) {
            io->err = "the engine's stream ended ([DONE]) without a finish reason";
            return GW_EVENT_MALFORMED;
        }
        gw_emit_end(io);
        s->ended = 1;
        return GW_EVENT_END;
    }
    json_object *root = gw_json_parse(data, len, JSON_TOKENER_DEFAULT_DEPTH, 0);
    json_object *obj = gw_textgen_single_object(root), *reason;
    int rc = GW_EVENT_MALFORMED;
    if (!obj) {
        io->err = "a stream event of the engine is not a JSON object";
        goto done;
    }
    if (gw_textgen_member(obj,
                          "error")) { /* SGLang's stream writes {"error":{"message"}} then [DONE] */
        rc = error_event(io, data, len);
        goto done;
    }
    if (s->finished) { /* nothing is expected between the finish and [DONE] */
        rc = GW_EVENT_CONTINUE;
        goto done;
    }
    if (!s->started && gw_textgen_stream_begin(io, s, tmpl) < 0) goto done;
    json_object *meta = gw_textgen_member(obj, "meta_info"), *text = gw_textgen_member(obj, "text");
    const char *type = finish_type(meta, &reason);
    if (type && !strcmp(type, "abort")) {
        rc = abort_error(io, reason);
        goto done;
    }
    if (text && json_object_is_type(text, json_type_string)) {
        const char *t = json_object_get_string(text);
        size_t tlen = (size_t)json_object_get_string_len(text);
        /* the text is cumulative: only what follows the consumed length is new */
        if (tlen > s->text_len) {
            if (gw_textgen_stream_text(io, s, t + s->text_len, tlen - s->text_len) < 0) goto done;
            s->text_len = tlen;
        } else if (tlen < s->text_len && type) {
            /* the final text lost a stop string SGLang trimmed: the held tail that belonged
             * to it is dropped (what was already sent stays sent) */
            size_t sent = s->text_len - s->held.len;
            size_t keep = tlen > sent ? tlen - sent : 0;
            if (keep < s->held.len) s->held.len = keep;
            s->text_len = tlen;
        }
    }
    if (type) {
        gw_usage u;
        meta_usage(meta, &u);
        if (gw_textgen_stream_finish(io, s, gw_textgen_finish_reason(type), &u) < 0) goto done;
    }
    rc = GW_EVENT_CONTINUE;
done:
    json_object_put(root);
    return rc;
}

int gw_sglang_native_stream_end(gw_engine_io *io) {
    gw_textgen_stream *s = io->state;
    if (s->ended) return 0;
    if (s->finished) { /* the whole answer arrived; only [DONE] is missing */
        gw_emit_end(io);
        s->ended = 1;
        return 0;
    }
    io->err = "the engine's stream ended before its finish reason";
    return -1;
}
