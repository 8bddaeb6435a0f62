/* REST tools' templates: URL holes percent-encoded as one path segment (a value cannot climb
 * out of its segment), header values refusing line breaks, result templates reading fields,
 * literal braces, and the paths results are extracted with. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "mcp/template.h"

static gw_arena arena;

static char *render(const char *tpl, const char *args, gw_mcp_fill how, int *rc) {
    gw_mcp_template t;
    char err[200];
    assert_int_equal(gw_mcp_template_compile(&arena, tpl, &t, err, sizeof err), 0);
    json_object *a = json_tokener_parse(args);
    gw_strbuf out = {0};
    *rc = gw_mcp_template_render(&t, a, how, &out, err, sizeof err);
    json_object_put(a);
    gw_strbuf_add(&out, "", 1);
    char *s = strdup(*rc == 0 ? out.data : err);
    gw_strbuf_free(&out);
    return s;
}

static void urls_encode_each_value_as_one_segment(void **state) {
    (void)state;
    int rc;
    char *s = render("http://h/api/customers/{id}/orders?x=1", "{\"id\":\"a/../b c\"}",
                     GW_MCP_FILL_URL, &rc);
    assert_int_equal(rc, 0);
    assert_string_equal(s, "http://h/api/customers/a%2F..%2Fb%20c/orders?x=1");
    free(s);
    s = render("http://h/{n}/{b}/{o}", "{\"n\":42,\"b\":true,\"o\":{\"k\":1}}", GW_MCP_FILL_URL,
               &rc);
    assert_string_equal(s, "http://h/42/true/%7B%22k%22%3A1%7D");
    free(s);
    s = render("http://h/{id}", "{}", GW_MCP_FILL_URL, &rc);
    assert_int_equal(rc, -1);
    assert_non_null(strstr(s, "'id' is needed"));
    free(s);
}

static void headers_refuse_line_breaks(void **state) {
    (void)state;
    int rc;
    char *s = render("Bearer {t}", "{\"t\":\"abc\"}", GW_MCP_FILL_HEADER, &rc);
    assert_string_equal(s, "Bearer abc");
    free(s);
    s = render("{t}", "{\"t\":\"a\\r\\nX-Evil: 1\"}", GW_MCP_FILL_HEADER, &rc);
    assert_int_equal(rc, -1);
    assert_non_null(strstr(s, "line break"));
    free(s);
}

static void results_read_fields_and_literal_braces(void **state) {
    (void)state;
    int rc;
    const char *doc = "{\"name\":\"Ada\",\"tags\":[\"x\",\"y\"],\"a\":{\"b/c\":5}}";
    char *s =
        render("{name} has {tags.1}, {/a/b~1c} {{ok}} {missing}!", doc, GW_MCP_FILL_TEXT, &rc);
    assert_int_equal(rc, 0);
    assert_string_equal(s, "Ada has y, 5 {ok} !");
    free(s);
}

static void malformed_templates_are_refused(void **state) {
    (void)state;
    const char *bad[] = {"http://h/{id", "http://h/{}", "http://h/}x", "{a{b}"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        gw_mcp_template t;
        char err[200];
        if (gw_mcp_template_compile(&arena, bad[i], &t, err, sizeof err) == 0)
            fail_msg("'%s' should be refused", bad[i]);
    }
    gw_mcp_template t;
    char err[200];
    assert_int_equal(gw_mcp_template_compile(&arena, "/p/{a}/{b}", &t, err, sizeof err), 0);
    assert_true(gw_mcp_template_uses(&t, "a"));
    assert_true(gw_mcp_template_uses(&t, "b"));
    assert_false(gw_mcp_template_uses(&t, "c"));
}

static void json_paths(void **state) {
    (void)state;
    json_object *doc = json_tokener_parse("{\"hits\":[{\"t\":\"one\"},{\"t\":\"two\"}]}");
    json_object *v = gw_mcp_json_at(doc, "/hits/1/t", 9);
    assert_string_equal(json_object_get_string(v), "two");
    v = gw_mcp_json_at(doc, "hits.0.t", 8);
    assert_string_equal(json_object_get_string(v), "one");
    assert_null(gw_mcp_json_at(doc, "hits.5.t", 8));
    assert_null(gw_mcp_json_at(doc, "/hits/x", 7));
    json_object_put(doc);
}

int main(void) {

    const struct CMUnitTest tests[] = {
        cmocka_unit_test(urls_encode_each_value_as_one_segment),
        cmocka_unit_test(headers_refuse_line_breaks),
        cmocka_unit_test(results_read_fields_and_literal_braces),
        cmocka_unit_test(malformed_templates_are_refused),
        cmocka_unit_test(json_paths),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    gw_arena_free(&arena);
    return rc;
}
