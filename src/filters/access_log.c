/* One JSON line per request once it ends, whichever filter answered it; and one for each
 * request the HTTP layer or a fixed route answered without the chain (413, 431, 404, 405,
 * /v1/models, ...), so every request that got a status is logged once. Every field is bounded
 * before it is written, so a line is never cut and always parses. */
#include <event2/buffer.h>
#include <stdio.h>
#include <string.h>

#include "core/clock.h"
#include "core/http_server.h"
#include "core/log.h"
#include "filters/access_log.h"
#include "filters/filter.h"

/* Escaped names are capped at 255 bytes each: a caller's model name can be megabytes long. */
enum { NAME_CAP = 256, LINE_CAP = 4096 };

static void access_log_done(gw_req *r) {
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
    int n = snprintf(line + prefix, sizeof line - prefix,
                     ",\"request_id\":\"%s\",\"trace_id\":\"%s\",\"client\":\"%s\",\"scheme\":\"%"
                     "s\",\"method\":\"POST\","
                     "\"path\":\"%s\","
                     "\"model\":\"%s\",\"served_model\":\"%s\",\"channel\":\"%s\",\"attempts\":%zu,"
                     "\"stream\":%s,"
                     "\"status\":%d,\"first_byte_ms\":%.3f,\"total_ms\":%.3f,\"bytes_in\":%llu,"
                     "\"bytes_out\":%llu,\"usage\":%s,\"error\":%s%s%s}\n",
                     r->id, r->trace.trace_id, r->client, r->tls ? "https" : "http", r->path, model,
                     served, channel, r->attempt_count, r->stream ? "true" : "false", r->status,
                     first_byte_ms, total_ms, (unsigned long long)r->bytes_in,
                     (unsigned long long)r->bytes_out, usage, r->error_code ? "\"" : "",
                     r->error_code ? r->error_code : "null", r->error_code ? "\"" : "");
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
    .on_done = access_log_done,
};
