/* One JSON line per request once it ends, whichever filter answered it. */
#include <stdio.h>
#include <string.h>

#include "core/http_server.h"
#include "core/log.h"
#include "filters/filter.h"

static const char *const api_paths[GW_API_COUNT] = {"/v1/chat/completions", "/v1/completions",
                                                    "/v1/embeddings"};

static void access_log_done(gw_req *r) {
    if (!r->cfg->access_log || !strcmp(r->cfg->access_log, "off")) return;
    char line[2048], model[256] = "", served[256] = "";
    if (r->model_name) gw_json_escape(model, sizeof model, r->model_name, r->model_name_len);
    if (r->model)
        gw_json_escape(served, sizeof served, r->model->upstream_model,
                       r->model->upstream_model_len);
    double first_byte_ms = r->t_first_byte ? (double)(r->t_first_byte - r->t_start) / 1e6 : -1;
    double total_ms = (double)(r->t_end - r->t_start) / 1e6;
    size_t prefix = gw_log_prefix(line, sizeof line, GW_LOG_INFO, "access");
    int n =
        snprintf(line + prefix, sizeof line - prefix,
                 ",\"request_id\":\"%s\",\"client\":\"%s\",\"scheme\":\"%s\",\"method\":\"POST\","
                 "\"path\":\"%s\","
                 "\"model\":\"%s\",\"served_model\":\"%s\",\"channel\":\"%s\",\"stream\":%s,"
                 "\"status\":%d,\"first_byte_ms\":%.3f,\"total_ms\":%.3f,\"bytes_in\":%llu,"
                 "\"bytes_out\":%llu,\"error\":%s%s%s}\n",
                 r->id, r->client, r->tls ? "https" : "http", api_paths[r->api], model, served,
                 r->channel ? r->channel->name : "", r->stream ? "true" : "false", r->status,
                 first_byte_ms, total_ms, (unsigned long long)r->bytes_in,
                 (unsigned long long)r->bytes_out, r->error_code ? "\"" : "",
                 r->error_code ? r->error_code : "null", r->error_code ? "\"" : "");
    if (n <= 0) return;
    size_t len = prefix + (size_t)n;
    if (len >= sizeof line) { /* truncated: keep it one valid line */
        len = sizeof line - 1;
        line[len - 2] = '}';
        line[len - 1] = '\n';
    }
    gw_log_write_line(line, len);
}

const gw_filter_ops gw_filter_access_log = {
    .name = "access_log",
    .on_done = access_log_done,
};
