/* Billing and the metering section of the config: prices per model read from YAML, cached input
 * billed at its own price and not again at the input price, reasoning inside completion, the
 * "*" price for models not listed, no price no cost; the section's defaults and its errors at
 * file:line:column. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/load.h"
#include "meter/metering-t.h"
#include "meter/price.h"

static const char base[] = "channels:\n"
                           "  - {name: sim, type: openai, base_url: \"http://127.0.0.1:1/v1\"}\n"
                           "models:\n"
                           "  - {name: chat, channel: sim}\n";

static gw_config *load_with(const char *metering, gw_config_errors *errs) {
    char yaml[4096];
    snprintf(yaml, sizeof yaml, "%s%s", base, metering);
    return gw_config_load_string("t.yaml", yaml, strlen(yaml), NULL, errs);
}

static int has_error(const gw_config_errors *errs, const char *needle) {
    for (size_t i = 0; i < errs->count; i++)
        if (strstr(errs->messages[i], needle)) return 1;
    return 0;
}

static void cost_bills_cached_input_once(void **state) {
    (void)state;
    gw_config_errors errs;
    gw_config *cfg = load_with("metering:\n"
                               "  store: usage.db\n"
                               "  prices:\n"
                               "    chat: { input: 0.15, output: 0.60, cached_input: 0.075, "
                               "currency: USD }\n"
                               "    smart: { input: 3, output: 15, currency: CNY }\n",
                               &errs);
    assert_non_null(cfg);
    const gw_metering_conf *m = cfg->metering;
    assert_non_null(m);
    assert_string_equal(m->store, "usage.db");
    const char *currency = NULL;
    gw_usage u = {.prompt_tokens = 1000,
                  .completion_tokens = 200,
                  .cached_tokens = 400,
                  .reasoning_tokens = 50,
                  .known = 1};
    double want = (600 * 0.15 + 400 * 0.075 + 200 * 0.60) / 1e6;
    assert_float_equal(gw_meter_cost(m, "chat", &u, &currency), want, 1e-15);
    assert_string_equal(currency, "USD");
    /* without cached_input, cached tokens cost the input price */
    assert_float_equal(gw_meter_cost(m, "smart", &u, &currency), (1000 * 3.0 + 200 * 15.0) / 1e6,
                       1e-15);
    assert_string_equal(currency, "CNY");
    /* reasoning tokens are part of completion: more of them costs nothing more */
    gw_usage more_reasoning = u;
    more_reasoning.reasoning_tokens = 190;
    assert_float_equal(gw_meter_cost(m, "chat", &more_reasoning, NULL), want, 1e-15);
    /* no price: no cost, no currency */
    currency = "x";
    assert_float_equal(gw_meter_cost(m, "unknown", &u, &currency), 0, 0);
    assert_null(currency);
    assert_float_equal(gw_meter_cost(NULL, "chat", &u, &currency), 0, 0);
    /* an engine that reported more cached than prompt tokens is not billed negative input */
    gw_usage odd = {.prompt_tokens = 10, .cached_tokens = 50, .completion_tokens = 0};
    assert_float_equal(gw_meter_cost(m, "chat", &odd, NULL), 10 * 0.075 / 1e6, 1e-15);
    /* a lookup takes a name with its length: no terminator needed */
    assert_non_null(gw_price_find(m, "chat-extra", 4));
    assert_null(gw_price_find(m, "cha", 3));
    gw_config_unref(cfg);
}

static void star_prices_the_rest_and_many_models_index(void **state) {
    (void)state;
    char metering[8192] = "metering:\n  prices:\n    \"*\": {input: 1, output: 2}\n";
    size_t n = strlen(metering);
    for (int i = 0; i < 100; i++)
        n += (size_t)snprintf(metering + n, sizeof metering - n,
                              "    model-%d: {input: %d, output: 0}\n", i, i);
    char yaml[9000];
    snprintf(yaml, sizeof yaml, "%s%s", base, metering);
    gw_config_errors errs;
    gw_config *cfg = gw_config_load_string("t.yaml", yaml, strlen(yaml), NULL, &errs);
    assert_non_null(cfg);
    const gw_metering_conf *m = cfg->metering;
    gw_usage u = {.prompt_tokens = 1000000};
    for (int i = 0; i < 100; i++) {
        char name[32];
        snprintf(name, sizeof name, "model-%d", i);
        assert_float_equal(gw_meter_cost(m, name, &u, NULL), (double)i, 1e-9);
    }
    const char *currency;
    assert_float_equal(gw_meter_cost(m, "other", &u, &currency), 1.0, 1e-9);
    assert_string_equal(currency, "USD");
    gw_config_unref(cfg);
}

static void defaults_and_store_path(void **state) {
    (void)state;
    gw_config_errors errs;
    /* metering: with nothing under it turns metering on with the defaults; the store is
     * store.path, wherever that section is written */
    gw_config *cfg = load_with("metering:\nstore: {path: keys.db}\n", &errs);
    assert_non_null(cfg);
    const gw_metering_conf *m = cfg->metering;
    assert_non_null(m);
    assert_string_equal(m->store, "keys.db");
    assert_int_equal(m->queue_size, 4096);
    assert_int_equal(m->batch, 256);
    assert_false(m->capture.bodies);
    assert_false(m->capture.streams);
    assert_int_equal(m->capture.max_body_bytes, 65536);
    assert_int_equal(m->capture.max_stream_bytes, 1048576);
    assert_int_equal(m->retention.days, 30);
    assert_int_equal(m->retention.max_mb, 1024);
    assert_null(gw_price_find(m, "chat", 4));
    gw_config_unref(cfg);

    cfg = load_with("", &errs);
    assert_non_null(cfg);
    assert_null(cfg->metering); /* absent: off */
    gw_config_unref(cfg);

    cfg = load_with("metering:\n  queue_size: 1000\n  batch: 32\n"
                    "  capture: {bodies: true, max_body_bytes: 1024, streams: yes}\n"
                    "  retention: {days: 7, max_mb: 0, minute_rollup_days: 2, interval_ms: 500}\n",
                    &errs);
    assert_non_null(cfg);
    m = cfg->metering;
    assert_int_equal(m->queue_size, 1024); /* rounded up to a power of two */
    assert_int_equal(m->batch, 32);
    assert_true(m->capture.bodies);
    assert_true(m->capture.streams);
    assert_int_equal(m->capture.max_body_bytes, 1024);
    assert_int_equal(m->retention.days, 7);
    assert_int_equal(m->retention.max_mb, 0);
    assert_int_equal(m->retention.minute_rollup_days, 2);
    assert_int_equal(m->retention.interval_ms, 500);
    assert_string_equal(m->store, "aigw.db"); /* store.path's default */
    gw_config_unref(cfg);
}

static void errors_name_the_place(void **state) {
    (void)state;
    gw_config_errors errs;
    assert_null(load_with("metering:\n"
                          "  prices:\n"
                          "    chat: {input: -1, output: cheap, currency: \"U$D\"}\n"
                          "    smart: {input: 1, outputs: 2}\n"
                          "  queue_size: 8\n"
                          "  batch: 0\n"
                          "  capture: {bodies: maybe}\n"
                          "  retention: {days: -1}\n"
                          "  store: \"\"\n"
                          "  colour: blue\n",
                          &errs));
    assert_true(has_error(&errs, "t.yaml:7:19: expected a price per million tokens from 0 to 1e9 "
                                 "for metering.prices input, found '-1'"));
    assert_true(has_error(&errs, "found 'cheap'"));
    assert_true(has_error(&errs, "expected a currency code"));
    assert_true(has_error(&errs, "t.yaml:8:23: unknown key 'outputs' in a metering.prices entry "
                                 "(expected one of: input, output, cached_input, currency)"));
    assert_true(has_error(&errs, "metering.queue_size"));
    assert_true(has_error(&errs, "metering.batch"));
    assert_true(has_error(&errs, "metering.capture.bodies"));
    assert_true(has_error(&errs, "metering.retention.days"));
    assert_true(has_error(&errs, "metering.store is empty"));
    assert_true(has_error(&errs, "unknown key 'colour' in metering (expected one of: store, "
                                 "prices, queue_size, batch, capture, retention, alerts)"));
    assert_null(
        load_with("metering:\n  prices:\n    chat: {input: 1}\n    chat: {input: 2}\n", &errs));
    assert_true(has_error(&errs, "duplicate key 'chat' in metering.prices"));
    /* the top level names metering among its keys */
    assert_null(load_with("meterin: {}\n", &errs));
    assert_true(has_error(&errs, "store, metering, metrics, channels"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(cost_bills_cached_input_once),
        cmocka_unit_test(star_prices_the_rest_and_many_models_index),
        cmocka_unit_test(defaults_and_store_path),
        cmocka_unit_test(errors_name_the_place),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
