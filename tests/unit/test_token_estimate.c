/* The prompt token estimate that routes long prompts: within 25% of a real tokenizer on fixed
 * samples of several scripts, and summed over exactly the parts of a request that are prompt.
 * Expected counts are cl100k_base's (GPT-4's tokenizer), measured once with a BPE
 * implementation of it; see the calibration table in src/route/token_estimate.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include <json-c/json.h>

#include "core/token_estimate.h"
#include "mutate.h"

typedef struct sample {
    const char *name;
    const char *text;
    size_t cl100k_tokens;
} sample;

static const sample samples[] = {
    {"english prose",
     "The quick brown fox jumps over the lazy dog. Large language models are trained on vast "
     "amounts of text, and they predict the next token in a sequence. Routing a request to the "
     "right model depends on how long the prompt is, which tenant sent it, and what it asks for.",
     57},
    {"c code",
     "int main(int argc, char **argv) {\n    for (int i = 0; i < argc; i++) printf(\"%s\\n\", "
     "argv[i]);\n    return 0;\n}\n",
     39},
    {"json",
     "{\"model\": \"gpt-4o\", \"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}], "
     "\"temperature\": 0.7, \"max_tokens\": 1024}",
     42},
    {"chinese",
     "大型语言模型是在海量文本上训练的，它们预测序列中的下一个词元。根据提示的长度、发送请求的租户"
     "以及"
     "请求的内容，将请求路由到合适的模型。",
     66},
    {"japanese",
     "大規模言語モデルは膨大なテキストで訓練され、次のトークンを予測します。プロンプトの長さに応じ"
     "て適"
     "切なモデルにルーティングします。",
     72},
    {"korean",
     "대규모 언어 모델은 방대한 텍스트로 학습되며 다음 토큰을 예측합니다. 프롬프트의 길이에 따라 "
     "적절한 모델로 요청을 라우팅합니다.",
     73},
    {"mixed chinese and english",
     "请把这段 English text 翻译成中文，并保留 code 片段 `printf(\"hi\")` 不变。", 32},
    {"russian",
     "Большие языковые модели обучаются на огромных объёмах текста и предсказывают следующий "
     "токен в последовательности.",
     47},
    {"hindi", "बड़े भाषा मॉडल को विशाल मात्रा में पाठ पर प्रशिक्षित किया जाता है।", 63},
    {"numbers", "Order 12345 shipped on 2024-03-17 for $1,299.99 to 221B Baker Street.", 27},
};

static void samples_within_a_quarter_of_cl100k(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
        const sample *s = &samples[i];
        size_t estimate = gw_estimate_prompt_tokens(s->text, strlen(s->text));
        print_message("%-26s cl100k %3zu  estimate %3zu\n", s->name, s->cl100k_tokens, estimate);
        assert_in_range(estimate, s->cl100k_tokens * 3 / 4, s->cl100k_tokens * 5 / 4);
    }
}

static void cjk_counts_per_character_not_per_byte(void **state) {
    (void)state;
    /* about the same bytes (39 and 40); cl100k: 16 and 10 tokens */
    const char *chinese = "你好，世界！今天天气很好。";
    const char *english = "Hello, world! The weather is nice today.";
    size_t chinese_tokens = gw_estimate_prompt_tokens(chinese, strlen(chinese));
    size_t english_tokens = gw_estimate_prompt_tokens(english, strlen(english));
    assert_int_equal(chinese_tokens, 13); /* one per character, punctuation included */
    assert_in_range(english_tokens, 10, 12);
    assert_true(chinese_tokens > english_tokens);
}

static void edge_inputs(void **state) {
    (void)state;
    assert_int_equal(gw_estimate_prompt_tokens("", 0), 0);
    assert_int_equal(gw_estimate_prompt_tokens("a", 1), 1);
    assert_int_equal(gw_estimate_prompt_tokens(" ", 1), 0);
    assert_int_equal(gw_estimate_prompt_tokens("\xff\xfe", 2), 2); /* stray bytes: one each */
    assert_int_equal(gw_estimate_prompt_tokens("\xe4\xbd", 2), 2); /* a cut character */
    /* the length bounds the scan: no NUL is needed */
    assert_int_equal(gw_estimate_prompt_tokens("hello world", 5), 1);
}

/* A stream event's text is mostly one word after a blank, counted on a short path that must
 * agree with the full scan: the same words inside longer texts sum the same. */
static void one_word_texts_count_as_in_longer_texts(void **state) {
    (void)state;
    static const char *const words[] = {" the",
                                        "The",
                                        " gateway",
                                        " Gateways",
                                        " routing",
                                        " tokenization",
                                        "x",
                                        " Internationalization",
                                        "internationalizations"};
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
        char longer[64];
        size_t n = strlen(words[i]);
        memcpy(longer, words[i], n);
        memcpy(longer + n, ".\n", 2); /* punctuation and a newline it keeps: one token */
        assert_int_equal(gw_estimate_prompt_tokens(longer, n + 2),
                         gw_estimate_prompt_tokens(words[i], n) + 1);
    }
    assert_int_equal(gw_estimate_prompt_tokens(" gateway", 8), 2);       /* 7 letters: 1 1/8, up */
    assert_int_equal(gw_estimate_prompt_tokens(" tokenization", 13), 2); /* 12: 1 6/8 */
    assert_int_equal(gw_estimate_prompt_tokens("internationalizations", 21), 3); /* 21: 2 7/8 */
    assert_int_equal(gw_estimate_prompt_tokens("  word", 6), 2);       /* an indent is a token */
    assert_int_equal(gw_estimate_prompt_tokens(" helloWorld", 11), 2); /* camelCase: two */
}

static json_object *parse(const char *text) {
    json_object *o = json_tokener_parse(text);
    assert_non_null(o);
    return o;
}

static void chat_sums_messages_and_text_parts(void **state) {
    (void)state;
    /* "Hello world" is 2, "hi" 1: 2 + 1 + 2 messages * 4 */
    json_object *body =
        parse("{\"messages\":[{\"role\":\"system\",\"content\":\"Hello world\"},"
              "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"hi\"},"
              "{\"type\":\"image_url\",\"image_url\":{\"url\":\"https://x/a.png\"}}]}]}");
    assert_int_equal(gw_estimate_request_tokens(body, 1), 2 + 1 + 2 * GW_ESTIMATE_MESSAGE_OVERHEAD);
    /* the same body read as completions has no prompt */
    assert_int_equal(gw_estimate_request_tokens(body, 0), 0);
    json_object_put(body);

    body = parse("{\"messages\":[{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[]}]}");
    assert_int_equal(gw_estimate_request_tokens(body, 1), GW_ESTIMATE_MESSAGE_OVERHEAD);
    json_object_put(body);
}

static void completions_prompt_forms(void **state) {
    (void)state;
    json_object *body = parse("{\"prompt\":\"Hello world\"}");
    assert_int_equal(gw_estimate_request_tokens(body, 0), 2);
    json_object_put(body);
    /* a batch of strings, token ids, and tokenized prompts */
    body = parse("{\"prompt\":[\"Hello world\",\"hi\",15339,[1,2,3]]}");
    assert_int_equal(gw_estimate_request_tokens(body, 0), 2 + 1 + 1 + 3);
    json_object_put(body);
}

static void malformed_shapes_count_nothing(void **state) {
    (void)state;
    assert_int_equal(gw_estimate_request_tokens(NULL, 1), 0);
    assert_int_equal(gw_estimate_request_tokens(NULL, 0), 0);
    json_object *body = parse("{\"messages\":\"nope\",\"prompt\":{\"a\":1}}");
    assert_int_equal(gw_estimate_request_tokens(body, 1), 0);
    assert_int_equal(gw_estimate_request_tokens(body, 0), 0);
    json_object_put(body);
    body = parse("{\"messages\":[7,{\"content\":[3,{\"type\":\"text\",\"text\":5}]}]}");
    assert_int_equal(gw_estimate_request_tokens(body, 1), 2 * GW_ESTIMATE_MESSAGE_OVERHEAD);
    json_object_put(body);
}

/* The shortcuts (prose sixteen bytes a step, the one-word path) count exactly what the byte by
 * byte scan counts: random texts built from pieces that meet at every kind of edge (runs of
 * spaces and letters across the 16-byte steps, a word that an accented letter, a quote, a
 * capital, a digit, a tab or a newline ends or continues, stray bytes), then mutated. */
static void shortcuts_count_what_the_bytewise_scan_counts(void **state) {
    (void)state;
    static const char *const pieces[] = {
        "lorem ",
        "ipsum ",
        "dolor",
        " ",
        "  ",
        "   ",
        "sit amet ",
        "internationalization ",
        "a",
        "b ",
        "The ",
        "Hello",
        ", ",
        ". ",
        ".\n",
        "\n",
        "\n\n",
        "\t",
        "don't ",
        "caf\xc3\xa9 ",
        "\xc3\xa9t\xc3\xa9",
        "\xe4\xb8\xad\xe6\x96\x87",
        "\xf0\x9f\x98\x80",
        "\xff",
        "123",
        "4567 ",
        "snake_case ",
        "camelCase ",
        "-- ",
        "x",
        "yz",
        "  \n  ",
        "verylongwordwithoutanybreakatall ",
        "\xd0\xbf\xd1\x80\xd0\xb8 ",
        "'s",
    };
    enum { PIECES = sizeof pieces / sizeof pieces[0] };
    static const char bytes[] = "abz ., \n\tA0'_\xc3\xa9\xff";
    static const char *const words[] = {"the ", "  ", "Word", "\xc3\xa9"};
    mutation_kit kit = {bytes, sizeof bytes - 1, words, 4, 0x5eed1234abcdULL};
    char text[600];
    size_t checked = 0, prose_heavy = 0;
    for (int i = 0; i < 200000; i++) {
        size_t len = 0, want = 1 + mutate_random(&kit.state) % 400;
        int prose_only = mutate_random(&kit.state) % 2; /* half: prose pieces, mostly */
        while (len < want) {
            uint32_t k = mutate_random(&kit.state) % (prose_only ? 8 : PIECES);
            size_t n = strlen(pieces[k]);
            if (len + n >= sizeof text) break;
            memcpy(text + len, pieces[k], n);
            len += n;
        }
        if (mutate_random(&kit.state) % 2) len = mutate(&kit, text, len, sizeof text);
        size_t fast = gw_estimate_prompt_tokens(text, len);
        size_t reference = gw_estimate_prompt_tokens_bytewise(text, len);
        if (fast != reference) {
            print_error("text %d (%zu bytes): %zu, byte by byte %zu: \"%.*s\"\n", i, len, fast,
                        reference, (int)len, text);
            fail();
        }
        checked++;
        prose_heavy += prose_only;
    }
    assert_int_equal(checked, 200000);
    assert_true(prose_heavy > 90000);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(samples_within_a_quarter_of_cl100k),
        cmocka_unit_test(cjk_counts_per_character_not_per_byte),
        cmocka_unit_test(edge_inputs),
        cmocka_unit_test(one_word_texts_count_as_in_longer_texts),
        cmocka_unit_test(chat_sums_messages_and_text_parts),
        cmocka_unit_test(completions_prompt_forms),
        cmocka_unit_test(malformed_shapes_count_nothing),
        cmocka_unit_test(shortcuts_count_what_the_bytewise_scan_counts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
