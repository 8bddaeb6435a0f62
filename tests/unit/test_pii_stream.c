/* PII detection on streamed text (gw_pii_stream): the window rule. Whatever the cut of a text
 * into pieces, the stream must write exactly what masking the whole text writes (so no byte of
 * a value ever goes out before its value was decided), hold back no more than its window (plus
 * a value that is still growing), and stop at a blocking value before releasing any of it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "security/pii.h"

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#endif
#endif
#ifndef RUNNING_ON_VALGRIND
#define RUNNING_ON_VALGRIND 0
#endif

/* ---- helpers -------------------------------------------------------------------------- */

typedef struct out {
    char *data;
    size_t len, cap;
} out;

static int out_write(void *ud, const char *s, size_t n) {
    out *o = ud;
    if (o->len + n + 1 > o->cap) {
        size_t cap = o->cap ? o->cap : 256;
        while (cap < o->len + n + 1)
            cap *= 2;
        o->data = realloc(o->data, cap);
        assert_non_null(o->data);
        o->cap = cap;
    }
    memcpy(o->data + o->len, s, n);
    o->len += n;
    o->data[o->len] = '\0';
    return 0;
}

static const char *out_str(const out *o) {
    return o->data ? o->data : "";
}

static gw_pii_config config_all(gw_pii_action a) {
    gw_pii_config c;
    memset(&c, 0, sizeof(c));
    for (int k = 0; k < GW_PII_BUILTIN_COUNT; k++)
        c.builtin[k] = a;
    return c;
}

static gw_pii_set *set_new(const gw_pii_config *c) {
    char err[256];
    gw_pii_set *set = gw_pii_set_new(c, err, sizeof(err));
    if (!set) fail_msg("gw_pii_set_new: %s", err);
    return set;
}

static uint64_t rng = 0x9E3779B97F4A7C15ULL;
static unsigned next_rand(unsigned bound) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (unsigned)(rng % bound);
}

/* The ISO 7064 MOD 11-2 check character of 17 digits; a Luhn check digit. */
static char id_check(const char *body) {
    int sum = 0;
    for (int i = 0; i < 17; i++) {
        int weight = 1;
        for (int k = 0; k < 17 - i; k++)
            weight = weight * 2 % 11;
        sum += (body[i] - '0') * weight;
    }
    return "10X98765432"[sum % 11];
}

static char luhn_digit(const char *digits) {
    int sum = 0, dbl = 1;
    for (size_t i = strlen(digits); i-- > 0;) {
        int d = digits[i] - '0';
        if (dbl) d = d * 2 > 9 ? d * 2 - 9 : d * 2;
        sum += d;
        dbl = !dbl;
    }
    return (char)('0' + (10 - sum % 10) % 10);
}

/* Whole-text masking by the request path's code (gw_pii_apply): what a stream must equal. */
static void mask_whole(const gw_pii_set *set, gw_pii_scratch *scratch, const char *text, size_t len,
                       out *o) {
    gw_pii_result r;
    o->len = 0;
    assert_int_equal(gw_pii_apply(set, scratch, text, len, out_write, o, NULL, &r), GW_PII_OK);
    if (!r.changed) out_write(o, text, len);
}

/* The text through a stream in pieces of 1..max_piece bytes (random), the last one final;
 * checks the hold-back bound after every piece. */
static gw_pii_status stream_in_pieces(gw_pii_stream *st, gw_pii_scratch *scratch, const char *text,
                                      size_t len, unsigned max_piece, size_t hold_bound, out *o,
                                      gw_pii_result *result) {
    o->len = 0;
    if (o->data) o->data[0] = '\0';
    size_t at = 0;
    while (at < len) {
        size_t n = 1 + next_rand(max_piece);
        if (n > len - at) n = len - at;
        int final = at + n == len && next_rand(2);
        gw_pii_status rc =
            gw_pii_stream_feed(st, scratch, text + at, n, final, out_write, o, result);
        at += n;
        if (rc != GW_PII_OK || final) return rc;
        assert_true(gw_pii_stream_held(st) <= hold_bound);
    }
    return gw_pii_stream_feed(st, scratch, NULL, 0, 1, out_write, o, result);
}

/* A random text: prose (ASCII and Chinese) and values of every kind, some glued to letters or
 * digits so they are not values, joined by spaces, punctuation or nothing. */
static size_t random_text(char *buf, size_t cap) {
    static const char *const prose[] = {
        "the",   "quick", "brown", "fox",      "order",  "v1.2.3", "会议",  "电话",  "邮箱",
        "a::b",  "12:30", "3.14",  "sk-learn", "eyJump", "x",      "-----", "BEGIN", "END",
        "user=", "mail:", "+",     "1",        "86",     "0086",   "(415)", "..",    "-",
    };
    static const char *const seps[] = {" ", " ", " ", ", ", ".", "\n", "", "(", ")", "，", "\""};
    size_t len = 0;
    int items = 20 + (int)next_rand(60);
    for (int i = 0; i < items; i++) {
        char v[512];
        switch (next_rand(17)) {
        case 0:
            snprintf(v, sizeof v, "%s.%s%u@exa-mple%u.com", prose[next_rand(4)], "u",
                     next_rand(1000), next_rand(10));
            break;
        case 1:
            snprintf(v, sizeof v, "1%u%09u", 3 + next_rand(7), next_rand(1000000000));
            break;
        case 2:
            snprintf(v, sizeof v, "+86 1%u%u-%04u-%04u", 3 + next_rand(7), next_rand(10),
                     next_rand(10000), next_rand(10000));
            break;
        case 3:
            snprintf(v, sizeof v, "+44 20 %04u %04u", next_rand(10000), next_rand(10000));
            break;
        case 4: {
            char body[18];
            snprintf(body, sizeof body, "110105%04u%02u%02u%03u", 1950 + next_rand(60),
                     1 + next_rand(12), 1 + next_rand(28), next_rand(1000));
            snprintf(v, sizeof v, "%s%c", body, id_check(body));
            break;
        }
        case 5: {
            char digits[20];
            snprintf(digits, sizeof digits, "6222%011u", next_rand(1000000000));
            snprintf(v, sizeof v, "%s%c", digits, luhn_digit(digits));
            if (next_rand(2)) { /* grouped */
                char g[32];
                snprintf(g, sizeof g, "%.4s %.4s %.4s %.4s", v, v + 4, v + 8, v + 12);
                snprintf(v, sizeof v, "%s", g);
            }
            break;
        }
        case 6:
            snprintf(v, sizeof v, "%u.%u.%u.%u", next_rand(256), next_rand(256), next_rand(256),
                     next_rand(256));
            break;
        case 7:
            snprintf(v, sizeof v, "fe80::%x:%x:1%u", next_rand(65536), next_rand(65536),
                     next_rand(10));
            break;
        case 8: {
            int n = 20 + (int)next_rand(120);
            int w = snprintf(v, sizeof v, "sk-");
            for (int k = 0; k < n; k++)
                v[w++] = "aZ09_-Qx"[next_rand(8)];
            v[w] = '\0';
            break;
        }
        case 9: {
            int n = 10 + (int)next_rand(300);
            int w = snprintf(v, sizeof v, "eyJhbGciOiJIUzI1NiJ9.eyJ");
            for (int k = 0; k < n && w < 480; k++)
                v[w++] = "abcXYZ019-_"[next_rand(11)];
            w += snprintf(v + w, sizeof v - (size_t)w, ".sig%u", next_rand(1000));
            break;
        }
        case 10: {
            int w = snprintf(v, sizeof v, "-----BEGIN RSA PRIVATE KEY-----\n");
            int lines = 1 + (int)next_rand(5);
            for (int l = 0; l < lines; l++)
                w += snprintf(v + w, sizeof v - (size_t)w, "MIIEpAIBAAKCAQEA%08u\n",
                              next_rand(100000000));
            snprintf(v + w, sizeof v - (size_t)w, "-----END RSA PRIVATE KEY-----");
            break;
        }
        case 11:
            snprintf(v, sizeof v, "EMP-%06u", next_rand(1000000));
            break;
        case 13: { /* a long address: up to the 254 bytes an address may have */
            int w = 0, local = 30 + (int)next_rand(35), labels = 2 + (int)next_rand(3);
            for (int k = 0; k < local; k++) {
                char c = "abcXYZ_09+."[next_rand(11)];
                if (c == '.' && (k == 0 || k == local - 1 || v[w - 1] == '.')) c = 'q';
                v[w++] = c;
            }
            v[w++] = '@';
            for (int l = 0; l < labels; l++) {
                int n = 20 + (int)next_rand(44);
                for (int k = 0; k < n && w < 60 + 64 * (l + 1); k++)
                    v[w++] = "abcdefgh123"[next_rand(11)];
                v[w++] = '.';
            }
            memcpy(v + w, "org", 4);
            break;
        }
        case 12: /* glued: no value */
            snprintf(v, sizeof v, "order1%u%09u", 3 + next_rand(7), next_rand(1000000000));
            break;
        default: /* 14 and up */
            snprintf(v, sizeof v, "%s", prose[next_rand(sizeof prose / sizeof prose[0])]);
            break;
        }
        const char *sep = seps[next_rand(sizeof seps / sizeof seps[0])];
        size_t vl = strlen(v), sl = strlen(sep);
        if (len + vl + sl + 1 >= cap) break;
        memcpy(buf + len, v, vl);
        len += vl;
        memcpy(buf + len, sep, sl);
        len += sl;
    }
    buf[len] = '\0';
    return len;
}

/* ---- the window ----------------------------------------------------------------------- */

static void window_per_detector(void **state) {
    (void)state;
    gw_pii_config c = config_all(GW_PII_OFF);
    c.builtin[GW_PII_PHONE] = GW_PII_MASK;
    gw_pii_set *set = set_new(&c);
    assert_int_equal(gw_pii_set_window(set), 45);
    gw_pii_set_free(set);
    c.builtin[GW_PII_EMAIL] = GW_PII_RESTORE;
    set = set_new(&c);
    assert_int_equal(gw_pii_set_window(set), 255); /* RFC 5321's 254, and one */
    gw_pii_set_free(set);

    gw_pii_custom_desc custom[] = {{"ticket", "T-\\d+", GW_PII_MASK, 0},
                                   {"long", "L-\\d+", GW_PII_MASK, 300}};
    c = config_all(GW_PII_OFF);
    c.custom = custom;
    c.custom_count = 1;
    set = set_new(&c);
    assert_int_equal(gw_pii_set_window(set), GW_PII_CUSTOM_MAX_LENGTH_DEFAULT + 1);
    gw_pii_set_free(set);
    c.custom_count = 2;
    set = set_new(&c);
    assert_int_equal(gw_pii_set_window(set), 301);
    gw_pii_set_free(set);

    char err[128];
    custom[1].max_length = GW_PII_CUSTOM_MAX_LENGTH + 1;
    assert_null(gw_pii_set_new(&c, err, sizeof err));
    assert_non_null(strstr(err, "max_length"));
}

/* The longest email is 254 bytes: a longer run keeps the longest address within them. */
static void email_is_at_most_254_bytes(void **state) {
    (void)state;
    char text[400];
    memset(text, 'a', 60);
    memcpy(text + 60, "@", 1);
    size_t len = 61;
    for (int i = 0; i < 6; i++) { /* labels of 40 letters */
        memset(text + len, 'b', 40);
        len += 40;
        text[len++] = '.';
    }
    memcpy(text + len, "com", 3);
    len += 3;
    text[len] = '\0';
    gw_pii_span sp;
    assert_true(gw_pii_find_email(text, len, 0, &sp));
    assert_int_equal(sp.start, 0);
    assert_true(sp.end - sp.start <= 254);
    assert_int_equal(text[sp.end], '.'); /* it ends on a label */
}

static void jwt_cut_short_is_a_secret(void **state) {
    (void)state;
    gw_pii_span sp;
    const char *cut = "token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIx";
    assert_true(gw_pii_find_secret(cut, strlen(cut), 0, &sp));
    assert_int_equal(sp.start, 6);
    assert_int_equal(sp.end, strlen(cut));
    const char *after_dot = "token eyJhbGciOiJIUzI1NiJ9.";
    assert_true(gw_pii_find_secret(after_dot, strlen(after_dot), 0, &sp));
    const char *shorter = "see eyJhbGciOi"; /* under 16 bytes: could be anything */
    assert_false(gw_pii_find_secret(shorter, strlen(shorter), 0, &sp));
    const char *word = "eyJump eyJumping"; /* no dot follows: no token */
    assert_false(gw_pii_find_secret(word, strlen(word), 0, &sp));
    const char *whole = "a eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln b";
    assert_true(gw_pii_find_secret(whole, strlen(whole), 0, &sp));
    assert_int_equal(sp.end, strlen(whole) - 2);
}

/* ---- streams equal whole texts --------------------------------------------------------- */

static void random_splits_equal_whole_texts(void **state) {
    (void)state;
    gw_pii_custom_desc custom[] = {{"employee_id", "EMP-\\d{6}", GW_PII_MASK, 16}};
    gw_pii_config c = config_all(GW_PII_MASK);
    c.custom = custom;
    c.custom_count = 1;
    gw_pii_set *set = set_new(&c);
    gw_pii_scratch *scratch = gw_pii_scratch_new();
    gw_pii_stream st = {0};
    out whole = {0}, streamed = {0};
    static const unsigned pieces[] = {1, 2, 3, 5, 17, 300, 5000};
    int rounds = RUNNING_ON_VALGRIND ? 60 : 600;
    size_t values = 0;
    for (int round = 0; round < rounds; round++) {
        char text[8192];
        size_t len = random_text(text, sizeof text);
        mask_whole(set, scratch, text, len, &whole);
        for (const char *p = out_str(&whole); (p = strpbrk(p, "*[")); p++)
            values += *p == '[' || (p[1] != '*' && p > out_str(&whole) && p[-1] != '*');
        for (size_t p = 0; p < sizeof pieces / sizeof pieces[0]; p++) {
            gw_pii_stream_init(&st, set);
            gw_pii_result r;
            size_t bound = GW_PII_STREAM_HOLD_MAX + 4096 + gw_pii_set_window(set);
            assert_int_equal(
                stream_in_pieces(&st, scratch, text, len, pieces[p], bound, &streamed, &r),
                GW_PII_OK);
            if (streamed.len != whole.len || memcmp(out_str(&streamed), out_str(&whole), whole.len))
                fail_msg("pieces of up to %u bytes differ from the whole text\ntext:   %s\n"
                         "whole:  %s\nstream: %s",
                         pieces[p], text, out_str(&whole), out_str(&streamed));
            assert_int_equal(gw_pii_stream_held(&st), 0);
        }
    }
    print_message("%zu values masked in %d texts\n", values, rounds);
    assert_true(values > (size_t)rounds * 5); /* the texts are full of them */
    gw_pii_stream_free(&st);
    free(whole.data);
    free(streamed.data);
    gw_pii_scratch_free(scratch);
    gw_pii_set_free(set);
}

/* Prose without values goes out as soon as it is K bytes behind: the stream holds at most the
 * window (and a character's bytes) back. */
static void holds_back_only_the_window(void **state) {
    (void)state;
    gw_pii_config c = config_all(GW_PII_OFF);
    c.builtin[GW_PII_PHONE] = GW_PII_MASK;
    c.builtin[GW_PII_CHINA_ID] = GW_PII_BLOCK;
    gw_pii_set *set = set_new(&c);
    gw_pii_scratch *scratch = gw_pii_scratch_new();
    gw_pii_stream st = {0};
    gw_pii_stream_init(&st, set);
    out o = {0};
    const char *text = "这是一段没有个人信息的文字，and some English words in between. ";
    size_t window = gw_pii_set_window(set), fed = 0;
    for (int i = 0; i < 200; i++) {
        for (size_t k = 0; text[k]; k++) {
            assert_int_equal(gw_pii_stream_feed(&st, scratch, text + k, 1, 0, out_write, &o, NULL),
                             GW_PII_OK);
            fed++;
            assert_true(gw_pii_stream_held(&st) <= window + 3);
            assert_int_equal(o.len + gw_pii_stream_held(&st), fed);
        }
    }
    assert_int_equal(gw_pii_stream_feed(&st, scratch, NULL, 0, 1, out_write, &o, NULL), GW_PII_OK);
    assert_int_equal(o.len, fed);
    gw_pii_stream_free(&st);
    free(o.data);
    gw_pii_scratch_free(scratch);
    gw_pii_set_free(set);
}

/* A key that keeps growing is held whole (the crossing rule), up to the bound. */
static void a_growing_key_is_held_whole(void **state) {
    (void)state;
    gw_pii_config c = config_all(GW_PII_OFF);
    c.builtin[GW_PII_SECRET] = GW_PII_MASK;
    gw_pii_set *set = set_new(&c);
    gw_pii_scratch *scratch = gw_pii_scratch_new();
    gw_pii_stream st = {0};
    gw_pii_stream_init(&st, set);
    out o = {0};
    const char *head = "key: sk-";
    assert_int_equal(gw_pii_stream_feed(&st, scratch, head, strlen(head), 0, out_write, &o, NULL),
                     GW_PII_OK);
    for (int i = 0; i < 2000; i++) {
        const char *bytes = "aB3";
        assert_int_equal(gw_pii_stream_feed(&st, scratch, bytes, 3, 0, out_write, &o, NULL),
                         GW_PII_OK);
        assert_null(strstr(out_str(&o), "sk-")); /* never a byte of the key */
    }
    assert_int_equal(gw_pii_stream_feed(&st, scratch, " done", 5, 1, out_write, &o, NULL),
                     GW_PII_OK);
    assert_string_equal(out_str(&o), "key: [SECRET] done");

    /* past GW_PII_STREAM_HOLD_MAX it is judged as it stands */
    o.len = 0;
    gw_pii_stream_init(&st, set);
    assert_int_equal(gw_pii_stream_feed(&st, scratch, head, strlen(head), 0, out_write, &o, NULL),
                     GW_PII_OK);
    for (int i = 0; i < GW_PII_STREAM_HOLD_MAX; i++)
        assert_int_equal(gw_pii_stream_feed(&st, scratch, "aB3", 3, 0, out_write, &o, NULL),
                         GW_PII_OK);
    assert_true(gw_pii_stream_held(&st) <= GW_PII_STREAM_HOLD_MAX + gw_pii_set_window(set) + 3);
    assert_non_null(strstr(out_str(&o), "key: [SECRET]"));
    assert_null(strstr(out_str(&o), "sk-"));
    gw_pii_stream_free(&st);
    free(o.data);
    gw_pii_scratch_free(scratch);
    gw_pii_set_free(set);
}

/* A PEM key split across many small pieces: not one line of it goes out. */
static void pem_key_in_small_pieces(void **state) {
    (void)state;
    gw_pii_config c = config_all(GW_PII_OFF);
    c.builtin[GW_PII_SECRET] = GW_PII_MASK;
    gw_pii_set *set = set_new(&c);
    gw_pii_scratch *scratch = gw_pii_scratch_new();
    gw_pii_stream st = {0};
    out o = {0};
    char text[4096];
    int w = snprintf(text, sizeof text, "here it is:\n-----BEGIN PRIVATE KEY-----\n");
    for (int l = 0; l < 40; l++)
        w += snprintf(text + w, sizeof text - (size_t)w,
                      "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC%02d\n", l);
    snprintf(text + w, sizeof text - (size_t)w, "-----END PRIVATE KEY-----\nthat was it");
    for (unsigned piece = 1; piece <= 4; piece++) {
        gw_pii_stream_init(&st, set);
        gw_pii_result r;
        assert_int_equal(stream_in_pieces(&st, scratch, text, strlen(text), piece, 8192, &o, &r),
                         GW_PII_OK);
        assert_string_equal(out_str(&o), "here it is:\n[SECRET]\nthat was it");
    }
    gw_pii_stream_free(&st);
    free(o.data);
    gw_pii_scratch_free(scratch);
    gw_pii_set_free(set);
}

/* Block: the stream stops at the value, and what went out before holds none of it. */
static void block_stops_before_the_value(void **state) {
    (void)state;
    gw_pii_config c = config_all(GW_PII_OFF);
    c.builtin[GW_PII_EMAIL] = GW_PII_BLOCK;
    c.builtin[GW_PII_PHONE] = GW_PII_MASK;
    gw_pii_set *set = set_new(&c);
    gw_pii_scratch *scratch = gw_pii_scratch_new();
    gw_pii_stream st = {0};
    out o = {0};
    char text[2048];
    size_t len = 0;
    while (len < 600)
        len += (size_t)snprintf(text + len, sizeof text - len, "call 13812345678 now. ");
    len += (size_t)snprintf(text + len, sizeof text - len, "mail alice@example.com please");
    for (unsigned piece = 1; piece <= 3; piece++) {
        gw_pii_stream_init(&st, set);
        gw_pii_result r;
        assert_int_equal(stream_in_pieces(&st, scratch, text, len, piece, 4096, &o, &r),
                         GW_PII_BLOCKED);
        assert_string_equal(r.blocked_name, "email");
        assert_null(strstr(out_str(&o), "alice"));
        assert_null(strstr(out_str(&o), "mail a")); /* not a byte of it */
        assert_null(strstr(out_str(&o), "13812345678"));
        assert_non_null(strstr(out_str(&o), "call 138****5678 now."));
    }
    gw_pii_stream_free(&st);
    free(o.data);
    gw_pii_scratch_free(scratch);
    gw_pii_set_free(set);
}

/* ---- restoring into JSON (a tool call's arguments) ------------------------------------- */

static void restorer_escapes_for_json(void **state) {
    (void)state;
    gw_pii_custom_desc custom[] = {{"quote", "Q<[^>]*>", GW_PII_RESTORE, 0}};
    gw_pii_config c = config_all(GW_PII_OFF);
    c.custom = custom;
    c.custom_count = 1;
    gw_pii_set *set = set_new(&c);
    gw_pii_scratch *scratch = gw_pii_scratch_new();
    gw_pii_table *t = gw_pii_table_new(set);
    out o = {0};
    const char *request = "name Q<a \"b\" \\ c\nd>";
    assert_int_equal(gw_pii_apply(set, scratch, request, strlen(request), out_write, &o, t, NULL),
                     GW_PII_OK);
    assert_string_equal(out_str(&o), "name [[PII_QUOTE_1]]");
    const char *args = "{\"who\":\"[[PII_QUOTE_1]]\"}";
    for (size_t cut = 1; cut < strlen(args); cut++) {
        gw_pii_restorer r;
        gw_pii_restorer_init_json(&r, t);
        o.len = 0;
        assert_int_equal(gw_pii_restorer_feed(&r, args, cut, out_write, &o), GW_PII_OK);
        assert_int_equal(gw_pii_restorer_feed(&r, args + cut, strlen(args) - cut, out_write, &o),
                         GW_PII_OK);
        assert_int_equal(gw_pii_restorer_flush(&r, out_write, &o), GW_PII_OK);
        assert_string_equal(out_str(&o), "{\"who\":\"Q<a \\\"b\\\" \\\\ c\\nd>\"}");
    }
    gw_pii_restorer plain;
    gw_pii_restorer_init(&plain, t);
    o.len = 0;
    assert_int_equal(gw_pii_restorer_feed(&plain, args, strlen(args), out_write, &o), GW_PII_OK);
    assert_string_equal(out_str(&o), "{\"who\":\"Q<a \"b\" \\ c\nd>\"}");
    free(o.data);
    gw_pii_table_free(t);
    gw_pii_scratch_free(scratch);
    gw_pii_set_free(set);
}

/* ---- cost ------------------------------------------------------------------------------ */

static double us_since(const struct timespec *a) {
    struct timespec b;
    clock_gettime(CLOCK_MONOTONIC, &b);
    return (double)(b.tv_sec - a->tv_sec) * 1e6 + (double)(b.tv_nsec - a->tv_nsec) / 1e3;
}

/* What one stream event costs: a 4-byte token into a stream that holds its full window. */
static void cost_per_event(void **state) {
    (void)state;
    static const char para[] = "The quick brown fox jumps over the lazy dog while simulated "
                               "tokens stream steadily, 会议纪要 and notes. ";
    gw_pii_config configs[3];
    const char *names[3] = {"all built-ins (window 255)", "phone, china_id, bank_card",
                            "secret only"};
    configs[0] = config_all(GW_PII_MASK);
    configs[1] = config_all(GW_PII_OFF);
    configs[1].builtin[GW_PII_PHONE] = GW_PII_MASK;
    configs[1].builtin[GW_PII_CHINA_ID] = GW_PII_BLOCK;
    configs[1].builtin[GW_PII_BANK_CARD] = GW_PII_BLOCK;
    configs[2] = config_all(GW_PII_OFF);
    configs[2].builtin[GW_PII_SECRET] = GW_PII_MASK;
    gw_pii_scratch *scratch = gw_pii_scratch_new();
    out o = {0};
    for (int k = 0; k < 3; k++) {
        gw_pii_set *set = set_new(&configs[k]);
        gw_pii_stream st = {0};
        gw_pii_stream_init(&st, set);
        int events = RUNNING_ON_VALGRIND ? 2000 : 50000;
        size_t plen = sizeof para - 1, at = 0;
        struct timespec start;
        clock_gettime(CLOCK_MONOTONIC, &start);
        for (int e = 0; e < events; e++) {
            size_t n = 4;
            if (at + n > plen) at = 0;
            o.len = 0;
            assert_int_equal(gw_pii_stream_feed(&st, scratch, para + at, n, 0, out_write, &o, NULL),
                             GW_PII_OK);
            at += n;
        }
        double per = us_since(&start) / events;
        print_message("pii stream, %s: %.2f us per 4-byte event\n", names[k], per);
        assert_true(per < (RUNNING_ON_VALGRIND ? 2000.0 : 50.0));
        gw_pii_stream_free(&st);
        gw_pii_set_free(set);
    }
    free(o.data);
    gw_pii_scratch_free(scratch);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(window_per_detector),
        cmocka_unit_test(email_is_at_most_254_bytes),
        cmocka_unit_test(jwt_cut_short_is_a_secret),
        cmocka_unit_test(random_splits_equal_whole_texts),
        cmocka_unit_test(holds_back_only_the_window),
        cmocka_unit_test(a_growing_key_is_held_whole),
        cmocka_unit_test(pem_key_in_small_pieces),
        cmocka_unit_test(block_stops_before_the_value),
        cmocka_unit_test(restorer_escapes_for_json),
        cmocka_unit_test(cost_per_event),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
