/* TGI's protocol and MindIE's TGI-style native routes, from recorded samples: the request body
 * (template, parameters TGI accepts), /generate answers with details, MindIE's array answer,
 * /generate_stream as the engines write it (`data:` without a space, no [DONE]), special tokens,
 * stop strings split across tokens, cut streams, errors. Output goes through the OpenAI protocol
 * and is parsed back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <curl/curl.h>
#include <event2/buffer.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json_parse.h"
#include "core/sse.h"
#include "engines/textgen.h"
#include "filters/request_fields.h"
#include "inbound/protocol.h"

/* --- fixture --- */

typedef struct fixture {
    gw_req r;
    gw_model model;
    gw_channel ch;
    gw_target t;
    gw_engine_io io;
    const gw_engine_ops *ops;
    void *state;
    json_object *frames[64];
    size_t frame_count;
    int done; /* [DONE] seen */
} fixture;

static void fixture_init(fixture *f, const gw_engine_ops *ops, const void *conf, gw_api_kind api,
                         int stream, const char *body) {
    memset(f, 0, sizeof *f);
    f->model.name = "my-model";
    f->model.name_len = 8;
    f->model.name_json = "\"my-model\"";
    f->model.name_json_len = 10;
    f->ch.name = "c";
    f->ch.type = ops ? ops->name : "tgi";
    f->ch.engine = ops;
    f->ch.engine_conf = conf;
    f->t.channel = &f->ch;
    f->r.protocol = &gw_protocol_openai;
    f->r.model = &f->model;
    f->r.target = &f->t;
    memcpy(f->r.id, "req1", 5);
    f->r.id_len = 4;
    f->r.api = api;
    f->r.stream = stream;
    f->r.body = body;
    f->r.body_len = strlen(body);
    f->r.json = json_tokener_parse(body);
    assert_non_null(f->r.json);
    gw_request_fields fields; /* the members parse_request notes for the adapters */
    gw_field_error field_error;
    gw_request_fields_from_tree(f->r.json, api, &fields, &field_error);
    f->r.body_members = fields.members;
    f->ops = ops;
    f->state = calloc(1, ops ? ops->stream_state_size : sizeof(gw_textgen_stream));
    f->io = (gw_engine_io){.r = &f->r, .target = &f->t, .state = f->state, .out = evbuffer_new()};
}

static void fixture_free(fixture *f) {
    if (f->ops && f->ops->stream_free)
        f->ops->stream_free(f->state);
    else
        gw_textgen_stream_free(f->state);
    free(f->state);
    for (size_t i = 0; i < f->frame_count; i++)
        json_object_put(f->frames[i]);
    evbuffer_free(f->io.out);
    gw_strbuf_free(&f->io.frames);
    json_object_put(f->r.json);
}

/* Parses what the caller got: `data: {...}` frames and [DONE]. */
static void read_frames(fixture *f) {
    size_t len = f->io.frames.len;
    char *text = malloc(len + 1);
    if (len) memcpy(text, f->io.frames.data, len);
    gw_strbuf_reset(&f->io.frames);
    text[len] = '\0';
    for (char *at = text; *at;) {
        assert_true(!strncmp(at, "data: ", 6));
        char *end = strstr(at, "\n\n");
        assert_non_null(end);
        *end = '\0';
        if (!strcmp(at + 6, "[DONE]")) {
            f->done = 1;
        } else {
            assert_true(f->frame_count < 64);
            json_object *o = json_tokener_parse(at + 6);
            if (!o) fail_msg("not JSON: %s", at + 6);
            f->frames[f->frame_count++] = o;
        }
        at = end + 2;
    }
    free(text);
}

static json_object *whole_answer(fixture *f) {
    size_t len = evbuffer_get_length(f->io.out);
    char *text = malloc(len + 1);
    evbuffer_remove(f->io.out, text, len);
    text[len] = '\0';
    json_object *o = json_tokener_parse(text);
    if (!o) fail_msg("not JSON: %s", text);
    free(text);
    return o;
}

static json_object *at_path(json_object *o, const char *path) {
    char key[64];
    while (o && *path) {
        size_t n = strcspn(path, ".");
        snprintf(key, sizeof key, "%.*s", (int)n, path);
        if (key[0] >= '0' && key[0] <= '9')
            o = json_object_is_type(o, json_type_array)
                    ? json_object_array_get_idx(o, (size_t)atoi(key))
                    : NULL;
        else if (!json_object_object_get_ex(o, key, &o))
            o = NULL;
        path += n + (path[n] == '.');
    }
    return o;
}

static const char *str_at(json_object *o, const char *path) {
    json_object *v = at_path(o, path);
    return v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

static int64_t int_at(json_object *o, const char *path) {
    json_object *v = at_path(o, path);
    if (!v) fail_msg("no %s", path);
    return json_object_get_int64(v);
}

/* The delta contents of the frames, joined. */
static void joined_content(fixture *f, char *out, size_t cap) {
    out[0] = '\0';
    for (size_t i = 0; i < f->frame_count; i++) {
        const char *c = str_at(f->frames[i], f->r.api == GW_API_CHAT ? "choices.0.delta.content"
                                                                     : "choices.0.text");
        if (c) strncat(out, c, cap - strlen(out) - 1);
    }
}

/* The frame holding a finish_reason. */
static json_object *finish_frame(fixture *f) {
    for (size_t i = 0; i < f->frame_count; i++)
        if (str_at(f->frames[i], "choices.0.finish_reason")) return f->frames[i];
    return NULL;
}

typedef struct feed_ctx {
    fixture *f;
    int last_rc;
} feed_ctx;

static int on_event(void *ud, const char *event, size_t event_len, const char *data, size_t len) {
    feed_ctx *c = ud;
    c->last_rc = c->f->ops->stream_event(&c->f->io, event, event_len, data, len);
    return c->last_rc == GW_EVENT_CONTINUE ? 0 : 1;
}

/* A recorded stream through the SSE parser, as the attempt feeds it; the last event's code. */
static int feed(fixture *f, const char *raw) {
    feed_ctx c = {f, GW_EVENT_CONTINUE};
    gw_sse_parser p;
    gw_sse_init(&p, 1 << 16, on_event, &c);
    gw_sse_feed(&p, raw, strlen(raw));
    if (c.last_rc == GW_EVENT_CONTINUE) gw_sse_finish(&p);
    gw_sse_free(&p);
    return c.last_rc;
}

static json_object *prepared_body(fixture *f, gw_engine_call *call) {
    int status = 0;
    const char *err = NULL;
    if (f->ops->prepare(&f->r, &f->t, call, &status, &err) < 0)
        fail_msg("prepare: %d %s", status, err);
    assert_ptr_equal(call->body, call->owned_body);
    json_object *o = gw_json_parse(call->body, call->body_len, JSON_TOKENER_DEFAULT_DEPTH, 0);
    if (!o) fail_msg("not JSON: %.*s", (int)call->body_len, call->body);
    return o;
}

static gw_textgen_conf *tgi_conf(gw_arena *arena, const char *tmpl) {
    gw_textgen_conf *c = gw_arena_alloc(arena, sizeof *c);
    *c = gw_textgen_tgi_default;
    char err[300];
    c->tmpl = gw_chat_template_load(tmpl, arena, err, sizeof err);
    assert_non_null(c->tmpl);
    return c;
}

/* --- requests --- */

static void chat_request_greedy(void **state) {
    (void)state;
    gw_arena arena = {0};
    fixture f;
    fixture_init(&f, &gw_engine_tgi, tgi_conf(&arena, "chatml"), GW_API_CHAT, 0,
                 "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],"
                 "\"max_completion_tokens\":64,\"temperature\":0,\"top_p\":0.9,\"top_k\":20,"
                 "\"stop\":[\"END\",\"<|im_end|>\"],\"seed\":7,\"repetition_penalty\":1.1}");
    gw_engine_call call = {0};
    json_object *b = prepared_body(&f, &call);
    assert_string_equal(call.path, "/generate");
    assert_string_equal(str_at(b, "inputs"),
                        "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
    json_object *p = at_path(b, "parameters");
    assert_int_equal(int_at(p, "max_new_tokens"), 64);
    /* temperature 0: greedy, and nothing that would make TGI sample */
    assert_false(json_object_get_boolean(at_path(p, "do_sample")));
    assert_null(at_path(p, "temperature"));
    assert_null(at_path(p, "top_p"));
    assert_null(at_path(p, "top_k"));
    assert_int_equal(int_at(p, "seed"), 7);
    assert_true(json_object_get_double(at_path(p, "repetition_penalty")) > 1.09);
    /* the template's stop first, the caller's duplicate once */
    assert_int_equal(json_object_array_length(at_path(p, "stop")), 2);
    assert_string_equal(str_at(p, "stop.0"), "<|im_end|>");
    assert_string_equal(str_at(p, "stop.1"), "END");
    assert_true(json_object_get_boolean(at_path(p, "details")));
    assert_true(json_object_get_boolean(at_path(p, "decoder_input_details")));
    json_object_put(b);
    free(call.owned_body);
    fixture_free(&f);
    gw_arena_free(&arena);
}

static void chat_request_sampling_stream(void **state) {
    (void)state;
    gw_arena arena = {0};
    fixture f;
    fixture_init(&f, &gw_engine_tgi, tgi_conf(&arena, "llama-3"), GW_API_CHAT, 1,
                 "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],"
                 "\"max_tokens\":10,\"temperature\":0.7,\"top_p\":1.0,\"top_k\":0}");
    gw_engine_call call = {0};
    json_object *b = prepared_body(&f, &call);
    assert_string_equal(call.path, "/generate_stream");
    /* no BOS: TGI's tokenizer adds it to inputs */
    assert_string_equal(str_at(b, "inputs"), "<|start_header_id|>user<|end_header_id|>\n\nHi"
                                             "<|eot_id|><|start_header_id|>assistant"
                                             "<|end_header_id|>\n\n");
    json_object *p = at_path(b, "parameters");
    assert_true(json_object_get_boolean(at_path(p, "do_sample")));
    assert_true(json_object_get_double(at_path(p, "temperature")) > 0.69);
    assert_null(at_path(p, "top_p")); /* TGI refuses 1.0 */
    assert_null(at_path(p, "top_k"));
    assert_null(at_path(p, "decoder_input_details")); /* TGI refuses it on a stream */
    assert_string_equal(str_at(p, "stop.0"), "<|eot_id|>");
    json_object_put(b);
    free(call.owned_body);
    fixture_free(&f);
    gw_arena_free(&arena);
}

static void completions_prompt_forms(void **state) {
    (void)state;
    static const struct {
        const char *body;
        int ok;
    } cases[] = {
        {"{\"model\":\"m\",\"prompt\":\"Once upon\",\"stop\":\"\\n\"}", 1},
        {"{\"model\":\"m\",\"prompt\":[\"Once upon\"],\"stop\":\"\\n\"}", 1},
        {"{\"model\":\"m\",\"prompt\":[\"a\",\"b\"]}", 0},
        {"{\"model\":\"m\",\"prompt\":[1,2,3]}", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fixture f;
        fixture_init(&f, &gw_engine_tgi, NULL, GW_API_COMPLETIONS, 0, cases[i].body);
        gw_engine_call call = {0};
        int status = 0;
        const char *err = NULL;
        int rc = gw_engine_tgi.prepare(&f.r, &f.t, &call, &status, &err);
        if (cases[i].ok) {
            assert_int_equal(rc, 0);
            json_object *b = gw_json_parse(call.body, call.body_len, JSON_TOKENER_DEFAULT_DEPTH, 0);
            assert_string_equal(str_at(b, "inputs"), "Once upon");
            /* no template on completions: only the caller's stop */
            assert_int_equal(json_object_array_length(at_path(b, "parameters.stop")), 1);
            assert_string_equal(str_at(b, "parameters.stop.0"), "\n");
            json_object_put(b);
            free(call.owned_body);
        } else {
            assert_int_equal(rc, -1);
            assert_int_equal(status, 400);
            assert_non_null(strstr(err, "exactly one string"));
            assert_null(call.owned_body);
        }
        fixture_free(&f);
    }
}

static void requests_tgi_cannot_serve(void **state) {
    (void)state;
    static const struct {
        gw_api_kind api;
        const char *body, *expected;
    } cases[] = {
        {GW_API_EMBEDDINGS, "{\"model\":\"m\",\"input\":\"x\"}", "not served by channel type tgi"},
        {GW_API_CHAT,
         "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\","
         "\"image_url\":{\"url\":\"http://x/y.png\"}}]}]}",
         "image input is not supported by channel type tgi with a text template"},
        {GW_API_CHAT,
         "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
         "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}]}",
         "tools are not supported by channel type tgi"},
        {GW_API_CHAT,
         "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
         "\"stop\":[\"a\",\"b\",\"c\",\"d\"]}",
         "at most 4"},
        {GW_API_CHAT,
         "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"n\":2}",
         "'n' must be 1"},
        {GW_API_CHAT,
         "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"top_p\":0}",
         "top_p"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fixture f;
        fixture_init(&f, &gw_engine_tgi, NULL, cases[i].api, 0, cases[i].body);
        gw_engine_call call = {0};
        int status = 0;
        const char *err = NULL;
        assert_int_equal(gw_engine_tgi.prepare(&f.r, &f.t, &call, &status, &err), -1);
        assert_int_equal(status, 400);
        if (!strstr(err, cases[i].expected))
            fail_msg("case %zu: '%s' lacks '%s'", i, err, cases[i].expected);
        assert_null(call.owned_body);
        fixture_free(&f);
    }
    /* tool_choice "none": the caller wants text, which TGI gives */
    fixture f;
    fixture_init(&f, &gw_engine_tgi, NULL, GW_API_CHAT, 0,
                 "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
                 "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}],"
                 "\"tool_choice\":\"none\"}");
    gw_engine_call call = {0};
    int status = 0;
    const char *err = NULL;
    assert_int_equal(gw_engine_tgi.prepare(&f.r, &f.t, &call, &status, &err), 0);
    free(call.owned_body);
    fixture_free(&f);
}

/* --- whole answers --- */

static const char chat_body[] =
    "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}";

static void generate_answer_with_details(void **state) {
    (void)state;
    fixture f;
    fixture_init(&f, &gw_engine_tgi, NULL, GW_API_CHAT, 0, chat_body);
    static const char answer[] =
        "{\"generated_text\":\"Hello there<|im_end|>\",\"details\":{\"finish_reason\":"
        "\"stop_sequence\",\"generated_tokens\":4,\"seed\":null,\"prefill\":[{\"id\":1,\"text\":"
        "\"<s>\",\"logprob\":null},{\"id\":2,\"text\":\"Hi\",\"logprob\":-1.5},{\"id\":3,"
        "\"text\":\"!\",\"logprob\":-0.1}],\"tokens\":[]}}";
    assert_int_equal(gw_engine_tgi.response(&f.io, answer, sizeof answer - 1), 0);
    json_object *o = whole_answer(&f);
    assert_string_equal(str_at(o, "object"), "chat.completion");
    assert_string_equal(str_at(o, "id"), "chatcmpl-req1");
    assert_string_equal(str_at(o, "model"), "my-model");
    assert_true(int_at(o, "created") > 1700000000);
    assert_string_equal(str_at(o, "choices.0.message.role"), "assistant");
    assert_string_equal(str_at(o, "choices.0.message.content"), "Hello there");
    assert_string_equal(str_at(o, "choices.0.finish_reason"), "stop");
    assert_int_equal(int_at(o, "usage.prompt_tokens"), 3);
    assert_int_equal(int_at(o, "usage.completion_tokens"), 4);
    assert_int_equal(int_at(o, "usage.total_tokens"), 7);
    assert_true(f.r.usage.known);
    assert_int_equal(f.r.usage.prompt_tokens, 3);
    json_object_put(o);
    fixture_free(&f);
}

static void mindie_array_answer_of_compat_route(void **state) {
    (void)state;
    fixture f;
    fixture_init(&f, &gw_engine_tgi, NULL, GW_API_COMPLETIONS, 0,
                 "{\"model\":\"m\",\"prompt\":\"Count:\"}");
    static const char answer[] =
        "[{\"generated_text\":\" 1 2 3\",\"details\":{\"finish_reason\":\"length\","
        "\"generated_tokens\":6,\"prompt_tokens\":3,\"seed\":42}}]";
    assert_int_equal(gw_engine_tgi.response(&f.io, answer, sizeof answer - 1), 0);
    json_object *o = whole_answer(&f);
    assert_string_equal(str_at(o, "object"), "text_completion");
    assert_string_equal(str_at(o, "id"), "cmpl-req1");
    assert_string_equal(str_at(o, "choices.0.text"), " 1 2 3");
    assert_string_equal(str_at(o, "choices.0.finish_reason"), "length");
    assert_int_equal(int_at(o, "usage.prompt_tokens"), 3);
    assert_int_equal(int_at(o, "usage.completion_tokens"), 6);
    json_object_put(o);
    fixture_free(&f);
}

static void malformed_and_error_answers(void **state) {
    (void)state;
    fixture f;
    fixture_init(&f, &gw_engine_tgi, NULL, GW_API_CHAT, 0, chat_body);
    assert_int_equal(gw_engine_tgi.response(&f.io, "{\"generated", 11), -1);
    assert_non_null(f.io.err);
    f.io.err = NULL;
    assert_int_equal(gw_engine_tgi.response(&f.io, "[]", 2), -1);
    assert_int_equal(gw_engine_tgi.response(&f.io, "{\"details\":null}", 16), -1);
    static const char err[] = "{\"error\":\"Model is overloaded\",\"error_type\":\"overloaded\"}";
    assert_int_equal(gw_engine_tgi.response(&f.io, err, sizeof err - 1), GW_EVENT_ERROR);
    assert_int_equal(f.io.error.status, 429);
    assert_string_equal(f.io.error.type, "rate_limit_exceeded");
    assert_int_equal(evbuffer_get_length(f.io.out), 0);
    fixture_free(&f);
}

/* --- streams --- */

/* Recorded from TGI 2.x: no space after data:, a special EOS token, details on the last event,
 * and no [DONE]. */
static const char tgi_stream[] =
    "data:{\"index\":1,\"token\":{\"id\":9906,\"text\":\"Hello\",\"logprob\":-0.3,"
    "\"special\":false},\"generated_text\":null,\"details\":null}\n\n"
    "data:{\"index\":2,\"token\":{\"id\":1917,\"text\":\" world\",\"logprob\":-0.1,"
    "\"special\":false},\"generated_text\":null,\"details\":null}\n\n"
    "data:{\"index\":3,\"token\":{\"id\":128009,\"text\":\"<|eot_id|>\",\"logprob\":-0.01,"
    "\"special\":true},\"generated_text\":\"Hello world\",\"details\":{\"finish_reason\":"
    "\"eos_token\",\"generated_tokens\":3,\"seed\":null,\"input_length\":12}}\n\n";

static void tgi_stream_to_chunks(void **state) {
    (void)state;
    fixture f;
    fixture_init(&f, &gw_engine_tgi, NULL, GW_API_CHAT, 1, chat_body);
    f.r.include_usage = 1;
    assert_int_equal(feed(&f, tgi_stream), GW_EVENT_END);
    read_frames(&f);
    assert_true(f.done);
    assert_int_equal(f.frame_count, 5); /* role, Hello, world, finish, usage */
    json_object *role = f.frames[0];
    assert_string_equal(str_at(role, "object"), "chat.completion.chunk");
    assert_string_equal(str_at(role, "id"), "chatcmpl-req1");
    assert_string_equal(str_at(role, "model"), "my-model");
    assert_string_equal(str_at(role, "choices.0.delta.role"), "assistant");
    assert_string_equal(str_at(role, "choices.0.delta.content"), "");
    char text[256];
    joined_content(&f, text, sizeof text);
    assert_string_equal(text, "Hello world"); /* the special token is not text */
    assert_string_equal(str_at(finish_frame(&f), "choices.0.finish_reason"), "stop");
    json_object *usage = f.frames[4];
    assert_int_equal(json_object_array_length(at_path(usage, "choices")), 0);
    assert_int_equal(int_at(usage, "usage.prompt_tokens"), 12);
    assert_int_equal(int_at(usage, "usage.completion_tokens"), 3);
    assert_int_equal(int_at(usage, "created"), int_at(role, "created"));
    assert_true(f.r.usage.known);
    assert_int_equal(f.r.usage.prompt_tokens, 12);
    assert_int_equal(gw_engine_tgi.stream_end(&f.io), 0); /* already complete */
    fixture_free(&f);
}

static void stream_without_usage_request(void **state) {
    (void)state;
    fixture f;
    fixture_init(&f, &gw_engine_tgi, NULL, GW_API_CHAT, 1, chat_body);
    assert_int_equal(feed(&f, tgi_stream), GW_EVENT_END);
    read_frames(&f);
    assert_int_equal(f.frame_count, 4); /* no usage chunk */
    assert_null(at_path(f.frames[3], "usage"));
    assert_int_equal(f.r.usage.completion_tokens, 3); /* metering knows it all the same */
    fixture_free(&f);
}

/* A token event of TGI's stream. */
static void token_event(char *out, size_t cap, const char *text, const char *tail) {
    snprintf(out, cap,
             "data:{\"token\":{\"id\":1,\"text\":\"%s\",\"logprob\":-1,\"special\":false},%s}\n\n",
             text, tail);
}

static void stream_with_tokens(fixture *f, const char *const *tokens, size_t n,
                               const char *finish) {
    char raw[4096] = "", ev[512], tail[256];
    for (size_t i = 0; i < n; i++) {
        if (i + 1 < n)
            snprintf(tail, sizeof tail, "\"generated_text\":null,\"details\":null");
        else
            snprintf(tail, sizeof tail,
                     "\"generated_text\":\"x\",\"details\":{\"finish_reason\":\"%s\","
                     "\"generated_tokens\":%zu,\"input_length\":5}",
                     finish, n);
        token_event(ev, sizeof ev, tokens[i], tail);
        strncat(raw, ev, sizeof raw - strlen(raw) - 1);
    }
    assert_int_equal(feed(f, raw), GW_EVENT_END);
    read_frames(f);
}

static void stop_string_split_across_tokens(void **state) {
    (void)state;
    fixture f;
    fixture_init(&f, &gw_engine_tgi, NULL, GW_API_CHAT, 1,
                 "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],"
                 "\"stop\":\"###\"}");
    /* "<" and "#" could begin a stop string: held, then let go when they do not */
    static const char *const tokens[] = {"Hi", " a<", "b #", "#x", " end", "<|im", "_end", "|>"};
    stream_with_tokens(&f, tokens, 8, "stop_sequence");
    char text[256];
    joined_content(&f, text, sizeof text);
    assert_string_equal(text, "Hi a<b ##x end");
    for (size_t i = 0; i < f.frame_count; i++) { /* no frame ever showed a piece of the stop */
        const char *c = str_at(f.frames[i], "choices.0.delta.content");
        assert_true(!c || !strstr(c, "<|"));
    }
    assert_string_equal(str_at(finish_frame(&f), "choices.0.finish_reason"), "stop");
    fixture_free(&f);
}

static void caller_stop_inside_one_token(void **state) {
    (void)state;
    fixture f;
    fixture_init(&f, &gw_engine_tgi, NULL, GW_API_CHAT, 1,
                 "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],"
                 "\"stop\":[\"STOP\"]}");
    static const char *const tokens[] = {"one ", "two STOP three", " four"};
    stream_with_tokens(&f, tokens, 3, "stop_sequence");
    char text[256];
    joined_content(&f, text, sizeof text);
    assert_string_equal(text, "one two "); /* nothing after the stop, even in the same token */
    fixture_free(&f);
}

static void held_tail_flushed_at_length(void **state) {
    (void)state;
    fixture f;
    fixture_init(&f, &gw_engine_tgi, NULL, GW_API_CHAT, 1, chat_body);
    static const char *const tokens[] = {"The tag <|im"};
    stream_with_tokens(&f, tokens, 1, "length");
    char text[256];
    joined_content(&f, text, sizeof text);
    assert_string_equal(text, "The tag <|im"); /* it never became a stop string */
    assert_string_equal(str_at(finish_frame(&f), "choices.0.finish_reason"), "length");
    fixture_free(&f);
}

static void completions_stream_chunks(void **state) {
    (void)state;
    fixture f;
    fixture_init(&f, &gw_engine_tgi, NULL, GW_API_COMPLETIONS, 1,
                 "{\"model\":\"m\",\"prompt\":\"Count:\"}");
    static const char *const tokens[] = {" 1", " 2"};
    stream_with_tokens(&f, tokens, 2, "length");
    assert_int_equal(f.frame_count, 3); /* no role chunk on completions */
    for (size_t i = 0; i < f.frame_count; i++) {
        assert_string_equal(str_at(f.frames[i], "object"), "text_completion");
        assert_string_equal(str_at(f.frames[i], "id"), "cmpl-req1");
        json_object *logprobs = (json_object *)1;
        assert_true(
            json_object_object_get_ex(at_path(f.frames[i], "choices.0"), "logprobs", &logprobs));
        assert_null(logprobs);
    }
    char text[64];
    joined_content(&f, text, sizeof text);
    assert_string_equal(text, " 1 2");
    assert_string_equal(str_at(f.frames[2], "choices.0.finish_reason"), "length");
    fixture_free(&f);
}

static void cut_stream(void **state) {
    (void)state;
    fixture f;
    fixture_init(&f, &gw_engine_tgi, NULL, GW_API_CHAT, 1, chat_body);
    static const char partial[] =
        "data:{\"token\":{\"id\":1,\"text\":\"Hel\",\"logprob\":-1,\"special\":false},"
        "\"generated_text\":null,\"details\":null}\n\n";
    assert_int_equal(feed(&f, partial), GW_EVENT_CONTINUE);
    assert_int_equal(gw_engine_tgi.stream_end(&f.io), -1);
    read_frames(&f);
    assert_false(f.done); /* a cut stream is never closed as if complete */
    fixture_free(&f);
}

static void error_event_mid_stream(void **state) {
    (void)state;
    static const struct {
        const char *event;
        int status;
        const char *type;
    } cases[] = {
        {"data:{\"error\":\"Request failed during generation: Server error: CUDA OOM\","
         "\"error_type\":\"generation\"}\n\n",
         500, "server_error"},
        {"data:{\"error\":\"Model is overloaded\",\"error_type\":\"overloaded\"}\n\n", 429,
         "rate_limit_exceeded"},
    };
    for (size_t i = 0; i < 2; i++) {
        fixture f;
        fixture_init(&f, &gw_engine_tgi, NULL, GW_API_CHAT, 1, chat_body);
        char raw[1024];
        snprintf(raw, sizeof raw,
                 "data:{\"token\":{\"id\":1,\"text\":\"Hi\",\"logprob\":-1,\"special\":false},"
                 "\"generated_text\":null,\"details\":null}\n\n%s",
                 cases[i].event);
        assert_int_equal(feed(&f, raw), GW_EVENT_ERROR);
        assert_int_equal(f.io.error.status, cases[i].status);
        assert_string_equal(f.io.error.type, cases[i].type);
        assert_true(f.io.error.message_len > 0);
        fixture_free(&f);
    }
}

static void error_bodies_in_openai_vocabulary(void **state) {
    (void)state;
    static const struct {
        int status;
        const char *body;
        int want_status;
        const char *want_type, *want_message;
    } cases[] = {
        {422,
         "{\"error\":\"Input validation error: `inputs` tokens + `max_new_tokens` must be <= "
         "4096\",\"error_type\":\"validation\"}",
         400, "invalid_request_error", "Input validation error"},
        {424, "{\"error\":\"Request failed during generation\",\"error_type\":\"generation\"}", 500,
         "server_error", "Request failed"},
        {429, "{\"error\":\"Model is overloaded\",\"error_type\":\"overloaded\"}", 429,
         "rate_limit_exceeded", "overloaded"},
        {500, "{\"error\":\"Incomplete generation\",\"error_type\":\"incomplete_generation\"}", 500,
         "server_error", "Incomplete"},
        /* MindIE */
        {422, "{\"error\":\"Parameters are invalid\",\"error_type\":\"Input Validation Error\"}",
         400, "invalid_request_error", "Parameters are invalid"},
        {503, "", 503, "overloaded_error", "the engine is unavailable"},
        {503, "{\"error\":\"unhealthy\",\"error_type\":\"healthcheck\"}", 503, "overloaded_error",
         "unhealthy"},
        /* SGLang's flat shape */
        {400,
         "{\"object\":\"error\",\"message\":\"max_new_tokens too large\",\"type\":"
         "\"BadRequestError\",\"param\":null,\"code\":400}",
         400, "invalid_request_error", "max_new_tokens"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        gw_error_info e;
        char msg[512];
        gw_engine_tgi.error(cases[i].status, cases[i].body, strlen(cases[i].body), &e, msg,
                            sizeof msg);
        assert_int_equal(e.status, cases[i].want_status);
        assert_string_equal(e.type, cases[i].want_type);
        if (!strstr(e.message, cases[i].want_message))
            fail_msg("case %zu: '%s' lacks '%s'", i, e.message, cases[i].want_message);
    }
}

/* --- channel configuration --- */

static int has_header(const struct curl_slist *h, const char *line) {
    for (; h; h = h->next)
        if (!strcmp(h->data, line)) return 1;
    return 0;
}

static void tgi_configure(void **state) {
    (void)state;
    gw_arena arena = {0};
    gw_channel ch = {.name = "c", .type = "tgi", .api_key = "hf_secret"};
    gw_engine_config_error err = {.option = -1};
    gw_engine_option opts[] = {{.key = "chat_template", .value = "llama-3"}};
    assert_int_equal(gw_engine_tgi.configure(&ch, &arena, opts, 1, &err), 0);
    assert_true(has_header(ch.headers, "Authorization: Bearer hf_secret"));
    assert_true(has_header(ch.headers, "Content-Type: application/json"));
    const gw_textgen_conf *c = ch.engine_conf;
    assert_ptr_equal(c->tmpl, gw_chat_template_builtin("llama-3"));
    assert_string_equal(ch.health.probe_path, "/health");
    assert_null(ch.health.path); /* active checks stay as the user set them */
    curl_slist_free_all(ch.headers);

    gw_channel bad = {.name = "c", .type = "tgi"};
    gw_engine_option unknown[] = {{.key = "chat_template", .value = "vicuna"}};
    assert_int_equal(gw_engine_tgi.configure(&bad, &arena, unknown, 1, &err), -1);
    assert_non_null(strstr(err.message, "chatml, llama-3, qwen"));
    assert_int_equal(err.option, 0);
    gw_engine_option typo[] = {{.key = "template", .value = "chatml"}};
    assert_int_equal(gw_engine_tgi.configure(&bad, &arena, typo, 1, &err), -1);
    assert_non_null(strstr(err.message, "unknown key 'template'"));
    const char *v1[] = {"http://tgi:8080/v1"};
    gw_channel with_v1 = {.name = "c", .type = "tgi", .endpoint_urls = v1, .endpoint_url_count = 1};
    assert_int_equal(gw_engine_tgi.configure(&with_v1, &arena, NULL, 0, &err), -1);
    assert_non_null(strstr(err.message, "root URL"));
    gw_arena_free(&arena);
}

static void mindie_configure(void **state) {
    (void)state;
    gw_arena arena = {0};
    gw_engine_config_error err = {.option = -1};
    gw_channel ch = {.name = "m", .type = "mindie"};
    gw_engine_option opts[] = {{.key = "api", .value = "native"},
                               {.key = "chat_template", .value = "qwen"},
                               {.key = "management_url", .value = "https://10.0.0.5:1026/"}};
    assert_int_equal(gw_engine_mindie.configure(&ch, &arena, opts, 3, &err), 0);
    assert_string_equal(ch.health.base_url, "https://10.0.0.5:1026");
    assert_string_equal(ch.health.path, "/health");
    assert_true(ch.health.active);
    assert_false(has_header(ch.headers, "Authorization: Bearer "));
    curl_slist_free_all(ch.headers);

    gw_channel user_path = {.name = "m", .type = "mindie", .health = {.path = "/v2/health/ready"}};
    assert_int_equal(gw_engine_mindie.configure(&user_path, &arena, opts + 2, 1, &err), 0);
    assert_string_equal(user_path.health.path, "/v2/health/ready");
    curl_slist_free_all(user_path.headers);

    gw_channel plain = {.name = "m", .type = "mindie"};
    assert_int_equal(gw_engine_mindie.configure(&plain, &arena, NULL, 0, &err), 0);
    assert_null(plain.health.path); /* /health is not on the inference port */
    assert_null(plain.health.base_url);
    curl_slist_free_all(plain.headers);

    static const struct {
        gw_engine_option opt[2];
        size_t n;
        const char *expected;
        int option;
    } bad[] = {
        {{{.key = "management_url", .value = "10.0.0.5:1026"}}, 1, "management_url", 0},
        {{{.key = "management_url", .value = "http://h:1026/health"}}, 1, "no path", 0},
        {{{.key = "api", .value = "tgi"}}, 1, "api must be openai", 0},
        {{{.key = "chat_template", .value = "chatml"}}, 1, "api: native only", 0},
        {{{.key = "api", .value = "native"}, {.key = "chat_template", .value = "./nope.tmpl"}},
         2,
         "'./nope.tmpl' cannot be opened: No such file",
         1},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        gw_channel b = {.name = "m", .type = "mindie"};
        err = (gw_engine_config_error){.option = -1};
        assert_int_equal(gw_engine_mindie.configure(&b, &arena, bad[i].opt, bad[i].n, &err), -1);
        if (!strstr(err.message, bad[i].expected))
            fail_msg("case %zu: '%s' lacks '%s'", i, err.message, bad[i].expected);
        assert_int_equal(err.option, bad[i].option);
        assert_null(b.headers);
    }
    gw_arena_free(&arena);
}

/* MindIE's native route: TGI-style with `data: ` (a space), special null and prompt_tokens. */
static void mindie_native_stream(void **state) {
    (void)state;
    gw_arena arena = {0};
    gw_engine_config_error err = {.option = -1};
    gw_channel ch = {.name = "m", .type = "mindie"};
    gw_engine_option opts[] = {{.key = "api", .value = "native"}};
    assert_int_equal(gw_engine_mindie.configure(&ch, &arena, opts, 1, &err), 0);
    fixture f;
    fixture_init(&f, &gw_engine_mindie, ch.engine_conf, GW_API_CHAT, 1, chat_body);
    f.r.include_usage = 1;
    gw_engine_call call = {0};
    json_object *b = prepared_body(&f, &call);
    assert_string_equal(call.path, "/generate_stream");
    assert_non_null(str_at(b, "inputs"));
    assert_null(at_path(b, "parameters.decoder_input_details"));
    json_object_put(b);
    free(call.owned_body);
    static const char stream[] =
        "data: {\"token\":{\"id\":13,\"text\":\"你好\",\"logprob\":null,\"special\":null},"
        "\"generated_text\":null,\"details\":null}\n\n"
        "data: {\"token\":{\"id\":14,\"text\":\"!\",\"logprob\":null,\"special\":null},"
        "\"generated_text\":\"你好!\",\"details\":{\"prompt_tokens\":9,\"finish_reason\":"
        "\"eos_token\",\"generated_tokens\":2,\"seed\":1}}\n\n";
    assert_int_equal(feed(&f, stream), GW_EVENT_END);
    read_frames(&f);
    assert_true(f.done);
    char text[64];
    joined_content(&f, text, sizeof text);
    assert_string_equal(text, "你好!");
    assert_int_equal(int_at(f.frames[f.frame_count - 1], "usage.prompt_tokens"), 9);
    assert_int_equal(f.r.usage.completion_tokens, 2);
    fixture_free(&f);

    /* the embeddings API: refused before any route */
    fixture e;
    fixture_init(&e, &gw_engine_mindie, ch.engine_conf, GW_API_EMBEDDINGS, 0,
                 "{\"model\":\"m\",\"input\":\"x\"}");
    int status = 0;
    const char *msg = NULL;
    assert_int_equal(gw_engine_mindie.prepare(&e.r, &e.t, &call, &status, &msg), -1);
    assert_int_equal(status, 400);
    assert_non_null(strstr(msg, "channel type mindie"));
    fixture_free(&e);
    curl_slist_free_all(ch.headers);
    gw_arena_free(&arena);
}

/* MindIE's OpenAI route: the wire with its quirks (max_completion_tokens renamed). */
static void mindie_openai_route(void **state) {
    (void)state;
    gw_arena arena = {0};
    gw_engine_config_error err = {.option = -1};
    gw_channel ch = {.name = "m", .type = "mindie"};
    assert_int_equal(gw_engine_mindie.configure(&ch, &arena, NULL, 0, &err), 0);
    fixture f;
    fixture_init(&f, &gw_engine_mindie, ch.engine_conf, GW_API_CHAT, 0,
                 "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],"
                 "\"max_completion_tokens\":5}");
    gw_engine_call call = {0};
    int status = 0;
    const char *msg = NULL;
    assert_int_equal(gw_engine_mindie.prepare(&f.r, &f.t, &call, &status, &msg), 0);
    assert_string_equal(call.path, "/v1/chat/completions");
    assert_non_null(call.body);
    assert_non_null(memmem(call.body, call.body_len, "\"max_tokens\"", 12));
    free(call.owned_body);
    fixture_free(&f);
    curl_slist_free_all(ch.headers);
    gw_arena_free(&arena);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(chat_request_greedy),
        cmocka_unit_test(chat_request_sampling_stream),
        cmocka_unit_test(completions_prompt_forms),
        cmocka_unit_test(requests_tgi_cannot_serve),
        cmocka_unit_test(generate_answer_with_details),
        cmocka_unit_test(mindie_array_answer_of_compat_route),
        cmocka_unit_test(malformed_and_error_answers),
        cmocka_unit_test(tgi_stream_to_chunks),
        cmocka_unit_test(stream_without_usage_request),
        cmocka_unit_test(stop_string_split_across_tokens),
        cmocka_unit_test(caller_stop_inside_one_token),
        cmocka_unit_test(held_tail_flushed_at_length),
        cmocka_unit_test(completions_stream_chunks),
        cmocka_unit_test(cut_stream),
        cmocka_unit_test(error_event_mid_stream),
        cmocka_unit_test(error_bodies_in_openai_vocabulary),
        cmocka_unit_test(tgi_configure),
        cmocka_unit_test(mindie_configure),
        cmocka_unit_test(mindie_native_stream),
        cmocka_unit_test(mindie_openai_route),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
