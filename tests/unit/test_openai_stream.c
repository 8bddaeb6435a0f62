/* The OpenAI wire's stream events: each event goes out byte for byte but for the model name,
 * whether it was scanned whole, from the stream's prefix on, or read off the stream's shape (the
 * bytes around a token's delta repeated from the event before); a malformed event is caught on
 * every path; the generated texts are estimated, and the usage read, the same on every path. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <curl/curl.h>
#include <event2/buffer.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/token_estimate.h"
#include "engines/openai_wire.h"
#include "inbound/protocol.h"

typedef struct fixture {
    gw_arena arena;
    gw_req r;
    gw_model model;
    gw_channel ch;
    gw_target t;
    gw_engine_io io;
    gw_openai_stream *state;
} fixture;

static void fixture_init(fixture *f) {
    memset(f, 0, sizeof *f);
    f->model = (gw_model){
        .name = "my-model", .name_len = 8, .name_json = "\"my-model\"", .name_json_len = 10};
    f->ch = (gw_channel){.name = "o", .type = "openai", .engine = &gw_engine_openai};
    gw_engine_config_error err = {.option = -1};
    if (gw_engine_openai.configure(&f->ch, &f->arena, NULL, 0, &err) < 0)
        fail_msg("configure: %s", err.message);
    f->t = (gw_target){.channel = &f->ch, .rewrite = 1};
    f->r.protocol = &gw_protocol_openai;
    f->r.model = &f->model;
    f->r.target = &f->t;
    f->r.api = GW_API_CHAT;
    f->r.stream = 1;
    f->r.include_usage = 1;
    f->state = calloc(1, gw_engine_openai.stream_state_size);
    f->io = (gw_engine_io){.r = &f->r, .target = &f->t, .state = f->state, .out = evbuffer_new()};
}

static void fixture_free(fixture *f) {
    free(f->state);
    evbuffer_free(f->io.out);
    gw_strbuf_free(&f->io.frames);
    curl_slist_free_all(f->ch.headers);
    gw_arena_free(&f->arena);
}

static int event(fixture *f, const char *data) {
    return gw_engine_openai.stream_event(&f->io, "", 0, data, strlen(data));
}

/* What the caller got since the last call. */
static char *take_output(fixture *f) {
    size_t len = evbuffer_get_length(f->io.out), framed = f->io.frames.len; /* answer, stream */
    char *text = malloc(len + framed + 1);
    evbuffer_remove(f->io.out, text, len);
    if (framed) memcpy(text + len, f->io.frames.data, framed);
    gw_strbuf_reset(&f->io.frames);
    text[len + framed] = '\0';
    return text;
}

#define HEAD "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":7,"
#define CHUNK(model, delta, finish)                                                                \
    HEAD "\"model\":\"" model "\",\"choices\":[{\"index\":0,\"delta\":" delta                      \
         ",\"logprobs\":null,\"finish_reason\":" finish "}],\"usage\":null}"
#define TOKEN(text) CHUNK("up", "{\"content\":\"" text "\"}", "null")

/* The event as the caller must get it: the engine's bytes with the model renamed. */
static void expect_relayed(fixture *f, const char *event_text) {
    const char *model = strstr(event_text, "\"model\":\"up\"");
    assert_non_null(model);
    size_t at = (size_t)(model - event_text) + 8;
    char want[2048];
    snprintf(want, sizeof want, "data: %.*s\"my-model\"%s\n\n", (int)at, event_text, model + 12);
    char *got = take_output(f);
    assert_string_equal(got, want);
    free(got);
}

static void token_events_relayed_and_estimated(void **state) {
    (void)state;
    fixture f;
    fixture_init(&f);
    static const char *const texts[] = {"The",
                                        " quick",
                                        " brown",
                                        "",
                                        " f\\u00f6x \\\"q\\\"",
                                        " jumps over the lazy dog, again and again"};
    int64_t estimate = 0;
    const char *first = CHUNK("up", "{\"role\":\"assistant\",\"content\":\"\"}", "null");
    assert_int_equal(event(&f, first), GW_EVENT_CONTINUE);
    expect_relayed(&f, first);
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        char e[512];
        snprintf(e, sizeof e, TOKEN("%s"), texts[i]);
        assert_int_equal(event(&f, e), GW_EVENT_CONTINUE);
        expect_relayed(&f, e);
        estimate += (int64_t)gw_estimate_prompt_tokens(texts[i], strlen(texts[i]));
    }
    assert_true(f.state->tail_len > 0); /* the later tokens were read off the shape */
    assert_int_equal(f.r.completion_estimate, estimate);
    const char *finish = CHUNK("up", "{}", "\"stop\"");
    assert_int_equal(event(&f, finish), GW_EVENT_CONTINUE);
    expect_relayed(&f, finish);
    /* usage after the shape: read at its place in this event */
    const char *usage = HEAD "\"model\":\"up\",\"choices\":[],\"usage\":{\"prompt_tokens\":3,"
                             "\"completion_tokens\":9,\"total_tokens\":12}}";
    assert_int_equal(event(&f, usage), GW_EVENT_CONTINUE);
    expect_relayed(&f, usage);
    assert_true(f.r.usage.known);
    assert_int_equal(f.r.usage.prompt_tokens, 3);
    assert_int_equal(f.r.usage.completion_tokens, 9);
    assert_int_equal(event(&f, "[DONE]"), GW_EVENT_END);
    fixture_free(&f);
}

/* An event shaped as the one before but for a broken string, or with bytes after the string
 * that differ, is scanned whole: malformed input never passes on the shape. */
static void malformed_after_shape(void **state) {
    (void)state;
    static const char *const bad[] = {
        TOKEN("a\\x"),                             /* a bad escape in the token */
        TOKEN("a\001b"),                           /* a raw control character */
        TOKEN("a\" \"b"),                          /* the string ends early: two strings */
        TOKEN("a\\"),                              /* an escape that swallows the closing quote */
        TOKEN("a") "}",                            /* bytes after the document */
        CHUNK("up", "{\"content\":\"a\"}", "nul"), /* the rest differs, and is wrong */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        fixture f;
        fixture_init(&f);
        assert_int_equal(event(&f, TOKEN("x")), GW_EVENT_CONTINUE);
        assert_int_equal(event(&f, TOKEN("y")), GW_EVENT_CONTINUE);
        assert_true(f.state->tail_len > 0);
        char *drop = take_output(&f);
        free(drop);
        if (event(&f, bad[i]) != GW_EVENT_MALFORMED) fail_msg("passed: %s", bad[i]);
        fixture_free(&f);
    }
}

/* A member after the token moves with the token's length: the usage found there is the event's. */
static void usage_after_token_shifts(void **state) {
    (void)state;
    fixture f;
    fixture_init(&f);
#define WITH_USAGE(text)                                                                           \
    HEAD "\"model\":\"up\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"" text "\"}}],"      \
         "\"usage\":{\"prompt_tokens\":2,\"completion_tokens\":1}}"
    /* an engine that reports usage in every chunk: known after the first, so no shape is used
     * for the texts, and every event's usage is read where it is */
    assert_int_equal(event(&f, WITH_USAGE("a")), GW_EVENT_CONTINUE);
    expect_relayed(&f, WITH_USAGE("a"));
    assert_int_equal(event(&f, WITH_USAGE("a longer token")), GW_EVENT_CONTINUE);
    expect_relayed(&f, WITH_USAGE("a longer token"));
    assert_true(f.r.usage.known);
    assert_int_equal(f.r.usage.prompt_tokens, 2);
    assert_int_equal(f.r.usage.completion_tokens, 1);
    fixture_free(&f);
}

/* The model member after the token (an engine that writes it last): renamed in every event. */
static void model_after_token(void **state) {
    (void)state;
    fixture f;
    fixture_init(&f);
#define MODEL_LAST(text)                                                                           \
    "{\"id\":\"c\",\"choices\":[{\"delta\":{\"content\":\"" text "\"}}],\"model\":\"up\"}"
    static const char *const texts[] = {"a", "bc", "", "defgh"};
    for (size_t i = 0; i < 4; i++) {
        char e[256];
        snprintf(e, sizeof e, MODEL_LAST("%s"), texts[i]);
        assert_int_equal(event(&f, e), GW_EVENT_CONTINUE);
        expect_relayed(&f, e);
    }
    fixture_free(&f);
}

/* What the gateway does with an event after the stream's shape is known is what it does with
 * the same event scanned whole as a stream's first: the same answer, the same bytes out, the same
 * estimate. Events that fit the shape, that nearly fit it, and that are malformed, with escapes,
 * UTF-8, nested values where the text was, and a usage-only final chunk. */
static void after_shape_as_if_scanned_whole(void **state) {
    (void)state;
    static const char *const events[] = {
        TOKEN("plain"),
        TOKEN(""),
        TOKEN("f\xc3\xb6x \xe4\xb8\xad\xe6\x96\x87"), /* UTF-8 as it is */
        TOKEN("\\u00e9\\ud83d\\ude00"),               /* unicode escapes, a surrogate pair */
        TOKEN("ends in a backslash \\\\"),
        TOKEN("a quote \\\" inside"),
        TOKEN("#\\n#"),
        TOKEN("a text longer than a couple of words, so it is read eight bytes at a time"),
        CHUNK("up", "{\"content\":null}", "null"),
        CHUNK("up", "{\"content\":{\"nested\":\"object\"}}", "null"),
        CHUNK("up", "{\"content\":[\"x\"]}", "null"),
        CHUNK("up", "{\"content\":7}", "null"),
        CHUNK("up", "{\"content\":\"a\",\"reasoning_content\":\"b\"}", "null"),
        CHUNK("up", "{\"content\":\"a\"}", "\"stop\""),
        CHUNK("up", "{\"content\":\"a\" }", "null"),
        HEAD
        "\"model\":\"up\",\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":9}}",
        HEAD
        "\"model\":\"up\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"},\"logprobs\":"
        "null,\"finish_reason\":null}],\"usage\":{\"prompt_tokens\":1}}",
        TOKEN("a\\x"),
        TOKEN("a\001b"),
        TOKEN("a\" \"b"),
        TOKEN("a\\"),
        TOKEN("a\\u12"),
        TOKEN("a\\u12g4"),
        TOKEN("a\xff\n"),
        TOKEN("a") "}",
        TOKEN("a") " ",
        CHUNK("up", "{\"content\":\"a\"}", "nul"),
        CHUNK("up", "{\"content\":\"a\"", "null"),
        "{\"error\":{\"message\":\"overloaded\",\"code\":503}}",
    };
    for (size_t i = 0; i < sizeof events / sizeof events[0]; i++) {
        fixture shaped, whole;
        fixture_init(&shaped);
        fixture_init(&whole);
        assert_int_equal(event(&shaped, TOKEN("x")), GW_EVENT_CONTINUE);
        assert_int_equal(event(&shaped, TOKEN("y")), GW_EVENT_CONTINUE);
        assert_true(shaped.state->tail_len > 0);
        int64_t before = shaped.r.completion_estimate;
        free(take_output(&shaped));
        int rc = event(&shaped, events[i]), want = event(&whole, events[i]);
        if (rc != want) fail_msg("answer %d, scanned whole %d: %s", rc, want, events[i]);
        char *got = take_output(&shaped), *expected = take_output(&whole);
        if (strcmp(got, expected)) fail_msg("out \"%s\", scanned whole \"%s\"", got, expected);
        assert_int_equal(shaped.r.completion_estimate - before, whole.r.completion_estimate);
        assert_int_equal(shaped.r.usage.known, whole.r.usage.known);
        assert_int_equal(shaped.r.usage.prompt_tokens, whole.r.usage.prompt_tokens);
        assert_int_equal(shaped.r.usage.completion_tokens, whole.r.usage.completion_tokens);
        free(got);
        free(expected);
        fixture_free(&shaped);
        fixture_free(&whole);
    }
}

/* The shape serves a stream whose texts are not estimated (usage known; the same for response
 * guards) too: the events still go out renamed, a malformed one is still caught, nothing is
 * estimated. */
static void shape_without_estimates(void **state) {
    (void)state;
    fixture f;
    fixture_init(&f);
    f.r.usage.known = 1;
    static const char *const texts[] = {"a", "bc", "d\\\"e", "f\xc3\xa9"};
    for (size_t i = 0; i < 4; i++) {
        char e[512];
        snprintf(e, sizeof e, TOKEN("%s"), texts[i]);
        assert_int_equal(event(&f, e), GW_EVENT_CONTINUE);
        expect_relayed(&f, e);
    }
    assert_true(f.state->tail_len > 0);
    assert_int_equal(f.r.completion_estimate, 0);
    assert_int_equal(event(&f, TOKEN("a\\q")), GW_EVENT_MALFORMED);
    fixture_free(&f);
}

/* A new prefix (another id) drops the shape: the first event under it is scanned whole. */
static void new_prefix_drops_the_shape(void **state) {
    (void)state;
    fixture f;
    fixture_init(&f);
    assert_int_equal(event(&f, TOKEN("x")), GW_EVENT_CONTINUE);
    assert_int_equal(event(&f, TOKEN("y")), GW_EVENT_CONTINUE);
    assert_true(f.state->tail_len > 0);
    free(take_output(&f));
    const char *other = "{\"id\":\"chatcmpl-2\",\"object\":\"chat.completion.chunk\",\"created\":7,"
                        "\"model\":\"up\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"z\"},"
                        "\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}";
    assert_int_equal(event(&f, other), GW_EVENT_CONTINUE);
    expect_relayed(&f, other);
    assert_int_equal(f.state->tail_len, 0);
    fixture_free(&f);
}

/* A stream whose id is new, through the worker another stream taught a shape and a finish:
 * its first token is read off that shape (and becomes its own), its finish is known; a
 * malformed first token, and a finish that differs, are still scanned and judged; a stream of
 * another API, whose texts are other keys, learns nothing from them. Every answer, output and
 * estimate is the one the event gets scanned whole. */
#define OTHER_HEAD "{\"id\":\"chatcmpl-9\",\"object\":\"chat.completion.chunk\",\"created\":8,"
#define OTHER(delta, finish)                                                                       \
    OTHER_HEAD "\"model\":\"up\",\"choices\":[{\"index\":0,\"delta\":" delta                       \
               ",\"logprobs\":null,\"finish_reason\":" finish "}],\"usage\":null}"

static void expect_as_whole(fixture *f, const char *e, int want_rc) {
    fixture whole;
    fixture_init(&whole);
    whole.r.api = f->r.api;
    int64_t before = f->r.completion_estimate;
    int rc = event(f, e), want = event(&whole, e);
    if (rc != want || rc != want_rc)
        fail_msg("answer %d, whole %d, want %d: %s", rc, want, want_rc, e);
    char *got = take_output(f), *expected = take_output(&whole);
    if (strcmp(got, expected)) fail_msg("out \"%s\", scanned whole \"%s\"", got, expected);
    assert_int_equal(f->r.completion_estimate - before, whole.r.completion_estimate);
    free(got);
    free(expected);
    fixture_free(&whole);
}

static void another_stream_through_the_worker(void **state) {
    (void)state;
    fixture a;
    fixture_init(&a);
    assert_int_equal(event(&a, CHUNK("up", "{\"role\":\"assistant\",\"content\":\"\"}", "null")),
                     GW_EVENT_CONTINUE);
    assert_int_equal(event(&a, TOKEN("x")), GW_EVENT_CONTINUE);
    assert_int_equal(event(&a, CHUNK("up", "{}", "\"stop\"")), GW_EVENT_CONTINUE);
    fixture_free(&a);

    fixture b;
    fixture_init(&b);
    expect_as_whole(&b, OTHER("{\"role\":\"assistant\",\"content\":\"\"}", "null"),
                    GW_EVENT_CONTINUE);
    assert_int_equal(b.state->tail_len, 0);
    expect_as_whole(&b, OTHER("{\"content\":\"Hello there\"}", "null"), GW_EVENT_CONTINUE);
    assert_true(b.state->tail_len > 0); /* the worker's shape, now the stream's */
    expect_as_whole(&b, OTHER("{\"content\":\" f\\u00f6x\"}", "null"), GW_EVENT_CONTINUE);
    expect_as_whole(&b, OTHER("{}", "\"stop\""), GW_EVENT_CONTINUE);
    expect_as_whole(&b, OTHER("{}", "\"stop\"}"), GW_EVENT_MALFORMED);
    expect_as_whole(&b, OTHER("{}", "\"stop\"") "}", GW_EVENT_MALFORMED); /* more after it */
    expect_as_whole(&b, OTHER("{}", "\"stop\""), GW_EVENT_CONTINUE);
    expect_as_whole(&b, OTHER("{}", "\"length\""), GW_EVENT_CONTINUE);
    fixture_free(&b);

    static const char *const first_tokens[] = {
        OTHER("{\"content\":\"a\\x\"}", "null"),    OTHER("{\"content\":\"a\001\"}", "null"),
        OTHER("{\"content\":\"a\" \"b\"}", "null"), OTHER("{\"content\":\"a\\\"}", "null"),
        OTHER("{\"content\":\"a\"}", "nul"),        OTHER("{\"content\":\"ok\"}", "null") "}",
        OTHER("{\"content\":null}", "null"),        OTHER("{\"content\":\"\\\\\"}", "null"),
    };
    for (size_t i = 0; i < sizeof first_tokens / sizeof first_tokens[0]; i++) {
        fixture c;
        fixture_init(&c);
        expect_as_whole(&c, OTHER("{\"role\":\"assistant\",\"content\":\"\"}", "null"),
                        GW_EVENT_CONTINUE);
        fixture whole;
        fixture_init(&whole);
        int want = event(&whole, first_tokens[i]);
        fixture_free(&whole);
        expect_as_whole(&c, first_tokens[i], want);
        fixture_free(&c);
    }

    fixture d; /* the completions API: "content" is no text there, "text" is */
    fixture_init(&d);
    d.r.api = GW_API_COMPLETIONS;
    expect_as_whole(&d, OTHER("{\"role\":\"assistant\",\"content\":\"\"}", "null"),
                    GW_EVENT_CONTINUE);
    expect_as_whole(&d, OTHER("{\"content\":\"not a completion text\"}", "null"),
                    GW_EVENT_CONTINUE);
    assert_int_equal(d.r.completion_estimate, 0);
    fixture_free(&d);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(token_events_relayed_and_estimated),
        cmocka_unit_test(malformed_after_shape),
        cmocka_unit_test(usage_after_token_shifts),
        cmocka_unit_test(model_after_token),
        cmocka_unit_test(after_shape_as_if_scanned_whole),
        cmocka_unit_test(shape_without_estimates),
        cmocka_unit_test(new_prefix_drops_the_shape),
        cmocka_unit_test(another_stream_through_the_worker),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
