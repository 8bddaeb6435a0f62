/* A finished tool call as a request record, like a model call's (filters/meter.c): handed to
 * the worker's metrics table and, with metering on, to the store writer's queue, so tool calls
 * appear in GET /admin/requests, /admin/usage and Prometheus under the model
 * "mcp:<server>/<tool>", the protocol "mcp" and the channel of their upstream (the REST API's
 * host or the proxied server's name), with zero tokens. Nothing here waits or allocates: the
 * record is filled on the stack and copied into a queue slot. */
#include <stdio.h>
#include <string.h>

#include "core/clock.h"
#include "core/config-t.h"
#include "core/trace_context.h"
#include "core/worker-t.h"
#include "filters/meter.h"
#include "mcp/mcp.h"
#include "mcp/mcp_internal.h"
#include "meter/meter.h"
#include "meter/metrics.h"
#include "meter/record-t.h"

static void copy_str(char *dst, size_t cap, const char *src) {
    size_t len = src ? strlen(src) : 0;
    if (len >= cap) len = cap - 1; /* bounded fields: a prefix */
    if (len) memcpy(dst, src, len);
    dst[len] = '\0';
}

static int64_t us_or_none(int64_t ns) {
    return ns < 0 ? -1 : ns / 1000;
}

/* "mcp:<server>/<tool>" of a configured server: one of its own tools, or a proxied server's
 * prefix and a name its allow-list takes. Asked once per new metrics series, not per call. */
int gw_mcp_knows_name(const gw_config *cfg, const char *name, size_t len) {
    const gw_mcp_conf *mc = cfg->mcp;
    if (!mc || len < 6 || memcmp(name, "mcp:", 4)) return 0;
    const char *server = name + 4, *slash = memchr(server, '/', len - 4);
    if (!slash) return 0;
    size_t slen = (size_t)(slash - server);
    const char *tool = slash + 1;
    size_t tlen = len - 5 - slen;
    for (size_t i = 0; i < mc->server_count; i++) {
        const gw_mcp_server *s = &mc->servers[i];
        if (strlen(s->name) != slen || memcmp(s->name, server, slen)) continue;
        if (gw_mcp_tool_find(s, tool, tlen)) return 1;
        for (size_t k = 0; k < s->upstream_count; k++) {
            const gw_mcp_upstream *u = &s->upstreams[k];
            if (tlen > u->name_len + 1 && !memcmp(tool, u->name, u->name_len) &&
                tool[u->name_len] == '_' &&
                mcp_upstream_allows(u, tool + u->name_len + 1, tlen - u->name_len - 1))
                return 1;
        }
        return 0;
    }
    return 0;
}

void mcp_meter_call(const gw_mcp_call_report *r) {
    gw_worker *w = r->worker;
    if (!w || (!w->meter && !w->metrics)) return;
    gw_request_record rec;
    memset(&rec, 0, sizeof rec);
    copy_str(rec.id, sizeof rec.id, r->request_id);
    if (r->trace) {
        copy_str(rec.trace_id, sizeof rec.trace_id, r->trace->trace_id);
        copy_str(rec.span_id, sizeof rec.span_id, r->trace->span_id);
        copy_str(rec.parent_id, sizeof rec.parent_id, r->trace->parent_id);
    }
    rec.time_ms = (gw_wall_ns() - r->latency_ns) / 1000000;
    copy_str(rec.tenant, sizeof rec.tenant, r->tenant);
    copy_str(rec.project, sizeof rec.project, r->project);
    copy_str(rec.key_id, sizeof rec.key_id, r->key_id);
    copy_str(rec.client_ip, sizeof rec.client_ip, r->client);
    copy_str(rec.path, sizeof rec.path, r->path);
    copy_str(rec.protocol, sizeof rec.protocol, "mcp");
    snprintf(rec.model, sizeof rec.model, "mcp:%s/%s", r->server, r->tool);
    copy_str(rec.upstream_model, sizeof rec.upstream_model, r->upstream_tool);
    const char *channel = r->upstream ? r->upstream : r->endpoint;
    copy_str(rec.channel, sizeof rec.channel, channel);
    copy_str(rec.endpoint, sizeof rec.endpoint, r->endpoint);
    rec.status = r->http_status;
    copy_str(rec.error_code, sizeof rec.error_code, r->error_code);
    rec.refused_by = gw_refusal_of(r->error_code);
    rec.first_token_us = -1; /* a tool result is no token */
    rec.latency_us = r->latency_ns / 1000;
    if (r->upstream_start_ns >= 0 && channel && channel[0]) {
        gw_attempt_record *a = &rec.attempts[0];
        rec.attempt_count = 1;
        copy_str(a->channel, sizeof a->channel, channel);
        copy_str(a->endpoint, sizeof a->endpoint, r->endpoint);
        copy_str(a->upstream_model, sizeof a->upstream_model, r->upstream_tool);
        a->status = r->upstream_status;
        if (r->http_status != 200 || strcmp(r->error_code, "tool_error"))
            copy_str(a->error, sizeof a->error, r->error_code);
        a->start_us = us_or_none(r->upstream_start_ns);
        a->first_byte_us = -1;
        a->end_us = us_or_none(r->upstream_end_ns);
    }
    gw_metrics_observe(w->metrics, &rec);
    if (w->meter) gw_meter_submit(w->meter, &rec); /* never blocks; a full queue drops, counted */
}
