/* The response path trusts this scanner to reject malformed JSON and to find the exact span
 * of a top-level member, so both directions are pinned here. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "core/json_scan.h"

static int scan(const char *text, const char *key, gw_json_scan_result *out) {
    return gw_json_scan(text, strlen(text), key, out);
}

static void finds_top_level_member_span(void **state) {
    (void)state;
    const char *t =
        "{\"id\":\"x\",\"nested\":{\"model\":\"inner\"},\"model\":\"sim-model\",\"n\":1}";
    gw_json_scan_result r;
    assert_int_equal(scan(t, "model", &r), 0);
    assert_int_equal(r.key_count, 1); /* the nested one does not count */
    assert_int_equal(r.value_end - r.value_start, strlen("\"sim-model\""));
    assert_memory_equal(t + r.value_start, "\"sim-model\"", r.value_end - r.value_start);
}

static void counts_duplicates_including_escaped_keys(void **state) {
    (void)state;
    gw_json_scan_result r;
    const char *doc = "{\"model\":\"a\",\"mod\\u0065l\":\"b\"}";
    assert_int_equal(scan(doc, "model", &r), 0);
    assert_int_equal(r.key_count, 2);
    assert_memory_equal(doc + r.value_start, "\"a\"", 3);
}

static void accepts_valid_documents(void **state) {
    (void)state;
    const char *valid[] = {
        "{}",       "[]", " {\"a\": [1, -2.5e+10, true, false, null, \"\\n\\u00e9\"]} ",
        "\"s\"",    "0",  "{\"big\":123456789012345678901234567890}",
        "[[[[]]]]",
    };
    for (size_t i = 0; i < sizeof valid / sizeof valid[0]; i++) {
        gw_json_scan_result r;
        assert_int_equal(scan(valid[i], NULL, &r), 0);
    }
}

static void rejects_malformed_documents_with_offset(void **state) {
    (void)state;
    struct {
        const char *text;
        size_t offset;
    } bad[] = {
        {"{\"id\":broken", 6},
        {"{\"a\":1,}", 7},
        {"{\"a\" 1}", 5},
        {"[1 2]", 3},
        {"{\"a\":01}", 6},
        {"\"tab\there\"", 4},
        {"{} x", 3},
        {"{\"a\":tru}", 5},
        {"", 0},
        {"{\"a\":\"\\x\"}", 7},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        gw_json_scan_result r;
        assert_int_equal(scan(bad[i].text, "a", &r), -1);
        assert_non_null(r.error);
        assert_int_equal(r.error_offset, bad[i].offset);
    }
}

static void bounds_nesting_depth(void **state) {
    (void)state;
    char deep[600];
    memset(deep, '[', 300);
    memset(deep + 300, ']', 300);
    gw_json_scan_result r;
    assert_int_equal(gw_json_scan(deep, 600, NULL, &r), -1);
}

/* Strings are scanned eight bytes at a time: a byte that ends or breaks a string is found at
 * its exact place whatever its offset in the word, and bytes from 0x80 up are never taken for
 * one. */
static void finds_string_breaks_at_every_offset(void **state) {
    (void)state;
    for (size_t len = 0; len < 40; len++) {
        for (size_t at = 0; at < len; at++) {
            char text[64];
            text[0] = '"';
            for (size_t i = 0; i < len; i++)
                text[1 + i] = (char)(i % 3 == 0 ? 0xc3 : i % 3 == 1 ? 0xa9 : 'x');
            text[1 + len] = '"';
            gw_json_scan_result r;
            assert_int_equal(gw_json_scan(text, len + 2, NULL, &r), 0);
            text[1 + at] = '\t'; /* a control character: refused where it is */
            assert_int_equal(gw_json_scan(text, len + 2, NULL, &r), -1);
            assert_int_equal(r.error_offset, 1 + at);
            text[1 + at] = '"'; /* the string ends there: what follows is not the end */
            assert_int_equal(gw_json_scan(text, len + 2, NULL, &r), -1);
            assert_int_equal(r.error_offset, 2 + at);
            if (at + 1 < len) {
                text[1 + at] = '\\'; /* an escape, and an invalid one */
                text[2 + at] = 'n';
                assert_int_equal(gw_json_scan(text, len + 2, NULL, &r), 0);
                text[2 + at] = 'q';
                assert_int_equal(gw_json_scan(text, len + 2, NULL, &r), -1);
                assert_int_equal(r.error_offset, 2 + at);
            }
        }
    }
}

typedef struct seen_texts {
    char text[8][32];
    size_t which[8];
    size_t n;
} seen_texts;

static void on_text(void *ud, size_t which, const char *raw, size_t len) {
    seen_texts *s = ud;
    if (s->n == 8) return;
    snprintf(s->text[s->n], sizeof s->text[0], "%.*s", (int)len, raw);
    s->which[s->n++] = which;
}

static const gw_json_text_key text_keys[] = {{"content", 7}, {"arguments", 9}};

static void find_reports_members_and_texts(void **state) {
    (void)state;
    const char *t =
        "{\"id\":\"c\",\"model\":\"m\",\"choices\":[{\"delta\":{\"content\":\"Hi \\\"x\\\"\"},"
        "\"tool\":{\"arguments\":\"{}\"}}],\"usage\":null,\"model\":\"again\","
        "\"content\":1}";
    gw_json_member members[2] = {{.name = "model", .name_len = 5},
                                 {.name = "usage", .name_len = 5}};
    seen_texts seen = {0};
    gw_json_find find = {members, 2, text_keys, 2, on_text, &seen};
    gw_json_scan_result r;
    assert_int_equal(gw_json_scan_find(t, strlen(t), &find, &r), 0);
    assert_int_equal(members[0].count, 2);
    assert_memory_equal(t + members[0].value_start, "\"m\"", 3);
    assert_int_equal(members[1].count, 1);
    assert_memory_equal(t + members[1].value_start, "null", 4);
    assert_int_equal(seen.n, 2); /* a number under a text key is no text */
    assert_string_equal(seen.text[0], "Hi \\\"x\\\"");
    assert_int_equal(seen.which[0], 0);
    assert_string_equal(seen.text[1], "{}");
    assert_int_equal(seen.which[1], 1);
}

/* A scan resumed after a known prefix judges the rest exactly as a whole scan does. */
static void resumed_scan_matches_a_whole_one(void **state) {
    (void)state;
    const char *prefix = "{\"id\":\"c\",\"model\":\"m\"";
    const char *rests[] = {
        ",\"choices\":[{\"delta\":{\"content\":\"a\"}}]}",
        "}",
        " , \"usage\" : {\"prompt_tokens\":1} } ",
        ",\"choices\":[{\"delta\":{\"content\":\"a\"}}]",
        ",}",
        "\"x\":1}",
        ",\"model\":\"b\"}",
    };
    for (size_t i = 0; i < sizeof rests / sizeof rests[0]; i++) {
        char text[256];
        size_t plen = strlen(prefix);
        int n = snprintf(text, sizeof text, "%s%s", prefix, rests[i]);
        gw_json_member whole[1] = {{.name = "model", .name_len = 5}};
        gw_json_member resumed[1] = {{.name = "model", .name_len = 5}};
        seen_texts a = {0}, b = {0};
        gw_json_find fa = {whole, 1, text_keys, 2, on_text, &a};
        gw_json_find fb = {resumed, 1, text_keys, 2, on_text, &b};
        gw_json_scan_result ra, rb;
        int rc = gw_json_scan_find(text, (size_t)n, &fa, &ra);
        resumed[0].count = 1; /* what the prefix holds */
        resumed[0].value_start = plen - 3;
        resumed[0].value_end = plen;
        assert_int_equal(gw_json_scan_find_from(text, (size_t)n, plen, &fb, &rb), rc);
        if (rc == 0) {
            assert_int_equal(resumed[0].count, whole[0].count);
            assert_int_equal(resumed[0].value_start, whole[0].value_start);
            assert_int_equal(b.n, a.n);
        } else {
            assert_int_equal(rb.error_offset, ra.error_offset);
            assert_string_equal(rb.error, ra.error);
        }
    }
}

/* gw_json_scan_string_to agrees with a full string scan on every string over an alphabet of the
 * bytes that matter (quotes, backslashes, escape letters, hex digits, control characters,
 * UTF-8, '#' whose byte a quote's borrow can flag), at every length up to past two words and at
 * several distances from the start of the text (the short case reads a word back). */
static void string_to_agrees_with_a_full_scan(void **state) {
    (void)state;
    static const char alphabet[] = {'a', '"',    '\\',   'u',    '0',    'e', 'n',
                                    '#', '\x01', '\x1f', '\xc3', '\xa9', ' ', '/'};
    enum { SYMBOLS = sizeof alphabet, MAX_LEN = 18 };
    char text[64];
    uint32_t seed = 12345;
    size_t checked = 0, valid = 0;
    for (size_t lead = 0; lead <= 9; lead += 3)
        for (size_t len = 0; len <= MAX_LEN; len++)
            for (int round = 0; round < 400; round++) {
                memset(text, 'x', sizeof text);
                text[lead] = '"';
                for (size_t i = 0; i < len; i++) {
                    seed = seed * 1103515245u + 12345u;
                    /* mostly plain bytes, so valid strings are common at every length */
                    size_t pick = (seed >> 16) % (SYMBOLS * 3);
                    text[lead + 1 + i] = pick < SYMBOLS ? alphabet[pick] : 'a';
                }
                size_t close = lead + 1 + len;
                text[close] = '"';
                size_t end;
                int whole =
                    gw_json_scan_string(text, close + 1, lead, &end) == 0 && end == close + 1;
                int to = gw_json_scan_string_to(text, lead, close) == 0;
                if (whole != to)
                    fail_msg("lead %zu, \"%.*s\": whole %d, to %d", lead, (int)len, text + lead + 1,
                             whole, to);
                checked++;
                valid += (size_t)whole;
            }
    assert_true(valid > checked / 4 && valid < checked); /* both answers were exercised */
    /* the quotes are the caller's: a missing one is no string */
    assert_int_equal(gw_json_scan_string_to("\"abc\"", 0, 4), 0);
    assert_int_equal(gw_json_scan_string_to("\"abc\"", 0, 3), -1);
    assert_int_equal(gw_json_scan_string_to("x\"abc\"", 0, 5), -1);
    assert_int_equal(gw_json_scan_string_to("\"\"", 0, 1), 0);
    assert_int_equal(gw_json_scan_string_to("\"\"", 0, 0), -1);
    assert_int_equal(gw_json_scan_string_to("\"a\\\"", 0, 3), -1);  /* "a\" : no close */
    assert_int_equal(gw_json_scan_string_to("\"a\\\\\"", 0, 4), 0); /* "a\\" */
    assert_int_equal(gw_json_scan_string_to("{\"k\":\"f\\u00f6\xc3\xa9x\"}", 5, 16), 0);
}

/* A JSON string read byte by byte, as the grammar says: the reference for the scanner's word
 * and SIMD paths. Returns the position after the closing quote, or 0 when the string is bad. */
static size_t reference_string_end(const char *t, size_t len) {
    size_t i = 1;
    while (i < len) {
        unsigned char ch = (unsigned char)t[i];
        if (ch == '"') return i + 1;
        if (ch < 0x20) return 0;
        if (ch == '\\') {
            if (++i >= len) return 0;
            if (t[i] == 'u') {
                if (len - i < 5) return 0;
                for (int k = 1; k <= 4; k++)
                    if (!strchr("0123456789abcdefABCDEF", t[i + k]) || !t[i + k]) return 0;
                i += 4;
            } else if (!t[i] || !strchr("\"\\/bfnrt", t[i])) {
                return 0;
            }
        }
        i++;
    }
    return 0;
}

/* Strings of every length up to past three SIMD blocks, the special byte anywhere in them, read
 * with and without room for a whole block after: the scanner agrees with the reference. */
static void string_scan_agrees_with_the_grammar(void **state) {
    (void)state;
    static const char alphabet[] = {'a',    '"',    '\\',   'u',    '0',    'F',    'n',    '#',
                                    '\x01', '\x1f', '\x20', '\x7f', '\x80', '\xc3', '\xff', '/'};
    enum { SYMBOLS = sizeof alphabet };
    char text[96];
    uint32_t seed = 777;
    for (size_t len = 1; len <= 60; len++)
        for (int round = 0; round < 300; round++) {
            text[0] = '"';
            for (size_t i = 1; i < len; i++) {
                seed = seed * 1103515245u + 12345u;
                size_t pick = (seed >> 16) % (SYMBOLS * 4);
                text[i] = pick < SYMBOLS ? alphabet[pick] : (char)('a' + pick % 26);
            }
            size_t want = reference_string_end(text, len), end = 0;
            int rc = gw_json_scan_string(text, len, 0, &end);
            if ((want ? 0 : -1) != rc || (want && end != want))
                fail_msg("len %zu \"%.*s\": reference %zu, scanner %d at %zu", len, (int)len, text,
                         want, rc, end);
        }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(finds_top_level_member_span),
        cmocka_unit_test(counts_duplicates_including_escaped_keys),
        cmocka_unit_test(accepts_valid_documents),
        cmocka_unit_test(rejects_malformed_documents_with_offset),
        cmocka_unit_test(bounds_nesting_depth),
        cmocka_unit_test(finds_string_breaks_at_every_offset),
        cmocka_unit_test(find_reports_members_and_texts),
        cmocka_unit_test(resumed_scan_matches_a_whole_one),
        cmocka_unit_test(string_to_agrees_with_a_full_scan),
        cmocka_unit_test(string_scan_agrees_with_the_grammar),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
