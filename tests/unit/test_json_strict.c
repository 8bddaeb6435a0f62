/* The request body's parser stands in for json-c's strict tokener, so it is held to it: on
 * hand-written inputs and on many random and mutated ones, the same verdict, the same error at
 * the same byte, and the same tree (types, key order, bytes, number texts). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json_strict.h"

static void describe(const char *text, size_t len, char *out, size_t cap) {
    size_t o = 0;
    for (size_t i = 0; i < len && o + 8 < cap; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c >= 0x20 && c < 0x7f && c != '\\')
            out[o++] = (char)c;
        else
            o += (size_t)snprintf(out + o, cap - o, "\\x%02x", c);
    }
    out[o] = '\0';
}

/* same types all the way down, same keys in the same order */
static int same_tree(json_object *a, json_object *b) {
    if (!a || !b) return a == b;
    if (json_object_get_type(a) != json_object_get_type(b)) return 0;
    switch (json_object_get_type(a)) {
    case json_type_object: {
        struct json_object_iterator ia = json_object_iter_begin(a), ea = json_object_iter_end(a);
        struct json_object_iterator ib = json_object_iter_begin(b), eb = json_object_iter_end(b);
        for (; !json_object_iter_equal(&ia, &ea); json_object_iter_next(&ia)) {
            if (json_object_iter_equal(&ib, &eb)) return 0;
            if (strcmp(json_object_iter_peek_name(&ia), json_object_iter_peek_name(&ib))) return 0;
            if (!same_tree(json_object_iter_peek_value(&ia), json_object_iter_peek_value(&ib)))
                return 0;
            json_object_iter_next(&ib);
        }
        return json_object_iter_equal(&ib, &eb);
    }
    case json_type_array:
        if (json_object_array_length(a) != json_object_array_length(b)) return 0;
        for (size_t i = 0; i < json_object_array_length(a); i++)
            if (!same_tree(json_object_array_get_idx(a, i), json_object_array_get_idx(b, i)))
                return 0;
        return 1;
    case json_type_string:
        return json_object_get_string_len(a) == json_object_get_string_len(b) &&
               !memcmp(json_object_get_string(a), json_object_get_string(b),
                       (size_t)json_object_get_string_len(a));
    case json_type_int:
        return json_object_get_int64(a) == json_object_get_int64(b) &&
               json_object_get_uint64(a) == json_object_get_uint64(b);
    default:
        return 1; /* doubles and booleans: by their text below */
    }
}

static unsigned long compared, accepted;

static void compare_depth(const char *text, size_t len, int depth) {
    json_tokener *tok = json_tokener_new_ex(depth);
    assert_non_null(tok);
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
    json_object *want = json_tokener_parse_ex(tok, text, (int)len);
    enum json_tokener_error want_err = json_tokener_get_error(tok);
    size_t want_end = json_tokener_get_parse_end(tok);
    json_tokener_free(tok);

    gw_json_strict_result res;
    json_object *got = gw_json_parse_strict(text, len, depth, &res);
    char shown[512];
    describe(text, len, shown, sizeof shown);
    if (res.error != want_err || res.end != want_end)
        fail_msg("depth %d \"%s\": json-c says %s at %zu, we say %s at %zu", depth, shown,
                 json_tokener_error_desc(want_err), want_end, json_tokener_error_desc(res.error),
                 res.end);
    assert_false(res.out_of_memory);
    if (!want != !got) fail_msg("\"%s\": one tree is NULL", shown);
    if (want) {
        const char *a = json_object_to_json_string_ext(want, JSON_C_TO_STRING_PLAIN);
        const char *b = json_object_to_json_string_ext(got, JSON_C_TO_STRING_PLAIN);
        if (strcmp(a, b) || !same_tree(want, got))
            fail_msg("\"%s\": json-c built %s, we built %s", shown, a, b);
        accepted++;
    }
    compared++;
    json_object_put(want);
    json_object_put(got);
}

static void compare(const char *text, size_t len) {
    compare_depth(text, len, 128);
    compare_depth(text, len, 3);
}

static void compare_str(const char *text) {
    compare(text, strlen(text));
}

static void agrees_on_written_inputs(void **state) {
    (void)state;
    static const char *const inputs[] = {
        "{}",
        "[]",
        " {} ",
        "{} x",
        "{}x",
        "{},",
        "[1]",
        "[1,]",
        "[,1]",
        "[1 2]",
        "{\"a\":1,}",
        "{,}",
        "{\"a\" 1}",
        "{\"a\":1 \"b\":2}",
        "{\"a\"}",
        "{\"a\":}",
        "{'a':1}",
        "{'a\":1}",
        "{\"a\":'x'}",
        "'x'",
        "\"x\"",
        "\"x",
        "x",
        "",
        "   ",
        "null",
        "null ",
        "nul",
        "nulx",
        "[null]",
        "[nul]",
        "[Null]",
        "[NaN]",
        "[nan]",
        "[NAN]",
        "[Infinity]",
        "[infinity]",
        "[-Infinity]",
        "[-infinity]",
        "[-Inf]",
        "[-I]",
        "[-]",
        "[--1]",
        "[true]",
        "[false]",
        "[True]",
        "[FALSE]",
        "[tru]",
        "[fals]",
        "[truex]",
        "true",
        "true ",
        "1",
        "1 ",
        "[1]",
        "[0]",
        "[-0]",
        "[00]",
        "[01]",
        "[-01]",
        "[007]",
        "[0.5]",
        "[00.5]",
        "[1.]",
        "[1.e5]",
        "[-.5]",
        "[.5]",
        "[1e]",
        "[1e+]",
        "[1e-]",
        "[1E5]",
        "[1e5e5]",
        "[1.5.5]",
        "[1.-5]",
        "[1.+5]",
        "[1e+-5]",
        "[1-2]",
        "[0x10]",
        "[1a]",
        "[1/]",
        "[1I]",
        "[1 ]",
        "[1\t]",
        "[123456789012345678901234567890]",
        "[-123456789012345678901234567890]",
        "[9223372036854775807]",
        "[9223372036854775808]",
        "[18446744073709551615]",
        "[18446744073709551616]",
        "[-9223372036854775808]",
        "[-9223372036854775809]",
        "[1.7976931348623157e309]",
        "[4.9e-325]",
        "[0.1000000000000000055511151231257827]",
        "{\"a\":\"\\n\\t\\r\\b\\f\\/\\\\\\\"\"}",
        "[\"\\x\"]",
        "[\"\\u00e9\"]",
        "[\"\\u00E9\"]",
        "[\"\\u0041\"]",
        "[\"\\u20ac\"]",
        "[\"\\ud83d\\ude00\"]",
        "[\"\\ud83d\"]",
        "[\"\\ud83dx\"]",
        "[\"\\ud83d\\n\"]",
        "[\"\\ud83d\\ud83d\\ude00\"]",
        "[\"\\ude00\"]",
        "[\"\\ud83d\\u0041\"]",
        "[\"\\u12\"]",
        "[\"\\u12g4\"]",
        "[\"\\u\"]",
        "[\"\\",
        "[\"\\u",
        "[\"\\ud83d",
        "[\"\\ud83d\\",
        "[\"\\ud83d\\u",
        "{\"\\u0000a\":1}",
        "{\"a\\u0000\":1}",
        "[\"a\\u0000b\"]",
        "{\"mod\\u0065l\":1}",
        "{\"model\":1,\"model\":2}",
        "{\"a\":1,\"b\":2,\"a\":3}",
        "[\"\xc3\xa9\"]",
        "[\"\xff\xfe\"]",
        "[\"tab\there\"]",
        "{\"model\":\"chat\",\"messages\":[}",
        "{\"model\":\"chat\",\"messages\":[]} x",
        "[[[[]]]]",
        "[[[1]]]",
        "[[1]]",
        "{\"a\":{\"b\":{\"c\":1}}}",
        "{\"a\":{\"b\":{}}}",
        "{\"a\":[[]]}",
        "[[], []]",
        "{\"a\":{}, \"b\":[]}",
        "\xef\xbb\xbf{}",
        "/*c*/{}",
        "{}//",
        "[1]/",
        "{\"a\":1/}",
    };
    for (size_t i = 0; i < sizeof inputs / sizeof inputs[0]; i++)
        compare_str(inputs[i]);
    /* NUL bytes, which end json-c's data in some places and not in others */
    static const struct {
        const char *text;
        size_t len;
    } nul_inputs[] = {
        {"{}\0", 3},
        {"{} \0 ", 5},
        {"[\0]", 3},
        {"[1\0]", 4},
        {"\"a\0b\"", 5},
        {"{\"a\0\":1}", 8},
        {"[\"\\\0\"]", 6},
        {"[\"\\u00\0\"]", 9},
        {"[null\0]", 7},
        {"[nu\0l]", 6},
        {"[t\0]", 4},
        {"1\0", 2},
        {"01\0", 3},
        {"[1,\0]", 5},
        {"{\0}", 3},
        {"{\"a\"\0:1}", 8},
        {"[\"\\ud83d\0\"]", 11},
        {"[\"\\ud83d\\\0\"]", 12},
        {"\0", 1},
        {"null\0", 5},
    };
    for (size_t i = 0; i < sizeof nul_inputs / sizeof nul_inputs[0]; i++)
        compare(nul_inputs[i].text, nul_inputs[i].len);
}

static void agrees_on_nesting_limits(void **state) {
    (void)state;
    char text[2048];
    for (int n = 1; n < 140; n += 1) {
        size_t len = 0;
        for (int i = 0; i < n; i++) { /* objects and arrays in turn */
            if (i % 2)
                text[len++] = '[';
            else
                len += (size_t)sprintf(text + len, "{\"k\":");
        }
        text[len++] = '1';
        for (int i = n - 1; i >= 0; i--)
            text[len++] = i % 2 ? ']' : '}';
        compare_depth(text, len, 128);
        compare_depth(text, len, 32);
        compare_depth(text, len, 1);
    }
}

/* A deterministic generator: no seed from the clock, so a failure repeats. */
static uint64_t rng = 0x9E3779B97F4A7C15ull;
static unsigned next_rand(unsigned n) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (unsigned)(rng % n);
}

typedef struct {
    char buf[4096];
    size_t len;
} text_buf;

static void put(text_buf *t, const char *s) {
    size_t n = strlen(s);
    if (t->len + n < sizeof t->buf) {
        memcpy(t->buf + t->len, s, n);
        t->len += n;
    }
}

static void random_ws(text_buf *t) {
    static const char *const ws[] = {"", "", "", " ", "\n", "\t ", "\r\n"};
    put(t, ws[next_rand(7)]);
}

static void random_string(text_buf *t, char quote) {
    static const char *const parts[] = {
        "a",
        "hello",
        " ",
        "\\n",
        "\\\"",
        "\\\\",
        "\\/",
        "\\u00e9",
        "\\u20AC",
        "\\ud83d\\ude00",
        "\\ud83d",
        "\\ude00",
        "\\u0000",
        "\xc3\xa9",
        "\t",
        "'",
        "\\b\\f\\r\\t",
        "model",
        "\\u0065",
        "\"",
        "\xf0\x9f\x98\x80",
        "lorem ipsum dolor sit amet, consectetur",
    };
    char q[2] = {quote, 0};
    put(t, q);
    for (unsigned n = next_rand(9); n; n--) { /* long ones too: scanned 16 bytes a step */
        const char *part = parts[next_rand(sizeof parts / sizeof parts[0])];
        if (part[0] == quote && part[1] == 0) part = "x";
        put(t, part);
    }
    put(t, q);
}

static void random_value(text_buf *t, int depth) {
    static const char *const scalars[] = {
        "0",
        "-0",
        "1",
        "-1",
        "42",
        "00",
        "01",
        "1.5",
        "-2.25e+10",
        "1e5",
        "1E-3",
        "1.",
        "1.e5",
        "-.5",
        "1e",
        "-",
        "1.5.5",
        "12345678901234567890",
        "-9223372036854775809",
        "18446744073709551616",
        "0.1",
        "3.14159265358979323846",
        "true",
        "false",
        "null",
        "NaN",
        "Infinity",
        "-Infinity",
        "nul",
        "True",
    };
    unsigned kind = depth > 6 ? next_rand(2) : next_rand(5);
    if (kind == 0) {
        put(t, scalars[next_rand(sizeof scalars / sizeof scalars[0])]);
    } else if (kind == 1) {
        random_string(t, '"');
    } else if (kind == 2 || kind == 4) {
        put(t, "{");
        for (unsigned n = next_rand(4), i = 0; i < n; i++) {
            if (i) put(t, ",");
            random_ws(t);
            random_string(t, next_rand(10) ? '"' : '\'');
            random_ws(t);
            put(t, ":");
            random_ws(t);
            random_value(t, depth + 1);
            random_ws(t);
        }
        if (!next_rand(20)) put(t, ",");
        put(t, "}");
    } else {
        put(t, "[");
        for (unsigned n = next_rand(4), i = 0; i < n; i++) {
            if (i) put(t, ",");
            random_ws(t);
            random_value(t, depth + 1);
            random_ws(t);
        }
        if (!next_rand(20)) put(t, ",");
        put(t, "]");
    }
}

static void mutate(text_buf *t) {
    static const char interesting[] = {
        '\0', '"', '\\', ',', ':', '{',  '}', '[',  ']', ' ',        'u',        'e', '-', '0',
        '1',  '.', 'n',  't', 'I', '\'', '+', '\n', 'x', (char)0xc3, (char)0xff, '/', 'E'};
    for (unsigned edits = 1 + next_rand(3); edits && t->len; edits--) {
        size_t at = next_rand((unsigned)t->len);
        char c = interesting[next_rand(sizeof interesting)];
        switch (next_rand(4)) {
        case 0: /* delete */
            memmove(t->buf + at, t->buf + at + 1, t->len - at - 1);
            t->len--;
            break;
        case 1: /* insert */
            if (t->len + 1 < sizeof t->buf) {
                memmove(t->buf + at + 1, t->buf + at, t->len - at);
                t->buf[at] = c;
                t->len++;
            }
            break;
        case 2: /* replace */
            t->buf[at] = c;
            break;
        default: /* cut short */
            t->len = at;
        }
    }
}

static void agrees_on_random_and_mutated_inputs(void **state) {
    (void)state;
    compared = accepted = 0;
    for (int i = 0; i < 30000; i++) {
        text_buf t = {.len = 0};
        random_ws(&t);
        random_value(&t, 0);
        random_ws(&t);
        compare(t.buf, t.len);
        mutate(&t);
        compare(t.buf, t.len);
    }
    /* the generator must reach both sides, or the comparison proves little */
    assert_true(accepted > compared / 5);
    assert_true(accepted < compared * 4 / 5);
}

static void well_known_keys_are_shared_and_still_work(void **state) {
    (void)state;
    const char *text = "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],"
                       "\"model\":\"n\",\"x-custom\":1}";
    gw_json_strict_result res;
    json_object *root = gw_json_parse_strict(text, strlen(text), 128, &res);
    assert_non_null(root);
    json_object *v;
    assert_true(json_object_object_get_ex(root, "model", &v));
    assert_string_equal(json_object_get_string(v), "n"); /* the last value, as json-c keeps */
    json_object_object_del(root, "model");               /* a constant key is not freed */
    json_object_object_add(root, "model", json_object_new_string("again"));
    assert_true(json_object_object_get_ex(root, "x-custom", &v));
    assert_string_equal(json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN),
                        "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"x-custom\":1,"
                        "\"model\":\"again\"}");
    json_object *copy = NULL;
    assert_int_equal(json_object_deep_copy(root, &copy, NULL), 0);
    json_object_put(root);
    assert_true(json_object_object_get_ex(copy, "messages", &v));
    json_object_put(copy);
}

static void counts_repeated_top_level_keys(void **state) {
    (void)state;
    static const struct {
        const char *text;
        int repeats;
    } cases[] = {
        {"{\"model\":\"a\",\"model\":\"b\"}", 1},
        {"{\"model\":\"a\",\"mod\\u0065l\":\"b\"}", 1},
        {"{\"x\":1,\"y\":2,\"x\":3}", 1},
        {"{\"k\\u0000a\":1,\"k\\u0000b\":2}", 1}, /* json-c cuts both to "k" */
        {"{\"model\":\"a\",\"messages\":[]}", 0},
        {"{\"a\":{\"b\":1,\"b\":2}}", 0}, /* nested: not the top level's */
        {"[{\"b\":1,\"b\":2}]", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        gw_json_strict_result res;
        json_object *v = gw_json_parse_strict(cases[i].text, strlen(cases[i].text), 128, &res);
        assert_non_null(v);
        if (res.top_level_repeats != cases[i].repeats) fail_msg("%s", cases[i].text);
        json_object_put(v);
    }
}

static void long_strings_and_wide_arrays_grow_past_the_stack_buffers(void **state) {
    (void)state;
    size_t cap = 200000, len = 0;
    char *text = malloc(cap);
    assert_non_null(text);
    len += (size_t)sprintf(text, "{\"s\":\"");
    for (int i = 0; i < 5000; i++)
        len += (size_t)sprintf(text + len, "ab\\n\\u00e9");
    len += (size_t)sprintf(text + len, "\",\"a\":[");
    for (int i = 0; i < 3000; i++)
        len += (size_t)sprintf(text + len, "%s[%d,\"x\\ty\"]", i ? "," : "", i);
    len += (size_t)sprintf(text + len, "],\"n\":%s}",
                           "1234567890123456789012345678901234567890"
                           "1234567890123456789012345678901234567890.5");
    compare(text, len);
    free(text);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(agrees_on_written_inputs),
        cmocka_unit_test(agrees_on_nesting_limits),
        cmocka_unit_test(agrees_on_random_and_mutated_inputs),
        cmocka_unit_test(well_known_keys_are_shared_and_still_work),
        cmocka_unit_test(counts_repeated_top_level_keys),
        cmocka_unit_test(long_strings_and_wide_arrays_grow_past_the_stack_buffers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
