/* Counters: each worker counts on its own cache lines (relaxed atomics, so reads from another
 * thread are well defined) and readers sum them. GET /sim/stats is the tests' view; GET /metrics
 * is the Prometheus view with the engine's metric names (vLLM's, SGLang's or TGI's), which a
 * load-aware gateway scrapes. */
#include <stdio.h>

#include "sim/sim_internal.h"

static long get(const atomic_long *counter) {
    return atomic_load_explicit(counter, memory_order_relaxed);
}

void sim_stats_success(sim_worker *w, int model, long prompt_tokens, long completion_tokens,
                       bool length_limited) {
    sim_model_stats *m = &w->model_stats[model];
    sim_count(&m->prompt_tokens, prompt_tokens);
    sim_count(&m->generation_tokens, completion_tokens);
    sim_count(length_limited ? &m->success_length : &m->success_stop, 1);
}

#define SIM_STATS_FIELDS(X)                                                                        \
    X(requests)                                                                                    \
    X(chat)                                                                                        \
    X(completions)                                                                                 \
    X(embeddings) X(streams_started) X(streams_completed) X(streams_cancelled) X(active)

void sim_stats_body(const sim_server *s, struct evbuffer *out) {
#define SIM_SUM(name) long name = 0;
    SIM_STATS_FIELDS(SIM_SUM)
#undef SIM_SUM
    for (int i = 0; i < s->worker_count; i++) {
        const sim_stats *st = &s->workers[i]->stats;
#define SIM_ADD(name) name += get(&st->name);
        SIM_STATS_FIELDS(SIM_ADD)
#undef SIM_ADD
    }
    evbuffer_add_printf(out,
                        "{\"requests\":%ld,\"chat\":%ld,\"completions\":%ld,\"embeddings\":%ld,"
                        "\"streams_started\":%ld,\"streams_completed\":%ld,"
                        "\"streams_cancelled\":%ld,\"active\":%ld}",
                        requests, chat, completions, embeddings, streams_started, streams_completed,
                        streams_cancelled, active);
}

void sim_stats_reset(sim_server *s) {
    for (int i = 0; i < s->worker_count; i++) {
        sim_stats *st = &s->workers[i]->stats;
        /* `active` is a gauge of requests still in flight: zeroing it would make it lie. */
#define SIM_ZERO(name) atomic_store_explicit(&st->name, 0, memory_order_relaxed);
        SIM_ZERO(requests)
        SIM_ZERO(chat)
        SIM_ZERO(completions)
        SIM_ZERO(embeddings)
        SIM_ZERO(streams_started)
        SIM_ZERO(streams_completed)
        SIM_ZERO(streams_cancelled)
#undef SIM_ZERO
    }
}

typedef enum { RUNNING, PROMPT, GENERATION, SUCCESS_STOP, SUCCESS_LENGTH } model_field;

static long model_sum(const sim_server *s, int model, model_field field) {
    long total = 0;
    for (int i = 0; i < s->worker_count; i++) {
        const sim_model_stats *m = &s->workers[i]->model_stats[model];
        switch (field) {
        case RUNNING:
            total += get(&m->running);
            break;
        case PROMPT:
            total += get(&m->prompt_tokens);
            break;
        case GENERATION:
            total += get(&m->generation_tokens);
            break;
        case SUCCESS_STOP:
            total += get(&m->success_stop);
            break;
        case SUCCESS_LENGTH:
            total += get(&m->success_length);
            break;
        }
    }
    return total;
}

static void metric_header(struct evbuffer *out, const char *name, const char *type,
                          const char *help) {
    evbuffer_add_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* Simulated KV-cache pressure: each running request holds 1% of the cache. */
static double kv_usage(long running) {
    double usage = (double)running / 100.0;
    return usage > 1.0 ? 1.0 : usage;
}

/* SGLang's names (with --enable-metrics): per model, like vLLM's. */
static void sglang_metrics(const sim_server *s, struct evbuffer *out) {
    metric_header(out, "sglang:num_running_reqs", "gauge", "The number of running requests.");
    for (int m = 0; m < s->model_count; m++)
        evbuffer_add_printf(out, "sglang:num_running_reqs{model_name=\"%s\"} %ld.0\n",
                            s->models[m].prom_name, model_sum(s, m, RUNNING));
    metric_header(out, "sglang:num_queue_reqs", "gauge", "The number of requests in the queue.");
    for (int m = 0; m < s->model_count; m++)
        evbuffer_add_printf(out, "sglang:num_queue_reqs{model_name=\"%s\"} 0.0\n",
                            s->models[m].prom_name);
    metric_header(out, "sglang:token_usage", "gauge", "The token usage (KV cache, 0..1).");
    for (int m = 0; m < s->model_count; m++)
        evbuffer_add_printf(out, "sglang:token_usage{model_name=\"%s\"} %g\n",
                            s->models[m].prom_name, kv_usage(model_sum(s, m, RUNNING)));
    metric_header(out, "sglang:cache_hit_rate", "gauge", "The prefix cache hit rate.");
    for (int m = 0; m < s->model_count; m++)
        evbuffer_add_printf(out, "sglang:cache_hit_rate{model_name=\"%s\"} 0.0\n",
                            s->models[m].prom_name);
    metric_header(out, "sglang:prompt_tokens_total", "counter", "Number of prefill tokens.");
    for (int m = 0; m < s->model_count; m++)
        evbuffer_add_printf(out, "sglang:prompt_tokens_total{model_name=\"%s\"} %ld.0\n",
                            s->models[m].prom_name, model_sum(s, m, PROMPT));
    metric_header(out, "sglang:generation_tokens_total", "counter", "Number of generation tokens.");
    for (int m = 0; m < s->model_count; m++)
        evbuffer_add_printf(out, "sglang:generation_tokens_total{model_name=\"%s\"} %ld.0\n",
                            s->models[m].prom_name, model_sum(s, m, GENERATION));
}

/* TGI's names: one model per server, so no model label. */
static void tgi_metrics(const sim_server *s, struct evbuffer *out) {
    long running = 0, success = 0, generated = 0;
    for (int m = 0; m < s->model_count; m++) {
        running += model_sum(s, m, RUNNING);
        success += model_sum(s, m, SUCCESS_STOP) + model_sum(s, m, SUCCESS_LENGTH);
        generated += model_sum(s, m, GENERATION);
    }
    metric_header(out, "tgi_queue_size", "gauge", "Requests waiting in the queue.");
    evbuffer_add_printf(out, "tgi_queue_size 0\n");
    metric_header(out, "tgi_batch_current_size", "gauge", "Requests in the running batch.");
    evbuffer_add_printf(out, "tgi_batch_current_size %ld\n", running);
    metric_header(out, "tgi_request_success", "counter", "Successful requests.");
    evbuffer_add_printf(out, "tgi_request_success %ld\n", success);
    metric_header(out, "tgi_request_generated_tokens_sum", "counter", "Generated tokens.");
    evbuffer_add_printf(out, "tgi_request_generated_tokens_sum %ld\n", generated);
}

void sim_metrics_body(const sim_server *s, struct evbuffer *out) {
    if (s->engine == SIM_ENGINE_SGLANG) {
        sglang_metrics(s, out);
        return;
    }
    if (s->engine == SIM_ENGINE_TGI) {
        tgi_metrics(s, out);
        return;
    }
    metric_header(out, "vllm:num_requests_running", "gauge",
                  "Number of requests in model execution batches.");
    for (int m = 0; m < s->model_count; m++)
        evbuffer_add_printf(out, "vllm:num_requests_running{model_name=\"%s\"} %ld.0\n",
                            s->models[m].prom_name, model_sum(s, m, RUNNING));
    metric_header(out, "vllm:num_requests_waiting", "gauge",
                  "Number of requests waiting to be processed.");
    for (int m = 0; m < s->model_count; m++)
        evbuffer_add_printf(out, "vllm:num_requests_waiting{model_name=\"%s\"} 0.0\n",
                            s->models[m].prom_name);
    metric_header(out, "vllm:kv_cache_usage_perc", "gauge",
                  "KV-cache usage. 1 means 100 percent usage.");
    for (int m = 0; m < s->model_count; m++)
        evbuffer_add_printf(out, "vllm:kv_cache_usage_perc{model_name=\"%s\"} %g\n",
                            s->models[m].prom_name, kv_usage(model_sum(s, m, RUNNING)));
    metric_header(out, "vllm:prompt_tokens_total", "counter",
                  "Number of prefill tokens processed.");
    for (int m = 0; m < s->model_count; m++)
        evbuffer_add_printf(out, "vllm:prompt_tokens_total{model_name=\"%s\"} %ld.0\n",
                            s->models[m].prom_name, model_sum(s, m, PROMPT));
    metric_header(out, "vllm:generation_tokens_total", "counter",
                  "Number of generation tokens processed.");
    for (int m = 0; m < s->model_count; m++)
        evbuffer_add_printf(out, "vllm:generation_tokens_total{model_name=\"%s\"} %ld.0\n",
                            s->models[m].prom_name, model_sum(s, m, GENERATION));
    metric_header(out, "vllm:request_success_total", "counter",
                  "Count of successfully processed requests.");
    for (int m = 0; m < s->model_count; m++) {
        const char *name = s->models[m].prom_name;
        evbuffer_add_printf(out,
                            "vllm:request_success_total{finished_reason=\"stop\",model_name=\"%s\"}"
                            " %ld.0\n"
                            "vllm:request_success_total{finished_reason=\"length\","
                            "model_name=\"%s\"} %ld.0\n",
                            name, model_sum(s, m, SUCCESS_STOP), name,
                            model_sum(s, m, SUCCESS_LENGTH));
    }
}
