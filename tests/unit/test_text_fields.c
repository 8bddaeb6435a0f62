/* Where the caller's texts sit in canonical answers and chunks (engines/text_fields.h): every
 * choice, content, reasoning under either name, each tool call's arguments with its index
 * wherever it is written, finishes; keys in any order, escaped keys, and nothing else. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "core/protocol-t.h"
#include "engines/text_fields.h"

/* "kind:choice[:tool]=text|..." for the spans of json. */
static const char *describe(const char *json, char *buf, size_t size) {
    gw_text_span spans[GW_TEXT_SPANS_MAX];
    size_t n;
    assert_int_equal(gw_text_spans(json, strlen(json), spans, GW_TEXT_SPANS_MAX, &n), 0);
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        const gw_text_span *s = &spans[i];
        static const char *const kinds[] = {"content", "reasoning", "args"};
        const char *kind = s->kind == GW_TEXT_SPAN_FINISH ? "finish" : kinds[s->kind];
        int w = snprintf(buf + used, size - used, "%s%s%s:%lld", i ? "|" : "", kind,
                         s->reasoning_key ? "*" : "", (long long)s->choice);
        used += (size_t)w;
        if (s->kind == GW_TEXT_TOOL_ARGS)
            used += (size_t)(s->has_tool_index ? snprintf(buf + used, size - used, ":%lld",
                                                          (long long)s->tool_index)
                                               : snprintf(buf + used, size - used, ":-"));
        if (s->kind != GW_TEXT_SPAN_FINISH)
            used += (size_t)snprintf(buf + used, size - used, "=%.*s", (int)(s->end - s->start),
                                     json + s->start);
        assert_true(used < size);
    }
    return buf;
}

static void chunks(void **state) {
    (void)state;
    char buf[1024];
    assert_string_equal(
        describe("{\"id\":\"x\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\","
                 "\"content\":\"Hi \\\"you\\\"\"},\"finish_reason\":null}],\"usage\":null}",
                 buf, sizeof buf),
        "content:0=Hi \\\"you\\\"");
    assert_string_equal(
        describe("{\"choices\":[{\"delta\":{\"refusal\":\"no\"}}]}", buf, sizeof buf),
        "content:0=no");
    /* reasoning under both names, content null, and a finish */
    assert_string_equal(
        describe("{\"choices\":[{\"delta\":{\"reasoning_content\":\"a\",\"content\":null,"
                 "\"reasoning\":\"b\"},\"finish_reason\":\"stop\",\"index\":2}]}",
                 buf, sizeof buf),
        "reasoning:2=a|reasoning*:2=b|finish:2");
    /* tool calls: the index after the function, one without an index, extra members */
    assert_string_equal(
        describe("{\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"function\":{"
                 "\"name\":\"f\",\"arguments\":\"{\\\"a\\\":1}\"},\"index\":3,\"id\":\"c\"},"
                 "{\"type\":\"function\",\"function\":{\"arguments\":\"x\"}}]}}]}",
                 buf, sizeof buf),
        "args:0:3={\\\"a\\\":1}|args:0:-=x");
    /* completions; whitespace everywhere; a choice without an index takes its position */
    assert_string_equal(describe(" { \"choices\" : [ { \"text\" : \"one\" } , { \"text\" : "
                                 "\"two\" , \"finish_reason\" : \"length\" } ] } ",
                                 buf, sizeof buf),
                        "content:0=one|content:1=two|finish:1");
    /* a whole answer's message; the usage and other objects are passed over */
    assert_string_equal(
        describe("{\"choices\":[{\"message\":{\"role\":\"assistant\",\"content\":\"x\","
                 "\"tool_calls\":[{\"id\":\"t\",\"function\":{\"name\":\"n\",\"arguments\":"
                 "\"{}\"}}],\"annotations\":[{\"content\":\"no\"}]},\"logprobs\":{\"content\":"
                 "[{\"token\":\"]}\"}]}}],\"usage\":{\"content\":\"no\"},\"content\":\"no\"}",
                 buf, sizeof buf),
        "content:0=x|args:0:-={}");
}

static void escaped_keys_and_odd_values(void **state) {
    (void)state;
    char buf[512];
    /* an engine that escapes a key's letter is still read */
    assert_string_equal(
        describe("{\"ch\\u006fices\":[{\"delta\":{\"c\\u006Fntent\":\"x\"}}]}", buf, sizeof buf),
        "content:0=x");
    /* values of other types are passed over, not read as text */
    assert_string_equal(describe("{\"choices\":[{\"index\":\"1\",\"delta\":{\"content\":[\"a\"],"
                                 "\"tool_calls\":null},\"text\":5,\"finish_reason\":null}]}",
                                 buf, sizeof buf),
                        "");
    assert_string_equal(describe("{\"choices\":[]}", buf, sizeof buf), "");
    /* a second "choices" (a JSON reader keeps the last): both are read */
    assert_string_equal(describe("{\"choices\":[{\"text\":\"a\"}],\"choices\":[{\"text\":\"b\"}]}",
                                 buf, sizeof buf),
                        "content:0=a|content:0=b");
    /* something before the choices opens an object: the whole walk, nested names ignored */
    assert_string_equal(
        describe("{\"x\":{\"choices\":[{\"text\":\"no\"}]},\"choices\":[{\"text\":\"yes\"}]}", buf,
                 sizeof buf),
        "content:0=yes");
    assert_string_equal(describe("{\"choices\":null}", buf, sizeof buf), "");
    /* a big index is no index */
    assert_string_equal(describe("{\"choices\":[{\"index\":1e3,\"text\":\"a\"},{\"index\":"
                                 "99999999999999999999,\"text\":\"b\"}]}",
                                 buf, sizeof buf),
                        "content:0=a|content:1=b");
}

static void malformed_and_too_many(void **state) {
    (void)state;
    gw_text_span spans[GW_TEXT_SPANS_MAX];
    size_t n;
    static const char *const bad[] = {
        "",
        "[]",
        "{\"choices\":[{\"text\":\"open",
        "{\"choices\":[{\"text\":\"a\"}",
        "{\"choices\" [}",
        "{\"a\":{\"b\":[1,2,{\"c\":\"]\"}]}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(gw_text_spans(bad[i], strlen(bad[i]), spans, GW_TEXT_SPANS_MAX, &n), -1);
    /* no validator: what follows the choices is not read when nothing there is a text (the
     * engine's text was validated when it came in) */
    const char *unended = "{\"choices\":[{\"delta\":{\"content\":\"x\"}}]";
    assert_int_equal(gw_text_spans(unended, strlen(unended), spans, GW_TEXT_SPANS_MAX, &n), 0);
    assert_int_equal(n, 1);
    char json[8192];
    size_t len = (size_t)snprintf(json, sizeof json, "{\"choices\":[");
    for (int i = 0; i < GW_TEXT_SPANS_MAX + 1; i++)
        len += (size_t)snprintf(json + len, sizeof json - len, "%s{\"text\":\"t\"}", i ? "," : "");
    len += (size_t)snprintf(json + len, sizeof json - len, "]}");
    assert_int_equal(gw_text_spans(json, len, spans, GW_TEXT_SPANS_MAX, &n), -2);
    /* a cut never reads past its end */
    for (size_t cut = 0; cut < len; cut++)
        assert_true(gw_text_spans(json, cut, spans, GW_TEXT_SPANS_MAX, &n) < 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(chunks),
        cmocka_unit_test(escaped_keys_and_odd_values),
        cmocka_unit_test(malformed_and_too_many),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
