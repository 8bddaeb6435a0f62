/* Prometheus metrics: the exposition format (escaping, numbers, cumulative histogram buckets with
 * +Inf, _sum and _count), and the per-worker tables summed at scrape time, with their bounds
 * (unknown models, tenants and series past their limits counted under "" or "other"). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <event2/buffer.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/load.h"
#include "meter/metrics.h"
#include "meter/metrics_text.h"

/* The buffer as a string, with a newline in front so every line can be found as "\n<line>\n". */
static char *text_of(struct evbuffer *out) {
    size_t len = evbuffer_get_length(out);
    char *s = malloc(len + 2);
    s[0] = '\n';
    evbuffer_copyout(out, s + 1, len);
    s[len + 1] = '\0';
    return s;
}

static int has_line(const char *text, const char *line) {
    char want[1024];
    snprintf(want, sizeof want, "\n%s\n", line);
    return strstr(text, want) != NULL;
}

static void assert_line(const char *text, const char *line) {
    if (!has_line(text, line)) fail_msg("missing line: %s\nin:%s", line, text);
}

static void label_values_are_escaped(void **state) {
    (void)state;
    struct evbuffer *out = evbuffer_new();
    gw_prom_label l[2] = {{"model", "a\"b\\c\nd"}, {"channel", "plain"}};
    gw_prom_sample_u64(out, "x_total", l, 2, 7);
    gw_prom_family(out, "y", "gauge", "back\\slash and\nnewline \"quoted\"");
    gw_prom_sample_u64(out, "y", NULL, 0, 1);
    char *t = text_of(out);
    assert_line(t, "x_total{model=\"a\\\"b\\\\c\\nd\",channel=\"plain\"} 7");
    /* HELP escapes backslash and newline only */
    assert_line(t, "# HELP y back\\\\slash and\\nnewline \"quoted\"");
    assert_line(t, "# TYPE y gauge");
    assert_line(t, "y 1");
    free(t);
    evbuffer_free(out);
}

static void numbers_read_back_the_same(void **state) {
    (void)state;
    struct evbuffer *out = evbuffer_new();
    double values[] = {0.05, 1, 0.1 + 0.2, 1e-7, 123456.789, -2.5, NAN, INFINITY, -INFINITY};
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        gw_prom_number(out, values[i]);
        evbuffer_add(out, "\n", 1);
    }
    char *t = text_of(out);
    assert_line(t, "0.05");
    assert_line(t, "1");
    assert_line(t, "0.30000000000000004");
    assert_line(t, "1e-07");
    assert_line(t, "123456.789");
    assert_line(t, "-2.5");
    assert_line(t, "NaN");
    assert_line(t, "+Inf");
    assert_line(t, "-Inf");
    free(t);
    evbuffer_free(out);
}

static void histogram_buckets_are_cumulative(void **state) {
    (void)state;
    struct evbuffer *out = evbuffer_new();
    const int64_t bounds[] = {50000, 1000000, 2500000};
    const uint64_t buckets[] = {1, 0, 2, 3}; /* the last: past every bound */
    gw_prom_label l = {"model", "m"};
    gw_prom_histogram(out, "h_seconds", &l, 1, bounds, 3, buckets, 12345678);
    gw_prom_histogram(out, "bare", NULL, 0, bounds, 3, buckets, 5);
    char *t = text_of(out);
    assert_line(t, "h_seconds_bucket{model=\"m\",le=\"0.05\"} 1");
    assert_line(t, "h_seconds_bucket{model=\"m\",le=\"1\"} 1");
    assert_line(t, "h_seconds_bucket{model=\"m\",le=\"2.5\"} 3");
    assert_line(t, "h_seconds_bucket{model=\"m\",le=\"+Inf\"} 6");
    assert_line(t, "h_seconds_sum{model=\"m\"} 12.345678");
    assert_line(t, "h_seconds_count{model=\"m\"} 6");
    assert_line(t, "bare_bucket{le=\"0.05\"} 1");
    assert_line(t, "bare_bucket{le=\"+Inf\"} 6");
    assert_line(t, "bare_sum 0.000005");
    assert_line(t, "bare_count 6");
    free(t);
    evbuffer_free(out);
}

static const char yaml[] = "metrics: {tenant_label: true, max_tenants: 2, max_series: 8}\n"
                           "channels:\n"
                           "  - {name: a, base_url: http://127.0.0.1:1/v1}\n"
                           "  - {name: b, base_url: http://127.0.0.1:2/v1}\n"
                           "models:\n"
                           "  - {name: chat, channel: a}\n"
                           "  - {name: embed, channel: b}\n";

static gw_request_record *record(const char *model, const char *channel, const char *tenant,
                                 int status) {
    static gw_request_record rec;
    memset(&rec, 0, sizeof rec);
    snprintf(rec.model, sizeof rec.model, "%s", model);
    snprintf(rec.channel, sizeof rec.channel, "%s", channel);
    snprintf(rec.tenant, sizeof rec.tenant, "%s", tenant);
    rec.status = status;
    rec.latency_us = 300000;
    rec.first_token_us = -1;
    rec.attempt_count = 1;
    snprintf(rec.attempts[0].channel, sizeof rec.attempts[0].channel, "%s", channel);
    return &rec;
}

static char *scrape(const gw_metrics *mx, const gw_config *cfg) {
    struct evbuffer *out = evbuffer_new();
    assert_int_equal(gw_metrics_write(mx, cfg, out), 0);
    char *t = text_of(out);
    evbuffer_free(out);
    return t;
}

static void workers_are_summed_by_series(void **state) {
    (void)state;
    gw_config_errors errs;
    gw_config *cfg = gw_config_load_string("t.yaml", yaml, strlen(yaml), NULL, &errs);
    assert_non_null(cfg);
    gw_metrics *mx = gw_metrics_new(2);
    gw_worker_stats stats[2] = {0};
    atomic_store(&stats[0].connections_refused, 3);
    atomic_store(&stats[1].connections_refused, 4);
    gw_worker_metrics *w0 = gw_metrics_worker(mx, 0, &cfg, &stats[0]);
    gw_worker_metrics *w1 = gw_metrics_worker(mx, 1, &cfg, &stats[1]);

    gw_request_record *rec = record("chat", "a", "acme", 200);
    rec->usage = (gw_usage){.prompt_tokens = 10,
                            .completion_tokens = 5,
                            .cached_tokens = 2,
                            .reasoning_tokens = 1,
                            .known = 1};
    rec->first_token_us = 50000; /* exactly on a bound: le is inclusive */
    rec->cost = 0.25;
    snprintf(rec->currency, sizeof rec->currency, "USD");
    gw_metrics_observe(w0, rec);
    gw_metrics_observe(w1, rec);
    gw_metrics_observe(w1, rec);
    /* a stream's gaps, on the series the request will be counted in */
    uint32_t series = gw_metrics_series(w1, "chat", "a", "acme");
    assert_int_not_equal(series, GW_METRICS_NO_SERIES);
    gw_metrics_observe_gap(w1, series, 4000);
    gw_metrics_observe_gap(w1, series, 30000);
    gw_metrics_observe_gap(w1, series, 60000000);

    /* a failover from b to a: b counted one attempt and one failover */
    rec = record("chat", "a", "acme", 200);
    rec->attempt_count = 2;
    snprintf(rec->attempts[0].channel, sizeof rec->attempts[0].channel, "b");
    snprintf(rec->attempts[1].channel, sizeof rec->attempts[1].channel, "a");
    gw_metrics_observe(w0, rec);

    /* a model no config names: its requests count under model="" */
    rec = record("made-up-by-a-caller", "", "acme", 404);
    gw_metrics_observe(w0, rec);
    /* refusals by the check that refused */
    rec = record("chat", "", "acme", 429);
    rec->refused_by = GW_REFUSED_RATE_LIMIT;
    rec->attempt_count = 0;
    gw_metrics_observe(w1, rec);
    /* tenants past max_tenants (2: acme, then beta) are "other" */
    gw_metrics_observe(w0, record("chat", "a", "beta", 200));
    gw_metrics_observe(w0, record("chat", "a", "gamma", 200));
    gw_metrics_observe(w1, record("chat", "a", "delta\"quoted", 500));

    char *t = scrape(mx, cfg);
    assert_line(
        t, "aigw_requests_total{model=\"chat\",channel=\"a\",tenant=\"acme\",status=\"200\"} 4");
    assert_line(
        t, "aigw_tokens_total{model=\"chat\",channel=\"a\",tenant=\"acme\",type=\"prompt\"} 30");
    assert_line(
        t,
        "aigw_tokens_total{model=\"chat\",channel=\"a\",tenant=\"acme\",type=\"completion\"} 15");
    assert_line(
        t, "aigw_tokens_total{model=\"chat\",channel=\"a\",tenant=\"acme\",type=\"cached\"} 6");
    assert_line(
        t, "aigw_tokens_total{model=\"chat\",channel=\"a\",tenant=\"acme\",type=\"reasoning\"} 3");
    assert_line(
        t, "aigw_cost_total{model=\"chat\",channel=\"a\",tenant=\"acme\",currency=\"USD\"} 0.75");
    assert_line(t, "aigw_first_token_seconds_bucket{model=\"chat\",channel=\"a\",tenant=\"acme\","
                   "le=\"0.05\"} 3");
    assert_line(t,
                "aigw_first_token_seconds_count{model=\"chat\",channel=\"a\",tenant=\"acme\"} 3");
    assert_line(
        t, "aigw_first_token_seconds_sum{model=\"chat\",channel=\"a\",tenant=\"acme\"} 0.150000");
    assert_line(t, "aigw_request_duration_seconds_bucket{model=\"chat\",channel=\"a\",tenant="
                   "\"acme\",le=\"0.25\"} 0");
    assert_line(t, "aigw_request_duration_seconds_bucket{model=\"chat\",channel=\"a\",tenant="
                   "\"acme\",le=\"0.5\"} 4");
    assert_line(t, "aigw_request_duration_seconds_bucket{model=\"chat\",channel=\"a\",tenant="
                   "\"acme\",le=\"+Inf\"} 4");
    assert_line(
        t,
        "aigw_request_duration_seconds_sum{model=\"chat\",channel=\"a\",tenant=\"acme\"} 1.200000");
    assert_line(t, "aigw_inter_token_gap_seconds_bucket{model=\"chat\",channel=\"a\",tenant="
                   "\"acme\",le=\"0.005\"} 1");
    assert_line(t, "aigw_inter_token_gap_seconds_bucket{model=\"chat\",channel=\"a\",tenant="
                   "\"acme\",le=\"0.05\"} 2");
    assert_line(t, "aigw_inter_token_gap_seconds_bucket{model=\"chat\",channel=\"a\",tenant="
                   "\"acme\",le=\"10\"} 2");
    assert_line(t, "aigw_inter_token_gap_seconds_bucket{model=\"chat\",channel=\"a\",tenant="
                   "\"acme\",le=\"+Inf\"} 3");
    assert_line(
        t,
        "aigw_inter_token_gap_seconds_sum{model=\"chat\",channel=\"a\",tenant=\"acme\"} 60.034000");
    assert_line(t, "aigw_attempts_total{model=\"chat\",channel=\"a\",tenant=\"acme\"} 4");
    assert_line(t, "aigw_attempts_total{model=\"chat\",channel=\"b\",tenant=\"acme\"} 1");
    assert_line(t, "aigw_failovers_total{model=\"chat\",channel=\"b\",tenant=\"acme\"} 1");
    assert_line(t, "aigw_failovers_total{model=\"chat\",channel=\"a\",tenant=\"acme\"} 0");
    assert_line(t, "aigw_requests_total{model=\"\",channel=\"\",tenant=\"acme\",status=\"404\"} 1");
    assert_null(strstr(t, "made-up"));
    assert_line(t, "aigw_refusals_total{reason=\"rate_limit\"} 1");
    assert_line(t, "aigw_refusals_total{reason=\"auth\"} 0");
    assert_line(
        t, "aigw_requests_total{model=\"chat\",channel=\"a\",tenant=\"beta\",status=\"200\"} 1");
    assert_line(
        t, "aigw_requests_total{model=\"chat\",channel=\"a\",tenant=\"other\",status=\"200\"} 1");
    assert_line(
        t, "aigw_requests_total{model=\"chat\",channel=\"a\",tenant=\"other\",status=\"500\"} 1");
    assert_null(strstr(t, "gamma"));
    assert_line(t, "aigw_connections_refused_total 7");
    assert_line(t, "aigw_store_queue_dropped_total 0");
    /* every family is announced before its samples, once */
    assert_non_null(strstr(t, "\n# TYPE aigw_requests_total counter\n"));
    assert_non_null(strstr(t, "\n# TYPE aigw_first_token_seconds histogram\n"));
    assert_null(strstr(strstr(t, "# TYPE aigw_requests_total") + 1, "# TYPE aigw_requests_total"));
    free(t);
    gw_metrics_free(mx);
    gw_config_unref(cfg);
}

static void queue_stats(void *ud, gw_metrics_queue_stats *out) {
    *out = *(gw_metrics_queue_stats *)ud;
}

static void series_past_the_bound_are_other(void **state) {
    (void)state;
    gw_metrics *mx = gw_metrics_new(1);
    gw_metrics_queue_stats q = {.depth = 3, .capacity = 1024, .dropped = 9, .written = 100};
    gw_metrics_set_store_queue(mx, queue_stats, &q);
    /* no config: every model name is taken, with the default bounds (1000 series) */
    gw_worker_metrics *w = gw_metrics_worker(mx, 0, NULL, NULL);
    char name[32];
    for (int i = 0; i < 1500; i++) {
        snprintf(name, sizeof name, "m%d", i);
        gw_metrics_observe(w, record(name, "c", "", 200));
    }
    char *t = scrape(mx, NULL);
    assert_line(t, "aigw_requests_total{model=\"m0\",channel=\"c\",status=\"200\"} 1");
    assert_line(t, "aigw_requests_total{model=\"m998\",channel=\"c\",status=\"200\"} 1");
    assert_false(has_line(t, "aigw_requests_total{model=\"m999\",channel=\"c\",status=\"200\"} 1"));
    /* 999 of their own, the other 501 in the overflow series */
    assert_line(t, "aigw_requests_total{model=\"other\",channel=\"other\",status=\"200\"} 501");
    assert_line(t, "aigw_store_queue_depth 3");
    assert_line(t, "aigw_store_queue_capacity 1024");
    assert_line(t, "aigw_store_queue_dropped_total 9");
    assert_line(t, "aigw_store_written_total 100");
    free(t);
    gw_metrics_free(mx);
}

/* A name longer than its field is cut the same way at every lookup: one series, not one per
 * request. */
static void long_names_keep_one_series(void **state) {
    (void)state;
    gw_metrics *mx = gw_metrics_new(1);
    gw_worker_metrics *w = gw_metrics_worker(mx, 0, NULL, NULL);
    char longname[400];
    memset(longname, 'x', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    uint32_t a = gw_metrics_series(w, longname, longname, NULL);
    uint32_t b = gw_metrics_series(w, longname, longname, NULL);
    assert_int_equal(a, b);
    assert_int_not_equal(a, GW_METRICS_NO_SERIES);
    gw_metrics_observe_gap(NULL, 0, 5); /* no table: nothing happens */
    gw_metrics_observe(NULL, record("chat", "a", "", 200));
    gw_metrics_free(mx);
}

/* The steady state: many requests over a few series, counted exactly. Also what docs/benchmarks.md
 * measures: valgrind --tool=callgrind --toggle-collect=gw_metrics_observe build/test_metrics */
static void many_observations_sum_exactly(void **state) {
    (void)state;
    gw_config_errors errs;
    gw_config *cfg = gw_config_load_string("t.yaml", yaml, strlen(yaml), NULL, &errs);
    assert_non_null(cfg);
    gw_metrics *mx = gw_metrics_new(1);
    gw_worker_metrics *w = gw_metrics_worker(mx, 0, &cfg, NULL);
    static const char *const tenants[] = {"acme", "beta"};
    for (int i = 0; i < 100000; i++) {
        gw_request_record *rec =
            record(i % 3 ? "chat" : "embed", i % 3 ? "a" : "b", tenants[i & 1], i % 10 ? 200 : 502);
        rec->usage = (gw_usage){.prompt_tokens = 100, .completion_tokens = i % 50, .known = 1};
        rec->first_token_us = 20000 + i % 700000;
        rec->latency_us = 100000 + i % 5000000;
        rec->cost = 0.001;
        memcpy(rec->currency, "USD", 4);
        gw_metrics_observe(w, rec);
    }
    char *t = scrape(mx, cfg);
    /* i % 3 == 0 -> embed; i even -> acme; i % 10 == 0 -> 502 (also even, so acme) */
    int chat_acme_200 = 0, embed_acme_502 = 0;
    for (int i = 0; i < 100000; i++) {
        chat_acme_200 += i % 3 && !(i & 1) && i % 10;
        embed_acme_502 += !(i % 3) && !(i % 10);
    }
    char line[256];
    snprintf(line, sizeof line,
             "aigw_requests_total{model=\"chat\",channel=\"a\",tenant=\"acme\",status=\"200\"} %d",
             chat_acme_200);
    assert_line(t, line);
    snprintf(line, sizeof line,
             "aigw_requests_total{model=\"embed\",channel=\"b\",tenant=\"acme\",status=\"502\"} %d",
             embed_acme_502);
    assert_line(t, line);
    free(t);
    gw_metrics_free(mx);
    gw_config_unref(cfg);
}

static void config_errors_name_the_key(void **state) {
    (void)state;
    gw_config_errors errs;
    const char *bad = "metrics: {tenant_labels: true}\n"
                      "channels: [{name: a, base_url: http://127.0.0.1:1/v1}]\n"
                      "models: [{name: chat, channel: a}]\n";
    assert_null(gw_config_load_string("t.yaml", bad, strlen(bad), NULL, &errs));
    assert_true(errs.count >= 1);
    assert_non_null(
        strstr(errs.messages[0], "t.yaml:1:11: unknown key 'tenant_labels' in metrics"));
    const char *range = "metrics: {max_series: 1}\n"
                        "channels: [{name: a, base_url: http://127.0.0.1:1/v1}]\n"
                        "models: [{name: chat, channel: a}]\n";
    assert_null(gw_config_load_string("t.yaml", range, strlen(range), NULL, &errs));
    assert_non_null(strstr(errs.messages[0], "t.yaml:1:23:"));
    assert_non_null(strstr(errs.messages[0], "metrics.max_series"));
    const char *good = "metrics: {require_token: true}\n"
                       "channels: [{name: a, base_url: http://127.0.0.1:1/v1}]\n"
                       "models: [{name: chat, channel: a}]\n";
    gw_config *cfg = gw_config_load_string("t.yaml", good, strlen(good), NULL, &errs);
    assert_non_null(cfg);
    assert_true(gw_metrics_conf_of(cfg)->require_token);
    assert_false(gw_metrics_conf_of(cfg)->tenant_label);
    assert_int_equal(gw_metrics_conf_of(cfg)->max_series, 1000);
    gw_config_unref(cfg);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(label_values_are_escaped),
        cmocka_unit_test(numbers_read_back_the_same),
        cmocka_unit_test(histogram_buckets_are_cumulative),
        cmocka_unit_test(workers_are_summed_by_series),
        cmocka_unit_test(series_past_the_bound_are_other),
        cmocka_unit_test(long_names_keep_one_series),
        cmocka_unit_test(many_observations_sum_exactly),
        cmocka_unit_test(config_errors_name_the_key),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
