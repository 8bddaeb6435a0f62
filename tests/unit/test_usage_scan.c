/* gw_usage_scan reads a usage object in one pass without json-c, and must read exactly what
 * json-c reads: every case here is compared with json-c's reading of the same bytes (the way
 * the scan read usage before), odd ones included, where the fast path must decline. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#include "engines/openai_wire.h"

static int64_t int_member(json_object *obj, const char *key) {
    json_object *v;
    return obj && json_object_object_get_ex(obj, key, &v) ? json_object_get_int64(v) : 0;
}

/* json-c's reading of the usage object that begins at `usage` (the reference). */
static int reference(const char *usage, gw_usage *u) {
    json_tokener *tok = json_tokener_new();
    json_object *o = json_tokener_parse_ex(tok, usage, (int)strlen(usage));
    json_tokener_free(tok);
    if (!o) return 0;
    json_object *d;
    u->prompt_tokens = int_member(o, "prompt_tokens");
    u->completion_tokens = int_member(o, "completion_tokens");
    u->cached_tokens = json_object_object_get_ex(o, "prompt_tokens_details", &d)
                           ? int_member(d, "cached_tokens")
                           : 0;
    u->reasoning_tokens = json_object_object_get_ex(o, "completion_tokens_details", &d)
                              ? int_member(d, "reasoning_tokens")
                              : 0;
    u->known = 1;
    json_object_put(o);
    return 1;
}

static void same_as_json_c(const char *usage) {
    char body[4096];
    snprintf(body, sizeof body, "{\"id\":\"x\",\"choices\":[],\"usage\":%s", usage);
    gw_usage got = {.cache_creation_tokens = 7}, want = {.cache_creation_tokens = 7};
    int found = gw_usage_scan(body, strlen(body), &got);
    int expected = reference(usage, &want);
    if (found != expected || memcmp(&got, &want, sizeof got)) {
        fprintf(stderr,
                "usage %s: got %d {%lld %lld %lld %lld %d} want %d {%lld %lld %lld %lld %d}\n",
                usage, found, (long long)got.prompt_tokens, (long long)got.completion_tokens,
                (long long)got.cached_tokens, (long long)got.reasoning_tokens, got.known, expected,
                (long long)want.prompt_tokens, (long long)want.completion_tokens,
                (long long)want.cached_tokens, (long long)want.reasoning_tokens, want.known);
        fail();
    }
}

static void plain_usage(void **state) {
    (void)state;
    same_as_json_c("{\"prompt_tokens\":190,\"completion_tokens\":16,\"total_tokens\":206}}");
    same_as_json_c("{\"prompt_tokens\":190,\"total_tokens\":206,\"completion_tokens\":16,"
                   "\"prompt_tokens_details\":{\"cached_tokens\":64},"
                   "\"completion_tokens_details\":{\"reasoning_tokens\":5}}}");
    same_as_json_c(" { \"prompt_tokens\" : 1 ,\n\t\"completion_tokens\" :\r 2 } ");
    same_as_json_c("{}");
    same_as_json_c("{\"prompt_tokens\":null,\"completion_tokens\":0}");
    same_as_json_c("{\"prompt_tokens\":-3,\"completion_tokens\":999999999999999999}");
    same_as_json_c("{\"prompt_tokens_details\":null,\"completion_tokens_details\":{}}");
    same_as_json_c("{\"prompt_tokens_details\":{\"cached_tokens\":null,\"audio_tokens\":3}}");
}

/* Unknown members of every kind are skipped, and the last of duplicate keys wins. */
static void unknown_and_duplicate_members(void **state) {
    (void)state;
    same_as_json_c("{\"x\":[1,2.5,-3e4,{\"a\":[true,false,null]},\"s\"],\"prompt_tokens\":4,"
                   "\"y\":{\"z\":{\"w\":[[]]}},\"completion_tokens\":5,\"f\":1.25E-3}");
    same_as_json_c("{\"prompt_tokens\":1,\"prompt_tokens\":2}");
    same_as_json_c("{\"prompt_tokens_details\":{\"cached_tokens\":9},"
                   "\"prompt_tokens_details\":{\"other\":1}}");
    same_as_json_c("{\"prompt_tokens_details\":{\"cached_tokens\":9},"
                   "\"prompt_tokens_details\":5}");
    same_as_json_c("{\"prompt_tokens_details\":{\"cached_tokens\":1,\"cached_tokens\":2}}");
    same_as_json_c("{\"cached_tokens\":3,\"reasoning_tokens\":4}"); /* not in details: 0 */
    same_as_json_c("{\"note\":\"a } and a { and ] in a string\",\"prompt_tokens\":6}");
}

/* What the fast path declines, json-c reads: escapes, floats, strings, booleans, big numbers,
 * leading zeros, non-standard JSON, depth. */
static void declined_cases_read_by_json_c(void **state) {
    (void)state;
    same_as_json_c("{\"prompt\\u005ftokens\":11,\"completion_tokens\":2}");
    same_as_json_c("{\"prompt_tokens\":12.7,\"completion_tokens\":2e1}");
    same_as_json_c("{\"prompt_tokens\":\"13\",\"completion_tokens\":true}");
    same_as_json_c("{\"prompt_tokens\":12345678901234567890,\"completion_tokens\":1}");
    same_as_json_c("{\"prompt_tokens\":-9223372036854775809}");
    same_as_json_c("{\"prompt_tokens\":0012}");
    same_as_json_c("{\"note\":\"quote \\\" inside\",\"prompt_tokens\":14}");
    same_as_json_c("{'prompt_tokens':15}");
    same_as_json_c("{\"prompt_tokens\":16,}");
    same_as_json_c("{\"a\":[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]],\"prompt_tokens\":17}");
    same_as_json_c("{\"prompt_tokens\":NaN}");
}

/* Broken objects: neither reads anything. */
static void malformed_usage(void **state) {
    (void)state;
    same_as_json_c("{\"prompt_tokens\":1");
    same_as_json_c("{\"prompt_tokens\":1 \"completion_tokens\":2}");
    same_as_json_c("{\"prompt_tokens\"1}");
    same_as_json_c("{\"prompt_tokens\":}");
    same_as_json_c("{\"prompt_tokens\":[1,}");
    same_as_json_c("{\"prompt_tokens\":tru}");
}

/* Where the scan looks: the first "usage" followed by an object; a null usage is passed over. */
static void where_usage_is_found(void **state) {
    (void)state;
    gw_usage u = {0};
    const char *none = "{\"usage\":null,\"choices\":[{\"delta\":{\"content\":\"usage\"}}]}";
    assert_int_equal(gw_usage_scan(none, strlen(none), &u), 0);
    assert_int_equal(u.known, 0);
    const char *later = "{\"note\":\"\\\"usage\\\" here\",\"usage\": {\"prompt_tokens\":3}}";
    assert_int_equal(gw_usage_scan(later, strlen(later), &u), 1);
    assert_int_equal(u.prompt_tokens, 3);
    assert_int_equal(u.known, 1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(plain_usage),
        cmocka_unit_test(unknown_and_duplicate_members),
        cmocka_unit_test(declined_cases_read_by_json_c),
        cmocka_unit_test(malformed_usage),
        cmocka_unit_test(where_usage_is_found),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
