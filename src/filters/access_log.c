/* One JSON line per request once it ends, whichever filter answered it; and one for each
 * request the HTTP layer or a fixed route answered without the chain (413, 431, 404, 405,
 * /v1/models, ...), so every request that got a status is logged once. Every field is bounded
 * before it is written, so a line is never cut and always parses. */
#include <event2/buffer.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "core/clock.h"
#include "core/http_server.h"
#include "core/log.h"
#include "filters/access_log.h"
#include "filters/auth.h"
#include "filters/filter.h"
#include "meter/metrics.h"

/* Escaped names are capped at 255 bytes each: a caller's model name can be megabytes long. */
enum { NAME_CAP = 256, LINE_CAP = 4096 };

/* TEMPORARY (metrics branch): feeds the worker's metrics until the metering filter builds the
 * real gw_request_record; the lead replaces this with that producer. */
typedef struct metrics_wiring {
    int64_t last_event_ns, max_gap_ns;
    uint32_t series_plus_one;
} metrics_wiring;

static const char *tenant_of(gw_req *r) {
    const gw_auth_identity *id = gw_auth_identity_of(r);
    return id ? id->tenant : "";
}

static int metrics_chunk(gw_req *r, struct evbuffer *chunk, int eos) {
    metrics_wiring *st = gw_filter_state(r, &gw_filter_access_log);
    if (!st || eos || !r->stream || !evbuffer_get_length(chunk)) return 0;
    int64_t now = gw_now_ns();
    if (st->last_event_ns) {
        int64_t gap = now - st->last_event_ns;
        if (gap > st->max_gap_ns) st->max_gap_ns = gap;
        if (!st->series_plus_one)
            st->series_plus_one =
                gw_metrics_series(r->worker->metrics, r->model ? r->model->name : "",
                                  r->channel ? r->channel->name : "", tenant_of(r)) +
                1;
        if (st->series_plus_one)
            gw_metrics_observe_gap(r->worker->metrics, st->series_plus_one - 1, gap / 1000);
    }
    st->last_event_ns = now;
    return 0;
}

static int refusal_of(const char *code) {
    static const struct {
        const char *code;
        int refusal;
    } map[] = {{"address_denied", GW_REFUSED_IP},
               {"invalid_api_key", GW_REFUSED_AUTH},
               {"model_not_allowed", GW_REFUSED_MODEL_ACCESS},
               {"tenant_disabled", GW_REFUSED_SWITCH},
               {"model_disabled", GW_REFUSED_SWITCH},
               {"pii_detected", GW_REFUSED_PII},
               {"content_filter", GW_REFUSED_WORDS},
               {"rate_limit_exceeded", GW_REFUSED_RATE_LIMIT},
               {"insufficient_quota", GW_REFUSED_QUOTA}};
    for (size_t i = 0; code && i < sizeof map / sizeof map[0]; i++)
        if (!strcmp(code, map[i].code)) return map[i].refusal;
    return GW_REFUSED_NONE;
}

static void metrics_done(gw_req *r) {
    if (!r->worker || !r->worker->metrics) return;
    metrics_wiring *st = gw_filter_state(r, &gw_filter_access_log);
    static _Thread_local gw_request_record rec;
    memset(&rec, 0, offsetof(gw_request_record, attempts));
    snprintf(rec.model, sizeof rec.model, "%.*s",
             (int)(r->model_name_len < 127 ? r->model_name_len : 127),
             r->model_name ? r->model_name : "");
    snprintf(rec.channel, sizeof rec.channel, "%s", r->channel ? r->channel->name : "");
    snprintf(rec.tenant, sizeof rec.tenant, "%s", tenant_of(r));
    rec.status = r->status;
    rec.usage = r->usage;
    rec.refused_by = refusal_of(r->error_code);
    rec.latency_us = (r->t_end - r->t_start) / 1000;
    rec.first_token_us =
        r->t_first_byte && r->status < 400 ? (r->t_first_byte - r->t_start) / 1000 : -1;
    rec.max_gap_us = st ? st->max_gap_ns / 1000 : 0;
    rec.attempt_count = (uint32_t)r->attempt_count;
    for (size_t i = 0; i < r->attempt_count && i < GW_RECORD_MAX_ATTEMPTS; i++) {
        const char *key = r->tried[i] ? r->tried[i]->key : "";
        snprintf(rec.attempts[i].channel, sizeof rec.attempts[i].channel, "%.*s",
                 (int)strcspn(key, "\n"), key);
    }
    gw_metrics_observe(r->worker->metrics, &rec);
}

static void access_log_done(gw_req *r) {
    metrics_done(r);
    if (!r->cfg->access_log_on || !gw_log_enabled(GW_LOG_INFO)) return;
    char line[LINE_CAP], model[NAME_CAP] = "", served[NAME_CAP] = "", channel[NAME_CAP] = "";
    if (r->model_name) gw_json_escape(model, sizeof model, r->model_name, r->model_name_len);
    if (r->target)
        gw_json_escape(served, sizeof served, r->target->upstream_model,
                       r->target->upstream_model_len);
    if (r->channel)
        gw_json_escape(channel, sizeof channel, r->channel->name, strlen(r->channel->name));
    double first_byte_ms = r->t_first_byte ? (double)(r->t_first_byte - r->t_start) / 1e6 : -1;
    double total_ms = (double)(r->t_end - r->t_start) / 1e6;
    char usage[160] = "null"; /* what metering will bill, as the engine reported it */
    if (r->usage.known)
        snprintf(usage, sizeof usage,
                 "{\"prompt_tokens\":%lld,\"completion_tokens\":%lld,\"cached_tokens\":%lld,"
                 "\"reasoning_tokens\":%lld}",
                 (long long)r->usage.prompt_tokens, (long long)r->usage.completion_tokens,
                 (long long)r->usage.cached_tokens, (long long)r->usage.reasoning_tokens);
    size_t prefix = gw_log_prefix(line, sizeof line, GW_LOG_INFO, "access");
    /* the fixed text, three names, the id, the client and the numbers stay far under LINE_CAP */
    int n =
        snprintf(line + prefix, sizeof line - prefix,
                 ",\"request_id\":\"%s\",\"client\":\"%s\",\"scheme\":\"%s\",\"method\":\"POST\","
                 "\"path\":\"%s\","
                 "\"model\":\"%s\",\"served_model\":\"%s\",\"channel\":\"%s\",\"attempts\":%zu,"
                 "\"stream\":%s,"
                 "\"status\":%d,\"first_byte_ms\":%.3f,\"total_ms\":%.3f,\"bytes_in\":%llu,"
                 "\"bytes_out\":%llu,\"usage\":%s,\"error\":%s%s%s}\n",
                 r->id, r->client, r->tls ? "https" : "http", r->path, model, served, channel,
                 r->attempt_count, r->stream ? "true" : "false", r->status, first_byte_ms, total_ms,
                 (unsigned long long)r->bytes_in, (unsigned long long)r->bytes_out, usage,
                 r->error_code ? "\"" : "", r->error_code ? r->error_code : "null",
                 r->error_code ? "\"" : "");
    if (n <= 0 || prefix + (size_t)n >= sizeof line) return; /* cannot happen: fields bounded */
    gw_log_write_line(line, prefix + (size_t)n);
}

void gw_access_log_plain(const gw_http_req *req, int health_probe) {
    gw_log_level level = health_probe ? GW_LOG_DEBUG : GW_LOG_INFO;
    if (req->access_logged || !gw_log_enabled(level)) return;
    char line[LINE_CAP], path[NAME_CAP] = "";
    if (req->path) gw_json_escape(path, sizeof path, req->path, req->path_len);
    double total_ms = (double)(gw_now_ns() - req->start_ns) / 1e6;
    size_t prefix = gw_log_prefix(line, sizeof line, level, "access");
    int n = snprintf(line + prefix, sizeof line - prefix,
                     ",\"request_id\":null,\"client\":\"%s\",\"scheme\":\"%s\",\"method\":\"%s\","
                     "\"path\":\"%s\",\"status\":%d,\"total_ms\":%.3f,\"bytes_in\":%zu,"
                     "\"bytes_out\":%llu,\"error\":null}\n",
                     req->peer ? req->peer : "", req->is_tls ? "https" : "http",
                     req->method_name ? req->method_name : "-", path, req->status, total_ms,
                     req->body ? evbuffer_get_length(req->body) : 0,
                     (unsigned long long)req->bytes_out);
    if (n <= 0 || prefix + (size_t)n >= sizeof line) return;
    gw_log_write_line(line, prefix + (size_t)n);
}

const gw_filter_ops gw_filter_access_log = {
    .name = "access_log",
    .state_size = sizeof(metrics_wiring),
    .on_response_chunk = metrics_chunk,
    .on_done = access_log_done,
};
