/* Chat templates: the built-ins render exactly what the models were trained on, content parts
 * and tool turns become text, images are refused, and template files load with errors that name
 * the file and the line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engines/chat_template.h"

static const char image_error[] = "image input is not supported by channel type tgi with a text "
                                  "template";

/* Renders `messages` (JSON text) raw; returns a malloc'd string, or NULL with *err. */
static char *render(const gw_chat_template *t, const char *messages, int with_bos, int escape,
                    const char **err) {
    json_object *m = json_tokener_parse(messages);
    assert_non_null(m);
    gw_strbuf b = {0};
    int rc = gw_chat_template_render(t, m, with_bos, escape, image_error, &b, err);
    json_object_put(m);
    assert_false(b.failed);
    if (rc < 0) {
        gw_strbuf_free(&b);
        return NULL;
    }
    char *s = strndup(b.data ? b.data : "", b.len);
    gw_strbuf_free(&b);
    return s;
}

static void assert_renders(const gw_chat_template *t, const char *messages, int with_bos,
                           const char *expected) {
    const char *err = NULL;
    char *s = render(t, messages, with_bos, 0, &err);
    assert_non_null(s);
    assert_string_equal(s, expected);
    free(s);
}

static void chatml_renders_turns_and_generation_prompt(void **state) {
    (void)state;
    const gw_chat_template *t = gw_chat_template_builtin("chatml");
    assert_non_null(t);
    assert_renders(t,
                   "[{\"role\":\"system\",\"content\":\"Be brief.\"},"
                   "{\"role\":\"user\",\"content\":\"Hi\"},"
                   "{\"role\":\"assistant\",\"content\":\"Hello!\"},"
                   "{\"role\":\"user\",\"content\":\"Bye\"}]",
                   1,
                   "<|im_start|>system\nBe brief.<|im_end|>\n"
                   "<|im_start|>user\nHi<|im_end|>\n"
                   "<|im_start|>assistant\nHello!<|im_end|>\n"
                   "<|im_start|>user\nBye<|im_end|>\n"
                   "<|im_start|>assistant\n");
    assert_int_equal(t->stop_count, 1);
    assert_string_equal(t->stops[0], "<|im_end|>");
}

static void qwen_adds_default_system_only_when_missing(void **state) {
    (void)state;
    const gw_chat_template *t = gw_chat_template_builtin("qwen");
    assert_renders(t, "[{\"role\":\"user\",\"content\":\"Hi\"}]", 0,
                   "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
                   "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
    /* developer is OpenAI's newer name for system */
    assert_renders(t,
                   "[{\"role\":\"developer\",\"content\":\"Terse.\"},"
                   "{\"role\":\"user\",\"content\":\"Hi\"}]",
                   0,
                   "<|im_start|>system\nTerse.<|im_end|>\n"
                   "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
    assert_string_equal(t->stops[0], "<|im_end|>");
}

static void llama3_trims_and_writes_bos_on_request(void **state) {
    (void)state;
    const gw_chat_template *t = gw_chat_template_builtin("llama-3");
    assert_non_null(t);
    const char *msgs = "[{\"role\":\"system\",\"content\":\"  You help. \\n\"},"
                       "{\"role\":\"user\",\"content\":\"\\nWeather?\"},"
                       "{\"role\":\"tool\",\"tool_call_id\":\"c1\",\"content\":\"sunny\"}]";
    assert_renders(t, msgs, 1,
                   "<|begin_of_text|>"
                   "<|start_header_id|>system<|end_header_id|>\n\nYou help.<|eot_id|>"
                   "<|start_header_id|>user<|end_header_id|>\n\nWeather?<|eot_id|>"
                   "<|start_header_id|>ipython<|end_header_id|>\n\nsunny<|eot_id|>"
                   "<|start_header_id|>assistant<|end_header_id|>\n\n");
    const char *err = NULL;
    char *no_bos = render(t, msgs, 0, 0, &err);
    assert_non_null(no_bos);
    assert_true(!strncmp(no_bos, "<|start_header_id|>system", 25));
    free(no_bos);
    assert_string_equal(t->stops[0], "<|eot_id|>");
}

static void text_parts_are_joined_and_images_refused(void **state) {
    (void)state;
    const gw_chat_template *t = gw_chat_template_builtin("chatml");
    assert_renders(t,
                   "[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"one\"},"
                   "{\"type\":\"text\",\"text\":\"two\"}]}]",
                   0, "<|im_start|>user\none\ntwo<|im_end|>\n<|im_start|>assistant\n");
    const char *err = NULL;
    assert_null(render(t,
                       "[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"see\"},"
                       "{\"type\":\"image_url\",\"image_url\":{\"url\":\"data:image/png;base64,"
                       "AA==\"}}]}]",
                       0, 0, &err));
    assert_string_equal(err, image_error);
    err = NULL;
    assert_null(render(t,
                       "[{\"role\":\"user\",\"content\":[{\"type\":\"input_audio\","
                       "\"input_audio\":{}}]}]",
                       0, 0, &err));
    assert_non_null(strstr(err, "only text content parts"));
    err = NULL;
    assert_null(render(t, "[{\"role\":\"user\",\"content\":42}]", 0, 0, &err));
    assert_non_null(err);
}

static void tool_turns_render_as_text(void **state) {
    (void)state;
    const gw_chat_template *t = gw_chat_template_builtin("chatml");
    assert_renders(t,
                   "[{\"role\":\"user\",\"content\":\"Weather in Paris?\"},"
                   "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"c1\","
                   "\"type\":\"function\",\"function\":{\"name\":\"weather\","
                   "\"arguments\":\"{\\\"city\\\":\\\"Paris\\\"}\"}}]},"
                   "{\"role\":\"tool\",\"tool_call_id\":\"c1\",\"content\":\"18C\"}]",
                   0,
                   "<|im_start|>user\nWeather in Paris?<|im_end|>\n"
                   "<|im_start|>assistant\n"
                   "{\"name\":\"weather\",\"arguments\":\"{\\\"city\\\":\\\"Paris\\\"}\"}"
                   "<|im_end|>\n"
                   "<|im_start|>tool\n18C<|im_end|>\n"
                   "<|im_start|>assistant\n");
}

static void bad_messages_are_refused(void **state) {
    (void)state;
    const gw_chat_template *t = gw_chat_template_builtin("chatml");
    const char *err = NULL;
    assert_null(render(t, "[]", 0, 0, &err));
    assert_non_null(strstr(err, "non-empty"));
    err = NULL;
    assert_null(render(t, "[{\"role\":\"narrator\",\"content\":\"x\"}]", 0, 0, &err));
    assert_non_null(strstr(err, "role"));
    err = NULL;
    assert_null(render(t, "[{\"content\":\"x\"}]", 0, 0, &err));
    assert_non_null(err);
}

static void escaped_rendering_is_a_json_string_body(void **state) {
    (void)state;
    const gw_chat_template *t = gw_chat_template_builtin("chatml");
    const char *err = NULL;
    char *s = render(t, "[{\"role\":\"user\",\"content\":\"say \\\"hi\\\"\\u0001\"}]", 0, 1, &err);
    assert_non_null(s);
    assert_string_equal(s, "<|im_start|>user\\nsay \\\"hi\\\"\\u0001<|im_end|>\\n"
                           "<|im_start|>assistant\\n");
    /* and it parses back to the raw prompt */
    size_t len = strlen(s);
    char *doc = malloc(len + 3);
    doc[0] = '"';
    memcpy(doc + 1, s, len);
    doc[len + 1] = '"';
    doc[len + 2] = '\0';
    json_object *str = json_tokener_parse(doc);
    assert_non_null(str);
    assert_string_equal(json_object_get_string(str),
                        "<|im_start|>user\nsay \"hi\"\x01<|im_end|>\n<|im_start|>assistant\n");
    json_object_put(str);
    free(doc);
    free(s);
}

/* Writes text to a fresh temporary file; the path goes into path. */
static void write_file(char *path, size_t cap, const char *text) {
    snprintf(path, cap, "/tmp/aigw_tmpl_XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    size_t len = strlen(text);
    assert_int_equal(write(fd, text, len), (ssize_t)len);
    close(fd);
}

static void template_file_loads_with_defaults(void **state) {
    (void)state;
    char path[64];
    write_file(path, sizeof path,
               "# Mistral-like\n"
               "bos: <s>\n"
               "user_prefix: \"[INST] \"\r\n"
               "user_suffix: \" [/INST]\"\n"
               "\n"
               "   assistant_prefix: \"\"\n"
               "assistant_suffix: </s>\n"
               "system_prefix: \"\"\n"
               "system_suffix: \\n\\n\n"
               "stop: </s>\n"
               "stop: \"[INST]\"\n"
               "trim: true\n");
    gw_arena arena = {0};
    char err[300] = "";
    const gw_chat_template *t = gw_chat_template_load(path, &arena, err, sizeof err);
    assert_non_null(t);
    assert_string_equal(t->name, path);
    assert_int_equal(t->stop_count, 2);
    assert_string_equal(t->stops[1], "[INST]");
    assert_string_equal(t->generation_prompt, ""); /* defaults to assistant_prefix */
    /* no tool role in the file: a tool result reads as a user turn */
    assert_renders(t,
                   "[{\"role\":\"system\",\"content\":\"Sys\"},"
                   "{\"role\":\"user\",\"content\":\" Hi \"},"
                   "{\"role\":\"assistant\",\"content\":\"Yo\"},"
                   "{\"role\":\"tool\",\"content\":\"42\"}]",
                   1, "<s>Sys\n\n[INST] Hi [/INST]Yo</s>[INST] 42 [/INST]");
    gw_arena_free(&arena);
    unlink(path);
}

static void template_file_errors_name_file_and_line(void **state) {
    (void)state;
    static const struct {
        const char *text, *expected;
    } cases[] = {
        {"user_prefix: a\nassistant_prefix: b\ncolour: red\n", "line 3: unknown key 'colour'"},
        {"user_prefix: \"a\n", "line 1: a quoted value has no closing quote"},
        {"user_prefix: a\\q\n", "line 1: unknown escape \\q"},
        {"user_prefix: a\nuser_prefix: b\n", "line 2: a second value for user_prefix"},
        {"just words\n", "line 1: expected 'key: value'"},
        {"user_prefix: a\ntrim: maybe\n", "line 2: trim takes true or false"},
        {"stop: a\nstop: b\nstop: c\nstop: d\nstop: e\n", "line 5: more than 4 stop strings"},
        {"user_prefix: a\n", "needs user_prefix and assistant_prefix"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char path[64];
        write_file(path, sizeof path, cases[i].text);
        gw_arena arena = {0};
        char err[300] = "";
        assert_null(gw_chat_template_load(path, &arena, err, sizeof err));
        if (!strstr(err, cases[i].expected) || !strstr(err, path))
            fail_msg("case %zu: '%s' lacks '%s'", i, err, cases[i].expected);
        gw_arena_free(&arena);
        unlink(path);
    }
}

static void unknown_names_and_missing_files(void **state) {
    (void)state;
    gw_arena arena = {0};
    char err[300] = "";
    assert_null(gw_chat_template_load("llama3", &arena, err, sizeof err));
    assert_non_null(strstr(err, "unknown chat_template 'llama3'"));
    assert_non_null(strstr(err, "chatml, llama-3, qwen"));
    assert_null(gw_chat_template_load("/nonexistent/dir/t.txt", &arena, err, sizeof err));
    assert_non_null(strstr(err, "'/nonexistent/dir/t.txt'"));
    assert_non_null(strstr(err, "No such file or directory"));
    assert_null(gw_chat_template_load("/tmp", &arena, err, sizeof err)); /* a directory */
    assert_non_null(strstr(err, "'/tmp'"));
    assert_null(gw_chat_template_load("", &arena, err, sizeof err));
    assert_non_null(strstr(err, "empty"));
    assert_ptr_equal(gw_chat_template_load("qwen", &arena, err, sizeof err),
                     gw_chat_template_builtin("qwen"));
    gw_arena_free(&arena);
}

static void tbuf_respects_its_ceiling(void **state) {
    (void)state;
    gw_strbuf b = {.max = 8};
    gw_strbuf_adds(&b, "12345");
    assert_false(b.failed);
    gw_strbuf_adds(&b, "6789");
    assert_true(b.failed);
    assert_int_equal(b.len, 5);
    gw_strbuf_free(&b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(chatml_renders_turns_and_generation_prompt),
        cmocka_unit_test(qwen_adds_default_system_only_when_missing),
        cmocka_unit_test(llama3_trims_and_writes_bos_on_request),
        cmocka_unit_test(text_parts_are_joined_and_images_refused),
        cmocka_unit_test(tool_turns_render_as_text),
        cmocka_unit_test(bad_messages_are_refused),
        cmocka_unit_test(escaped_rendering_is_a_json_string_body),
        cmocka_unit_test(template_file_loads_with_defaults),
        cmocka_unit_test(template_file_errors_name_file_and_line),
        cmocka_unit_test(unknown_names_and_missing_files),
        cmocka_unit_test(tbuf_respects_its_ceiling),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
