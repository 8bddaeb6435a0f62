/* PII detectors, actions and the restorer. Check digits of the synthetic ids and cards are
 * computed here, independently of the module, so a wrong implementation cannot agree with
 * itself. */
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
    size_t limit; /* refuse writes past this many bytes; 0: never */
    int writes;
} out;

static int out_write(void *ud, const char *s, size_t n) {
    out *o = ud;
    o->writes++;
    if (o->limit && o->len + n > o->limit) return -1;
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

static void out_reset(out *o) {
    o->len = 0;
    o->writes = 0;
    if (o->data) o->data[0] = '\0';
}

static const char *out_str(out *o) {
    return o->data ? o->data : "";
}

/* The ISO 7064 MOD 11-2 check character of 17 digits. */
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

/* An 18-character id from region, date and sequence, with its check character. */
static void make_id(char id[19], const char *region, const char *date, const char *seq) {
    snprintf(id, 19, "%s%s%s", region, date, seq);
    id[17] = id_check(id);
    id[18] = '\0';
}

/* The same id with its check character one off (0->1, ..., 9->X, X->0). */
static void id_off_by_one(char id[19]) {
    static const char order[] = "0123456789X";
    const char *p = strchr(order, id[17]);
    id[17] = order[(p - order + 1) % 11];
}

static int luhn_sum(const char *digits) {
    int sum = 0, dbl = 0;
    for (size_t i = strlen(digits); i-- > 0;) {
        int d = digits[i] - '0';
        if (dbl) d = d * 2 > 9 ? d * 2 - 9 : d * 2;
        sum += d;
        dbl = !dbl;
    }
    return sum;
}

/* prefix + the digit that makes it pass Luhn. */
static void make_card(char *card, size_t size, const char *prefix) {
    snprintf(card, size, "%s0", prefix);
    int sum = luhn_sum(card);
    card[strlen(card) - 1] = (char)('0' + (10 - sum % 10) % 10);
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

/* "kind:value|kind:value" for every span a set finds. */
static const char *spans_of(const gw_pii_set *set, gw_pii_scratch *scratch, const char *text,
                            char *buf, size_t size) {
    gw_pii_span spans[64];
    size_t n = gw_pii_scan(set, scratch, text, strlen(text), spans, 64, NULL);
    assert_true(n <= 64);
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        if (i > 0) assert_true(spans[i].start >= spans[i - 1].end); /* sorted, no overlaps */
        int w = snprintf(buf + used, size - used, "%s%s:%.*s", i ? "|" : "",
                         gw_pii_detector_name(set, spans[i].detector),
                         (int)(spans[i].end - spans[i].start), text + spans[i].start);
        assert_true(w > 0 && (size_t)w < size - used);
        used += (size_t)w;
    }
    return buf;
}

typedef int (*find_fn)(const char *, size_t, size_t, gw_pii_span *);

/* The first value a single detector finds, as text ("" when none). */
static const char *first(find_fn find, const char *text, char *buf, size_t size) {
    gw_pii_span s;
    buf[0] = '\0';
    if (find(text, strlen(text), 0, &s))
        snprintf(buf, size, "%.*s", (int)(s.end - s.start), text + s.start);
    return buf;
}

#define FIRST(find, text) first(find, text, found, sizeof(found))

/* ---- China resident ids --------------------------------------------------------------- */

static void china_id_checksum(void **state) {
    (void)state;
    char found[64], id[19], text[128];
    make_id(id, "110105", "19900307", "123");
    assert_string_equal(FIRST(gw_pii_find_china_id, id), id);
    id_off_by_one(id);
    assert_string_equal(FIRST(gw_pii_find_china_id, id), "");

    /* every check character value, each valid and one off */
    int seen[11] = {0};
    for (int seq = 0; seq < 100; seq++) {
        char s[4];
        snprintf(s, sizeof(s), "%03d", seq);
        make_id(id, "440305", "20010911", s);
        seen[strchr("0123456789X", id[17]) - "0123456789X"] = 1;
        snprintf(text, sizeof(text), "id %s.", id);
        assert_string_equal(FIRST(gw_pii_find_china_id, text), id);
        if (id[17] == 'X') { /* lower-case x is accepted too */
            id[17] = 'x';
            assert_string_equal(FIRST(gw_pii_find_china_id, id), id);
            id[17] = 'X';
        }
        id_off_by_one(id);
        snprintf(text, sizeof(text), "id %s.", id);
        assert_string_equal(FIRST(gw_pii_find_china_id, text), "");
    }
    for (int k = 0; k < 11; k++)
        assert_true(seen[k]);
    /* a body digit changed breaks the checksum too */
    make_id(id, "310104", "19850612", "456");
    id[10] = id[10] == '9' ? '0' : (char)(id[10] + 1);
    assert_string_equal(FIRST(gw_pii_find_china_id, id), "");
}

static void china_id_date_and_region(void **state) {
    (void)state;
    char found[64], id[19];
    make_id(id, "110105", "20000229", "123"); /* 2000 was a leap year */
    assert_string_equal(FIRST(gw_pii_find_china_id, id), id);
    make_id(id, "110105", "19000229", "123"); /* 1900 was not */
    assert_string_equal(FIRST(gw_pii_find_china_id, id), "");
    make_id(id, "110105", "19900230", "123");
    assert_string_equal(FIRST(gw_pii_find_china_id, id), "");
    make_id(id, "110105", "19901301", "123");
    assert_string_equal(FIRST(gw_pii_find_china_id, id), "");
    make_id(id, "110105", "18991231", "123");
    assert_string_equal(FIRST(gw_pii_find_china_id, id), "");
    make_id(id, "110105", "21010101", "123");
    assert_string_equal(FIRST(gw_pii_find_china_id, id), "");
    make_id(id, "990105", "19900307", "123"); /* no province 99 */
    assert_string_equal(FIRST(gw_pii_find_china_id, id), "");
    make_id(id, "820000", "19900307", "123"); /* Macau */
    assert_string_equal(FIRST(gw_pii_find_china_id, id), id);
}

static void china_id_boundaries(void **state) {
    (void)state;
    char found[64];
    /* the standard's example id, in Chinese text */
    assert_string_equal(FIRST(gw_pii_find_china_id, "身份证号11010519491231002X"),
                        "11010519491231002X");
    assert_string_equal(FIRST(gw_pii_find_china_id, "身份证号11010519491231002X，谢谢"),
                        "11010519491231002X");
    assert_string_equal(FIRST(gw_pii_find_china_id, "id:11010519491231002X."),
                        "11010519491231002X");
    /* part of a longer run or of a word */
    assert_string_equal(FIRST(gw_pii_find_china_id, "911010519491231002X"), "");
    assert_string_equal(FIRST(gw_pii_find_china_id, "11010519491231002X1"), "");
    assert_string_equal(FIRST(gw_pii_find_china_id, "11010519491231002XY"), "");
    assert_string_equal(FIRST(gw_pii_find_china_id, "ID11010519491231002X"), "");
    assert_string_equal(FIRST(gw_pii_find_china_id, "1.11010519491231002X"), "");
    /* a 15-digit legacy id is not detected (documented) */
    assert_string_equal(FIRST(gw_pii_find_china_id, "110105491231002"), "");
}

/* ---- bank cards ----------------------------------------------------------------------- */

static void bank_card_luhn(void **state) {
    (void)state;
    char found[64], card[32], text[128];
    make_card(card, sizeof(card), "622202123456789");
    assert_string_equal(card, "6222021234567894");
    assert_string_equal(FIRST(gw_pii_find_bank_card, card), card);
    card[15] = card[15] == '9' ? '0' : (char)(card[15] + 1); /* one off */
    assert_string_equal(FIRST(gw_pii_find_bank_card, card), "");

    /* every length 13-19 */
    const char *prefixes[] = {"411111111111",      "3056930902590",    "37828224631000",
                              "411111111111111",   "6222021234567890", "62220212345678901",
                              "622202123456789012"};
    for (size_t k = 0; k < sizeof(prefixes) / sizeof(prefixes[0]); k++) {
        make_card(card, sizeof(card), prefixes[k]);
        snprintf(text, sizeof(text), "卡号%s。", card);
        assert_string_equal(FIRST(gw_pii_find_bank_card, text), card);
        card[3] = card[3] == '9' ? '0' : (char)(card[3] + 1);
        snprintf(text, sizeof(text), "卡号%s。", card);
        assert_string_equal(FIRST(gw_pii_find_bank_card, text), "");
    }
    assert_string_equal(FIRST(gw_pii_find_bank_card, "4111111111111111"), "4111111111111111");
    assert_string_equal(FIRST(gw_pii_find_bank_card, "4111111111111112"), "");
}

static void bank_card_shapes(void **state) {
    (void)state;
    char found[64];
    assert_string_equal(FIRST(gw_pii_find_bank_card, "card 6222 0212 3456 7894 thanks"),
                        "6222 0212 3456 7894");
    assert_string_equal(FIRST(gw_pii_find_bank_card, "6222-0212-3456-7894"), "6222-0212-3456-7894");
    assert_string_equal(FIRST(gw_pii_find_bank_card, "amex 3782 822463 10005"),
                        "3782 822463 10005");
    /* one kind of separator only */
    assert_string_equal(FIRST(gw_pii_find_bank_card, "6222 0212-3456 7894"), "");
    /* groups after a spaced card are the next words; a dashed run is one token */
    assert_string_equal(FIRST(gw_pii_find_bank_card, "4111 1111 1111 1111 2025"),
                        "4111 1111 1111 1111");
    assert_string_equal(FIRST(gw_pii_find_bank_card, "4111-1111-1111-1111-2025"), "");
    /* a 20-digit number holds no card, though its first 16 digits pass Luhn */
    assert_string_equal(FIRST(gw_pii_find_bank_card, "41111111111111112"), "");
    assert_string_equal(FIRST(gw_pii_find_bank_card, "41111111111111110000"), "");
    assert_string_equal(FIRST(gw_pii_find_bank_card, "04111111111111111"), "");
    /* digits glued to words or decimals */
    assert_string_equal(FIRST(gw_pii_find_bank_card, "x4111111111111111"), "");
    assert_string_equal(FIRST(gw_pii_find_bank_card, "4111111111111111x"), "");
    assert_string_equal(FIRST(gw_pii_find_bank_card, "4111111111111111_"), "");
    assert_string_equal(FIRST(gw_pii_find_bank_card, "0.4111111111111111"), "");
    assert_string_equal(FIRST(gw_pii_find_bank_card, "4111111111111111.5"), "");
    assert_string_equal(FIRST(gw_pii_find_bank_card, "pay 4111111111111111."), "4111111111111111");
    /* 13 digits only for Visa: a millisecond timestamp passing Luhn is not a card */
    char ts[20];
    make_card(ts, sizeof(ts), "171234567890");
    assert_string_equal(FIRST(gw_pii_find_bank_card, ts), "");
    make_card(ts, sizeof(ts), "411234567890");
    assert_string_equal(FIRST(gw_pii_find_bank_card, ts), ts);
}

/* ---- phones --------------------------------------------------------------------------- */

static void phone_china(void **state) {
    (void)state;
    char found[64];
    assert_string_equal(FIRST(gw_pii_find_phone, "我的手机号是13812345678谢谢"), "13812345678");
    assert_string_equal(FIRST(gw_pii_find_phone, "电话：138 1234 5678。"), "138 1234 5678");
    assert_string_equal(FIRST(gw_pii_find_phone, "call 138-1234-5678 now"), "138-1234-5678");
    assert_string_equal(FIRST(gw_pii_find_phone, "+86 138 1234 5678"), "+86 138 1234 5678");
    assert_string_equal(FIRST(gw_pii_find_phone, "+86-13812345678"), "+86-13812345678");
    assert_string_equal(FIRST(gw_pii_find_phone, "+8613812345678"), "+8613812345678");
    assert_string_equal(FIRST(gw_pii_find_phone, "0086 13812345678"), "0086 13812345678");
    assert_string_equal(FIRST(gw_pii_find_phone, "8613812345678"), "8613812345678");
    assert_string_equal(FIRST(gw_pii_find_phone, "tel 19912345678."), "19912345678");
    /* not a mobile: second digit, length, glued to words or longer runs */
    assert_string_equal(FIRST(gw_pii_find_phone, "12812345678"), "");
    assert_string_equal(FIRST(gw_pii_find_phone, "1381234567"), "");
    assert_string_equal(FIRST(gw_pii_find_phone, "138123456789"), "");
    assert_string_equal(FIRST(gw_pii_find_phone, "order13812345678"), "");
    assert_string_equal(FIRST(gw_pii_find_phone, "13812345678th"), "");
    assert_string_equal(FIRST(gw_pii_find_phone, "3.13812345678"), "");
    assert_string_equal(FIRST(gw_pii_find_phone, "138-1234-5678-9"), "");
    assert_string_equal(FIRST(gw_pii_find_phone, "138 12345 678"), "");
}

static void phone_international(void **state) {
    (void)state;
    char found[64];
    assert_string_equal(FIRST(gw_pii_find_phone, "ring +44 20 7946 0958 today"),
                        "+44 20 7946 0958");
    assert_string_equal(FIRST(gw_pii_find_phone, "+1 (415) 555-2671"), "+1 (415) 555-2671");
    assert_string_equal(FIRST(gw_pii_find_phone, "+1.415.555.2671."), "+1.415.555.2671");
    assert_string_equal(FIRST(gw_pii_find_phone, "+49301234567"), "+49301234567");
    assert_string_equal(FIRST(gw_pii_find_phone, "+1234567"), "");          /* 7 digits */
    assert_string_equal(FIRST(gw_pii_find_phone, "+1234567890123456"), ""); /* 16 */
    assert_string_equal(FIRST(gw_pii_find_phone, "a+4930123456789"), "");
    assert_string_equal(FIRST(gw_pii_find_phone, "+4930123456789x"), "");
    /* a list: the next number is not glued onto the first */
    char buf[256];
    gw_pii_config c = config_all(GW_PII_OFF);
    c.builtin[GW_PII_PHONE] = GW_PII_MASK;
    gw_pii_set *set = set_new(&c);
    gw_pii_scratch *scratch = gw_pii_scratch_new();
    assert_string_equal(spans_of(set, scratch, "+86 13812345678 13912345678", buf, sizeof(buf)),
                        "phone:+86 13812345678|phone:13912345678");
    assert_string_equal(
        spans_of(set, scratch, "13812345678,13912345678、15012345678", buf, sizeof(buf)),
        "phone:13812345678|phone:13912345678|phone:15012345678");
    gw_pii_scratch_free(scratch);
    gw_pii_set_free(set);
}

/* ---- email, ip, secrets --------------------------------------------------------------- */

static void email_shapes(void **state) {
    (void)state;
    char found[64];
    assert_string_equal(FIRST(gw_pii_find_email, "联系bob.smith+tag@example.co.uk谢谢"),
                        "bob.smith+tag@example.co.uk");
    assert_string_equal(FIRST(gw_pii_find_email, "mail bob@x.com."), "bob@x.com");
    assert_string_equal(FIRST(gw_pii_find_email, "...bob@x.com"), "bob@x.com");
    assert_string_equal(FIRST(gw_pii_find_email, "user=bob@x.com&a=1"), "bob@x.com");
    assert_string_equal(FIRST(gw_pii_find_email, "<a_b-c%d@mail-1.example.org>"),
                        "a_b-c%d@mail-1.example.org");
    assert_string_equal(FIRST(gw_pii_find_email, "bob@xn--fiqs8s.xn--fiqs8s"),
                        "bob@xn--fiqs8s.xn--fiqs8s");
    assert_string_equal(FIRST(gw_pii_find_email, "bob.@x.com"), "");
    assert_string_equal(FIRST(gw_pii_find_email, "bo..b@x.com"), "");
    assert_string_equal(FIRST(gw_pii_find_email, "bob@localhost"), "");
    assert_string_equal(FIRST(gw_pii_find_email, "bob@x.c"), "");
    assert_string_equal(FIRST(gw_pii_find_email, "bob@-x.com"), "");
    assert_string_equal(FIRST(gw_pii_find_email, "@x.com"), "");
    assert_string_equal(FIRST(gw_pii_find_email, "bob@x.com.123"), "bob@x.com");
    assert_string_equal(FIRST(gw_pii_find_email, "@@@ a@b @ c@d.io"), "c@d.io");
}

static void ip_shapes(void **state) {
    (void)state;
    char found[64];
    assert_string_equal(FIRST(gw_pii_find_ip, "服务器192.168.1.1上"), "192.168.1.1");
    assert_string_equal(FIRST(gw_pii_find_ip, "http://10.0.0.1:8080/"), "10.0.0.1");
    assert_string_equal(FIRST(gw_pii_find_ip, "at 255.255.255.255."), "255.255.255.255");
    assert_string_equal(FIRST(gw_pii_find_ip, "256.1.1.1"), "");
    assert_string_equal(FIRST(gw_pii_find_ip, "1.2.3"), "");
    assert_string_equal(FIRST(gw_pii_find_ip, "1.2.3.4.5"), "");
    assert_string_equal(FIRST(gw_pii_find_ip, "v1.2.3.4"), "");
    assert_string_equal(FIRST(gw_pii_find_ip, "1.2.3.4a"), "");
    assert_string_equal(FIRST(gw_pii_find_ip, "1111.2.3.4"), "");
    assert_string_equal(FIRST(gw_pii_find_ip, "addr 2001:db8::8a2e:370:7334!"),
                        "2001:db8::8a2e:370:7334");
    assert_string_equal(FIRST(gw_pii_find_ip, "地址fe80::1%eth0"), "fe80::1");
    assert_string_equal(FIRST(gw_pii_find_ip, "[2001:db8::1]:443"), "2001:db8::1");
    assert_string_equal(FIRST(gw_pii_find_ip, "mapped ::ffff:10.0.0.1."), "::ffff:10.0.0.1");
    assert_string_equal(FIRST(gw_pii_find_ip, "1:2:3:4:5:6:7:8"), "1:2:3:4:5:6:7:8");
    assert_string_equal(FIRST(gw_pii_find_ip, "at 12:30:45 today"), "");
    assert_string_equal(FIRST(gw_pii_find_ip, "std::vector<int> a::b"), "");
    assert_string_equal(FIRST(gw_pii_find_ip, "::1 and ::"), "");
    assert_string_equal(FIRST(gw_pii_find_ip, "mac 00:1a:2b:3c:4d:5e"), "");
}

static void secret_shapes(void **state) {
    (void)state;
    char found[512];
    const char *keys[] = {
        "sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z_A-B",
        "sk-ant-api03-Zx9Yw8Vu7Ts6Rq5Po4Nm3Lk2Ji1Hg0Fe",
        "sk-4bCdEfGhIjKlMnOpQrStUvWx",
        "AKIAIOSFODNN7EXAMPLE",
        "ghp_1234567890abcdefghijABCDEFGHIJ123456",
        "github_pat_11ABCDEFG0123456789_abcdefghijklmnop",
        "xoxb-1234567890-0987654321-AbCdEfGhIjKlMnOp",
        "AIzaSyA1234567890abcdefghijklmnopqrstuv",
        "sk_live_4eC39HqLyjWDarjtT1zdp7dc",
        ("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_"
         "XgL0n3I9PlFUP0THsR8U"), /* a JWT, in two literals */
    };
    char text[512];
    for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
        snprintf(text, sizeof(text), "密钥：%s，别外传", keys[k]);
        assert_string_equal(first(gw_pii_find_secret, text, found, sizeof(found)), keys[k]);
    }
    assert_string_equal(FIRST(gw_pii_find_secret, "task-0123456789abcdefghijABCD"), "");
    assert_string_equal(FIRST(gw_pii_find_secret, "use sk-learn-is-a-python-library-name"), "");
    assert_string_equal(FIRST(gw_pii_find_secret, "sk-short1A"), "");
    assert_string_equal(FIRST(gw_pii_find_secret, "AKIAIOSFODNN7EXAMPL"), "");   /* 15 */
    assert_string_equal(FIRST(gw_pii_find_secret, "AKIAIOSFODNN7EXAMPLEX"), ""); /* 17 */
    assert_string_equal(FIRST(gw_pii_find_secret, "ghp_short"), "");
    assert_string_equal(FIRST(gw_pii_find_secret, "eyJhbGciOiJIUzI1NiJ9.notjwt.x"), "");

    /* a PEM key runs through its END line, or to the end of a cut text */
    const char *pem = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA1c2\nq83+k=\n"
                      "-----END RSA PRIVATE KEY-----";
    snprintf(text, sizeof(text), "key:\n%s\nthanks", pem);
    assert_string_equal(FIRST(gw_pii_find_secret, text), pem);
    assert_string_equal(FIRST(gw_pii_find_secret, "x -----BEGIN PRIVATE KEY-----\nMIIE\nabc"),
                        "-----BEGIN PRIVATE KEY-----\nMIIE\nabc");
    assert_string_equal(FIRST(gw_pii_find_secret, "-----BEGIN PUBLIC KEY-----\nMIIB"), "");
    assert_string_equal(FIRST(gw_pii_find_secret, "-----BEGIN OPENSSH PRIVATE KEY"), "");
}

/* A detector's answer from any `from` is the first of its values that starts there or later:
 * what the scan relies on when it looks again after an overlap. Returns how many values the
 * text holds (at most 64 are checked). */
static size_t check_find_from(find_fn find, const char *text, size_t len) {
    gw_pii_span all[64];
    size_t n = 0;
    for (size_t from = 0; n < 64 && find(text, len, from, &all[n]); n++)
        from = all[n].start + 1;
    for (size_t from = 0; from <= len; from++) {
        gw_pii_span s;
        int got = find(text, len, from, &s);
        size_t k = 0;
        while (k < n && all[k].start < from)
            k++;
        if (k == n && n == 64) break; /* past the values checked */
        assert_int_equal(got, k < n);
        if (got) {
            assert_int_equal(s.start, all[k].start);
            assert_int_equal(s.end, all[k].end);
        }
    }
    return n;
}

static const find_fn all_finds[] = {gw_pii_find_email,     gw_pii_find_phone, gw_pii_find_china_id,
                                    gw_pii_find_bank_card, gw_pii_find_ip,    gw_pii_find_secret};

static void find_from_is_consistent(void **state) {
    (void)state;
    const char *text = "联系 bob@x.com 或 13812345678, +44 20 7946 0958, 卡 4111 1111 1111 1111 "
                       "id 11010519491231002X ip 10.0.0.1 and 2001:db8::1, key "
                       "AKIAIOSFODNN7EXAMPLE; 13812345678@qq.com 6222021234567894 ::ffff:1.2.3.4";
    for (size_t f = 0; f < sizeof(all_finds) / sizeof(all_finds[0]); f++)
        assert_true(check_find_from(all_finds[f], text, strlen(text)) > 0);
}

/* ---- the set and the scan ------------------------------------------------------------- */

static void scan_orders_and_resolves_overlaps(void **state) {
    (void)state;
    char buf[1024];
    gw_pii_config c = config_all(GW_PII_MASK);
    gw_pii_set *set = set_new(&c);
    gw_pii_scratch *scratch = gw_pii_scratch_new();
    assert_non_null(scratch);
    assert_string_equal(
        spans_of(set, scratch,
                 "我是张三，手机13812345678，邮箱zhang.san@example.com，身份证11010519491231002X，"
                 "卡号6222 0212 3456 7894，服务器192.168.1.1，key AKIAIOSFODNN7EXAMPLE。",
                 buf, sizeof(buf)),
        "phone:13812345678|email:zhang.san@example.com|china_id:11010519491231002X|"
        "bank_card:6222 0212 3456 7894|ip:192.168.1.1|secret:AKIAIOSFODNN7EXAMPLE");
    /* the longer value at the same start wins: the address, not the phone in it */
    assert_string_equal(spans_of(set, scratch, "QQ邮箱13812345678@qq.com", buf, sizeof(buf)),
                        "email:13812345678@qq.com");
    assert_string_equal(spans_of(set, scratch, "nothing here, 你好世界", buf, sizeof(buf)), "");

    /* an id that also passes Luhn: the checksummed id first */
    char id[19];
    for (int seq = 0; seq < 1000; seq++) {
        char s[4];
        snprintf(s, sizeof(s), "%03d", seq);
        make_id(id, "110105", "19900307", s);
        if (id[17] != 'X' && luhn_sum(id) % 10 == 0) break;
    }
    assert_true(luhn_sum(id) % 10 == 0);
    char expect[64];
    snprintf(expect, sizeof(expect), "china_id:%s", id);
    assert_string_equal(spans_of(set, scratch, id, buf, sizeof(buf)), expect);
    gw_pii_set_free(set);
    c.builtin[GW_PII_CHINA_ID] = GW_PII_OFF;
    set = set_new(&c);
    snprintf(expect, sizeof(expect), "bank_card:%s", id);
    assert_string_equal(spans_of(set, scratch, id, buf, sizeof(buf)), expect);

    /* a cap smaller than the count: the count is still right */
    gw_pii_span spans[1];
    const char *two = "13812345678 13912345678";
    assert_int_equal(gw_pii_scan(set, scratch, two, strlen(two), spans, 1, NULL), 2);
    assert_int_equal(spans[0].start, 0);
    gw_pii_scratch_free(scratch);
    gw_pii_set_free(set);
}

static void custom_patterns(void **state) {
    (void)state;
    char buf[512], err[256];
    gw_pii_custom_desc custom[] = {
        {"employee_id", "EMP-\\d{6}", GW_PII_MASK, 0},
        {"Plate", "[京沪粤][A-Z][0-9A-Z]{5}", GW_PII_RESTORE, 0},
        {"empty_ok", "x*", GW_PII_MASK, 0}, /* NOTEMPTY: only real runs of x */
    };
    gw_pii_config c = config_all(GW_PII_OFF);
    c.builtin[GW_PII_PHONE] = GW_PII_MASK;
    c.custom = custom;
    c.custom_count = 3;
    gw_pii_set *set = set_new(&c);
    assert_true(gw_pii_set_has_restore(set));
    gw_pii_scratch *scratch = gw_pii_scratch_new();
    assert_string_equal(spans_of(set, scratch, "工号EMP-123456，车牌沪A12345，电话13812345678 xx",
                                 buf, sizeof(buf)),
                        "employee_id:EMP-123456|Plate:沪A12345|phone:13812345678|empty_ok:xx");

    out o = {0};
    gw_pii_table *t = gw_pii_table_new(set);
    gw_pii_result r;
    const char *text = "EMP-000001 drove 沪A12345";
    assert_int_equal(gw_pii_apply(set, scratch, text, strlen(text), out_write, &o, t, &r),
                     GW_PII_OK);
    assert_string_equal(out_str(&o), "[EMPLOYEE_ID] drove [[PII_PLATE_1]]");
    free(o.data);
    gw_pii_table_free(t);
    gw_pii_set_free(set);

    /* errors name the pattern and where */
    gw_pii_custom_desc bad[] = {{"bad", "a(b", GW_PII_MASK, 0}};
    c.custom = bad;
    c.custom_count = 1;
    assert_null(gw_pii_set_new(&c, err, sizeof(err)));
    assert_non_null(strstr(err, "custom bad: PCRE2 error at offset 3"));
    gw_pii_custom_desc names[][2] = {
        {{"email", "x", GW_PII_MASK, 0}, {NULL, NULL, GW_PII_OFF, 0}},
        {{"bad name", "x", GW_PII_MASK, 0}, {NULL, NULL, GW_PII_OFF, 0}},
        {{"", "x", GW_PII_MASK, 0}, {NULL, NULL, GW_PII_OFF, 0}},
        {{"abcdefghijklmnopqrstuvwxyz0123456", "x", GW_PII_MASK, 0}, {NULL, NULL, GW_PII_OFF, 0}},
        {{"twice", "x", GW_PII_MASK, 0}, {"TWICE", "y", GW_PII_MASK, 0}},
        {{"act", "x", (gw_pii_action)9, 0}, {NULL, NULL, GW_PII_OFF, 0}},
        {{"nopattern", NULL, GW_PII_MASK, 0}, {NULL, NULL, GW_PII_OFF, 0}},
    };
    for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
        c.custom = names[k];
        c.custom_count = names[k][1].name ? 2 : 1;
        err[0] = '\0';
        assert_null(gw_pii_set_new(&c, err, sizeof(err)));
        assert_true(err[0] != '\0');
    }
    c.custom = NULL;
    c.custom_count = 0;
    c.restore_max_entries = 70000;
    assert_null(gw_pii_set_new(&c, err, sizeof(err)));
    gw_pii_scratch_free(scratch);
}

static void custom_regex_match_limit(void **state) {
    (void)state;
    gw_pii_custom_desc custom[] = {{"evil", "(a+)+$", GW_PII_MASK, 0}};
    gw_pii_config c = config_all(GW_PII_OFF);
    c.builtin[GW_PII_EMAIL] = GW_PII_MASK;
    c.custom = custom;
    c.custom_count = 1;
    gw_pii_set *set = set_new(&c);
    gw_pii_scratch *scratch = gw_pii_scratch_new();
    char text[128];
    memset(text, 'a', 60);
    strcpy(text + 60, "! bob@x.com");
    gw_pii_span spans[4];
    unsigned errors = 0;
    size_t n = gw_pii_scan(set, scratch, text, strlen(text), spans, 4, &errors);
    assert_int_equal(errors, 1); /* cut short and counted; the other detectors still ran */
    assert_int_equal(n, 1);
    assert_int_equal(spans[0].kind, GW_PII_EMAIL);
    gw_pii_scratch_free(scratch);
    gw_pii_set_free(set);
}

static void names_parse(void **state) {
    (void)state;
    gw_pii_kind k;
    gw_pii_action a;
    assert_int_equal(gw_pii_kind_parse("china_id", &k), 0);
    assert_int_equal(k, GW_PII_CHINA_ID);
    assert_int_equal(gw_pii_kind_parse("bank_card", &k), 0);
    assert_int_equal(k, GW_PII_BANK_CARD);
    assert_int_equal(gw_pii_kind_parse("custom", &k), -1);
    assert_int_equal(gw_pii_kind_parse("Email", &k), -1);
    assert_int_equal(gw_pii_action_parse("restore", &a), 0);
    assert_int_equal(a, GW_PII_RESTORE);
    assert_int_equal(gw_pii_action_parse("off", &a), 0);
    assert_int_equal(a, GW_PII_OFF);
    assert_int_equal(gw_pii_action_parse("drop", &a), -1);
    assert_string_equal(gw_pii_kind_name(GW_PII_IP), "ip");
    assert_string_equal(gw_pii_kind_name(GW_PII_CUSTOM), "custom");
}

/* ---- actions -------------------------------------------------------------------------- */

static void action_block(void **state) {
    (void)state;
    gw_pii_config c = config_all(GW_PII_MASK);
    c.builtin[GW_PII_CHINA_ID] = GW_PII_BLOCK;
    c.builtin[GW_PII_BANK_CARD] = GW_PII_BLOCK;
    gw_pii_set *set = set_new(&c);
    gw_pii_scratch *scratch = gw_pii_scratch_new();
    out o = {0};
    gw_pii_result r;
    const char *text = "mail bob@x.com, 身份证11010519491231002X, card 4111111111111111";
    assert_int_equal(gw_pii_apply(set, scratch, text, strlen(text), out_write, &o, NULL, &r),
                     GW_PII_BLOCKED);
    assert_int_equal(r.blocked_kind, GW_PII_CHINA_ID); /* the first blocking value */
    assert_string_equal(r.blocked_name, "china_id");
    assert_null(strstr(out_str(&o), "11010519491231002X")); /* never the value */
    assert_int_equal(r.masked, 1);

    /* nothing to block: masked, and the blocking kinds are absent */
    out_reset(&o);
    text = "mail bob@x.com only";
    assert_int_equal(gw_pii_apply(set, scratch, text, strlen(text), out_write, &o, NULL, &r),
                     GW_PII_OK);
    assert_string_equal(out_str(&o), "mail [EMAIL] only");
    free(o.data);
    gw_pii_scratch_free(scratch);
    gw_pii_set_free(set);
}

static void action_mask(void **state) {
    (void)state;
    gw_pii_config c = config_all(GW_PII_MASK);
    gw_pii_set *set = set_new(&c);
    gw_pii_scratch *scratch = gw_pii_scratch_new();
    struct {
        const char *in, *want;
    } cases[] = {
        {"我的手机号是13812345678谢谢", "我的手机号是138****5678谢谢"},
        {"+86 138 1234 5678", "+86 138 **** 5678"},
        {"0086-13812345678", "0086-138****5678"},
        {"8613812345678", "86138****5678"},
        {"+44 20 7946 0958", "+44 2* **** 0958"},
        {"+49 3012 3456", "+49 **** 3456"}, /* short: still four hidden */
        {"卡号6222 0212 3456 7894。", "卡号6222 **** **** 7894。"},
        {"6222021234567894", "6222********7894"},
        {"身份证11010519491231002X", "身份证1101**********002X"},
        {"to bob@x.com.", "to [EMAIL]."},
        {"host 10.0.0.1:80 and fe80::1", "host [IP]:80 and [IP]"},
        {"key AKIAIOSFODNN7EXAMPLE!", "key [SECRET]!"},
        {"a\n-----BEGIN EC PRIVATE KEY-----\nMHc\n-----END EC PRIVATE KEY-----\nb",
         "a\n[SECRET]\nb"},
    };
    out o = {0};
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        gw_pii_result r;
        out_reset(&o);
        assert_int_equal(
            gw_pii_apply(set, scratch, cases[k].in, strlen(cases[k].in), out_write, &o, NULL, &r),
            GW_PII_OK);
        assert_true(r.changed);
        assert_string_equal(out_str(&o), cases[k].want);
    }
    /* a clean text is not copied */
    gw_pii_result r;
    out_reset(&o);
    const char *clean = "今天天气很好，the build passed in 12.5 s (run 1234567).";
    assert_int_equal(gw_pii_apply(set, scratch, clean, strlen(clean), out_write, &o, NULL, &r),
                     GW_PII_OK);
    assert_false(r.changed);
    assert_int_equal(o.writes, 0);
    /* a write that fails ends the call */
    out_reset(&o);
    o.limit = 5;
    const char *text = "mail bob@x.com and bob@y.com";
    assert_int_equal(gw_pii_apply(set, scratch, text, strlen(text), out_write, &o, NULL, &r),
                     GW_PII_ERR_OUTPUT);
    assert_int_equal(gw_pii_apply(NULL, scratch, text, strlen(text), out_write, &o, NULL, &r),
                     GW_PII_ERR_ARGUMENT);
    free(o.data);
    gw_pii_scratch_free(scratch);
    gw_pii_set_free(set);
}

static void action_restore_reuses_placeholders(void **state) {
    (void)state;
    gw_pii_config c = config_all(GW_PII_RESTORE);
    gw_pii_set *set = set_new(&c);
    gw_pii_scratch *scratch = gw_pii_scratch_new();
    gw_pii_table *t = gw_pii_table_new(set);
    out o = {0};
    gw_pii_result r;
    const char *m1 = "我叫张三，电话13812345678，邮箱zs@example.com，再说一遍13812345678。";
    assert_int_equal(gw_pii_apply(set, scratch, m1, strlen(m1), out_write, &o, t, &r), GW_PII_OK);
    assert_string_equal(
        out_str(&o),
        "我叫张三，电话[[PII_PHONE_1]]，邮箱[[PII_EMAIL_2]]，再说一遍[[PII_PHONE_1]]。");
    assert_int_equal(r.restored, 3);
    assert_int_equal(gw_pii_table_count(t), 2);
    /* the next message of the same request shares the table */
    out_reset(&o);
    const char *m2 = "zs@example.com and 13912345678";
    assert_int_equal(gw_pii_apply(set, scratch, m2, strlen(m2), out_write, &o, t, &r), GW_PII_OK);
    assert_string_equal(out_str(&o), "[[PII_EMAIL_2]] and [[PII_PHONE_3]]");

    /* and the answer gets the originals back */
    out_reset(&o);
    const char *answer = "已记录：[[PII_PHONE_1]] / [[PII_EMAIL_2]] / [[PII_PHONE_3]] / "
                         "[[PII_PHONE_9]] / [[PII_EMAIL_1]]";
    assert_int_equal(gw_pii_restore(t, answer, strlen(answer), out_write, &o), GW_PII_OK);
    assert_string_equal(
        out_str(&o),
        "已记录：13812345678 / zs@example.com / 13912345678 / [[PII_PHONE_9]] / [[PII_EMAIL_1]]");
    free(o.data);
    gw_pii_table_free(t);
    gw_pii_scratch_free(scratch);
    gw_pii_set_free(set);
}

static void restore_table_bounds(void **state) {
    (void)state;
    gw_pii_config c = config_all(GW_PII_RESTORE);
    c.restore_max_entries = 2;
    gw_pii_set *set = set_new(&c);
    gw_pii_scratch *scratch = gw_pii_scratch_new();
    gw_pii_table *t = gw_pii_table_new(set);
    out o = {0};
    gw_pii_result r;
    const char *text = "13812345678 13912345678 13812345678 15012345678";
    assert_int_equal(gw_pii_apply(set, scratch, text, strlen(text), out_write, &o, t, &r),
                     GW_PII_OK);
    /* the third distinct value finds the table full: masked, counted, never sent as is */
    assert_string_equal(out_str(&o), "[[PII_PHONE_1]] [[PII_PHONE_2]] [[PII_PHONE_1]] 150****5678");
    assert_int_equal(r.restore_overflow, 1);
    assert_int_equal(r.restored, 3);
    assert_int_equal(gw_pii_table_count(t), 2);
    gw_pii_table_free(t);
    gw_pii_set_free(set);

    /* bytes: "[[PII_PHONE_1]]" (15) + 11 = 26 per phone; 60 bytes hold two */
    c.restore_max_entries = 0;
    c.restore_max_bytes = 60;
    set = set_new(&c);
    t = gw_pii_table_new(set);
    out_reset(&o);
    assert_int_equal(gw_pii_apply(set, scratch, text, strlen(text), out_write, &o, t, &r),
                     GW_PII_OK);
    assert_int_equal(gw_pii_table_count(t), 2);
    assert_int_equal(gw_pii_table_bytes(t), 52);
    assert_int_equal(r.restore_overflow, 1);
    /* a value larger than the whole table is masked */
    out_reset(&o);
    const char *key =
        "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQ\n-----END "
        "PRIVATE KEY-----";
    assert_int_equal(gw_pii_apply(set, scratch, key, strlen(key), out_write, &o, t, &r), GW_PII_OK);
    assert_string_equal(out_str(&o), "[SECRET]");
    assert_int_equal(r.restore_overflow, 1);
    gw_pii_table_free(t);

    /* no table at all: restore values are masked */
    out_reset(&o);
    assert_int_equal(gw_pii_apply(set, scratch, "bob@x.com", 9, out_write, &o, NULL, &r),
                     GW_PII_OK);
    assert_string_equal(out_str(&o), "[EMAIL]");
    assert_int_equal(r.restore_overflow, 1);

    /* 65535 entries at most, so placeholders stay within GW_PII_PLACEHOLDER_MAX */
    c.restore_max_entries = 65535;
    c.restore_max_bytes = 1 << 30;
    gw_pii_set_free(set);
    set = set_new(&c);
    gw_pii_set_free(set);
    free(o.data);
    gw_pii_scratch_free(scratch);
}

/* ---- the restorer --------------------------------------------------------------------- */

typedef struct restore_fixture {
    gw_pii_set *set;
    gw_pii_scratch *scratch;
    gw_pii_table *table;
} restore_fixture;

static restore_fixture fixture_new(void) {
    restore_fixture f;
    gw_pii_custom_desc custom[] = {{"employee_id_long_name_x", "EMP-\\d{4}", GW_PII_RESTORE, 0}};
    gw_pii_config c = config_all(GW_PII_RESTORE);
    c.custom = custom;
    c.custom_count = 1;
    f.set = set_new(&c);
    f.scratch = gw_pii_scratch_new();
    f.table = gw_pii_table_new(f.set);
    out o = {0};
    const char *text = "13812345678 bob@x.com EMP-0042 10.0.0.1";
    assert_int_equal(
        gw_pii_apply(f.set, f.scratch, text, strlen(text), out_write, &o, f.table, NULL),
        GW_PII_OK);
    assert_string_equal(
        out_str(&o),
        "[[PII_PHONE_1]] [[PII_EMAIL_2]] [[PII_EMPLOYEE_ID_LONG_NAME_X_3]] [[PII_IP_4]]");
    free(o.data);
    return f;
}

static void fixture_free(restore_fixture *f) {
    gw_pii_table_free(f->table);
    gw_pii_scratch_free(f->scratch);
    gw_pii_set_free(f->set);
}

/* Feeds pieces [0,a) [a,b) [b,n), checking the hold bound after each. */
static void feed3(const gw_pii_table *t, const char *s, size_t a, size_t b, out *o) {
    gw_pii_restorer r;
    gw_pii_restorer_init(&r, t);
    size_t cuts[4] = {0, a, b, strlen(s)};
    for (int k = 0; k < 3; k++) {
        assert_int_equal(gw_pii_restorer_feed(&r, s + cuts[k], cuts[k + 1] - cuts[k], out_write, o),
                         GW_PII_OK);
        assert_true(gw_pii_restorer_held(&r) < gw_pii_table_longest(t));
    }
    assert_int_equal(gw_pii_restorer_flush(&r, out_write, o), GW_PII_OK);
    assert_int_equal(gw_pii_restorer_held(&r), 0);
}

static void restorer_splits(void **state) {
    (void)state;
    restore_fixture f = fixture_new();
    const char *answer = "号码[[PII_PHONE_1]]，[[PII_EMAIL_2]][[PII_EMPLOYEE_ID_LONG_NAME_X_3]]"
                         "[[[PII_IP_4]]] [[PII_IP_5]] [[PII_ [PII_IP_4]] [[PII_IP_4]";
    const char *want =
        "号码13812345678，bob@x.comEMP-0042[10.0.0.1] [[PII_IP_5]] [[PII_ [PII_IP_4]] "
        "[[PII_IP_4]";
    out o = {0};
    assert_int_equal(gw_pii_restore(f.table, answer, strlen(answer), out_write, &o), GW_PII_OK);
    assert_string_equal(out_str(&o), want);

    /* every 2-way and 3-way split gives the same text */
    size_t n = strlen(answer);
    for (size_t a = 0; a <= n; a++)
        for (size_t b = a; b <= n; b++) {
            out_reset(&o);
            feed3(f.table, answer, a, b, &o);
            if (strcmp(out_str(&o), want)) fail_msg("split at %zu, %zu: %s", a, b, out_str(&o));
        }

    /* byte by byte */
    gw_pii_restorer r;
    gw_pii_restorer_init(&r, f.table);
    out_reset(&o);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(gw_pii_restorer_feed(&r, answer + i, 1, out_write, &o), GW_PII_OK);
        assert_true(gw_pii_restorer_held(&r) < gw_pii_table_longest(f.table));
    }
    assert_int_equal(gw_pii_restorer_flush(&r, out_write, &o), GW_PII_OK);
    assert_string_equal(out_str(&o), want);
    free(o.data);
    fixture_free(&f);
}

static void restorer_holds_only_a_placeholder_start(void **state) {
    (void)state;
    restore_fixture f = fixture_new();
    gw_pii_restorer r;
    gw_pii_restorer_init(&r, f.table);
    out o = {0};
    /* "[[PII_PH" at the end of a piece waits for the next one */
    assert_int_equal(gw_pii_restorer_feed(&r, "你的电话是 [[PII_PH", strlen("你的电话是 [[PII_PH"),
                                          out_write, &o),
                     GW_PII_OK);
    assert_string_equal(out_str(&o), "你的电话是 ");
    assert_int_equal(gw_pii_restorer_held(&r), 8);
    assert_int_equal(gw_pii_restorer_feed(&r, "ONE_1", 5, out_write, &o), GW_PII_OK);
    assert_string_equal(out_str(&o), "你的电话是 ");
    assert_int_equal(gw_pii_restorer_feed(&r, "]] ok", 5, out_write, &o), GW_PII_OK);
    assert_string_equal(out_str(&o), "你的电话是 13812345678 ok");
    assert_int_equal(gw_pii_restorer_held(&r), 0);

    /* text that cannot be a placeholder is not held */
    out_reset(&o);
    assert_int_equal(gw_pii_restorer_feed(&r, "a [b] [[x", 9, out_write, &o), GW_PII_OK);
    assert_string_equal(out_str(&o), "a [b] [[x");
    assert_int_equal(gw_pii_restorer_feed(&r, "[[PII_phone", 11, out_write, &o), GW_PII_OK);
    assert_int_equal(gw_pii_restorer_held(&r), 0);
    /* a lone "[" is held (it may start one), released by the next piece or the flush */
    assert_int_equal(gw_pii_restorer_feed(&r, "end [", 5, out_write, &o), GW_PII_OK);
    assert_int_equal(gw_pii_restorer_held(&r), 1);
    assert_int_equal(gw_pii_restorer_flush(&r, out_write, &o), GW_PII_OK);
    assert_string_equal(out_str(&o), "a [b] [[x[[PII_phoneend [");

    /* never more than the longest placeholder: a long run in the shape is let go */
    out_reset(&o);
    size_t longest = gw_pii_table_longest(f.table);
    assert_int_equal(longest, strlen("[[PII_EMPLOYEE_ID_LONG_NAME_X_3]]"));
    char lng[128] = "[[PII_";
    memset(lng + 6, 'A', 60);
    lng[66] = '\0';
    for (size_t i = 0; i < strlen(lng); i++) {
        assert_int_equal(gw_pii_restorer_feed(&r, lng + i, 1, out_write, &o), GW_PII_OK);
        assert_true(gw_pii_restorer_held(&r) < longest);
    }
    assert_int_equal(gw_pii_restorer_flush(&r, out_write, &o), GW_PII_OK);
    assert_string_equal(out_str(&o), lng);

    /* an empty table passes everything at once */
    gw_pii_table *empty = gw_pii_table_new(f.set);
    gw_pii_restorer_init(&r, empty);
    out_reset(&o);
    assert_int_equal(gw_pii_restorer_feed(&r, "[[PII_PHONE_1]] [[PII_", 22, out_write, &o),
                     GW_PII_OK);
    assert_string_equal(out_str(&o), "[[PII_PHONE_1]] [[PII_");
    gw_pii_table_free(empty);

    /* a refused write is reported */
    gw_pii_restorer_init(&r, f.table);
    out_reset(&o);
    o.limit = 3;
    assert_int_equal(gw_pii_restorer_feed(&r, "[[PII_PHONE_1]]", 15, out_write, &o),
                     GW_PII_ERR_OUTPUT);
    free(o.data);
    fixture_free(&f);
}

/* ---- properties on random text ---------------------------------------------------------- */

static uint32_t next_random(uint32_t *x) {
    *x ^= *x << 13;
    *x ^= *x >> 17;
    *x ^= *x << 5;
    return *x;
}

/* Text from pieces that make values and near-values collide: digits, separators, '@', dots,
 * colons, brackets, key prefixes, CJK. No ']' so the text itself holds no placeholder. */
static size_t random_text(uint32_t *x, char *buf, size_t cap) {
    static const char *const pieces[] = {"1",
                                         "3",
                                         "8",
                                         "0",
                                         "4",
                                         "9",
                                         "X",
                                         " ",
                                         "-",
                                         ".",
                                         ":",
                                         "@",
                                         "+",
                                         "+86",
                                         "a",
                                         "bob",
                                         "x.com",
                                         "[",
                                         "[[PII_",
                                         "PHONE_",
                                         "_",
                                         "手机",
                                         "，",
                                         "sk-",
                                         "AKIA",
                                         "eyJ",
                                         "ff",
                                         "13812345678",
                                         "4111 1111 1111 1111",
                                         "11010519491231002X",
                                         "192.168.1.1",
                                         "::",
                                         "-----BEGIN PRIVATE KEY-----",
                                         "-----END ",
                                         "\xe4",
                                         "\n"};
    size_t len = 0, n = sizeof(pieces) / sizeof(pieces[0]);
    for (;;) {
        const char *p = pieces[next_random(x) % n];
        size_t pl = strlen(p);
        if (len + pl >= cap) break;
        memcpy(buf + len, p, pl);
        len += pl;
    }
    buf[len] = '\0';
    return len;
}

/* Whatever the text, spans are ordered and inside it, restore gives back exactly what apply
 * replaced, and a stream cut anywhere restores to the same text. */
static void random_text_round_trips(void **state) {
    (void)state;
    gw_pii_custom_desc custom[] = {{"digits", "\\d{5,}", GW_PII_RESTORE, 0}};
    gw_pii_config c = config_all(GW_PII_RESTORE);
    c.custom = custom;
    c.custom_count = 1;
    gw_pii_set *set = set_new(&c);
    gw_pii_scratch *scratch = gw_pii_scratch_new();
    out o = {0}, back = {0}, streamed = {0};
    char text[600];
    uint32_t x = 2463534242u;
    int rounds = RUNNING_ON_VALGRIND ? 100 : 2000;
    size_t restored = 0;
    for (int round = 0; round < rounds; round++) {
        size_t len = random_text(&x, text, 100 + next_random(&x) % 500);
        if (round < (RUNNING_ON_VALGRIND ? 5 : 100))
            for (size_t f = 0; f < sizeof(all_finds) / sizeof(all_finds[0]); f++)
                check_find_from(all_finds[f], text, len);
        gw_pii_span spans[128];
        size_t n = gw_pii_scan(set, scratch, text, len, spans, 128, NULL);
        for (size_t i = 0; i < n && i < 128; i++) {
            assert_true(spans[i].start < spans[i].end && spans[i].end <= len);
            if (i) assert_true(spans[i].start >= spans[i - 1].end);
        }
        gw_pii_table *t = gw_pii_table_new(set);
        gw_pii_result r;
        out_reset(&o);
        assert_int_equal(gw_pii_apply(set, scratch, text, len, out_write, &o, t, &r), GW_PII_OK);
        restored += r.restored;
        const char *model = r.changed ? out_str(&o) : text;
        size_t model_len = r.changed ? o.len : len;
        out_reset(&back);
        assert_int_equal(gw_pii_restore(t, model, model_len, out_write, &back), GW_PII_OK);
        if (back.len != len || memcmp(out_str(&back), text, len))
            fail_msg("round %d:\n%s\n%s\n%s", round, text, model, out_str(&back));
        /* the same through a restorer, in random pieces */
        gw_pii_restorer rs;
        gw_pii_restorer_init(&rs, t);
        out_reset(&streamed);
        for (size_t at = 0; at < model_len;) {
            size_t piece = 1 + next_random(&x) % 20;
            if (piece > model_len - at) piece = model_len - at;
            assert_int_equal(gw_pii_restorer_feed(&rs, model + at, piece, out_write, &streamed),
                             GW_PII_OK);
            assert_true(gw_pii_restorer_held(&rs) < GW_PII_PLACEHOLDER_MAX);
            at += piece;
        }
        assert_int_equal(gw_pii_restorer_flush(&rs, out_write, &streamed), GW_PII_OK);
        assert_int_equal(streamed.len, len);
        assert_memory_equal(out_str(&streamed), text, len);
        gw_pii_table_free(t);
    }
    print_message("%zu values over %d texts\n", restored, rounds);
    assert_true(restored > (size_t)rounds); /* the texts do hold values */
    free(o.data);
    free(back.data);
    free(streamed.data);
    gw_pii_scratch_free(scratch);
    gw_pii_set_free(set);
}

/* ---- cost ----------------------------------------------------------------------------- */

static double ms_since(const struct timespec *a) {
    struct timespec b;
    clock_gettime(CLOCK_MONOTONIC, &b);
    return (double)(b.tv_sec - a->tv_sec) * 1e3 + (double)(b.tv_nsec - a->tv_nsec) / 1e6;
}

static void ten_kib_in_well_under_a_millisecond(void **state) {
    (void)state;
    static const char para[] =
        "Hello, please summarize the following meeting notes. 会议纪要：张三（电话 13812345678，"
        "邮箱 zhang.san@example.com）提出预算 1,299.99 元，时间 2024-03-17 14:30:00，"
        "服务器 10.20.30.40 需要升级 to v1.2.3. The quick brown fox jumps over the lazy dog; "
        "订单号 202403170001234，金额 ¥3,500。Thanks! ";
    char text[10 * 1024 + 1];
    size_t len = 0;
    while (len + sizeof(para) - 1 <= sizeof(text) - 1) {
        memcpy(text + len, para, sizeof(para) - 1);
        len += sizeof(para) - 1;
    }
    text[len] = '\0';
    gw_pii_custom_desc custom[] = {{"employee_id", "EMP-\\d{6}", GW_PII_MASK, 0}};
    gw_pii_config c = config_all(GW_PII_RESTORE);
    c.custom = custom;
    c.custom_count = 1;
    gw_pii_set *set = set_new(&c);
    gw_pii_scratch *scratch = gw_pii_scratch_new();
    out o = {0};
    double best = 1e9;
    for (int round = 0; round < 5; round++) {
        gw_pii_table *t = gw_pii_table_new(set);
        out_reset(&o);
        struct timespec start;
        clock_gettime(CLOCK_MONOTONIC, &start);
        gw_pii_result r;
        assert_int_equal(gw_pii_apply(set, scratch, text, len, out_write, &o, t, &r), GW_PII_OK);
        double ms = ms_since(&start);
        if (ms < best) best = ms;
        assert_int_equal(gw_pii_table_count(t), 3); /* the same three values every time */
        assert_int_equal(r.restored, 3 * (len / (sizeof(para) - 1))); /* three in every paragraph */
        gw_pii_table_free(t);
    }
    print_message("apply on %zu bytes: %.3f ms (best of 5)\n", len, best);
    /* valgrind runs code some 50 times slower */
    assert_true(best < (RUNNING_ON_VALGRIND ? 250.0 : 5.0));
    free(o.data);
    gw_pii_scratch_free(scratch);
    gw_pii_set_free(set);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(china_id_checksum),
        cmocka_unit_test(china_id_date_and_region),
        cmocka_unit_test(china_id_boundaries),
        cmocka_unit_test(bank_card_luhn),
        cmocka_unit_test(bank_card_shapes),
        cmocka_unit_test(phone_china),
        cmocka_unit_test(phone_international),
        cmocka_unit_test(email_shapes),
        cmocka_unit_test(ip_shapes),
        cmocka_unit_test(secret_shapes),
        cmocka_unit_test(find_from_is_consistent),
        cmocka_unit_test(scan_orders_and_resolves_overlaps),
        cmocka_unit_test(custom_patterns),
        cmocka_unit_test(custom_regex_match_limit),
        cmocka_unit_test(names_parse),
        cmocka_unit_test(action_block),
        cmocka_unit_test(action_mask),
        cmocka_unit_test(action_restore_reuses_placeholders),
        cmocka_unit_test(restore_table_bounds),
        cmocka_unit_test(restorer_splits),
        cmocka_unit_test(restorer_holds_only_a_placeholder_start),
        cmocka_unit_test(random_text_round_trips),
        cmocka_unit_test(ten_kib_in_well_under_a_millisecond),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
