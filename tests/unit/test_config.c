/* Config loading: the default loads, values land where they should, and every mistake comes
 * back as file:line:column with what was expected. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <curl/curl.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/load.h"
#include "engines/engine.h"

static gw_config *load(const char *yaml, gw_config_errors *errs) {
    return gw_config_load_string("t.yaml", yaml, strlen(yaml), "http://127.0.0.1:1/v1", errs);
}

static int has_error(const gw_config_errors *errs, const char *needle) {
    for (size_t i = 0; i < errs->count; i++)
        if (strstr(errs->messages[i], needle)) return 1;
    return 0;
}

/* A config file is read into a buffer of its own size. A buffer the size of the limit (4 MB),
 * freed, raised glibc's mmap threshold to 4 MB for good: every later allocation below that came
 * from the heap, where calloc clears recycled memory and makes it resident. Run first, before
 * another test's frees can move the threshold. */
static void reading_a_file_leaves_the_mmap_threshold(void **state) {
    (void)state;
#ifdef __SANITIZE_ADDRESS__
    skip(); /* ASan's allocator has no mmap threshold */
#endif
    char path[] = "/tmp/aigw-test-config-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    assert_non_null(f);
    fputs(gw_default_config_yaml, f);
    fclose(f);
    gw_config_errors errs;
    gw_config *cfg = gw_config_load(path, "http://127.0.0.1:1/v1", &errs);
    unlink(path);
    assert_non_null(cfg);
    enum { ONE_MB = 1 << 20 };
    size_t mapped_before = mallinfo2().hblkhd;
    void *block = malloc(ONE_MB);
    assert_non_null(block);
    assert_true(mallinfo2().hblkhd >= mapped_before + ONE_MB); /* mapped on its own */
    free(block);
    gw_config_unref(cfg);
}

static void default_config_loads(void **state) {
    (void)state;
    gw_config_errors errs;
    gw_config *cfg = gw_config_load(NULL, "http://127.0.0.1:1/v1", &errs);
    assert_non_null(cfg);
    assert_true(gw_config_wants_sim(cfg));
    assert_int_equal(cfg->http.port, 8080);
    assert_int_equal(cfg->https.port, 8443);
    assert_int_equal(cfg->admin.port, 9090);
    assert_non_null(gw_config_find_model(cfg, "chat", 4));
    assert_string_equal(cfg->channels[0].endpoints[0]->base_url, "http://127.0.0.1:1/v1");
    assert_string_equal(cfg->channels[0].engine->name, "openai");
    assert_true(strlen(cfg->admin_token) == 32); /* generated */
    gw_config_unref(cfg);
}

static const char full[] = "server:\n"
                           "  workers: 3\n"
                           "  http: {listen: \"127.0.0.1:18080\"}\n"
                           "  https: {listen: \"off\"}\n"
                           "  admin: {listen: \"[::1]:19090\", token: \"${AIGW_TEST_TOKEN}\"}\n"
                           "  max_body_bytes: 2048\n"
                           "channels:\n"
                           "  - name: vllm\n"
                           "    base_url: http://10.0.0.1:8000/v1/\n"
                           "    api_key: secret\n"
                           "    timeouts: {connect_ms: 100, idle_ms: 2000}\n"
                           "    forward_headers: [X-Trace-*]\n"
                           "models:\n"
                           "  - name: gpt-4o\n"
                           "    channel: vllm\n"
                           "    upstream_model: \"Qwen/Qwen2.5-7B\"\n";

static void full_config_values(void **state) {
    (void)state;
    setenv("AIGW_TEST_TOKEN", "tok-123", 1);
    gw_config_errors errs;
    gw_config *cfg = load(full, &errs);
    assert_non_null(cfg);
    assert_int_equal(cfg->workers, 3);
    assert_string_equal(cfg->http.host, "127.0.0.1");
    assert_int_equal(cfg->http.port, 18080);
    assert_null(cfg->https.host);
    assert_string_equal(cfg->admin.host, "::1");
    assert_string_equal(cfg->admin_token, "tok-123");
    assert_int_equal(cfg->max_body_bytes, 2048);
    const gw_model *m = gw_config_find_model(cfg, "gpt-4o", 6);
    assert_non_null(m);
    const gw_target *target = &m->targets.targets[0];
    assert_true(target->rewrite);
    assert_string_equal(target->upstream_model_json, "\"Qwen/Qwen2.5-7B\"");
    assert_null(gw_config_find_model(cfg, "gpt-4", 5));
    const gw_channel *ch = target->channel;
    assert_string_equal(ch->endpoints[0]->base_url, "http://10.0.0.1:8000/v1/");
    assert_int_equal(ch->timeouts.connect_ms, 100);
    assert_int_equal(ch->timeouts.idle_ms, 2000);
    assert_int_equal(ch->timeouts.first_byte_ms, 120000); /* default kept */
    assert_string_equal(ch->forward_headers[0], "x-trace-*");
    assert_int_equal(ch->keepalive, 32); /* the pool's defaults */
    assert_int_equal(ch->keepalive_timeout_ms, 60000);
    gw_config_unref(cfg);
}

/* A channel's pool per worker: keepalive (idle connections kept, 0 keeps none) and
 * keepalive_timeout_ms, each checked against its range. */
static void channel_pool_keys(void **state) {
    (void)state;
    gw_config_errors errs;
    gw_config *cfg = load("channels:\n"
                          "  - {name: a, base_url: \"http://h/v1\", keepalive: 0,"
                          " keepalive_timeout_ms: 1500}\n"
                          "models:\n"
                          "  - {name: m, channel: a}\n",
                          &errs);
    assert_non_null(cfg);
    assert_int_equal(cfg->channels[0].keepalive, 0);
    assert_int_equal(cfg->channels[0].keepalive_timeout_ms, 1500);
    gw_config_unref(cfg);
    assert_null(load("channels:\n"
                     "  - name: a\n"
                     "    base_url: \"http://h/v1\"\n"
                     "    keepalive: -1\n"
                     "    keepalive_timeout_ms: 0\n"
                     "models:\n"
                     "  - {name: m, channel: a}\n",
                     &errs));
    assert_true(has_error(&errs, "t.yaml:4:16: expected an integer from 0 to 100000"));
    assert_true(has_error(&errs, "t.yaml:5:27: expected an integer from 1 to 3600000"));
}

static void errors_carry_position_and_expectation(void **state) {
    (void)state;
    gw_config_errors errs;
    const char *yaml = "server:\n"
                       "  workerz: 2\n"
                       "  max_body_bytes: lots\n"
                       "channels:\n"
                       "  - name: a\n"
                       "    type: nosuch\n"
                       "    base_url: ftp://x\n"
                       "models:\n"
                       "  - name: m\n"
                       "    channel: b\n";
    assert_null(load(yaml, &errs));
    assert_true(has_error(&errs, "t.yaml:2:3: unknown key 'workerz' in server (expected one of:"));
    assert_true(has_error(&errs, "t.yaml:3:19: expected an integer from 1024"));
    assert_true(has_error(&errs, "t.yaml:6:11: unknown channel type 'nosuch'"));
    assert_true(has_error(&errs, "t.yaml:7:15: expected an http:// or https:// URL"));
    assert_true(
        has_error(&errs, "t.yaml:10:14: model 'm' names channel 'b', which is not defined"));
}

static void yaml_syntax_error_has_position(void **state) {
    (void)state;
    gw_config_errors errs;
    assert_null(load("models:\n  - name: [unclosed\n", &errs));
    assert_int_equal(errs.count, 1);
    assert_non_null(strstr(errs.messages[0], "t.yaml:3:1: invalid YAML"));
}

static void missing_env_and_duplicates_rejected(void **state) {
    (void)state;
    unsetenv("AIGW_NOPE");
    gw_config_errors errs;
    const char *yaml = "channels:\n"
                       "  - {name: a, base_url: \"http://h/v1\", api_key: \"${AIGW_NOPE}\"}\n"
                       "  - {name: a, base_url: \"http://h/v1\"}\n"
                       "models:\n"
                       "  - {name: m, channel: a}\n"
                       "  - {name: m, channel: a}\n";
    assert_null(load(yaml, &errs));
    assert_true(has_error(&errs, "environment variable AIGW_NOPE is not set"));
    assert_true(has_error(&errs, "channel 'a' is defined twice"));
    assert_true(has_error(&errs, "model 'm' is defined twice"));
}

/* Each engine adapter reads the channel keys only it knows, and refuses what it does not. */
static void engine_keys_read_by_their_adapter(void **state) {
    (void)state;
    gw_config_errors errs;
    const char *bad =
        "channels:\n"
        "  - {name: t, type: tgi, base_url: \"http://h:8080\", deployment: x}\n"
        "  - {name: z, type: azure, base_url: \"http://h\"}\n"
        "  - {name: v, type: vllm, base_url: \"http://h:8000/v1\"}\n"
        "  - {name: s, type: sglang, base_url: \"http://h:30000\", api: grpc}\n"
        "  - {name: a, type: anthropic, base_url: \"http://h\", health: {active: true}}\n"
        "models:\n"
        "  - {name: m, channel: t}\n";
    assert_null(load(bad, &errs));
    assert_true(has_error(&errs, "t.yaml:2:53: channel 't': unknown key 'deployment' for a "
                                 "channel of type tgi"));
    assert_true(has_error(&errs, "type azure needs deployment"));
    assert_true(has_error(&errs, "type vllm takes the server's root URL, without /v1"));
    assert_true(has_error(&errs, "channel 's'"));
    assert_true(has_error(&errs, "type anthropic has no health probe of its own; set health.path"));

    const char *good =
        "channels:\n"
        "  - name: az\n"
        "    type: azure\n"
        "    base_url: \"http://h\"\n"
        "    deployment: gpt-4o\n"
        "    api_key: k\n"
        "  - name: ascend\n"
        "    type: mindie\n"
        "    base_url: \"http://h:1025\"\n"
        "    management_url: \"http://h:1026\"\n"
        "    api: native\n"
        "    chat_template: qwen\n"
        "  - {name: gpu, type: vllm, base_url: \"http://h:8000\", health: {active: true}}\n"
        "models:\n"
        "  - {name: m, channel: az}\n";
    gw_config *cfg = load(good, &errs);
    assert_non_null(cfg);
    const gw_channel *az = &cfg->channels[0], *ascend = &cfg->channels[1], *gpu = &cfg->channels[2];
    assert_string_equal(az->engine->name, "azure");
    int api_key = 0;
    for (const struct curl_slist *h = az->headers; h; h = h->next)
        api_key += !strcmp(h->data, "api-key: k");
    assert_int_equal(api_key, 1);
    /* MindIE's health lives on its management port: checks go there by default */
    assert_string_equal(ascend->health.base_url, "http://h:1026");
    assert_string_equal(ascend->health.path, "/health");
    assert_string_equal(gpu->health.path, "/health");
    gw_config_unref(cfg);
}

/* A second `channels:` once overflowed the heap (the loader sized the list for the new one and
 * kept counting from the old); under ASan this test is the proof. Every level refuses a key
 * written twice, naming both places. */
static void duplicate_keys_rejected_at_every_level(void **state) {
    (void)state;
    gw_config_errors errs;
    const char *yaml = "channels:\n"
                       "  - {name: a, base_url: \"http://h/v1\", forward_headers: [x-a], \n"
                       "     forward_headers: [x-b, x-c, x-d]}\n"
                       "models:\n"
                       "  - {name: m, channel: a}\n"
                       "channels:\n"
                       "  - {name: b, base_url: \"http://h/v1\"}\n"
                       "  - {name: c, base_url: \"http://h/v1\"}\n"
                       "models:\n"
                       "  - {name: n, channel: b}\n"
                       "server:\n"
                       "  workers: 1\n"
                       "  workers: 2\n";
    assert_null(load(yaml, &errs));
    assert_true(has_error(&errs, "t.yaml:6:1: duplicate key 'channels' in the config (first at "
                                 "line 1, column 1)"));
    assert_true(has_error(&errs, "t.yaml:9:1: duplicate key 'models' in the config (first at "
                                 "line 4, column 1)"));
    assert_true(has_error(&errs, "t.yaml:13:3: duplicate key 'workers' in server (first at line "
                                 "12, column 3)"));
    assert_true(has_error(&errs, "duplicate key 'forward_headers' in a channel"));
}

static void names_of_any_length_survive(void **state) {
    (void)state;
    char yaml[8192], name[3001];
    memset(name, 'q', sizeof name - 1);
    name[sizeof name - 1] = '\0';
    snprintf(yaml, sizeof yaml,
             "channels:\n  - {name: a, base_url: \"http://h/v1\"}\n"
             "models:\n  - {name: m, channel: a, upstream_model: \"%s\\\"\"}\n",
             name);
    gw_config_errors errs;
    gw_config *cfg = load(yaml, &errs);
    assert_non_null(cfg);
    const gw_model *m = gw_config_find_model(cfg, "m", 1);
    const gw_target *t = &m->targets.targets[0];
    assert_int_equal(t->upstream_model_json_len, 3000 + 2 + 2); /* quotes, and \" escaped */
    assert_memory_equal(t->upstream_model_json + 3000, "q\\\"\"", 4);
    gw_config_unref(cfg);
}

static void framing_headers_cannot_be_forwarded(void **state) {
    (void)state;
    gw_config_errors errs;
    const char *yaml = "channels:\n"
                       "  - {name: a, base_url: \"http://h/v1\", forward_headers: [x-ok, Host, "
                       "content-length]}\n"
                       "models:\n"
                       "  - {name: m, channel: a}\n";
    assert_null(load(yaml, &errs));
    assert_int_equal(errs.count, 2);
    assert_true(has_error(&errs, "forward_headers: 'Host' is never forwarded"));
    assert_true(has_error(&errs, "forward_headers: 'content-length' is never forwarded"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(reading_a_file_leaves_the_mmap_threshold), /* first: see there */
        cmocka_unit_test(default_config_loads),
        cmocka_unit_test(full_config_values),
        cmocka_unit_test(channel_pool_keys),
        cmocka_unit_test(errors_carry_position_and_expectation),
        cmocka_unit_test(yaml_syntax_error_has_position),
        cmocka_unit_test(missing_env_and_duplicates_rejected),
        cmocka_unit_test(duplicate_keys_rejected_at_every_level),
        cmocka_unit_test(engine_keys_read_by_their_adapter),
        cmocka_unit_test(names_of_any_length_survive),
        cmocka_unit_test(framing_headers_cannot_be_forwarded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
