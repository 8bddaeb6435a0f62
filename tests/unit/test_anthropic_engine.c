/* The anthropic engine adapter on Anthropic's own wire samples (a message with text, a tool
 * call and cache usage; streams with pings, text, tool input in fragments, thinking, an error
 * event, a cut; error bodies) and on requests converted from OpenAI's shape. Output goes
 * through the OpenAI protocol, so what is checked is what a caller would read. */
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
#include <strings.h>

#include "core/json_parse.h"
#include "core/sse.h"
#include "engines/anthropic_wire.h"
#include "engines/engine.h"
#include "inbound/protocol.h"

static const gw_engine_ops *const ops = &gw_engine_anthropic;

/* A request to the virtual model "my-claude", served by a channel's "claude-sonnet-4-5". */
typedef struct harness {
    gw_model model;
    gw_channel channel;
    gw_anthropic_conf conf;
    gw_target target;
    gw_req r;
    gw_engine_io io;
    gw_engine_call call;
    int last_rc;
} harness;

static harness *harness_new(void) {
    harness *h = calloc(1, sizeof *h);
    assert_non_null(h);
    h->model.name = "my-claude";
    h->model.name_len = 9;
    h->model.name_json = "\"my-claude\"";
    h->model.name_json_len = 11;
    h->conf = gw_anthropic_conf_default;
    h->channel.name = "anthropic";
    h->channel.type = "anthropic";
    h->channel.engine = ops;
    h->channel.engine_conf = &h->conf;
    h->target.channel = &h->channel;
    h->target.upstream_model = "claude-sonnet-4-5";
    h->target.upstream_model_len = strlen(h->target.upstream_model);
    h->target.rewrite = 1;
    h->r.protocol = &gw_protocol_openai;
    h->r.model = &h->model;
    h->r.target = &h->target;
    h->r.api = GW_API_CHAT;
    h->io.r = &h->r;
    h->io.target = &h->target;
    h->io.out = evbuffer_new();
    assert_non_null(h->io.out);
    h->io.state = calloc(1, ops->stream_state_size);
    assert_non_null(h->io.state);
    return h;
}

static void harness_free(harness *h) {
    ops->stream_free(h->io.state);
    free(h->io.state);
    evbuffer_free(h->io.out);
    gw_strbuf_free(&h->io.frames);
    free(h->call.owned_body);
    if (h->r.json) json_object_put(h->r.json);
    free(h);
}

/* The value at a dotted path ("messages.0.content.1.type"); numbers index arrays. */
static json_object *at(json_object *v, const char *path) {
    char key[64];
    while (v && *path) {
        size_t n = strcspn(path, ".");
        assert_true(n < sizeof key);
        memcpy(key, path, n);
        key[n] = '\0';
        path += n + (path[n] == '.');
        if (json_object_is_type(v, json_type_array)) {
            char *end;
            long i = strtol(key, &end, 10);
            v = *end ? NULL : json_object_array_get_idx(v, (size_t)i);
        } else if (!json_object_object_get_ex(v, key, &v)) {
            v = NULL;
        }
    }
    return v;
}

static const char *str_at(json_object *v, const char *path) {
    json_object *s = at(v, path);
    return s && json_object_is_type(s, json_type_string) ? json_object_get_string(s) : NULL;
}

static int64_t int_at(json_object *v, const char *path) {
    json_object *n = at(v, path);
    assert_non_null(n);
    return json_object_get_int64(n);
}

static size_t len_at(json_object *v, const char *path) {
    json_object *a = at(v, path);
    assert_true(a && json_object_is_type(a, json_type_array));
    return json_object_array_length(a);
}

/* ---- configure ---- */

static const char *header(const struct curl_slist *h, const char *prefix) {
    for (; h; h = h->next)
        if (!strncasecmp(h->data, prefix, strlen(prefix))) return h->data;
    return NULL;
}

static void configure_defaults_and_headers(void **state) {
    (void)state;
    gw_arena arena = {0};
    gw_channel ch = {.name = "claude", .api_key = "sk-ant-test"};
    gw_engine_config_error err = {0};
    assert_int_equal(ops->configure(&ch, &arena, NULL, 0, &err), 0);
    const gw_anthropic_conf *conf = ch.engine_conf;
    assert_non_null(conf);
    assert_string_equal(conf->version, "2023-06-01");
    assert_null(conf->beta);
    assert_int_equal(conf->default_max_tokens, 4096);
    assert_string_equal(header(ch.headers, "x-api-key:"), "x-api-key: sk-ant-test");
    assert_string_equal(header(ch.headers, "anthropic-version:"), "anthropic-version: 2023-06-01");
    assert_non_null(header(ch.headers, "Content-Type: application/json"));
    assert_null(header(ch.headers, "Authorization:"));
    assert_null(header(ch.headers, "anthropic-beta:"));
    curl_slist_free_all(ch.headers);
    gw_arena_free(&arena);
}

static void configure_options(void **state) {
    (void)state;
    gw_arena arena = {0};
    gw_channel ch = {.name = "claude"}; /* no key: a gateway in front of a keyless proxy */
    gw_engine_option options[] = {
        {"anthropic_version", "2024-10-22", 3, 5},
        {"anthropic_beta", "prompt-caching-2024-07-31,token-efficient-tools-2025-02-19", 4, 5},
        {"default_max_tokens", "8192", 5, 5},
    };
    gw_engine_config_error err = {0};
    assert_int_equal(ops->configure(&ch, &arena, options, 3, &err), 0);
    const gw_anthropic_conf *conf = ch.engine_conf;
    assert_int_equal(conf->default_max_tokens, 8192);
    assert_string_equal(header(ch.headers, "anthropic-version:"), "anthropic-version: 2024-10-22");
    assert_string_equal(
        header(ch.headers, "anthropic-beta:"),
        "anthropic-beta: prompt-caching-2024-07-31,token-efficient-tools-2025-02-19");
    assert_null(header(ch.headers, "x-api-key:"));
    curl_slist_free_all(ch.headers);
    gw_arena_free(&arena);
}

static void configure_rejects_bad_options(void **state) {
    (void)state;
    static const char *const bad_max[] = {"0", "1000001", "12x", "", "-5", "4096.5"};
    for (size_t i = 0; i < sizeof bad_max / sizeof bad_max[0]; i++) {
        gw_arena arena = {0};
        gw_channel ch = {.name = "claude"};
        gw_engine_option options[] = {{"anthropic_beta", "x", 1, 1},
                                      {"default_max_tokens", bad_max[i], 2, 1}};
        gw_engine_config_error err = {0};
        assert_int_equal(ops->configure(&ch, &arena, options, 2, &err), -1);
        assert_int_equal(err.option, 1);
        assert_non_null(strstr(err.message, "default_max_tokens"));
        assert_null(ch.headers);
        gw_arena_free(&arena);
    }
    gw_arena arena = {0};
    gw_channel ch = {.name = "claude"};
    gw_engine_option unknown[] = {{"anthropic_verison", "2023-06-01", 1, 1}};
    gw_engine_config_error err = {0};
    assert_int_equal(ops->configure(&ch, &arena, unknown, 1, &err), -1);
    assert_int_equal(err.option, 0);
    assert_non_null(strstr(err.message, "anthropic_verison"));
    gw_engine_option split[] = {{"anthropic_version", "2023-06-01\r\nx-evil: 1", 1, 1}};
    assert_int_equal(ops->configure(&ch, &arena, split, 1, &err), -1);
    assert_non_null(strstr(err.message, "anthropic_version"));
    gw_arena_free(&arena);
}

/* ---- requests ---- */

/* Converts an OpenAI request; 0 with the Anthropic body in *body, else -1 with status/err. */
static int convert(harness *h, const char *openai, json_object **body, int *status,
                   const char **err) {
    h->r.json = json_tokener_parse(openai);
    assert_non_null(h->r.json);
    json_object *stream;
    h->r.stream =
        json_object_object_get_ex(h->r.json, "stream", &stream) && json_object_get_boolean(stream);
    *status = 0;
    *err = NULL;
    if (ops->prepare(&h->r, &h->target, &h->call, status, err) < 0) return -1;
    assert_string_equal(h->call.path, "/v1/messages");
    assert_ptr_equal(h->call.body, h->call.owned_body);
    assert_int_equal(strlen(h->call.body), h->call.body_len);
    /* deeper than json-c's 32 */
    *body = gw_json_object_only(
        gw_json_parse(h->call.body, h->call.body_len, GW_ANTHROPIC_JSON_DEPTH, 0));
    assert_non_null(*body);
    return 0;
}

static json_object *convert_ok(harness *h, const char *openai) {
    json_object *body;
    int status;
    const char *err;
    if (convert(h, openai, &body, &status, &err) < 0) fail_msg("conversion failed: %s", err);
    return body;
}

static void convert_fails(const char *openai, int want_status, const char *want_in_message) {
    harness *h = harness_new();
    json_object *body;
    int status;
    const char *err;
    assert_int_equal(convert(h, openai, &body, &status, &err), -1);
    assert_int_equal(status, want_status);
    assert_non_null(err);
    if (!strstr(err, want_in_message)) fail_msg("'%s' does not say '%s'", err, want_in_message);
    harness_free(h);
}

static void request_system_and_developer(void **state) {
    (void)state;
    harness *h = harness_new();
    json_object *b = convert_ok(h, "{\"model\":\"my-claude\",\"messages\":["
                                   "{\"role\":\"system\",\"content\":\"You are terse.\"},"
                                   "{\"role\":\"user\",\"content\":\"Hi\"},"
                                   "{\"role\":\"assistant\",\"content\":\"Hello.\"},"
                                   "{\"role\":\"developer\",\"content\":[{\"type\":\"text\","
                                   "\"text\":\"Answer in French.\"}]},"
                                   "{\"role\":\"user\",\"content\":\"How are you?\"}]}");
    assert_string_equal(str_at(b, "model"), "claude-sonnet-4-5");
    assert_string_equal(str_at(b, "system"), "You are terse.\n\nAnswer in French.");
    /* Anthropic requires max_tokens; the request had none */
    assert_int_equal(int_at(b, "max_tokens"), 4096);
    assert_int_equal(len_at(b, "messages"), 3);
    assert_string_equal(str_at(b, "messages.0.role"), "user");
    assert_string_equal(str_at(b, "messages.0.content.0.type"), "text");
    assert_string_equal(str_at(b, "messages.0.content.0.text"), "Hi");
    assert_string_equal(str_at(b, "messages.1.role"), "assistant");
    assert_string_equal(str_at(b, "messages.1.content.0.text"), "Hello.");
    assert_string_equal(str_at(b, "messages.2.content.0.text"), "How are you?");
    assert_null(at(b, "stream"));
    assert_null(at(b, "tools"));
    json_object_put(b);
    harness_free(h);

    /* the channel's default_max_tokens */
    h = harness_new();
    h->conf.default_max_tokens = 1000;
    b = convert_ok(h, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}");
    assert_int_equal(int_at(b, "max_tokens"), 1000);
    assert_null(at(b, "system"));
    json_object_put(b);
    harness_free(h);
}

static void request_images(void **state) {
    (void)state;
    harness *h = harness_new();
    json_object *b = convert_ok(
        h, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":["
           "{\"type\":\"text\",\"text\":\"Compare these.\"},"
           "{\"type\":\"image_url\",\"image_url\":{\"url\":\"data:image/png;base64,iVBORw0KGgo=\","
           "\"detail\":\"high\"}},"
           "{\"type\":\"image_url\",\"image_url\":{\"url\":\"https://example.com/cat.jpg\"}}]}]}");
    assert_int_equal(len_at(b, "messages"), 1);
    assert_int_equal(len_at(b, "messages.0.content"), 3);
    assert_string_equal(str_at(b, "messages.0.content.0.text"), "Compare these.");
    assert_string_equal(str_at(b, "messages.0.content.1.type"), "image");
    assert_string_equal(str_at(b, "messages.0.content.1.source.type"), "base64");
    assert_string_equal(str_at(b, "messages.0.content.1.source.media_type"), "image/png");
    assert_string_equal(str_at(b, "messages.0.content.1.source.data"), "iVBORw0KGgo=");
    assert_string_equal(str_at(b, "messages.0.content.2.type"), "image");
    assert_string_equal(str_at(b, "messages.0.content.2.source.type"), "url");
    assert_string_equal(str_at(b, "messages.0.content.2.source.url"),
                        "https://example.com/cat.jpg");
    /* slashes are not escaped: the URL goes up as written */
    assert_non_null(strstr(h->call.body, "https://example.com/cat.jpg"));
    json_object_put(b);
    harness_free(h);

    convert_fails("{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":"
                  "\"image_url\",\"image_url\":{\"url\":\"data:image/png,rawbytes\"}}]}]}",
                  400, "base64");
    convert_fails("{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":"
                  "\"image_url\",\"image_url\":{\"url\":\"ftp://example.com/a.png\"}}]}]}",
                  400, "http(s)");
    convert_fails("{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":"
                  "\"input_audio\",\"input_audio\":{\"data\":\"AAA\",\"format\":\"wav\"}}]}]}",
                  400, "input_audio");
}

static void request_tool_calls_and_results(void **state) {
    (void)state;
    harness *h = harness_new();
    json_object *b = convert_ok(
        h, "{\"model\":\"m\",\"messages\":["
           "{\"role\":\"user\",\"content\":\"Weather in Paris and Rome?\"},"
           "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":["
           "{\"id\":\"toolu_01\",\"type\":\"function\",\"function\":{\"name\":\"get_weather\","
           "\"arguments\":\"{\\\"city\\\":\\\"Paris\\\",\\\"days\\\":2}\"}},"
           "{\"id\":\"toolu_02\",\"type\":\"function\",\"function\":{\"name\":\"get_time\","
           "\"arguments\":\"\"}}]},"
           "{\"role\":\"tool\",\"tool_call_id\":\"toolu_01\",\"content\":\"18C, sunny\"},"
           "{\"role\":\"tool\",\"tool_call_id\":\"toolu_02\",\"content\":[{\"type\":\"text\","
           "\"text\":\"14:05\"}]},"
           "{\"role\":\"user\",\"content\":\"Thanks. And tomorrow?\"},"
           "{\"role\":\"user\",\"content\":\"In Celsius.\"}]}");
    /* user / assistant / user: the tool results and the user's words share one turn */
    assert_int_equal(len_at(b, "messages"), 3);
    assert_string_equal(str_at(b, "messages.1.role"), "assistant");
    assert_int_equal(len_at(b, "messages.1.content"), 2); /* content null: no text block */
    assert_string_equal(str_at(b, "messages.1.content.0.type"), "tool_use");
    assert_string_equal(str_at(b, "messages.1.content.0.id"), "toolu_01");
    assert_string_equal(str_at(b, "messages.1.content.0.name"), "get_weather");
    assert_string_equal(str_at(b, "messages.1.content.0.input.city"), "Paris");
    assert_int_equal(int_at(b, "messages.1.content.0.input.days"), 2);
    /* "" is what models write for a call without arguments */
    json_object *input = at(b, "messages.1.content.1.input");
    assert_true(input && json_object_is_type(input, json_type_object));
    assert_int_equal(json_object_object_length(input), 0);
    assert_string_equal(str_at(b, "messages.2.role"), "user");
    assert_int_equal(len_at(b, "messages.2.content"), 4);
    assert_string_equal(str_at(b, "messages.2.content.0.type"), "tool_result");
    assert_string_equal(str_at(b, "messages.2.content.0.tool_use_id"), "toolu_01");
    assert_string_equal(str_at(b, "messages.2.content.0.content"), "18C, sunny");
    assert_string_equal(str_at(b, "messages.2.content.1.tool_use_id"), "toolu_02");
    assert_string_equal(str_at(b, "messages.2.content.1.content.0.type"), "text");
    assert_string_equal(str_at(b, "messages.2.content.1.content.0.text"), "14:05");
    assert_string_equal(str_at(b, "messages.2.content.2.text"), "Thanks. And tomorrow?");
    assert_string_equal(str_at(b, "messages.2.content.3.text"), "In Celsius.");
    json_object_put(b);
    harness_free(h);

    /* assistant text before its tool call stays in the same turn, text first */
    h = harness_new();
    b = convert_ok(h, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"q\"},"
                      "{\"role\":\"assistant\",\"content\":\"Let me look.\",\"tool_calls\":[{"
                      "\"id\":\"t1\",\"type\":\"function\",\"function\":{\"name\":\"f\","
                      "\"arguments\":\"{}\"}}]}]}");
    assert_string_equal(str_at(b, "messages.1.content.0.text"), "Let me look.");
    assert_string_equal(str_at(b, "messages.1.content.1.type"), "tool_use");
    json_object_put(b);
    harness_free(h);

    /* arguments nested as deep as a request may be still parse */
    char deep[1024];
    int used = snprintf(deep, sizeof deep,
                        "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"q\"},"
                        "{\"role\":\"assistant\",\"tool_calls\":[{\"id\":\"t1\",\"type\":"
                        "\"function\",\"function\":{\"name\":\"f\",\"arguments\":\"");
    for (int i = 0; i < 60; i++)
        used += snprintf(deep + used, sizeof deep - (size_t)used, "{\\\"a\\\":");
    used += snprintf(deep + used, sizeof deep - (size_t)used, "1");
    for (int i = 0; i < 60; i++)
        used += snprintf(deep + used, sizeof deep - (size_t)used, "}");
    snprintf(deep + used, sizeof deep - (size_t)used, "\"}}]}]}");
    h = harness_new();
    b = convert_ok(h, deep);
    assert_non_null(at(b, "messages.1.content.0.input.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a"));
    json_object_put(b);
    harness_free(h);

    convert_fails("{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"q\"},"
                  "{\"role\":\"assistant\",\"tool_calls\":[{\"id\":\"t1\",\"type\":\"function\","
                  "\"function\":{\"name\":\"f\",\"arguments\":\"{\\\"city\\\": \"}}]}]}",
                  400, "arguments is not a JSON object");
    convert_fails("{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"q\"},"
                  "{\"role\":\"assistant\",\"tool_calls\":[{\"id\":\"t1\",\"type\":\"function\","
                  "\"function\":{\"name\":\"f\",\"arguments\":\"[1,2]\"}}]}]}",
                  400, "arguments is not a JSON object");
    convert_fails("{\"model\":\"m\",\"messages\":[{\"role\":\"tool\",\"content\":\"x\"}]}", 400,
                  "tool_call_id");
    convert_fails("{\"model\":\"m\",\"messages\":[{\"role\":\"function\",\"name\":\"f\","
                  "\"content\":\"x\"}]}",
                  400, "function role");
    convert_fails("{\"model\":\"m\",\"messages\":[{\"role\":\"system\",\"content\":\"x\"}]}", 400,
                  "no user or assistant message");
}

static void request_sampling_and_dropped_fields(void **state) {
    (void)state;
    harness *h = harness_new();
    json_object *b =
        convert_ok(h, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
                      "\"max_tokens\":50,\"max_completion_tokens\":300,\"stop\":\"END\","
                      "\"temperature\":1.7,\"top_p\":0.9,\"top_k\":40,\"user\":\"user-42\","
                      "\"stream\":true,\"stream_options\":{\"include_usage\":true},\"seed\":7,"
                      "\"presence_penalty\":0.5,\"frequency_penalty\":0.1,\"logprobs\":true,"
                      "\"top_logprobs\":2,\"n\":1,\"response_format\":{\"type\":\"json_schema\","
                      "\"json_schema\":{\"name\":\"x\",\"schema\":{}}}}");
    assert_int_equal(int_at(b, "max_tokens"), 300); /* the current name wins */
    assert_int_equal(len_at(b, "stop_sequences"), 1);
    assert_string_equal(str_at(b, "stop_sequences.0"), "END");
    assert_true(json_object_get_double(at(b, "temperature")) == 1.0); /* clamped to 0..1 */
    assert_true(json_object_get_double(at(b, "top_p")) == 0.9);
    assert_int_equal(int_at(b, "top_k"), 40);
    assert_string_equal(str_at(b, "metadata.user_id"), "user-42");
    assert_true(json_object_get_boolean(at(b, "stream")));
    static const char *const dropped[] = {"stream_options",
                                          "seed",
                                          "presence_penalty",
                                          "frequency_penalty",
                                          "logprobs",
                                          "top_logprobs",
                                          "n",
                                          "response_format",
                                          "user",
                                          "max_completion_tokens",
                                          "stop",
                                          NULL};
    for (size_t i = 0; dropped[i]; i++)
        if (at(b, dropped[i])) fail_msg("%s reached Anthropic", dropped[i]);
    json_object_put(b);
    harness_free(h);

    h = harness_new();
    b = convert_ok(h,
                   "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
                   "\"max_tokens\":64,\"stop\":[\"\\n\\nHuman:\",\"###\"],\"temperature\":0.25}");
    assert_int_equal(int_at(b, "max_tokens"), 64);
    assert_int_equal(len_at(b, "stop_sequences"), 2);
    assert_string_equal(str_at(b, "stop_sequences.0"), "\n\nHuman:");
    assert_string_equal(str_at(b, "stop_sequences.1"), "###");
    /* the number goes up as the caller wrote it */
    assert_non_null(strstr(h->call.body, "\"temperature\":0.25"));
    json_object_put(b);
    harness_free(h);

    convert_fails("{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"n\":3}",
                  400, "n > 1 is not supported by this model's engine");
    convert_fails("{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
                  "\"max_tokens\":0}",
                  400, "max_tokens");
    convert_fails("{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
                  "\"stop\":[1]}",
                  400, "stop");
}

static void request_tools_and_tool_choice(void **state) {
    (void)state;
    static const char tools[] =
        "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\","
        "\"description\":\"Current weather\",\"parameters\":{\"type\":\"object\",\"properties\":"
        "{\"city\":{\"type\":\"string\"}},\"required\":[\"city\"]}}},"
        "{\"type\":\"function\",\"function\":{\"name\":\"now\"}}]";
    static const struct {
        const char *choice; /* the OpenAI members after tools */
        const char *type, *name;
        int no_parallel; /* disable_parallel_tool_use expected */
        int absent;      /* no tool_choice at all */
    } cases[] = {
        {"", NULL, NULL, 0, 1},
        {",\"tool_choice\":\"auto\"", "auto", NULL, 0, 0},
        {",\"tool_choice\":\"required\"", "any", NULL, 0, 0},
        {",\"tool_choice\":\"none\"", "none", NULL, 0, 0},
        {",\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":\"now\"}}", "tool", "now",
         0, 0},
        {",\"parallel_tool_calls\":false", "auto", NULL, 1, 0},
        {",\"tool_choice\":\"required\",\"parallel_tool_calls\":false", "any", NULL, 1, 0},
        {",\"tool_choice\":\"none\",\"parallel_tool_calls\":false", "none", NULL, 0, 0},
        {",\"parallel_tool_calls\":true", NULL, NULL, 0, 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char req[1024];
        snprintf(req, sizeof req,
                 "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],%s%s}",
                 tools, cases[i].choice);
        harness *h = harness_new();
        json_object *b = convert_ok(h, req);
        assert_int_equal(len_at(b, "tools"), 2);
        assert_string_equal(str_at(b, "tools.0.name"), "get_weather");
        assert_string_equal(str_at(b, "tools.0.description"), "Current weather");
        assert_string_equal(str_at(b, "tools.0.input_schema.properties.city.type"), "string");
        assert_null(at(b, "tools.0.type"));
        assert_null(at(b, "tools.0.function"));
        assert_string_equal(str_at(b, "tools.1.name"), "now");
        assert_null(at(b, "tools.1.description"));
        assert_string_equal(str_at(b, "tools.1.input_schema.type"), "object");
        if (cases[i].absent) {
            assert_null(at(b, "tool_choice"));
        } else {
            assert_string_equal(str_at(b, "tool_choice.type"), cases[i].type);
            if (cases[i].name)
                assert_string_equal(str_at(b, "tool_choice.name"), cases[i].name);
            else
                assert_null(at(b, "tool_choice.name"));
            json_object *dp = at(b, "tool_choice.disable_parallel_tool_use");
            if (cases[i].no_parallel)
                assert_true(dp && json_object_get_boolean(dp));
            else
                assert_null(dp);
        }
        assert_null(at(b, "parallel_tool_calls"));
        json_object_put(b);
        harness_free(h);
    }
    /* tool_choice with no tools is dropped: Anthropic would reject it */
    harness *h = harness_new();
    json_object *b = convert_ok(h, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\","
                                   "\"content\":\"x\"}],\"tool_choice\":\"required\"}");
    assert_null(at(b, "tool_choice"));
    json_object_put(b);
    harness_free(h);

    convert_fails("{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
                  "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}],"
                  "\"tool_choice\":\"sometimes\"}",
                  400, "tool_choice");
    convert_fails("{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
                  "\"tools\":[{\"type\":\"custom\",\"custom\":{\"name\":\"f\"}}]}",
                  400, "function tools");
}

static void prepare_rejects_other_apis(void **state) {
    (void)state;
    static const struct {
        gw_api_kind api;
        const char *names;
    } cases[] = {{GW_API_COMPLETIONS, "completions"}, {GW_API_EMBEDDINGS, "embeddings"}};
    for (size_t i = 0; i < 2; i++) {
        harness *h = harness_new();
        h->r.api = cases[i].api;
        h->r.json = json_tokener_parse("{\"model\":\"m\",\"input\":\"x\",\"prompt\":\"x\"}");
        int status = 0;
        const char *err = NULL;
        assert_int_equal(ops->prepare(&h->r, &h->target, &h->call, &status, &err), -1);
        assert_int_equal(status, 400);
        assert_non_null(strstr(err, cases[i].names));
        assert_null(h->call.owned_body);
        harness_free(h);
    }
}

/* ---- whole answers ---- */

/* Recorded from the Messages API: text, a tool call and a prompt cache hit. */
static const char message_with_tool[] =
    "{\"id\":\"msg_01Aq9w938a90dw8q\",\"type\":\"message\",\"role\":\"assistant\","
    "\"model\":\"claude-sonnet-4-5-20250929\",\"content\":[{\"type\":\"text\",\"text\":"
    "\"I'll check the current weather in San Francisco for you.\"},{\"type\":\"tool_use\","
    "\"id\":\"toolu_01A09q90qw90lq917835lq9\",\"name\":\"get_weather\",\"input\":{\"location\":"
    "\"San Francisco, CA\",\"unit\":\"celsius\"}}],\"stop_reason\":\"tool_use\","
    "\"stop_sequence\":null,\"usage\":{\"input_tokens\":472,\"cache_creation_input_tokens\":100,"
    "\"cache_read_input_tokens\":2048,\"cache_creation\":{\"ephemeral_5m_input_tokens\":100,"
    "\"ephemeral_1h_input_tokens\":0},\"output_tokens\":89,\"service_tier\":\"standard\"}}";

static json_object *output_json(harness *h) {
    size_t len = evbuffer_get_length(h->io.out);
    char *text = (char *)evbuffer_pullup(h->io.out, -1);
    json_object *v = gw_json_object_only(gw_json_parse(text, len, GW_ANTHROPIC_JSON_DEPTH, 0));
    if (!v) fail_msg("not one JSON object: %.*s", (int)len, text);
    return v;
}

static void response_text_tool_and_cache(void **state) {
    (void)state;
    harness *h = harness_new();
    assert_int_equal(ops->response(&h->io, message_with_tool, sizeof message_with_tool - 1), 0);
    json_object *v = output_json(h);
    assert_string_equal(str_at(v, "id"), "chatcmpl-msg_01Aq9w938a90dw8q");
    assert_string_equal(str_at(v, "object"), "chat.completion");
    assert_true(int_at(v, "created") > 1700000000);
    assert_string_equal(str_at(v, "model"), "my-claude"); /* the caller's name */
    assert_int_equal(len_at(v, "choices"), 1);
    assert_int_equal(int_at(v, "choices.0.index"), 0);
    assert_string_equal(str_at(v, "choices.0.message.role"), "assistant");
    assert_string_equal(str_at(v, "choices.0.message.content"),
                        "I'll check the current weather in San Francisco for you.");
    assert_int_equal(len_at(v, "choices.0.message.tool_calls"), 1);
    assert_string_equal(str_at(v, "choices.0.message.tool_calls.0.id"),
                        "toolu_01A09q90qw90lq917835lq9");
    assert_string_equal(str_at(v, "choices.0.message.tool_calls.0.type"), "function");
    assert_string_equal(str_at(v, "choices.0.message.tool_calls.0.function.name"), "get_weather");
    json_object *args =
        json_tokener_parse(str_at(v, "choices.0.message.tool_calls.0.function.arguments"));
    assert_string_equal(str_at(args, "location"), "San Francisco, CA");
    assert_string_equal(str_at(args, "unit"), "celsius");
    json_object_put(args);
    assert_null(at(v, "choices.0.message.reasoning_content"));
    assert_string_equal(str_at(v, "choices.0.finish_reason"), "tool_calls");
    assert_true(json_object_object_get_ex(at(v, "choices.0"), "logprobs", NULL));
    assert_null(at(v, "choices.0.logprobs"));
    assert_int_equal(int_at(v, "usage.prompt_tokens"), 472 + 2048 + 100);
    assert_int_equal(int_at(v, "usage.completion_tokens"), 89);
    assert_int_equal(int_at(v, "usage.total_tokens"), 472 + 2048 + 100 + 89);
    assert_int_equal(int_at(v, "usage.prompt_tokens_details.cached_tokens"), 2048);
    assert_true(h->r.usage.known);
    assert_int_equal(h->r.usage.prompt_tokens, 2620);
    assert_int_equal(h->r.usage.completion_tokens, 89);
    assert_int_equal(h->r.usage.cached_tokens, 2048);
    assert_int_equal(h->r.usage.cache_creation_tokens, 100);
    json_object_put(v);
    harness_free(h);
}

static void response_only_tools_and_thinking(void **state) {
    (void)state;
    static const char body[] =
        "{\"id\":\"msg_02\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude\","
        "\"content\":[{\"type\":\"thinking\",\"thinking\":\"The user wants \",\"signature\":"
        "\"EqQBCgIYAhIM\"},{\"type\":\"redacted_thinking\",\"data\":\"EmwKAhgBEgy\"},"
        "{\"type\":\"thinking\",\"thinking\":\"a lookup.\",\"signature\":\"x\"},"
        "{\"type\":\"tool_use\",\"id\":\"toolu_9\",\"name\":\"lookup\",\"input\":{}}],"
        "\"stop_reason\":\"tool_use\",\"stop_sequence\":null,\"usage\":{\"input_tokens\":10,"
        "\"cache_creation_input_tokens\":null,\"cache_read_input_tokens\":null,"
        "\"output_tokens\":5}}";
    harness *h = harness_new();
    assert_int_equal(ops->response(&h->io, body, sizeof body - 1), 0);
    json_object *v = output_json(h);
    json_object *content = at(v, "choices.0.message");
    assert_true(json_object_object_get_ex(content, "content", &content));
    assert_null(content); /* only tools: null, as OpenAI writes it */
    assert_string_equal(str_at(v, "choices.0.message.reasoning_content"),
                        "The user wants a lookup.");
    assert_string_equal(str_at(v, "choices.0.message.tool_calls.0.function.arguments"), "{}");
    assert_int_equal(int_at(v, "usage.prompt_tokens"), 10);
    assert_int_equal(int_at(v, "usage.prompt_tokens_details.cached_tokens"), 0);
    json_object_put(v);
    harness_free(h);

    static const struct {
        const char *stop, *finish;
    } reasons[] = {{"end_turn", "stop"},          {"stop_sequence", "stop"},
                   {"max_tokens", "length"},      {"tool_use", "tool_calls"},
                   {"refusal", "content_filter"}, {"pause_turn", "stop"}};
    for (size_t i = 0; i < sizeof reasons / sizeof reasons[0]; i++) {
        char msg[512];
        int n = snprintf(msg, sizeof msg,
                         "{\"id\":\"msg_3\",\"type\":\"message\",\"role\":\"assistant\","
                         "\"content\":[{\"type\":\"text\",\"text\":\"a\"},{\"type\":\"text\","
                         "\"text\":\"b\"}],\"stop_reason\":\"%s\",\"usage\":{\"input_tokens\":1,"
                         "\"output_tokens\":1}}",
                         reasons[i].stop);
        h = harness_new();
        assert_int_equal(ops->response(&h->io, msg, (size_t)n), 0);
        v = output_json(h);
        assert_string_equal(str_at(v, "choices.0.message.content"), "ab");
        assert_string_equal(str_at(v, "choices.0.finish_reason"), reasons[i].finish);
        json_object_put(v);
        harness_free(h);
    }
}

static void response_errors_and_malformed(void **state) {
    (void)state;
    static const char overloaded[] = "{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\","
                                     "\"message\":\"Overloaded\"},\"request_id\":\"req_011\"}";
    harness *h = harness_new();
    assert_int_equal(ops->response(&h->io, overloaded, sizeof overloaded - 1), GW_EVENT_ERROR);
    assert_int_equal(h->io.error.status, 503);
    assert_string_equal(h->io.error.type, "server_error");
    assert_string_equal(h->io.error.code, "overloaded");
    assert_memory_equal(h->io.error.message, "Overloaded", 10);
    assert_int_equal(evbuffer_get_length(h->io.out), 0);
    harness_free(h);

    static const char *const bad[] = {
        "",
        "{\"id\":\"msg\",\"type\":\"message\"",
        "[1]",
        "{\"id\":\"msg\",\"type\":\"message\",\"content\":\"text\"}",
        "{\"id\":\"m\",\"content\":[{\"type\":\"tool_use\",\"input\":{}}]}",
        "{\"id\":\"m\",\"content\":[]} {\"id\":\"again\"}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        h = harness_new();
        assert_int_equal(ops->response(&h->io, bad[i], strlen(bad[i])), -1);
        assert_non_null(h->io.err);
        assert_int_equal(evbuffer_get_length(h->io.out), 0);
        harness_free(h);
    }
}

/* ---- streams ---- */

static int on_event(void *ud, const char *event, size_t event_len, const char *data, size_t len) {
    harness *h = ud;
    h->last_rc = ops->stream_event(&h->io, event, event_len, data, len);
    return h->last_rc != GW_EVENT_CONTINUE; /* stop at the end or a failure */
}

/* Feeds raw wire text through the gateway's SSE parser; the last adapter result. */
static int feed(harness *h, const char *wire) {
    gw_sse_parser p;
    gw_sse_init(&p, 1 << 16, on_event, h);
    h->last_rc = GW_EVENT_CONTINUE;
    gw_sse_feed(&p, wire, strlen(wire));
    gw_sse_free(&p);
    return h->last_rc;
}

typedef struct frames {
    json_object *chunk[64];
    int count;
    int done; /* data: [DONE] last */
} frames;

/* The caller's bytes as OpenAI's framing: `data: {...}\n\n` each, [DONE] last. */
static void read_frames(harness *h, frames *f) {
    memset(f, 0, sizeof *f);
    size_t len = h->io.frames.len;
    const char *text = h->io.frames.data, *end = text + len;
    while (text < end) {
        assert_true(end - text > 8 && !memcmp(text, "data: ", 6));
        text += 6;
        const char *stop = strstr(text, "\n\n");
        assert_non_null(stop);
        assert_false(f->done); /* nothing after [DONE] */
        if (stop - text == 6 && !memcmp(text, "[DONE]", 6)) {
            f->done = 1;
        } else {
            assert_true(f->count < 64);
            json_object *c = gw_json_object_only(
                gw_json_parse(text, (size_t)(stop - text), GW_ANTHROPIC_JSON_DEPTH, 0));
            if (!c) fail_msg("chunk is not JSON: %.*s", (int)(stop - text), text);
            f->chunk[f->count++] = c;
        }
        text = stop + 2;
    }
}

static void frames_free(frames *f) {
    for (int i = 0; i < f->count; i++)
        json_object_put(f->chunk[i]);
}

/* Every chunk has the canonical envelope of one message. */
static void check_envelopes(const frames *f, const char *id) {
    for (int i = 0; i < f->count; i++) {
        json_object *c = f->chunk[i];
        assert_string_equal(str_at(c, "id"), id);
        assert_string_equal(str_at(c, "object"), "chat.completion.chunk");
        assert_string_equal(str_at(c, "model"), "my-claude");
        assert_true(int_at(c, "created") > 1700000000);
        if (!len_at(c, "choices")) continue; /* the usage chunk */
        assert_int_equal(int_at(c, "choices.0.index"), 0);
        assert_true(json_object_object_get_ex(at(c, "choices.0"), "logprobs", NULL));
        assert_true(json_object_object_get_ex(at(c, "choices.0"), "finish_reason", NULL));
    }
}

/* Joins a string member of every chunk that has it. */
static void join(const frames *f, const char *path, char *out, size_t cap) {
    size_t used = 0;
    out[0] = '\0';
    for (int i = 0; i < f->count; i++) {
        const char *s = str_at(f->chunk[i], path);
        if (s) used += (size_t)snprintf(out + used, cap - used, "%s", s);
        assert_true(used < cap);
    }
}

/* Recorded: text, then a tool call whose input arrives in fragments, with pings between. */
static const char tool_stream[] =
    "event: message_start\n"
    "data: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_014p7gG3wDgGV9EUtLvnow3U\","
    "\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-sonnet-4-5-20250929\","
    "\"stop_sequence\":null,\"usage\":{\"input_tokens\":472,\"cache_creation_input_tokens\":0,"
    "\"cache_read_input_tokens\":1024,\"output_tokens\":2},\"content\":[],"
    "\"stop_reason\":null}}\n\n"
    "event: content_block_start\n"
    "data: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\","
    "\"text\":\"\"}}\n\n"
    "event: ping\n"
    "data: {\"type\": \"ping\"}\n\n"
    "event: content_block_delta\n"
    "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\","
    "\"text\":\"Okay\"}}\n\n"
    "event: content_block_delta\n"
    "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\","
    "\"text\":\", let's check the weather for San Francisco, CA:\"}}\n\n"
    "event: content_block_stop\n"
    "data: {\"type\":\"content_block_stop\",\"index\":0}\n\n"
    "event: content_block_start\n"
    "data: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"tool_use\","
    "\"id\":\"toolu_01T1x1fJ34qAmk2tNTrN7Up6\",\"name\":\"get_weather\",\"input\":{}}}\n\n"
    "event: content_block_delta\n"
    "data: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\","
    "\"partial_json\":\"\"}}\n\n"
    "event: content_block_delta\n"
    "data: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\","
    "\"partial_json\":\"{\\\"location\\\":\"}}\n\n"
    "event: ping\n"
    "data: {\"type\": \"ping\"}\n\n"
    "event: content_block_delta\n"
    "data: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\","
    "\"partial_json\":\" \\\"San\"}}\n\n"
    "event: content_block_delta\n"
    "data: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\","
    "\"partial_json\":\" Francisc\"}}\n\n"
    "event: content_block_delta\n"
    "data: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\","
    "\"partial_json\":\"o,\"}}\n\n"
    "event: content_block_delta\n"
    "data: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\","
    "\"partial_json\":\" CA\\\"\"}}\n\n"
    "event: content_block_delta\n"
    "data: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\","
    "\"partial_json\":\", \\\"unit\\\": \\\"fah\"}}\n\n"
    "event: content_block_delta\n"
    "data: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\","
    "\"partial_json\":\"renheit\\\"}\"}}\n\n"
    "event: content_block_stop\n"
    "data: {\"type\":\"content_block_stop\",\"index\":1}\n\n"
    "event: message_delta\n"
    "data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\","
    "\"stop_sequence\":null},\"usage\":{\"output_tokens\":89}}\n\n"
    "event: message_stop\n"
    "data: {\"type\":\"message_stop\"}\n\n";

static void stream_text_and_tool_call(void **state) {
    (void)state;
    harness *h = harness_new();
    h->r.stream = 1;
    h->r.include_usage = 1;
    assert_int_equal(feed(h, tool_stream), GW_EVENT_END);
    frames f;
    read_frames(h, &f);
    assert_true(f.done);
    check_envelopes(&f, "chatcmpl-msg_014p7gG3wDgGV9EUtLvnow3U");
    /* role first; 2 texts; the call's start and its 7 non-empty fragments; finish; usage */
    assert_int_equal(f.count, 1 + 2 + 1 + 7 + 1 + 1);
    assert_string_equal(str_at(f.chunk[0], "choices.0.delta.role"), "assistant");
    assert_string_equal(str_at(f.chunk[0], "choices.0.delta.content"), "");
    char text[512];
    join(&f, "choices.0.delta.content", text, sizeof text);
    assert_string_equal(text, "Okay, let's check the weather for San Francisco, CA:");
    json_object *start = f.chunk[3];
    assert_int_equal(int_at(start, "choices.0.delta.tool_calls.0.index"), 0);
    assert_string_equal(str_at(start, "choices.0.delta.tool_calls.0.id"),
                        "toolu_01T1x1fJ34qAmk2tNTrN7Up6");
    assert_string_equal(str_at(start, "choices.0.delta.tool_calls.0.type"), "function");
    assert_string_equal(str_at(start, "choices.0.delta.tool_calls.0.function.name"), "get_weather");
    assert_string_equal(str_at(start, "choices.0.delta.tool_calls.0.function.arguments"), "");
    for (int i = 4; i < 11; i++) {
        assert_int_equal(int_at(f.chunk[i], "choices.0.delta.tool_calls.0.index"), 0);
        assert_null(at(f.chunk[i], "choices.0.delta.tool_calls.0.id"));
        assert_null(at(f.chunk[i], "choices.0.finish_reason"));
    }
    join(&f, "choices.0.delta.tool_calls.0.function.arguments", text, sizeof text);
    json_object *args = json_tokener_parse(text);
    assert_non_null(args);
    assert_string_equal(str_at(args, "location"), "San Francisco, CA");
    assert_string_equal(str_at(args, "unit"), "fahrenheit");
    json_object_put(args);
    json_object *finish = f.chunk[11];
    assert_string_equal(str_at(finish, "choices.0.finish_reason"), "tool_calls");
    assert_int_equal(json_object_object_length(at(finish, "choices.0.delta")), 0);
    assert_null(at(finish, "usage"));
    json_object *usage = f.chunk[12];
    assert_int_equal(len_at(usage, "choices"), 0);
    assert_int_equal(int_at(usage, "usage.prompt_tokens"), 472 + 1024);
    assert_int_equal(int_at(usage, "usage.completion_tokens"), 89); /* the last running total */
    assert_int_equal(int_at(usage, "usage.total_tokens"), 472 + 1024 + 89);
    assert_int_equal(int_at(usage, "usage.prompt_tokens_details.cached_tokens"), 1024);
    assert_true(h->r.usage.known);
    assert_int_equal(h->r.usage.prompt_tokens, 1496);
    assert_int_equal(h->r.usage.completion_tokens, 89);
    assert_int_equal(h->r.usage.cached_tokens, 1024);
    frames_free(&f);
    harness_free(h);

    /* without include_usage: no usage chunk, though metering still gets the counts */
    h = harness_new();
    h->r.stream = 1;
    assert_int_equal(feed(h, tool_stream), GW_EVENT_END);
    read_frames(h, &f);
    assert_int_equal(f.count, 12);
    for (int i = 0; i < f.count; i++)
        assert_null(at(f.chunk[i], "usage"));
    assert_int_equal(h->r.usage.completion_tokens, 89);
    frames_free(&f);
    harness_free(h);
}

/* Recorded with extended thinking on: thinking deltas, a signature, then the answer. */
static const char thinking_stream[] =
    "event: message_start\n"
    "data: {\"type\": \"message_start\", \"message\": {\"id\": \"msg_01Thk\", \"type\": "
    "\"message\", \"role\": \"assistant\", \"content\": [], \"model\": "
    "\"claude-3-7-sonnet-20250219\", \"stop_reason\": null, \"stop_sequence\": null}}\n\n"
    "event: content_block_start\n"
    "data: {\"type\": \"content_block_start\", \"index\": 0, \"content_block\": {\"type\": "
    "\"thinking\", \"thinking\": \"\"}}\n\n"
    "event: content_block_delta\n"
    "data: {\"type\": \"content_block_delta\", \"index\": 0, \"delta\": {\"type\": "
    "\"thinking_delta\", \"thinking\": \"Let me solve this step by step:\\n\\n1. First break "
    "down 27 * 453\"}}\n\n"
    "event: content_block_delta\n"
    "data: {\"type\": \"content_block_delta\", \"index\": 0, \"delta\": {\"type\": "
    "\"thinking_delta\", \"thinking\": \"\\n2. 453 = 400 + 50 + 3\"}}\n\n"
    "event: content_block_delta\n"
    "data: {\"type\": \"content_block_delta\", \"index\": 0, \"delta\": {\"type\": "
    "\"signature_delta\", \"signature\": \"EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds"
    "\"}}\n\n"
    "event: content_block_stop\n"
    "data: {\"type\": \"content_block_stop\", \"index\": 0}\n\n"
    "event: content_block_start\n"
    "data: {\"type\": \"content_block_start\", \"index\": 1, \"content_block\": {\"type\": "
    "\"text\", \"text\": \"\"}}\n\n"
    "event: content_block_delta\n"
    "data: {\"type\": \"content_block_delta\", \"index\": 1, \"delta\": {\"type\": "
    "\"text_delta\", \"text\": \"27 * 453 = 12,231\"}}\n\n"
    "event: content_block_stop\n"
    "data: {\"type\": \"content_block_stop\", \"index\": 1}\n\n"
    "event: message_delta\n"
    "data: {\"type\": \"message_delta\", \"delta\": {\"stop_reason\": \"end_turn\", "
    "\"stop_sequence\": null}}\n\n"
    "event: message_stop\n"
    "data: {\"type\": \"message_stop\"}\n\n";

static void stream_thinking(void **state) {
    (void)state;
    harness *h = harness_new();
    h->r.stream = 1;
    h->r.include_usage = 1;
    assert_int_equal(feed(h, thinking_stream), GW_EVENT_END);
    frames f;
    read_frames(h, &f);
    assert_true(f.done);
    check_envelopes(&f, "chatcmpl-msg_01Thk");
    assert_int_equal(f.count, 1 + 2 + 1 + 1); /* role, thinking x2, text, finish */
    char text[256];
    join(&f, "choices.0.delta.reasoning_content", text, sizeof text);
    assert_string_equal(text, "Let me solve this step by step:\n\n1. First break down 27 * 453"
                              "\n2. 453 = 400 + 50 + 3");
    join(&f, "choices.0.delta.content", text, sizeof text);
    assert_string_equal(text, "27 * 453 = 12,231");
    assert_string_equal(str_at(f.chunk[4], "choices.0.finish_reason"), "stop");
    /* this recording reports no usage at all: nothing is made up */
    assert_false(h->r.usage.known);
    frames_free(&f);
    harness_free(h);
}

/* Newer API versions repeat the input and cache counts in message_delta. */
static void stream_usage_in_message_delta(void **state) {
    (void)state;
    static const char wire[] =
        "event: message_start\n"
        "data: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_5\",\"type\":\"message\","
        "\"role\":\"assistant\",\"content\":[],\"usage\":{\"input_tokens\":3,"
        "\"output_tokens\":1}}}\n\n"
        "event: content_block_start\n"
        "data: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":"
        "\"text\",\"text\":\"\"}}\n\n"
        "event: content_block_delta\n"
        "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\","
        "\"text\":\"Hi \\\"there\\\" \\u00e9/\\n\"}}\n\n"
        "event: message_delta\n"
        "data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"max_tokens\","
        "\"stop_sequence\":null},\"usage\":{\"input_tokens\":10,\"cache_creation_input_tokens\":"
        "7,\"cache_read_input_tokens\":20,\"output_tokens\":15}}\n\n"
        "event: message_stop\n"
        "data: {\"type\":\"message_stop\"}\n\n";
    harness *h = harness_new();
    h->r.include_usage = 1;
    assert_int_equal(feed(h, wire), GW_EVENT_END);
    frames f;
    read_frames(h, &f);
    assert_int_equal(f.count, 4);
    assert_string_equal(str_at(f.chunk[1], "choices.0.delta.content"), "Hi \"there\" \xc3\xa9/\n");
    assert_string_equal(str_at(f.chunk[2], "choices.0.finish_reason"), "length");
    assert_int_equal(int_at(f.chunk[3], "usage.prompt_tokens"), 37);
    assert_int_equal(int_at(f.chunk[3], "usage.completion_tokens"), 15);
    assert_int_equal(int_at(f.chunk[3], "usage.prompt_tokens_details.cached_tokens"), 20);
    assert_int_equal(h->r.usage.cache_creation_tokens, 7);
    frames_free(&f);
    harness_free(h);
}

static void stream_error_event(void **state) {
    (void)state;
    static const char wire[] =
        "event: message_start\n"
        "data: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_6\",\"type\":\"message\","
        "\"role\":\"assistant\",\"content\":[],\"usage\":{\"input_tokens\":3,"
        "\"output_tokens\":1}}}\n\n"
        "event: content_block_start\n"
        "data: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":"
        "\"text\",\"text\":\"\"}}\n\n"
        "event: content_block_delta\n"
        "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\","
        "\"text\":\"Once\"}}\n\n"
        "event: error\n"
        "data: {\"type\": \"error\", \"error\": {\"type\": \"overloaded_error\", \"message\": "
        "\"Overloaded\"}}\n\n";
    harness *h = harness_new();
    assert_int_equal(feed(h, wire), GW_EVENT_ERROR);
    assert_int_equal(h->io.error.status, 503);
    assert_string_equal(h->io.error.type, "server_error");
    assert_string_equal(h->io.error.code, "overloaded");
    assert_int_equal(h->io.error.message_len, 10);
    assert_memory_equal(h->io.error.message, "Overloaded", 10);
    frames f;
    read_frames(h, &f);
    assert_int_equal(f.count, 2); /* what came before stays sent; no [DONE] from the adapter */
    assert_false(f.done);
    frames_free(&f);
    harness_free(h);

    static const struct {
        const char *type;
        int status;
        const char *openai_type;
    } types[] = {{"api_error", 500, "server_error"},
                 {"rate_limit_error", 429, "rate_limit_exceeded"},
                 {"invalid_request_error", 400, "invalid_request_error"}};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        char data[256];
        int n = snprintf(data, sizeof data,
                         "{\"type\":\"error\",\"error\":{\"type\":\"%s\",\"message\":\"m\"}}",
                         types[i].type);
        h = harness_new();
        /* an error may come before anything else */
        assert_int_equal(ops->stream_event(&h->io, "error", 5, data, (size_t)n), GW_EVENT_ERROR);
        assert_int_equal(h->io.error.status, types[i].status);
        assert_string_equal(h->io.error.type, types[i].openai_type);
        harness_free(h);
    }
}

static void stream_cut_and_malformed(void **state) {
    (void)state;
    /* the recording up to the tool's input, then the connection closed */
    const char *cut_at = strstr(tool_stream, "event: content_block_stop\ndata: "
                                             "{\"type\":\"content_block_stop\",\"index\":1}");
    assert_non_null(cut_at);
    char *cut = strndup(tool_stream, (size_t)(cut_at - tool_stream));
    harness *h = harness_new();
    assert_int_equal(feed(h, cut), GW_EVENT_CONTINUE);
    assert_int_equal(ops->stream_end(&h->io), -1);
    frames f;
    read_frames(h, &f);
    assert_false(f.done);
    for (int i = 0; i < f.count; i++)
        assert_null(at(f.chunk[i], "choices.0.finish_reason"));
    frames_free(&f);
    harness_free(h);
    free(cut);

    /* a complete stream needs no closing frames from stream_end */
    h = harness_new();
    assert_int_equal(feed(h, tool_stream), GW_EVENT_END);
    size_t before = h->io.frames.len;
    assert_int_equal(ops->stream_end(&h->io), 0);
    assert_int_equal(h->io.frames.len, before);
    harness_free(h);

    static const struct {
        const char *event, *data;
    } bad[] = {
        {"content_block_delta", "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{"
                                "\"type\":\"text_delta\",\"text\":\"early\"}}"},
        {"message_start", "{\"type\":\"message_start\",\"message\":"},
        {"message_stop", "not json"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        h = harness_new();
        assert_int_equal(ops->stream_event(&h->io, bad[i].event, strlen(bad[i].event), bad[i].data,
                                           strlen(bad[i].data)),
                         GW_EVENT_MALFORMED);
        assert_non_null(h->io.err);
        assert_int_equal(h->io.frames.len, 0);
        harness_free(h);
    }
}

/* Events Anthropic adds later are skipped; events whose name a proxy dropped go by their type. */
static void stream_unknown_and_unnamed_events(void **state) {
    (void)state;
    static const char wire[] =
        "event: message_start\n"
        "data: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_7\",\"type\":\"message\","
        "\"role\":\"assistant\",\"content\":[],\"usage\":{\"input_tokens\":1,"
        "\"output_tokens\":1}}}\n\n"
        "event: future_event\n"
        "data: {\"type\":\"future_event\",\"whatever\":[1,2]}\n\n"
        "event: content_block_start\n"
        "data: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":"
        "\"server_tool_use\",\"id\":\"srvtoolu_1\",\"name\":\"web_search\",\"input\":{}}}\n\n"
        "event: content_block_delta\n"
        "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":"
        "\"input_json_delta\",\"partial_json\":\"{\\\"query\\\": \\\"x\\\"}\"}}\n\n"
        "data: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":"
        "\"text\",\"text\":\"\"}}\n\n"
        "data: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"text_delta\","
        "\"text\":\"found\"}}\n\n"
        "data: {\"type\":\"ping\"}\n\n"
        "data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},"
        "\"usage\":{\"output_tokens\":4}}\n\n"
        "data: {\"type\":\"message_stop\"}\n\n";
    harness *h = harness_new();
    assert_int_equal(feed(h, wire), GW_EVENT_END);
    frames f;
    read_frames(h, &f);
    assert_int_equal(f.count, 3); /* role, "found", finish: the server tool is Anthropic's own */
    assert_string_equal(str_at(f.chunk[1], "choices.0.delta.content"), "found");
    assert_null(at(f.chunk[1], "choices.0.delta.tool_calls"));
    assert_string_equal(str_at(f.chunk[2], "choices.0.finish_reason"), "stop");
    frames_free(&f);
    harness_free(h);
}

/* ---- error answers ---- */

static void error_bodies(void **state) {
    (void)state;
    static const struct {
        int status;
        const char *body;
        int want_status;
        const char *type, *code, *message;
    } cases[] = {
        {529,
         "{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":"
         "\"Overloaded\"},\"request_id\":\"req_011CSHoEeqs5C35K2UUqR7Fy\"}",
         503, "server_error", "overloaded", "Overloaded"},
        {401,
         "{\"type\":\"error\",\"error\":{\"type\":\"authentication_error\",\"message\":"
         "\"invalid x-api-key\"}}",
         401, "authentication_error", NULL, "invalid x-api-key"},
        {404,
         "{\"type\":\"error\",\"error\":{\"type\":\"not_found_error\",\"message\":"
         "\"model: claude-3-5-sonnet-2024\"}}",
         404, "invalid_request_error", "model_not_found", "model: claude-3-5-sonnet-2024"},
        {404,
         "{\"type\":\"error\",\"error\":{\"type\":\"not_found_error\",\"message\":"
         "\"Not found\"}}",
         404, "invalid_request_error", NULL, "Not found"},
        {429,
         "{\"type\":\"error\",\"error\":{\"type\":\"rate_limit_error\",\"message\":\"This "
         "request would exceed the rate limit for your organization\"}}",
         429, "rate_limit_exceeded", NULL,
         "This request would exceed the rate limit for your organization"},
        {400,
         "{\"type\":\"error\",\"error\":{\"type\":\"invalid_request_error\",\"message\":"
         "\"messages: roles must alternate between \\\"user\\\" and \\\"assistant\\\"\"}}",
         400, "invalid_request_error", NULL,
         "messages: roles must alternate between \"user\" and \"assistant\""},
        {403, "{\"type\":\"error\",\"error\":{\"type\":\"permission_error\",\"message\":\"no\"}}",
         403, "permission_error", NULL, "no"},
        {413,
         "{\"type\":\"error\",\"error\":{\"type\":\"request_too_large\",\"message\":\"Request "
         "exceeds the maximum allowed number of bytes.\"}}",
         413, "invalid_request_error", NULL,
         "Request exceeds the maximum allowed number of bytes."},
        {500,
         "{\"type\":\"error\",\"error\":{\"type\":\"api_error\",\"message\":\"Internal "
         "server error\"}}",
         500, "server_error", NULL, "Internal server error"},
        {402,
         "{\"type\":\"error\",\"error\":{\"type\":\"billing_error\",\"message\":\"Your "
         "credit balance is too low\"}}",
         402, NULL, NULL, "Your credit balance is too low"},
        {529, "", 503, NULL, NULL, "upstream returned HTTP 529 with no error message"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        gw_error_info e;
        char msg[512];
        ops->error(cases[i].status, cases[i].body, strlen(cases[i].body), &e, msg, sizeof msg);
        assert_int_equal(e.status, cases[i].want_status);
        if (cases[i].type)
            assert_string_equal(e.type, cases[i].type);
        else
            assert_null(e.type);
        if (cases[i].code)
            assert_string_equal(e.code, cases[i].code);
        else
            assert_null(e.code);
        assert_int_equal(e.message_len, strlen(cases[i].message));
        assert_memory_equal(e.message, cases[i].message, e.message_len);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(configure_defaults_and_headers),
        cmocka_unit_test(configure_options),
        cmocka_unit_test(configure_rejects_bad_options),
        cmocka_unit_test(request_system_and_developer),
        cmocka_unit_test(request_images),
        cmocka_unit_test(request_tool_calls_and_results),
        cmocka_unit_test(request_sampling_and_dropped_fields),
        cmocka_unit_test(request_tools_and_tool_choice),
        cmocka_unit_test(prepare_rejects_other_apis),
        cmocka_unit_test(response_text_tool_and_cache),
        cmocka_unit_test(response_only_tools_and_thinking),
        cmocka_unit_test(response_errors_and_malformed),
        cmocka_unit_test(stream_text_and_tool_call),
        cmocka_unit_test(stream_thinking),
        cmocka_unit_test(stream_usage_in_message_delta),
        cmocka_unit_test(stream_error_event),
        cmocka_unit_test(stream_cut_and_malformed),
        cmocka_unit_test(stream_unknown_and_unnamed_events),
        cmocka_unit_test(error_bodies),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
