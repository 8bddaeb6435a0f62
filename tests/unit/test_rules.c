/* Routing rules: each condition kind, first match in order, every condition of a rule needed,
 * what the loader is told about a bad rule, and an evaluation that allocates nothing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <json-c/json.h>

#include "route/rules.h"

/* Counting allocations: this executable's malloc family stands in for glibc's for every
 * library in the process, json-c and PCRE2 included. AddressSanitizer brings its own. */
#if defined(__SANITIZE_ADDRESS__)
#define COUNTS_ALLOCATIONS 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define COUNTS_ALLOCATIONS 0
#endif
#endif
#ifndef COUNTS_ALLOCATIONS
#define COUNTS_ALLOCATIONS 1
#endif

static size_t allocations;

#if COUNTS_ALLOCATIONS
extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t size);

void *malloc(size_t size) {
    allocations++;
    return __libc_malloc(size);
}

void *calloc(size_t n, size_t size) {
    allocations++;
    return __libc_calloc(n, size);
}

void *realloc(void *p, size_t size) {
    allocations++;
    return __libc_realloc(p, size);
}
#endif

typedef struct header {
    const char *name, *value;
} header;

static const header default_headers[] = {
    {"X-Tenant", "finance"},
    {"User-Agent", "OpenAI/Python 1.40.0"},
    {"X-Canary", "\xff\xfe group-7"}, /* not UTF-8 */
    {NULL, NULL},
};

static const char *lookup_header(void *ud, const char *name, size_t *len) {
    for (const header *h = ud; h->name; h++)
        if (!strcasecmp(h->name, name)) {
            *len = strlen(h->value);
            return h->value;
        }
    return NULL;
}

static json_object *parse(const char *text) {
    json_object *o = json_tokener_parse(text);
    assert_non_null(o);
    return o;
}

static gw_rule_input input_of(json_object *body, int api_is_chat) {
    return (gw_rule_input){
        .header = lookup_header,
        .header_ud = (void *)default_headers,
        .body = body,
        .api_is_chat = api_is_chat,
    };
}

/* Builds a one-rule set from one condition; fails the test when it is refused. */
static gw_rule_set *one_rule(gw_rule_condition_desc cond) {
    gw_rule_set *rules = gw_rules_new();
    char err[256];
    assert_int_equal(gw_rules_add_rule(rules, 0), 0);
    if (gw_rules_add_condition(rules, &cond, err, sizeof(err)) < 0) fail_msg("%s", err);
    return rules;
}

static int holds(gw_rule_condition_desc cond, json_object *body, int api_is_chat) {
    gw_rule_set *rules = one_rule(cond);
    gw_rules_scratch *scratch = gw_rules_scratch_new();
    gw_rule_input in = input_of(body, api_is_chat);
    int first = gw_rules_first_match(rules, &in, scratch);
    assert_int_equal(in.regex_errors, 0);
    gw_rules_scratch_free(scratch);
    gw_rules_free(rules);
    return first == 0;
}

static gw_rule_condition_desc header_cond(const char *name, gw_rule_test test, const char *value) {
    return (gw_rule_condition_desc){
        .subject = GW_RULE_HEADER, .name = name, .test = test, .value = value};
}

static gw_rule_condition_desc field_cond(const char *path, gw_rule_test test, const char *value) {
    return (gw_rule_condition_desc){
        .subject = GW_RULE_FIELD, .name = path, .test = test, .value = value};
}

static gw_rule_condition_desc last_user_cond(gw_rule_test test, const char *value) {
    return (gw_rule_condition_desc){
        .subject = GW_RULE_LAST_USER_MESSAGE, .test = test, .value = value};
}

static gw_rule_condition_desc tokens_over(size_t over) {
    return (gw_rule_condition_desc){.subject = GW_RULE_PROMPT_TOKENS, .has_over = 1, .over = over};
}

static const char chat_body[] =
    "{\"model\":\"chat\",\"temperature\":0.7,\"stream\":true,\"n\":2,\"user\":null,"
    "\"metadata\":{\"scenario\":\"billing-support\",\"tags\":[\"vip\",\"eu\"]},"
    "\"messages\":[{\"role\":\"system\",\"content\":\"You handle refunds politely.\"},"
    "{\"role\":\"user\",\"content\":\"Where is my order?\"},"
    "{\"role\":\"assistant\",\"content\":\"It shipped. Anything else?\"},"
    "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"I need a copy of\"},"
    "{\"type\":\"image_url\",\"image_url\":{\"url\":\"https://x/INVOICE.png\"}},"
    "{\"type\":\"text\",\"text\":\"my last Invoice, please\"}]}]}";

static void prompt_tokens_over_and_under(void **state) {
    (void)state;
    /* 4 messages: 16 overhead + text, about 30 tokens in all */
    json_object *body = parse(chat_body);
    assert_true(holds(tokens_over(20), body, 1));
    assert_false(holds(tokens_over(100), body, 1));
    gw_rule_condition_desc under = {.subject = GW_RULE_PROMPT_TOKENS, .has_under = 1, .under = 100};
    assert_true(holds(under, body, 1));
    gw_rule_condition_desc band = {
        .subject = GW_RULE_PROMPT_TOKENS, .has_over = 1, .over = 100, .has_under = 1, .under = 200};
    assert_false(holds(band, body, 1));
    json_object_put(body);

    /* completions count `prompt`: 4000 CJK characters are about 4000 tokens */
    static const char ideograph[] = "退";
    char *text = malloc(4000 * 3 + 64);
    strcpy(text, "{\"prompt\":\"");
    for (int i = 0; i < 4000; i++)
        strcat(text, ideograph);
    strcat(text, "\"}");
    body = parse(text);
    free(text);
    assert_true(holds(tokens_over(3500), body, 0));
    assert_false(holds(tokens_over(5000), body, 0));
    json_object_put(body);
}

static void header_equals_prefix_and_regex(void **state) {
    (void)state;
    assert_true(holds(header_cond("x-tenant", GW_RULE_EQUALS, "finance"), NULL, 1));
    assert_false(holds(header_cond("x-tenant", GW_RULE_EQUALS, "fin"), NULL, 1));
    assert_false(holds(header_cond("x-tenant", GW_RULE_EQUALS, "Finance"), NULL, 1));
    assert_true(holds(header_cond("user-agent", GW_RULE_PREFIX, "OpenAI/"), NULL, 1));
    assert_false(holds(header_cond("user-agent", GW_RULE_PREFIX, "curl/"), NULL, 1));
    assert_true(holds(header_cond("user-agent", GW_RULE_MATCHES, "Python 1\\.\\d+"), NULL, 1));
    assert_false(holds(header_cond("user-agent", GW_RULE_MATCHES, "^Python"), NULL, 1));
    /* an absent header holds nothing, not even equals "" */
    assert_false(holds(header_cond("x-missing", GW_RULE_EQUALS, ""), NULL, 1));
    /* bytes that are not UTF-8 match nothing, and do not fail the match */
    assert_true(holds(header_cond("x-canary", GW_RULE_MATCHES, "group-\\d$"), NULL, 1));
}

static void header_names_ignore_case(void **state) {
    (void)state;
    assert_true(holds(header_cond("X-TENANT", GW_RULE_EQUALS, "finance"), NULL, 1));
    assert_true(holds(header_cond("x-Tenant", GW_RULE_PREFIX, "fin"), NULL, 1));
}

static void regex_case_flag(void **state) {
    (void)state;
    json_object *body = parse(chat_body);
    /* the text says "Invoice" */
    assert_false(holds(last_user_cond(GW_RULE_MATCHES, "invoice|refund"), body, 1));
    assert_true(holds(last_user_cond(GW_RULE_MATCHES, "(?i)invoice|refund"), body, 1));
    assert_true(holds(header_cond("x-tenant", GW_RULE_MATCHES, "(?i)^FINANCE$"), NULL, 1));
    /* UTF-8 patterns and subjects: one character, not three bytes */
    json_object *zh = parse("{\"messages\":[{\"role\":\"user\",\"content\":\"我要退款\"}]}");
    assert_true(holds(last_user_cond(GW_RULE_MATCHES, "^.要退款$"), zh, 1));
    json_object_put(zh);
    json_object_put(body);
}

static void field_equals_contains_matches(void **state) {
    (void)state;
    json_object *body = parse(chat_body);
    assert_true(holds(field_cond("metadata.scenario", GW_RULE_EQUALS, "billing-support"), body, 1));
    assert_true(holds(field_cond("metadata.scenario", GW_RULE_CONTAINS, "billing"), body, 1));
    assert_true(holds(field_cond("metadata.scenario", GW_RULE_PREFIX, "billing-"), body, 1));
    assert_true(holds(field_cond("metadata.scenario", GW_RULE_MATCHES, "^bill\\w+-"), body, 1));
    assert_false(holds(field_cond("metadata.scenario", GW_RULE_CONTAINS, "sales"), body, 1));
    assert_true(holds(field_cond("metadata.tags.1", GW_RULE_EQUALS, "eu"), body, 1));
    assert_false(holds(field_cond("metadata.tags.2", GW_RULE_EQUALS, "eu"), body, 1));
    assert_false(holds(field_cond("metadata.tags.01", GW_RULE_EQUALS, "eu"), body, 1));
    assert_true(holds(field_cond("messages.0.role", GW_RULE_EQUALS, "system"), body, 1));
    assert_false(holds(field_cond("metadata.nothing", GW_RULE_EQUALS, "x"), body, 1));
    assert_false(holds(field_cond("model.deeper", GW_RULE_EQUALS, "chat"), body, 1));
    /* scalars that are not strings: numbers by value, booleans and null by their JSON text */
    assert_true(holds(field_cond("temperature", GW_RULE_EQUALS, "0.7"), body, 1));
    assert_true(holds(field_cond("temperature", GW_RULE_EQUALS, "0.70"), body, 1));
    assert_true(holds(field_cond("n", GW_RULE_EQUALS, "2"), body, 1));
    assert_true(holds(field_cond("n", GW_RULE_EQUALS, "2.0"), body, 1));
    assert_false(holds(field_cond("n", GW_RULE_EQUALS, "3"), body, 1));
    assert_true(holds(field_cond("stream", GW_RULE_EQUALS, "true"), body, 1));
    assert_false(holds(field_cond("stream", GW_RULE_EQUALS, "false"), body, 1));
    assert_true(holds(field_cond("user", GW_RULE_EQUALS, "null"), body, 1));
    /* contains and matches look at strings only; objects equal nothing */
    assert_false(holds(field_cond("n", GW_RULE_CONTAINS, "2"), body, 1));
    assert_false(holds(field_cond("metadata", GW_RULE_EQUALS, "{}"), body, 1));
    assert_false(holds(field_cond("model", GW_RULE_EQUALS, "chat"), NULL, 1));
    json_object_put(body);
}

static void last_user_message_string_and_parts(void **state) {
    (void)state;
    json_object *body = parse(chat_body);
    /* the last user message is the parts array: each text part on its own */
    assert_true(holds(last_user_cond(GW_RULE_CONTAINS, "copy of"), body, 1));
    assert_true(holds(last_user_cond(GW_RULE_CONTAINS, "last Invoice"), body, 1));
    assert_false(holds(last_user_cond(GW_RULE_CONTAINS, "INVOICE.png"), body, 1)); /* image */
    assert_false(holds(last_user_cond(GW_RULE_CONTAINS, "order"), body, 1));       /* earlier */
    assert_false(holds(last_user_cond(GW_RULE_CONTAINS, "refunds"), body, 1));     /* system */
    assert_false(holds(last_user_cond(GW_RULE_CONTAINS, "shipped"), body, 1));     /* assistant */
    assert_false(holds(last_user_cond(GW_RULE_MATCHES, "of my"), body, 1)); /* across parts */
    json_object_put(body);

    body = parse("{\"messages\":[{\"role\":\"user\",\"content\":\"please refund me\"},"
                 "{\"role\":\"assistant\",\"content\":\"Sure.\"}]}");
    assert_true(holds(last_user_cond(GW_RULE_MATCHES, "(?i)invoice|refund"), body, 1));
    assert_true(holds(last_user_cond(GW_RULE_EQUALS, "please refund me"), body, 1));
    /* completions have no messages */
    assert_false(holds(last_user_cond(GW_RULE_CONTAINS, "refund"), body, 0));
    json_object_put(body);
}

static void first_match_wins_in_order(void **state) {
    (void)state;
    gw_rule_set *rules = gw_rules_new();
    char err[256];
    gw_rule_condition_desc tenant_hr = header_cond("x-tenant", GW_RULE_EQUALS, "hr");
    gw_rule_condition_desc tenant_fin = header_cond("x-tenant", GW_RULE_EQUALS, "finance");
    gw_rule_condition_desc invoice = last_user_cond(GW_RULE_MATCHES, "(?i)invoice");
    assert_int_equal(gw_rules_add_rule(rules, 7), 0);
    assert_int_equal(gw_rules_add_condition(rules, &tenant_hr, err, sizeof(err)), 0);
    assert_int_equal(gw_rules_add_rule(rules, 5), 1);
    assert_int_equal(gw_rules_add_condition(rules, &tenant_fin, err, sizeof(err)), 0);
    assert_int_equal(gw_rules_add_rule(rules, 3), 2);
    assert_int_equal(gw_rules_add_condition(rules, &invoice, err, sizeof(err)), 0);
    assert_int_equal(gw_rules_count(rules), 3);
    assert_int_equal(gw_rules_targets_index(rules, 1), 5);

    gw_rules_scratch *scratch = gw_rules_scratch_new();
    json_object *body = parse(chat_body);
    gw_rule_input in = input_of(body, 1);
    assert_int_equal(gw_rules_first_match(rules, &in, scratch), 1); /* 2 holds too, but later */

    static const header other_tenant[] = {{"x-tenant", "sales"}, {NULL, NULL}};
    in.header_ud = (void *)other_tenant;
    assert_int_equal(gw_rules_first_match(rules, &in, scratch), 2);
    in.header = NULL; /* no headers at all */
    assert_int_equal(gw_rules_first_match(rules, &in, scratch), 2);
    in.body = NULL;
    assert_int_equal(gw_rules_first_match(rules, &in, scratch), -1);
    assert_int_equal(gw_rules_first_match(NULL, &in, scratch), -1); /* a model without rules */

    json_object_put(body);
    gw_rules_scratch_free(scratch);
    gw_rules_free(rules);
}

static void all_conditions_must_hold(void **state) {
    (void)state;
    char err[256];
    gw_rule_set *rules = gw_rules_new();
    gw_rule_condition_desc conds[] = {
        header_cond("x-tenant", GW_RULE_EQUALS, "finance"),
        field_cond("metadata.tags.0", GW_RULE_EQUALS, "vip"),
        tokens_over(10),
        last_user_cond(GW_RULE_MATCHES, "(?i)invoice"),
    };
    assert_int_equal(gw_rules_add_rule(rules, 0), 0);
    for (size_t i = 0; i < 4; i++)
        assert_int_equal(gw_rules_add_condition(rules, &conds[i], err, sizeof(err)), 0);
    gw_rules_scratch *scratch = gw_rules_scratch_new();
    json_object *body = parse(chat_body);
    gw_rule_input in = input_of(body, 1);
    assert_int_equal(gw_rules_first_match(rules, &in, scratch), 0);

    /* break each condition in turn */
    static const header other_tenant[] = {{"x-tenant", "sales"}, {NULL, NULL}};
    in = input_of(body, 1);
    in.header_ud = (void *)other_tenant;
    assert_int_equal(gw_rules_first_match(rules, &in, scratch), -1);
    in = input_of(body, 1);
    in.prompt_tokens_known = 1; /* a caller that already counted */
    in.prompt_tokens = 5;
    assert_int_equal(gw_rules_first_match(rules, &in, scratch), -1);
    json_object_put(body);
    body = parse("{\"metadata\":{\"tags\":[\"vip\"]},\"messages\":[{\"role\":\"user\","
                 "\"content\":\"a long question about something else entirely, not billing\"}]}");
    in = input_of(body, 1);
    assert_int_equal(gw_rules_first_match(rules, &in, scratch), -1);
    json_object_put(body);
    body = parse("{\"metadata\":{\"tags\":[\"eu\"]},\"messages\":[{\"role\":\"user\","
                 "\"content\":\"a long question about my invoice from the last month\"}]}");
    in = input_of(body, 1);
    assert_int_equal(gw_rules_first_match(rules, &in, scratch), -1);
    /* and a rule without conditions always holds: a catch-all */
    assert_int_equal(gw_rules_add_rule(rules, 1), 1);
    assert_int_equal(gw_rules_first_match(rules, &in, scratch), 1);
    json_object_put(body);

    gw_rules_scratch_free(scratch);
    gw_rules_free(rules);
}

static void token_estimate_is_lazy_and_computed_once(void **state) {
    (void)state;
    char err[256];
    gw_rule_set *rules = gw_rules_new();
    gw_rule_condition_desc big = tokens_over(1000);
    gw_rule_condition_desc hr = header_cond("x-tenant", GW_RULE_EQUALS, "hr");
    gw_rule_condition_desc small = tokens_over(5);
    /* the header is checked first whatever the order written: it is cheaper */
    assert_int_equal(gw_rules_add_rule(rules, 0), 0);
    assert_int_equal(gw_rules_add_condition(rules, &big, err, sizeof(err)), 0);
    assert_int_equal(gw_rules_add_condition(rules, &hr, err, sizeof(err)), 0);
    json_object *body = parse(chat_body);
    gw_rule_input in = input_of(body, 1);
    assert_int_equal(gw_rules_first_match(rules, &in, NULL), -1);
    assert_false(in.prompt_tokens_known); /* x-tenant is finance: no estimate needed */

    assert_int_equal(gw_rules_add_rule(rules, 1), 1);
    assert_int_equal(gw_rules_add_condition(rules, &small, err, sizeof(err)), 0);
    assert_int_equal(gw_rules_first_match(rules, &in, NULL), 1);
    assert_true(in.prompt_tokens_known);
    size_t estimate = in.prompt_tokens;
    assert_in_range(estimate, 20, 50);
    /* a second evaluation of the same request reuses it */
    in.prompt_tokens = 3;
    assert_int_equal(gw_rules_first_match(rules, &in, NULL), -1);
    json_object_put(body);
    gw_rules_free(rules);
}

static void bad_regex_reports_offset_and_message(void **state) {
    (void)state;
    gw_rule_set *rules = gw_rules_new();
    char err[256];
    assert_int_equal(gw_rules_add_rule(rules, 0), 0);
    gw_rule_condition_desc bad = last_user_cond(GW_RULE_MATCHES, "(?i)invoice|(refund");
    assert_int_equal(gw_rules_add_condition(rules, &bad, err, sizeof(err)), -1);
    assert_string_equal(err, "PCRE2 error at offset 19: missing closing parenthesis");
    bad = header_cond("x-a", GW_RULE_MATCHES, "a{2,1}");
    assert_int_equal(gw_rules_add_condition(rules, &bad, err, sizeof(err)), -1);
    assert_string_equal(err, "PCRE2 error at offset 5: numbers out of order in {} quantifier");
    bad = header_cond("x-a", GW_RULE_MATCHES, "a\\Cb"); /* could split a UTF-8 character */
    assert_int_equal(gw_rules_add_condition(rules, &bad, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "PCRE2 error at offset 3: "));
    /* nothing was added: the rule still holds for anything */
    gw_rule_input in = input_of(NULL, 1);
    assert_int_equal(gw_rules_first_match(rules, &in, NULL), 0);
    gw_rules_free(rules);
}

static void bad_descriptions_are_refused(void **state) {
    (void)state;
    gw_rule_set *rules = gw_rules_new();
    char err[256];
    gw_rule_condition_desc c = header_cond("x-a", GW_RULE_EQUALS, "b");
    assert_int_equal(gw_rules_add_condition(rules, &c, err, sizeof(err)), -1);
    assert_string_equal(err, "a condition needs a rule to belong to");
    assert_int_equal(gw_rules_add_rule(rules, 0), 0);

    gw_rule_condition_desc tokens = {.subject = GW_RULE_PROMPT_TOKENS};
    assert_int_equal(gw_rules_add_condition(rules, &tokens, err, sizeof(err)), -1);
    assert_string_equal(err, "prompt_tokens needs over or under");
    tokens = (gw_rule_condition_desc){
        .subject = GW_RULE_PROMPT_TOKENS, .has_over = 1, .over = 10, .has_under = 1, .under = 11};
    assert_int_equal(gw_rules_add_condition(rules, &tokens, err, sizeof(err)), -1);
    assert_string_equal(err, "prompt_tokens: no count is over 10 and under 11");

    c = header_cond("", GW_RULE_EQUALS, "b");
    assert_int_equal(gw_rules_add_condition(rules, &c, err, sizeof(err)), -1);
    assert_string_equal(err, "header needs a name");
    c = field_cond("metadata..tier", GW_RULE_EQUALS, "b");
    assert_int_equal(gw_rules_add_condition(rules, &c, err, sizeof(err)), -1);
    assert_string_equal(err, "field path has an empty segment");
    c = field_cond("a.b", GW_RULE_EQUALS, NULL);
    assert_int_equal(gw_rules_add_condition(rules, &c, err, sizeof(err)), -1);
    assert_string_equal(err, "missing the value to compare with");
    gw_rules_free(rules);
}

static void runaway_regex_is_cut_short(void **state) {
    (void)state;
    gw_rule_set *rules = one_rule(header_cond("x-bomb", GW_RULE_MATCHES, "^(a+)+$"));
    char bomb[64];
    memset(bomb, 'a', sizeof(bomb) - 2);
    bomb[sizeof(bomb) - 2] = '!';
    bomb[sizeof(bomb) - 1] = '\0';
    header headers[] = {{"x-bomb", bomb}, {NULL, NULL}};
    gw_rules_scratch *scratch = gw_rules_scratch_new();
    gw_rule_input in = input_of(NULL, 1);
    in.header_ud = headers;
    assert_int_equal(gw_rules_first_match(rules, &in, scratch), -1);
    assert_int_equal(in.regex_errors, 1); /* 2^62 paths otherwise */
    gw_rules_scratch_free(scratch);
    gw_rules_free(rules);
}

/* Whether this executable's malloc is the one in use: valgrind puts its own in its place. */
static int allocations_counted(void) {
#if COUNTS_ALLOCATIONS
    size_t before = allocations;
    json_object_put(json_object_new_string("probe"));
    return allocations > before;
#else
    return 0;
#endif
}

static void evaluation_allocates_nothing(void **state) {
    (void)state;
    if (!allocations_counted()) {
        print_message("allocations are not counted here (sanitizer or valgrind, which check "
                      "memory their own way)\n");
        skip();
    }
    char err[256];
    gw_rule_set *rules = gw_rules_new();
    gw_rule_condition_desc conds[] = {
        header_cond("x-tenant", GW_RULE_MATCHES, "(?i)^fin"),
        field_cond("metadata.scenario", GW_RULE_MATCHES, "support$"),
        field_cond("temperature", GW_RULE_EQUALS, "0.7"),
        last_user_cond(GW_RULE_MATCHES, "(?i)invoice"),
        last_user_cond(GW_RULE_CONTAINS, "copy of"),
        tokens_over(1000), /* checked last (the costliest), and does not hold */
    };
    assert_int_equal(gw_rules_add_rule(rules, 0), 0);
    for (size_t i = 0; i < 6; i++)
        assert_int_equal(gw_rules_add_condition(rules, &conds[i], err, sizeof(err)), 0);
    assert_int_equal(gw_rules_add_rule(rules, 1), 1);
    assert_int_equal(gw_rules_add_condition(rules, &conds[0], err, sizeof(err)), 0);
    gw_rules_scratch *scratch = gw_rules_scratch_new();
    json_object *body = parse(chat_body);

    /* a first match warms what PCRE2 keeps in the scratch when it interprets (no JIT) */
    gw_rule_input in = input_of(body, 1);
    assert_int_equal(gw_rules_first_match(rules, &in, scratch), 1);
    size_t before = allocations;
    for (int i = 0; i < 100; i++) {
        in = input_of(body, 1);
        assert_int_equal(gw_rules_first_match(rules, &in, scratch), 1);
        assert_true(in.prompt_tokens_known);
    }
    assert_int_equal(allocations, before);

    json_object_put(body);
    gw_rules_scratch_free(scratch);
    gw_rules_free(rules);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(prompt_tokens_over_and_under),
        cmocka_unit_test(header_equals_prefix_and_regex),
        cmocka_unit_test(header_names_ignore_case),
        cmocka_unit_test(regex_case_flag),
        cmocka_unit_test(field_equals_contains_matches),
        cmocka_unit_test(last_user_message_string_and_parts),
        cmocka_unit_test(first_match_wins_in_order),
        cmocka_unit_test(all_conditions_must_hold),
        cmocka_unit_test(token_estimate_is_lazy_and_computed_once),
        cmocka_unit_test(bad_regex_reports_offset_and_message),
        cmocka_unit_test(bad_descriptions_are_refused),
        cmocka_unit_test(runaway_regex_is_cut_short),
        cmocka_unit_test(evaluation_allocates_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
