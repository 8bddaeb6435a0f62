/* SGLang's native /generate: the request (prompt from the template, sampling_params SGLang
 * knows), answers with meta_info usage and finish reasons, streams of CUMULATIVE text turned into
 * deltas, [DONE], aborts as explicit errors, and the adapter's choice of route. */
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
#include "engines/sglang_native.h"
#include "engines/textgen.h"
#include "inbound/protocol.h"

typedef struct fixture {
    gw_arena arena;
    gw_req r;
    gw_model model;
    gw_channel ch;
    gw_target t;
    gw_engine_io io;
    void *state;
    json_object *frames[64];
    size_t frame_count;
    int done;
} fixture;

/* A channel of type sglang configured with `api` (NULL: the default). */
static void fixture_init(fixture *f, const char *api, gw_api_kind kind, int stream,
                         const char *body) {
    memset(f, 0, sizeof *f);
    f->model = (gw_model){
        .name = "my-model", .name_len = 8, .name_json = "\"my-model\"", .name_json_len = 10};
    f->ch = (gw_channel){.name = "s", .type = "sglang", .engine = &gw_engine_sglang};
    gw_engine_option opt = {.key = "api", .value = api};
    gw_engine_config_error err = {.option = -1};
    if (gw_engine_sglang.configure(&f->ch, &f->arena, &opt, api ? 1 : 0, &err) < 0)
        fail_msg("configure: %s", err.message);
    f->t.channel = &f->ch;
    f->r.protocol = &gw_protocol_openai;
    f->r.model = &f->model;
    f->r.target = &f->t;
    memcpy(f->r.id, "r9", 3);
    f->r.id_len = 2;
    f->r.api = kind;
    f->r.stream = stream;
    f->r.body = body;
    f->r.body_len = strlen(body);
    f->r.json = json_tokener_parse(body);
    assert_non_null(f->r.json);
    f->state = calloc(1, gw_engine_sglang.stream_state_size);
    f->io = (gw_engine_io){.r = &f->r, .target = &f->t, .state = f->state, .out = evbuffer_new()};
}

static void fixture_free(fixture *f) {
    gw_engine_sglang.stream_free(f->state);
    free(f->state);
    for (size_t i = 0; i < f->frame_count; i++)
        json_object_put(f->frames[i]);
    evbuffer_free(f->io.out);
    gw_strbuf_free(&f->io.frames);
    json_object_put(f->r.json);
    curl_slist_free_all(f->ch.headers);
    gw_arena_free(&f->arena);
}

static char *take_output(fixture *f) {
    size_t len = evbuffer_get_length(f->io.out), framed = f->io.frames.len; /* answer, stream */
    char *text = malloc(len + framed + 1);
    evbuffer_remove(f->io.out, text, len);
    if (framed) memcpy(text + len, f->io.frames.data, framed);
    gw_strbuf_reset(&f->io.frames);
    text[len + framed] = '\0';
    return text;
}

static void read_frames(fixture *f) {
    char *text = take_output(f);
    for (char *at = text; *at;) {
        assert_true(!strncmp(at, "data: ", 6));
        char *end = strstr(at, "\n\n");
        assert_non_null(end);
        *end = '\0';
        if (!strcmp(at + 6, "[DONE]")) {
            f->done = 1;
        } else {
            json_object *o = json_tokener_parse(at + 6);
            if (!o) fail_msg("not JSON: %s", at + 6);
            assert_true(f->frame_count < 64);
            f->frames[f->frame_count++] = o;
        }
        at = end + 2;
    }
    free(text);
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

static int event(fixture *f, const char *data) {
    return gw_engine_sglang.stream_event(&f->io, "", 0, data, strlen(data));
}

static const char chat_body[] =
    "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}";

/* --- requests --- */

static void native_request(void **state) {
    (void)state;
    fixture f;
    fixture_init(&f, "native", GW_API_CHAT, 1,
                 "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],"
                 "\"max_tokens\":32,\"temperature\":0,\"top_p\":0.95,\"top_k\":0,\"min_p\":0.05,"
                 "\"stop\":[\"END\"],\"frequency_penalty\":0.5,\"seed\":3,\"logprobs\":true}");
    gw_engine_call call = {0};
    int status = 0;
    const char *err = NULL;
    assert_int_equal(gw_engine_sglang.prepare(&f.r, &f.t, &call, &status, &err), 0);
    assert_string_equal(call.path, "/generate");
    json_object *b = gw_json_parse(call.body, call.body_len, JSON_TOKENER_DEFAULT_DEPTH, 0);
    assert_non_null(b);
    assert_string_equal(str_at(b, "text"),
                        "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
    assert_true(json_object_get_boolean(at_path(b, "stream")));
    json_object *p = at_path(b, "sampling_params");
    assert_int_equal(int_at(p, "max_new_tokens"), 32);
    assert_int_equal(int_at(p, "temperature"), 0); /* SGLang takes 0 as greedy itself */
    assert_non_null(at_path(p, "top_p"));
    assert_non_null(at_path(p, "min_p"));
    assert_non_null(at_path(p, "frequency_penalty"));
    assert_null(at_path(p, "top_k")); /* 0: none, which SGLang spells -1 */
    assert_null(at_path(p, "seed"));  /* not a SamplingParams key: it would refuse the request */
    assert_null(at_path(p, "logprobs"));
    assert_string_equal(str_at(p, "stop.0"), "<|im_end|>");
    assert_string_equal(str_at(p, "stop.1"), "END");
    json_object_put(b);
    free(call.owned_body);
    fixture_free(&f);
}

static void native_completions_and_refusals(void **state) {
    (void)state;
    fixture f;
    fixture_init(&f, "native", GW_API_COMPLETIONS, 0,
                 "{\"model\":\"m\",\"prompt\":\"2+2=\",\"top_k\":-1}");
    gw_engine_call call = {0};
    int status = 0;
    const char *err = NULL;
    assert_int_equal(gw_engine_sglang.prepare(&f.r, &f.t, &call, &status, &err), 0);
    json_object *b = gw_json_parse(call.body, call.body_len, JSON_TOKENER_DEFAULT_DEPTH, 0);
    assert_string_equal(str_at(b, "text"), "2+2=");
    assert_int_equal(int_at(b, "sampling_params.top_k"), -1);
    assert_null(at_path(b, "sampling_params.stop")); /* no template on completions */
    assert_false(json_object_get_boolean(at_path(b, "stream")));
    json_object_put(b);
    free(call.owned_body);
    fixture_free(&f);

    fixture e;
    fixture_init(&e, "native", GW_API_EMBEDDINGS, 0, "{\"model\":\"m\",\"input\":\"x\"}");
    call = (gw_engine_call){0};
    assert_int_equal(gw_engine_sglang.prepare(&e.r, &e.t, &call, &status, &err), -1);
    assert_int_equal(status, 400);
    assert_non_null(strstr(err, "api: openai serves it"));
    fixture_free(&e);

    fixture i;
    fixture_init(&i, "native", GW_API_CHAT, 0,
                 "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":"
                 "\"image_url\",\"image_url\":{\"url\":\"http://x\"}}]}]}");
    assert_int_equal(gw_engine_sglang.prepare(&i.r, &i.t, &call, &status, &err), -1);
    assert_string_equal(err,
                        "image input is not supported by channel type sglang with a text template");
    fixture_free(&i);
}

static void openai_route_by_default(void **state) {
    (void)state;
    fixture f;
    fixture_init(&f, NULL, GW_API_CHAT, 0,
                 "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],"
                 "\"top_k\":5,\"chat_template_kwargs\":{\"enable_thinking\":false}}");
    gw_engine_call call = {0};
    int status = 0;
    const char *err = NULL;
    assert_int_equal(gw_engine_sglang.prepare(&f.r, &f.t, &call, &status, &err), 0);
    assert_string_equal(call.path, "/v1/chat/completions");
    /* extras pass untouched */
    assert_non_null(memmem(call.body, call.body_len, "\"chat_template_kwargs\"", 22));
    assert_non_null(memmem(call.body, call.body_len, "\"top_k\":5", 9));
    free(call.owned_body);
    fixture_free(&f);

    gw_channel ch = {.name = "s", .type = "sglang"};
    gw_arena arena = {0};
    gw_engine_config_error cerr = {.option = -1};
    gw_engine_option opt = {.key = "chat_template", .value = "qwen"};
    assert_int_equal(gw_engine_sglang.configure(&ch, &arena, &opt, 1, &cerr), -1);
    assert_non_null(strstr(cerr.message, "api: native only"));
    gw_engine_option api = {.key = "api", .value = "grpc"};
    assert_int_equal(gw_engine_sglang.configure(&ch, &arena, &api, 1, &cerr), -1);
    assert_non_null(strstr(cerr.message, "found 'grpc'"));
    gw_arena_free(&arena);
}

/* --- answers --- */

static void native_answer_with_usage(void **state) {
    (void)state;
    fixture f;
    fixture_init(&f, "native", GW_API_CHAT, 0, chat_body);
    static const char answer[] =
        "{\"text\":\"Hello!\",\"meta_info\":{\"id\":\"a1b2\",\"finish_reason\":{\"type\":\"stop\","
        "\"matched\":151645},\"prompt_tokens\":20,\"completion_tokens\":3,\"cached_tokens\":16,"
        "\"e2e_latency\":0.12}}";
    assert_int_equal(gw_engine_sglang.response(&f.io, answer, sizeof answer - 1), 0);
    char *text = take_output(&f);
    json_object *o = json_tokener_parse(text);
    free(text);
    assert_string_equal(str_at(o, "object"), "chat.completion");
    assert_string_equal(str_at(o, "id"), "chatcmpl-r9");
    assert_string_equal(str_at(o, "model"), "my-model");
    assert_string_equal(str_at(o, "choices.0.message.content"), "Hello!");
    assert_string_equal(str_at(o, "choices.0.finish_reason"), "stop");
    assert_int_equal(int_at(o, "usage.prompt_tokens"), 20);
    assert_int_equal(int_at(o, "usage.completion_tokens"), 3);
    assert_int_equal(int_at(o, "usage.prompt_tokens_details.cached_tokens"), 16);
    assert_int_equal(f.r.usage.cached_tokens, 16);
    json_object_put(o);

    static const char length[] =
        "{\"text\":\"abc\",\"meta_info\":{\"finish_reason\":{\"type\":\"length\",\"length\":3},"
        "\"prompt_tokens\":2,\"completion_tokens\":3}}";
    assert_int_equal(gw_engine_sglang.response(&f.io, length, sizeof length - 1), 0);
    text = take_output(&f);
    o = json_tokener_parse(text);
    free(text);
    assert_string_equal(str_at(o, "choices.0.finish_reason"), "length");
    json_object_put(o);
    fixture_free(&f);
}

static void native_abort_is_an_error(void **state) {
    (void)state;
    fixture f;
    fixture_init(&f, "native", GW_API_CHAT, 0, chat_body);
    static const char abort_500[] =
        "{\"text\":\"Hel\",\"meta_info\":{\"finish_reason\":{\"type\":\"abort\",\"message\":"
        "\"scheduler crashed\"},\"prompt_tokens\":5,\"completion_tokens\":1}}";
    assert_int_equal(gw_engine_sglang.response(&f.io, abort_500, sizeof abort_500 - 1),
                     GW_EVENT_ERROR);
    assert_int_equal(f.io.error.status, 500);
    assert_string_equal(f.io.error.type, "server_error");
    assert_non_null(strstr(f.io.error.message, "scheduler crashed"));
    assert_int_equal(evbuffer_get_length(f.io.out), 0);

    static const char abort_400[] =
        "{\"text\":\"\",\"meta_info\":{\"finish_reason\":{\"type\":\"abort\",\"message\":"
        "\"The input (9000 tokens) is longer than the model's context length (8192 tokens).\","
        "\"status_code\":400,\"err_type\":\"BadRequestError\"}}}";
    assert_int_equal(gw_engine_sglang.response(&f.io, abort_400, sizeof abort_400 - 1),
                     GW_EVENT_ERROR);
    assert_int_equal(f.io.error.status, 400);
    assert_string_equal(f.io.error.type, "invalid_request_error");
    fixture_free(&f);
}

/* --- streams --- */

static void cumulative_text_becomes_deltas(void **state) {
    (void)state;
    fixture f;
    fixture_init(&f, "native", GW_API_CHAT, 1, chat_body);
    f.r.include_usage = 1;
    assert_int_equal(event(&f, "{\"text\":\"Hel\",\"meta_info\":{\"finish_reason\":null,"
                               "\"prompt_tokens\":7,\"completion_tokens\":1}}"),
                     GW_EVENT_CONTINUE);
    assert_int_equal(event(&f, "{\"text\":\"Hello\",\"meta_info\":{\"finish_reason\":null}}"),
                     GW_EVENT_CONTINUE);
    assert_int_equal(event(&f, "{\"text\":\"Hello\",\"meta_info\":{\"finish_reason\":null}}"),
                     GW_EVENT_CONTINUE); /* nothing new: no chunk */
    assert_int_equal(event(&f, "{\"text\":\"Hello, 世界\",\"meta_info\":{\"finish_reason\":null}}"),
                     GW_EVENT_CONTINUE);
    assert_int_equal(event(&f, "{\"text\":\"Hello, 世界!\",\"meta_info\":{\"finish_reason\":"
                               "{\"type\":\"length\",\"length\":4},\"prompt_tokens\":7,"
                               "\"completion_tokens\":4,\"cached_tokens\":0}}"),
                     GW_EVENT_CONTINUE);
    assert_int_equal(event(&f, "[DONE]"), GW_EVENT_END);
    read_frames(&f);
    assert_true(f.done);
    /* role, "Hel", "lo", ", 世界", "!", finish, usage */
    assert_int_equal(f.frame_count, 7);
    assert_string_equal(str_at(f.frames[0], "choices.0.delta.role"), "assistant");
    static const char *const deltas[] = {"Hel", "lo", ", 世界", "!"};
    for (size_t i = 0; i < 4; i++)
        assert_string_equal(str_at(f.frames[i + 1], "choices.0.delta.content"), deltas[i]);
    assert_string_equal(str_at(f.frames[5], "choices.0.finish_reason"), "length");
    assert_int_equal(int_at(f.frames[6], "usage.completion_tokens"), 4);
    assert_int_equal(f.r.usage.prompt_tokens, 7);
    assert_int_equal(gw_engine_sglang.stream_end(&f.io), 0);
    fixture_free(&f);
}

static void trimmed_stop_is_never_shown(void **state) {
    (void)state;
    fixture f;
    fixture_init(&f, "native", GW_API_CHAT, 1, chat_body);
    /* a build that streams the start of the stop string, then trims it from the final text */
    assert_int_equal(event(&f, "{\"text\":\"Hi\",\"meta_info\":{\"finish_reason\":null}}"), 0);
    assert_int_equal(event(&f, "{\"text\":\"Hi <|im\",\"meta_info\":{\"finish_reason\":null}}"), 0);
    assert_int_equal(event(&f, "{\"text\":\"Hi \",\"meta_info\":{\"finish_reason\":{\"type\":"
                               "\"stop\",\"matched\":\"<|im_end|>\"}}}"),
                     0);
    assert_int_equal(event(&f, "[DONE]"), GW_EVENT_END);
    read_frames(&f);
    char text[64] = "";
    for (size_t i = 0; i < f.frame_count; i++) {
        const char *c = str_at(f.frames[i], "choices.0.delta.content");
        if (c) strncat(text, c, sizeof text - strlen(text) - 1);
    }
    assert_string_equal(text, "Hi ");
    fixture_free(&f);
}

static void completions_stream(void **state) {
    (void)state;
    fixture f;
    fixture_init(&f, "native", GW_API_COMPLETIONS, 1, "{\"model\":\"m\",\"prompt\":\"1,\"}");
    assert_int_equal(event(&f, "{\"text\":\" 2,\",\"meta_info\":{\"finish_reason\":null}}"), 0);
    assert_int_equal(event(&f, "{\"text\":\" 2, 3\",\"meta_info\":{\"finish_reason\":{\"type\":"
                               "\"stop\"}}}"),
                     0);
    assert_int_equal(event(&f, "[DONE]"), GW_EVENT_END);
    read_frames(&f);
    assert_int_equal(f.frame_count, 3);
    assert_string_equal(str_at(f.frames[0], "object"), "text_completion");
    assert_string_equal(str_at(f.frames[0], "choices.0.text"), " 2,");
    assert_string_equal(str_at(f.frames[1], "choices.0.text"), " 3");
    assert_string_equal(str_at(f.frames[2], "choices.0.finish_reason"), "stop");
    fixture_free(&f);
}

static void stream_abort_and_errors(void **state) {
    (void)state;
    fixture f;
    fixture_init(&f, "native", GW_API_CHAT, 1, chat_body);
    assert_int_equal(event(&f, "{\"text\":\"Hel\",\"meta_info\":{\"finish_reason\":null}}"), 0);
    assert_int_equal(event(&f, "{\"text\":\"Hel\",\"meta_info\":{\"finish_reason\":{\"type\":"
                               "\"abort\",\"message\":\"Abort by client\"}}}"),
                     GW_EVENT_ERROR);
    assert_int_equal(f.io.error.status, 500);
    assert_non_null(strstr(f.io.error.message, "Abort by client"));
    fixture_free(&f);

    fixture e;
    fixture_init(&e, "native", GW_API_CHAT, 1, chat_body);
    assert_int_equal(event(&e, "{\"error\":{\"message\":\"Input is too long\"}}"), GW_EVENT_ERROR);
    assert_int_equal(e.io.error.status, 500);
    assert_string_equal(e.io.error.type, "server_error");
    assert_non_null(strstr(e.io.error.message, "too long"));
    fixture_free(&e);

    fixture m;
    fixture_init(&m, "native", GW_API_CHAT, 1, chat_body);
    assert_int_equal(event(&m, "{\"text\":"), GW_EVENT_MALFORMED);
    assert_non_null(m.io.err);
    fixture_free(&m);
}

static void stream_endings(void **state) {
    (void)state;
    /* [DONE] before any finish reason: not a whole answer */
    fixture f;
    fixture_init(&f, "native", GW_API_CHAT, 1, chat_body);
    assert_int_equal(event(&f, "{\"text\":\"Hel\",\"meta_info\":{\"finish_reason\":null}}"), 0);
    assert_int_equal(event(&f, "[DONE]"), GW_EVENT_MALFORMED);
    fixture_free(&f);

    /* closed mid-generation: cut */
    fixture c;
    fixture_init(&c, "native", GW_API_CHAT, 1, chat_body);
    assert_int_equal(event(&c, "{\"text\":\"Hel\",\"meta_info\":{\"finish_reason\":null}}"), 0);
    assert_int_equal(gw_engine_sglang.stream_end(&c.io), -1);
    read_frames(&c);
    assert_false(c.done);
    fixture_free(&c);

    /* closed after the finish, without [DONE]: complete; the caller's stream is closed */
    fixture d;
    fixture_init(&d, "native", GW_API_CHAT, 1, chat_body);
    assert_int_equal(event(&d, "{\"text\":\"Hi\",\"meta_info\":{\"finish_reason\":{\"type\":"
                               "\"stop\"}}}"),
                     0);
    assert_int_equal(gw_engine_sglang.stream_end(&d.io), 0);
    read_frames(&d);
    assert_true(d.done);
    fixture_free(&d);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(native_request),
        cmocka_unit_test(native_completions_and_refusals),
        cmocka_unit_test(openai_route_by_default),
        cmocka_unit_test(native_answer_with_usage),
        cmocka_unit_test(native_abort_is_an_error),
        cmocka_unit_test(cumulative_text_becomes_deltas),
        cmocka_unit_test(trimmed_stop_is_never_shown),
        cmocka_unit_test(completions_stream),
        cmocka_unit_test(stream_abort_and_errors),
        cmocka_unit_test(stream_endings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
