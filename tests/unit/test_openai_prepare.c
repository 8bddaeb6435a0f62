/* The OpenAI adapter's request: the model's name spliced in wherever the member stands and
 * however it is written, every other byte as the caller sent it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <curl/curl.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "engines/engine.h"
#include "filters/request_fields.h"
#include "inbound/protocol.h"

/* The body the engine gets for `body` (a non-streaming chat request), or NULL when refused. */
static char *prepared(const char *body) {
    gw_arena arena = {0};
    gw_channel ch = {.name = "o", .type = "openai", .engine = &gw_engine_openai};
    gw_engine_config_error cerr = {.option = -1};
    assert_int_equal(gw_engine_openai.configure(&ch, &arena, NULL, 0, &cerr), 0);
    gw_target t = {.channel = &ch,
                   .upstream_model = "up",
                   .upstream_model_json = "\"up\"",
                   .upstream_model_json_len = 4,
                   .rewrite = 1};
    gw_req r = {.protocol = &gw_protocol_openai, .api = GW_API_CHAT, .target = &t};
    r.body = body;
    r.body_len = strlen(body);
    /* as parse_request leaves the request: a plain body scanned (no tree until asked for), any
     * other parsed into the tree */
    gw_request_fields fields;
    if (gw_request_scan(body, r.body_len, r.api, &fields)) {
        r.json_deferred = 1;
    } else {
        r.json = json_tokener_parse(body);
        assert_non_null(r.json);
        gw_field_error field_error;
        gw_request_fields_from_tree(r.json, r.api, &fields, &field_error);
    }
    r.body_members = fields.members;
    r.stream = fields.stream;
    r.include_usage = fields.include_usage;
    gw_engine_call call = {0};
    int status = 0;
    const char *err = NULL;
    char *out = NULL;
    if (gw_engine_openai.prepare(&r, &t, &call, &status, &err) == 0) {
        out = strndup(call.body, call.body_len);
        free(call.owned_body);
    }
    json_object_put(r.json);
    curl_slist_free_all(ch.headers);
    gw_arena_free(&arena);
    return out;
}

static void expect(const char *body, const char *want) {
    char *got = prepared(body);
    assert_non_null(got);
    assert_string_equal(got, want);
    free(got);
}

static void model_first(void **state) {
    (void)state;
    expect("{\"model\":\"virtual\",\"messages\":[]}", "{\"model\":\"up\",\"messages\":[]}");
    expect(" \n{ \"model\" :\t\"virtual\" , \"messages\":[]}",
           " \n{ \"model\" :\t\"up\" , \"messages\":[]}");
    /* an escape in the name: the whole scan reads it */
    expect("{\"model\":\"vir\\\"tual\",\"messages\":[]}", "{\"model\":\"up\",\"messages\":[]}");
    expect("{\"model\":\"v\\u0069rtual\",\"messages\":[]}", "{\"model\":\"up\",\"messages\":[]}");
}

static void model_elsewhere(void **state) {
    (void)state;
    expect("{\"messages\":[{\"role\":\"user\",\"content\":\"model\"}],\"model\":\"virtual\"}",
           "{\"messages\":[{\"role\":\"user\",\"content\":\"model\"}],\"model\":\"up\"}");
    /* a member whose name begins like model is not it */
    expect("{\"models\":\"x\",\"model\":\"virtual\"}", "{\"models\":\"x\",\"model\":\"up\"}");
    /* the key written with an escape */
    expect("{\"mod\\u0065l\":\"virtual\",\"n\":1}", "{\"mod\\u0065l\":\"up\",\"n\":1}");
}

static void no_model_is_refused(void **state) {
    (void)state;
    assert_null(prepared("{\"messages\":[]}"));
}

/* What the adapter adds or renames it knows from the members parse_request noted, with no tree:
 * a stream without stream_options asks for usage; one with them is the caller's. */
static void stream_asks_for_usage(void **state) {
    (void)state;
    static const char stream[] =
        "{\"model\":\"virtual\",\"messages\":[{\"role\":\"user\"}],\"stream\":true}";
    char *got = prepared(stream);
    assert_non_null(got);
    assert_non_null(strstr(got, "\"stream_options\":{\"include_usage\":true}"));
    free(got);
    static const char own[] = "{\"model\":\"virtual\",\"messages\":[{\"role\":\"user\"}],"
                              "\"stream\":true,\"stream_options\":{\"include_usage\":true}}";
    got = prepared(own);
    assert_non_null(got);
    assert_null(strstr(got, "include_usage\":true},"));
    free(got);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(model_first),
        cmocka_unit_test(model_elsewhere),
        cmocka_unit_test(no_model_is_refused),
        cmocka_unit_test(stream_asks_for_usage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
