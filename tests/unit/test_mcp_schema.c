/* The JSON Schema subset tool arguments are checked against before any REST API is called:
 * each keyword both ways, the place and reason a failure names, and bad schemas refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <json-c/json.h>
#include <string.h>

#include "mcp/schema.h"

static gw_schema *compile(const char *text) {
    json_object *j = json_tokener_parse(text);
    assert_non_null(j);
    char err[300];
    gw_schema *s = gw_schema_compile(j, err, sizeof err);
    json_object_put(j);
    return s;
}

/* 0 when valid; else the error text is checked to contain want */
static void check(gw_schema *s, const char *value, const char *want) {
    json_object *v = json_tokener_parse(value);
    char err[300];
    int rc = gw_schema_validate(s, v, err, sizeof err);
    json_object_put(v);
    if (!want) {
        if (rc != 0) fail_msg("%s should be valid: %s", value, err);
    } else {
        if (rc == 0) fail_msg("%s should be invalid (%s)", value, want);
        if (!strstr(err, want)) fail_msg("%s: error '%s' lacks '%s'", value, err, want);
    }
}

static void objects_required_and_additional(void **state) {
    (void)state;
    gw_schema *s = compile("{\"type\":\"object\",\"properties\":{\"id\":{\"type\":\"string\"},"
                           "\"n\":{\"type\":\"integer\"}},\"required\":[\"id\"],"
                           "\"additionalProperties\":false}");
    assert_non_null(s);
    check(s, "{\"id\":\"a\"}", NULL);
    check(s, "{\"id\":\"a\",\"n\":3}", NULL);
    check(s, "{\"id\":\"a\",\"n\":3.0}", NULL); /* 3.0 is an integer */
    check(s, "{}", "missing required property 'id'");
    check(s, "{\"id\":1}", "/id: expected a string, found a number");
    check(s, "{\"id\":\"a\",\"n\":1.5}", "/n: expected an integer");
    check(s, "{\"id\":\"a\",\"x\":1}", "unexpected property 'x'");
    check(s, "[]", "expected an object, found an array");
    gw_schema_free(s);
}

static void numbers_strings_arrays_enums(void **state) {
    (void)state;
    gw_schema *s = compile(
        "{\"type\":\"object\",\"properties\":{"
        "\"age\":{\"type\":\"number\",\"minimum\":0,\"exclusiveMaximum\":150,\"multipleOf\":0.5},"
        "\"code\":{\"type\":\"string\",\"minLength\":2,\"maxLength\":3,\"pattern\":\"^[A-Z]+$\"},"
        "\"tags\":{\"type\":\"array\",\"items\":{\"type\":\"string\"},\"minItems\":1,"
        "\"maxItems\":2,\"uniqueItems\":true},"
        "\"status\":{\"enum\":[\"open\",\"closed\",null]},"
        "\"kind\":{\"const\":\"pet\"},"
        "\"name\":{\"type\":\"string\",\"maxLength\":2}}}");
    assert_non_null(s);
    check(s, "{\"age\":149.5,\"code\":\"AB\",\"tags\":[\"x\"],\"status\":null,\"kind\":\"pet\"}",
          NULL);
    check(s, "{\"age\":-1}", "/age: must be at least 0");
    check(s, "{\"age\":150}", "/age: must be under 150");
    check(s, "{\"age\":1.25}", "multiple of 0.5");
    check(s, "{\"code\":\"A\"}", "at least 2 characters");
    check(s, "{\"code\":\"ABCD\"}", "at most 3 characters");
    check(s, "{\"code\":\"ab\"}", "must match the pattern ^[A-Z]+$");
    check(s, "{\"tags\":[]}", "at least 1 items");
    check(s, "{\"tags\":[\"a\",\"b\",\"c\"]}", "at most 2 items");
    check(s, "{\"tags\":[\"a\",\"a\"]}", "unique");
    check(s, "{\"tags\":[\"a\",2]}", "/tags/1: expected a string");
    check(s, "{\"status\":\"lost\"}", "expected one of [\"open\",\"closed\",null]");
    check(s, "{\"kind\":\"cat\"}", "expected \"pet\"");
    check(s, "{\"name\":\"\xc3\xa9\xc3\xa9\"}", NULL); /* two characters, four bytes */
    gw_schema_free(s);
}

static void composition_and_nullable(void **state) {
    (void)state;
    gw_schema *s = compile("{\"anyOf\":[{\"type\":\"string\"},{\"type\":\"integer\"}]}");
    check(s, "\"a\"", NULL);
    check(s, "3", NULL);
    check(s, "true", "matches none of the schemas of anyOf");
    gw_schema_free(s);
    s = compile("{\"oneOf\":[{\"type\":\"number\"},{\"type\":\"integer\"}]}");
    check(s, "1.5", NULL);
    check(s, "2", "exactly one schema of oneOf (matches 2)");
    gw_schema_free(s);
    s = compile("{\"allOf\":[{\"minimum\":1},{\"maximum\":3}],\"not\":{\"const\":2}}");
    check(s, "3", NULL);
    check(s, "4", "at most 3");
    check(s, "2", "matches the schema of not");
    gw_schema_free(s);
    s = compile("{\"type\":\"string\",\"nullable\":true}"); /* OpenAPI 3.0 */
    check(s, "null", NULL);
    check(s, "1", "expected null or a string");
    gw_schema_free(s);
    s = compile("{\"type\":[\"string\",\"null\"],\"format\":\"date\",\"description\":\"x\"}");
    check(s, "\"2026-01-01\"", NULL);
    check(s, "null", NULL);
    gw_schema_free(s);
}

static void bad_schemas_are_refused(void **state) {
    (void)state;
    const char *bad[] = {"{\"type\":\"text\"}",
                         "{\"pattern\":\"(\"}",
                         "{\"minLength\":-1}",
                         "{\"properties\":[]}",
                         "{\"$ref\":\"#/x\"}",
                         "{\"anyOf\":[]}",
                         "3"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        json_object *j = json_tokener_parse(bad[i]);
        char err[300];
        gw_schema *s = gw_schema_compile(j, err, sizeof err);
        if (s) fail_msg("%s should be refused", bad[i]);
        assert_true(strlen(err) > 0);
        json_object_put(j);
    }
    char err[300];
    json_object *j = json_tokener_parse("{\"properties\":{\"a\":{\"pattern\":\"[\"}}}");
    assert_null(gw_schema_compile(j, err, sizeof err));
    assert_non_null(strstr(err, "at /properties/a: pattern:"));
    json_object_put(j);
}

static void depth_is_bounded(void **state) {
    (void)state;
    gw_schema *s = compile("{\"type\":\"array\",\"items\":{}}");
    char deep[400] = "";
    for (int i = 0; i < 100; i++)
        strcat(deep, "[");
    for (int i = 0; i < 100; i++)
        strcat(deep, "]");
    /* items: {} accepts anything, but nesting past 64 is refused before it is walked */
    gw_schema *nested = compile("{\"items\":{\"items\":{\"items\":{}}}}");
    check(nested, deep, NULL); /* three levels checked, the rest unconstrained */
    gw_schema_free(nested);
    gw_schema_free(s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(objects_required_and_additional),
        cmocka_unit_test(numbers_strings_arrays_enums),
        cmocka_unit_test(composition_and_nullable),
        cmocka_unit_test(bad_schemas_are_refused),
        cmocka_unit_test(depth_is_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
