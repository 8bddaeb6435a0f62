/* The scan of a request body (gw_request_scan) against the way through the json-c tree that
 * parse_request takes for every body the scan declines: whatever the scan accepts, the tree's
 * way must accept with the same fields (model, stream, include_usage, the members adapters ask
 * about) and nothing to add, and the estimates read from the text (the prompt's tokens, the
 * tokens asked for) must be the tree's; over bodies real SDKs send, hand-made edge cases, and
 * many thousands of mutations of them, for each of the three APIs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "core/json_scan.h"
#include "core/json_strict.h"
#include "core/request_json.h"
#include "core/token_estimate.h"
#include "filters/request_fields.h"
#include "mutate.h"

/* What parse_request's tree way makes of a body: 1 accepted (fields in *out), 0 refused. The
 * steps are parse_request's: parse, nothing but whitespace after the value (strchr's quirk of
 * taking a NUL byte for whitespace included), an object, "model" once, then the fields. */
/* What the tree says the estimates are (limits.c and meter.c read them so before the scan). */
typedef struct tree_estimates {
    size_t prompt_tokens;
    uint64_t max_new_tokens;
} tree_estimates;

static void estimate_from_tree(json_object *root, gw_api_kind api, tree_estimates *e) {
    json_object *v;
    e->prompt_tokens = gw_estimate_request_tokens(root, api == GW_API_CHAT);
    e->max_new_tokens = 0;
    if ((json_object_object_get_ex(root, "max_completion_tokens", &v) ||
         json_object_object_get_ex(root, "max_tokens", &v)) &&
        json_object_is_type(v, json_type_int) && json_object_get_int64(v) > 0)
        e->max_new_tokens = (uint64_t)json_object_get_int64(v);
}

static tree_estimates tree_said;

static int tree_way(const char *body, size_t len, gw_api_kind api, gw_request_fields *out,
                    char *model_copy, size_t model_cap) {
    gw_json_strict_result parsed;
    json_object *root = gw_json_parse_strict(body, len, GW_REQUEST_JSON_DEPTH, &parsed);
    assert_false(parsed.out_of_memory);
    int ok = root && parsed.error == json_tokener_success;
    size_t end = parsed.end;
    while (ok && end < len && strchr(" \t\r\n", body[end]))
        end++;
    ok = ok && end == len && json_object_is_type(root, json_type_object);
    if (ok && parsed.top_level_repeats) {
        gw_json_scan_result scan;
        ok = !(gw_json_scan(body, len, "model", &scan) == 0 && scan.key_count > 1);
    }
    gw_field_error err;
    ok = ok && gw_request_fields_from_tree(root, api, out, &err) == 0;
    if (ok) { /* the model lives in the tree: keep a copy past its release */
        assert_true(out->model_len < model_cap);
        memcpy(model_copy, out->model, out->model_len);
        out->model = model_copy;
        estimate_from_tree(root, api, &tree_said);
    }
    if (root) json_object_put(root);
    return ok;
}

/* The scan's answer for a body and an API, held to the tree's: returns whether it accepted. */
static int check(const char *body, size_t len, gw_api_kind api) {
    gw_request_fields fast, tree;
    char model[8192];
    int fast_ok = gw_request_scan(body, len, api, &fast);
    int tree_ok = tree_way(body, len, api, &tree, model, sizeof model);
    if (!fast_ok) return 0;
    size_t text_tokens = gw_estimate_request_tokens_text(body, len, fast.prompt_start,
                                                         fast.prompt_end, api == GW_API_CHAT);
    if (!tree_ok || tree.add_include_usage || fast.model_len != tree.model_len ||
        text_tokens != tree_said.prompt_tokens || fast.max_new_tokens != tree_said.max_new_tokens ||
        memcmp(fast.model, tree.model, tree.model_len) != 0 || fast.stream != tree.stream ||
        fast.include_usage != tree.include_usage || fast.members != tree.members) {
        fprintf(stderr, "the scan and the tree disagree (api %d) on: %.*s\n", (int)api, (int)len,
                body);
        fprintf(stderr,
                "  tree: ok %d add_include_usage %d stream %d include_usage %d members %u\n",
                tree_ok, tree.add_include_usage, tree.stream, tree.include_usage, tree.members);
        fprintf(stderr, "  scan: stream %d include_usage %d members %u\n", fast.stream,
                fast.include_usage, fast.members);
        fprintf(stderr, "  prompt tokens: tree %zu text %zu; max new tokens: tree %llu scan %llu\n",
                tree_said.prompt_tokens, text_tokens, (unsigned long long)tree_said.max_new_tokens,
                (unsigned long long)fast.max_new_tokens);
        fail();
    }
    return 1;
}

static int check_text(const char *body, gw_api_kind api) {
    return check(body, strlen(body), api);
}

/* Bodies as the SDKs and common clients write them: every one is the scan's to read. */
static const struct {
    gw_api_kind api;
    const char *body;
} plain[] = {
    {GW_API_CHAT, "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}"},
    {GW_API_CHAT,
     "{\"messages\":[{\"role\":\"system\",\"content\":\"You are terse.\\nAnswer in \\\"one\\\" "
     "line.\"},{\"role\":\"user\",\"content\":\"caf\\u00e9 \xe2\x98\x95 \\ud83d\\ude00\"}],"
     "\"model\":\"chat\",\"stream\":true,\"temperature\":0.7,\"max_tokens\":256,\"top_p\":1,"
     "\"n\":1,\"stop\":[\"\\n\\n\"],\"user\":\"u-1\",\"seed\":-42}"},
    {GW_API_CHAT,
     "{\n  \"model\": \"m\",\n  \"messages\": [\n    {\"role\": \"user\", \"content\": "
     "[{\"type\": \"text\", \"text\": \"look\"}, {\"type\": \"image_url\", "
     "\"image_url\": {\"url\": \"data:image/png;base64,AAAA\"}}]}\n  ],\n  "
     "\"stream\": false\n}\n"},
    {GW_API_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
                  "\"stream\":true,\"stream_options\":{\"include_usage\":true}}"},
    {GW_API_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
                  "\"stream\":false,\"stream_options\":{\"include_usage\":false}}"},
    {GW_API_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
                  "\"stream\":true,\"stream_options\":null}"},
    {GW_API_CHAT,
     "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"weather?\"},{\"role\":"
     "\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"call_1\",\"type\":\"function\","
     "\"function\":{\"name\":\"get\",\"arguments\":\"{\\\"city\\\":\\\"Oslo\\\"}\"}}]},{\"role\":"
     "\"tool\",\"tool_call_id\":\"call_1\",\"content\":\"-3C\"}],\"tools\":[{\"type\":"
     "\"function\",\"function\":{\"name\":\"get\",\"parameters\":{\"type\":\"object\","
     "\"properties\":{\"city\":{\"type\":\"string\"}},\"required\":[\"city\"]}}}],"
     "\"tool_choice\":\"auto\",\"max_completion_tokens\":1000,\"presence_penalty\":0,"
     "\"frequency_penalty\":-0.5e-1,\"logit_bias\":{\"50256\":-100},\"top_k\":40}"},
    {GW_API_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
                  "\"stream\":null,\"temperature\":null,\"max_tokens\":null,\"stop\":\"END\","
                  "\"response_format\":{\"type\":\"json_object\"},\"metadata\":{}}"},
    {GW_API_COMPLETIONS, "{\"model\":\"m\",\"prompt\":\"Once upon a time\",\"max_tokens\":16}"},
    {GW_API_COMPLETIONS,
     "{\"model\":\"m\",\"prompt\":[\"a\",\"b\"],\"echo\":true,\"stream\":true}"},
    {GW_API_COMPLETIONS, "{\"model\":\"m\",\"prompt\":[[1,2,3]],\"logprobs\":5}"},
    {GW_API_EMBEDDINGS, "{\"model\":\"emb\",\"input\":\"hello\",\"encoding_format\":\"float\"}"},
    {GW_API_EMBEDDINGS, "{\"input\":[\"a\",\"b\"],\"model\":\"emb\",\"dimensions\":256}"},
    /* what the estimates read: parts, escapes, the last of a repeated member, token ids */
    {GW_API_CHAT,
     "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\","
     "\"text\":\"two words\"},{\"type\":\"t\\u0065xt\",\"text\":\"caf\\u00e9 \\n\\n  "
     "indented\"},{\"type\":\"text\\u0000x\",\"text\":\"cut type\"},{\"text\":\"no type\"},"
     "{\"type\":\"image_url\",\"text\":\"not text\"},\"a string part\",{\"type\":\"text\","
     "\"text\":\"first\",\"text\":\"last wins\\ud83d\\ude00\\ud800x\"}]},{\"role\":\"user\","
     "\"content\":\"old\",\"content\":\"new\\t\\\"quoted\\\" 12345\"},{\"role\":\"tool\","
     "\"content\":null},{\"role\":\"user\"}],\"max_completion_tokens\":null,"
     "\"max_tokens\":99}"},
    {GW_API_COMPLETIONS, "{\"model\":\"m\",\"prompt\":[\"a b\",7,-0,1.5,[1,2,3],[],true,null,"
                         "{\"x\":1},\"\\u4f60\\u597d\"],\"max_tokens\":0}"},
    {GW_API_COMPLETIONS, "{\"model\":\"m\",\"prompt\":\"x\",\"max_completion_tokens\":5,"
                         "\"max_tokens\":7}"},
    {GW_API_EMBEDDINGS, "{\"model\":\"m\",\"input\":\"x\",\"prompt\":\"counted all the same\"}"},
};

static void plain_bodies_are_scanned_and_agree(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++) {
        if (!check_text(plain[i].body, plain[i].api)) {
            fprintf(stderr, "declined a plain body: %s\n", plain[i].body);
            fail();
        }
    }
    gw_request_fields f;
    assert_int_equal(gw_request_scan(plain[1].body, strlen(plain[1].body), GW_API_CHAT, &f), 1);
    assert_int_equal(f.model_len, 4);
    assert_memory_equal(f.model, "chat", 4);
    assert_int_equal(f.stream, 1);
    assert_int_equal(f.members, GW_BODY_HAS_MAX_TOKENS);
    assert_int_equal(gw_request_scan(plain[3].body, strlen(plain[3].body), GW_API_CHAT, &f), 1);
    assert_int_equal(f.include_usage, 1);
    assert_int_equal(f.members, GW_BODY_HAS_STREAM_OPTIONS);
    assert_int_equal(gw_request_scan(plain[6].body, strlen(plain[6].body), GW_API_CHAT, &f), 1);
    assert_int_equal(f.members, GW_BODY_HAS_MAX_COMPLETION_TOKENS);
}

/* What the scan leaves to the tree's way: errors (the tree writes them), what json-c reads its
 * own way, what must be added, and what the scan does not decode. */
static const struct {
    gw_api_kind api;
    const char *body;
} declined[] = {
    {GW_API_CHAT, ""},
    {GW_API_CHAT, "[]"},
    {GW_API_CHAT, "{}"},
    {GW_API_CHAT, "{\"model\":\"m\"}"},                                    /* no messages */
    {GW_API_CHAT, "{\"model\":\"m\",\"messages\":[]}"},                    /* empty */
    {GW_API_CHAT, "{\"model\":\"m\",\"messages\":[{\"content\":\"x\"}]}"}, /* no role */
    {GW_API_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":1}]}"},        /* role a number */
    {GW_API_CHAT, "{\"model\":\"m\",\"messages\":[\"hi\"]}"},              /* not an object */
    {GW_API_CHAT, "{\"model\":\"\",\"messages\":[{\"role\":\"user\"}]}"},  /* empty model */
    {GW_API_CHAT, "{\"model\":7,\"messages\":[{\"role\":\"user\"}]}"},     /* not a string */
    {GW_API_CHAT, "{\"model\":\"m\",\"model\":\"n\",\"messages\":[{\"role\":\"u\"}]}"}, /* twice */
    {GW_API_CHAT, "{\"model\":\"m\\u0041\",\"messages\":[{\"role\":\"u\"}]}"}, /* escaped model */
    {GW_API_CHAT, "{\"mod\\u0065l\":\"m\",\"messages\":[{\"role\":\"u\"}]}"},  /* escaped key */
    {GW_API_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"u\",\"role\":\"v\"}]}"}, /* role x2 */
    {GW_API_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"u\"}],\"stream\":\"yes\"}"},
    {GW_API_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"u\"}],\"max_tokens\":1.5}"},
    {GW_API_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"u\"}],\"max_tokens\":"
                  "12345678901234567890}"}, /* past 18 digits */
    {GW_API_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"u\"}],\"seed\":01}"},
    {GW_API_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"u\"}],\"temperature\":NaN}"},
    {GW_API_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"u\"}],}"}, /* trailing comma */
    {GW_API_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"u\"}]} x"},
    {GW_API_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"u\"}]}{}"},
    {GW_API_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"u\",\"content\":\"a\tb\"}]}"},
    {GW_API_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"u\",\"content\":\"\\x\"}]}"},
    {GW_API_CHAT, "{'model':\"m\",\"messages\":[{\"role\":\"u\"}]}"},
    {GW_API_CHAT, "{\"model\":\"m\",/* c */\"messages\":[{\"role\":\"u\"}]}"},
    {GW_API_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"u\"}],\"stream\":true,"
                  "\"stream_options\":{}}"}, /* include_usage to add */
    {GW_API_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"u\"}],\"stream\":true,"
                  "\"stream_options\":{\"include_usage\":false}}"},
    {GW_API_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"u\"}],"
                  "\"stream_options\":{\"include_usage\":1}}"},
    {GW_API_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"u\"}],\"stream_options\":[]}"},
    {GW_API_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"u\"}],\"stream\":true,"
                  "\"stream\":false}"}, /* a member read twice */
    {GW_API_COMPLETIONS, "{\"model\":\"m\",\"prompt\":[]}"},
    {GW_API_COMPLETIONS, "{\"model\":\"m\",\"prompt\":7}"},
    {GW_API_COMPLETIONS, "{\"model\":\"m\"}"},
    {GW_API_EMBEDDINGS, "{\"model\":\"m\",\"input\":\"x\",\"stream\":true}"},
    {GW_API_EMBEDDINGS, "{\"model\":\"m\",\"input\":{}}"},
};

static void what_is_not_plain_is_left_to_the_tree(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof declined / sizeof declined[0]; i++) {
        if (check_text(declined[i].body, declined[i].api)) {
            fprintf(stderr, "the scan read: %s\n", declined[i].body);
            fail();
        }
    }
    /* a NUL byte after the object: json-c and parse_request take it; the scan leaves it */
    static const char nul_after[] = "{\"model\":\"m\",\"messages\":[{\"role\":\"u\"}]}\0";
    assert_int_equal(check(nul_after, sizeof nul_after - 1, GW_API_CHAT), 0);
    gw_request_fields f;
    char model[64];
    assert_int_equal(tree_way(nul_after, sizeof nul_after - 1, GW_API_CHAT, &f, model, 64), 1);
}

/* As deep as the scan goes, and one level more. */
static void nesting_past_the_scans_depth_is_declined(void **state) {
    (void)state;
    char body[1024];
    for (int depth = 60; depth <= 66; depth++) {
        size_t n = (size_t)snprintf(body, sizeof body,
                                    "{\"model\":\"m\",\"messages\":[{\"role\":\"u\"}],\"x\":");
        for (int i = 0; i < depth; i++)
            body[n++] = '[';
        for (int i = 0; i < depth; i++)
            body[n++] = ']';
        body[n++] = '}';
        /* the object is level 1, "x"'s arrays the levels from 2 */
        assert_int_equal(check(body, n, GW_API_CHAT), depth + 1 <= 64);
    }
}

/* Mutations of the plain and declined bodies: wherever the scan still reads one, the tree's way
 * must read it the same; and both outcomes must occur, or the mutations test nothing. */
static void mutations_agree_with_the_tree(void **state) {
    (void)state;
    static const char interesting[] = {'"', '\\', '{',  '}',  '[',        ']',        ',', ':',
                                       ' ', '\n', '\t', '0',  '1',        '9',        '-', '.',
                                       'e', 'E',  '+',  't',  'f',        'n',        'u', 'a',
                                       'l', 's',  1,    0x1f, (char)0x80, (char)0xff, '\0'};
    static const char *const words[] = {"\"model\"",
                                        "\"stream\"",
                                        "\"messages\"",
                                        "\"role\"",
                                        "\"stream_options\"",
                                        "\"include_usage\"",
                                        "true",
                                        "false",
                                        "null",
                                        "\"max_tokens\"",
                                        "1e5",
                                        "-0",
                                        "\"prompt\"",
                                        "\"input\"",
                                        "[]",
                                        "{}",
                                        "\\u0000",
                                        "\"content\"",
                                        "\"type\"",
                                        "\"text\"",
                                        "\\n",
                                        "\\ud83d",
                                        "\"max_completion_tokens\"",
                                        "[1,2]",
                                        "7"};
    mutation_kit kit = {.bytes = interesting,
                        .byte_count = sizeof interesting,
                        .words = words,
                        .word_count = sizeof words / sizeof words[0],
                        .state = 0x2545f4914f6cdd1dULL};
    size_t agreed = 0, declined_count = 0;
    char buf[4096];
    size_t sources = sizeof plain / sizeof plain[0] + sizeof declined / sizeof declined[0];
    for (int round = 0; round < 60000; round++) {
        size_t pick = mutate_random(&kit.state) % sources;
        int is_plain = pick < sizeof plain / sizeof plain[0];
        const char *base =
            is_plain ? plain[pick].body : declined[pick - sizeof plain / sizeof plain[0]].body;
        gw_api_kind api =
            is_plain ? plain[pick].api : declined[pick - sizeof plain / sizeof plain[0]].api;
        if (mutate_random(&kit.state) % 4 == 0)
            api = (gw_api_kind)(mutate_random(&kit.state) % GW_API_COUNT);
        size_t len = strlen(base);
        memcpy(buf, base, len);
        len = mutate(&kit, buf, len, sizeof buf);
        if (check(buf, len, api))
            agreed++;
        else
            declined_count++;
    }
    assert_true(agreed > 1000);
    assert_true(declined_count > 1000);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(plain_bodies_are_scanned_and_agree),
        cmocka_unit_test(what_is_not_plain_is_left_to_the_tree),
        cmocka_unit_test(nesting_past_the_scans_depth_is_declined),
        cmocka_unit_test(mutations_agree_with_the_tree),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
