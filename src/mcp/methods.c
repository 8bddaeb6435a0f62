/* The MCP methods a gateway server answers: initialize (transport.c), ping, tools/list,
 * tools/call and, for the stateless revision, server/discover; every other method is
 * "Method not found". Tool calls pass the key's permission, the server's rate limit and the
 * arguments' schema before any upstream is called. */
#include <json-c/json.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/config.h"
#include "core/log.h"
#include "filters/limits.h"
#include "mcp/mcp.h"
#include "mcp/mcp_internal.h"
#include "mcp/schema.h"

enum { LIST_TTL_MS = 60000 };

static _Atomic(gw_mcp_call_hook) call_hook;
static void *_Atomic call_hook_ud;

void gw_mcp_set_call_hook(gw_mcp_call_hook hook, void *ud) {
    atomic_store(&call_hook_ud, ud);
    atomic_store(&call_hook, hook);
}

void gw_mcp_on_call_done(const gw_mcp_call_report *r) {
    char tool[200], key[200], client[100];
    gw_json_escape(tool, sizeof tool, r->tool, strlen(r->tool));
    gw_json_escape(key, sizeof key, r->key_id, strlen(r->key_id));
    gw_json_escape(client, sizeof client, r->client, strlen(r->client));
    gw_log_info("mcp_call",
                "\"request_id\":\"%s\",\"trace_id\":\"%s\",\"server\":\"%s\",\"tool\":\"%s\","
                "\"upstream\":%s%s%s,\"status\":\"%s\",\"http_status\":%d,\"error_code\":\"%s\","
                "\"upstream_status\":%d,\"latency_ms\":%.3f,\"key\":\"%s\",\"client\":\"%s\","
                "\"transport\":\"%s\"",
                r->request_id, r->trace ? r->trace->trace_id : "", r->server, tool,
                r->upstream ? "\"" : "", r->upstream ? r->upstream : "null",
                r->upstream ? "\"" : "", r->status, r->http_status, r->error_code,
                r->upstream_status, (double)r->latency_ns / 1e6, key, client, r->transport);
    mcp_meter_call(r);
    gw_mcp_call_hook hook = atomic_load(&call_hook);
    if (hook) hook(r, atomic_load(&call_hook_ud));
}

static const struct {
    const char *word; /* the log line's status */
    int http_status;
    const char *error_code;
} outcomes[] = {
    [MCP_CALL_OK] = {"ok", 200, ""},
    [MCP_CALL_TOOL_ERROR] = {"tool_error", 200, "tool_error"},
    [MCP_CALL_INVALID_ARGS] = {"error", 400, "invalid_arguments"},
    [MCP_CALL_FORBIDDEN] = {"refused", 403, "model_not_allowed"},
    [MCP_CALL_RATE_LIMITED] = {"refused", 429, "rate_limit_exceeded"},
    [MCP_CALL_CLIENT_GONE] = {"client_gone", 499, "client_closed"},
    [MCP_CALL_UNREACHABLE] = {"tool_error", 502, "upstream_unreachable"},
    [MCP_CALL_TOO_LARGE] = {"tool_error", 502, "upstream_too_large"},
    [MCP_CALL_UPSTREAM_ERROR] = {"error", 502, "upstream_error"},
    [MCP_CALL_BUSY] = {"tool_error", 503, "upstream_busy"},
    [MCP_CALL_INTERNAL] = {"error", 503, "server_error"},
    [MCP_CALL_TIMEOUT] = {"tool_error", 504, "upstream_timeout"},
};

void mcp_call_report(mcp_exchange *x, mcp_call_outcome outcome, int upstream_status) {
    static const char *const transports[] = {"stateless", "streamable_http", "sse"};
    int64_t now = gw_now_ns();
    gw_mcp_call_report r = {
        .worker = x->mw->w,
        .server = x->srv->name,
        .path = x->srv->path,
        .tool = x->tool_name,
        .upstream = x->upstream ? x->upstream->name : NULL,
        .upstream_tool =
            x->upstream && x->tool_name[0] ? x->tool_name + x->upstream->name_len + 1 : NULL,
        .endpoint = x->endpoint,
        .status = outcomes[outcome].word,
        .http_status = outcomes[outcome].http_status,
        .error_code = outcomes[outcome].error_code,
        .upstream_status = upstream_status,
        .latency_ns = now - x->t_start,
        .upstream_start_ns = x->t_up_start ? x->t_up_start - x->t_start : -1,
        .upstream_end_ns = x->t_up_start ? (x->t_up_end ? x->t_up_end : now) - x->t_start : -1,
        .request_id = x->request_id,
        .trace = &x->trace,
        .key_id = x->caller.subject,
        .tenant = x->caller.tenant,
        .project = x->caller.project,
        .client = x->client,
        .transport = transports[x->mode]};
    gw_mcp_on_call_done(&r);
}

void mcp_traceparent_line(const mcp_exchange *x, char *out, size_t cap) {
    char value[GW_TRACEPARENT_LEN + 1];
    gw_trace_header_value(&x->trace, value);
    snprintf(out, cap, "traceparent: %s", value);
}

void mcp_url_host(const char *url, char *out, size_t cap) {
    const char *p = strstr(url, "://");
    p = p ? p + 3 : url;
    const char *at = NULL; /* credentials in a URL are never shown */
    size_t n = strcspn(p, "/?#");
    for (size_t i = 0; i < n; i++)
        if (p[i] == '@') at = p + i;
    if (at) {
        n -= (size_t)(at + 1 - p);
        p = at + 1;
    }
    snprintf(out, cap, "%.*s", (int)n, p);
}

void mcp_tool_result_text(mcp_exchange *x, const char *text, size_t len, int is_error) {
    gw_strbuf out = {.max = x->cfg->mcp->max_result_bytes * 2 + 4096};
    gw_strbuf_adds(&out, "{\"content\":[{\"type\":\"text\",\"text\":\"");
    gw_strbuf_add_json_escaped(&out, text, len);
    gw_strbuf_adds(&out, is_error ? "\"}],\"isError\":true" : "\"}],\"isError\":false");
    mcp_result_tail(x, &out);
    gw_strbuf_adds(&out, "}");
    if (out.failed) {
        gw_strbuf_free(&out);
        mcp_reply_error(x, 200, GW_JSONRPC_INTERNAL_ERROR, "the tool's result is too large", NULL);
        return;
    }
    mcp_reply_result(x, out.data, out.len);
    gw_strbuf_free(&out);
}

/* ---------- tools/list ---------- */

/* The server's own tools, as the caller's key may see them; then those of its upstreams. */
static void tools_list(mcp_exchange *x) {
    const gw_mcp_server *srv = x->srv;
    gw_strbuf *acc = &x->acc;
    gw_strbuf_adds(acc, "{\"tools\":[");
    int all = !x->caller.key;
    if (all) {
        /* the prebuilt array, without its brackets */
        if (srv->tools_json_len > 2)
            gw_strbuf_add(acc, srv->tools_json + 1, srv->tools_json_len - 2);
    } else {
        size_t n = 0;
        for (size_t i = 0; i < srv->tool_count; i++) {
            const gw_mcp_tool *t = &srv->tools[i];
            if (!mcp_caller_may(&x->caller, srv, t->name, t->name_len)) continue;
            if (n++) gw_strbuf_adds(acc, ",");
            gw_strbuf_add(acc, t->list_json, t->list_json_len);
        }
    }
    if (srv->upstream_count) {
        mcp_upstream_list(x); /* it finishes the answer */
        return;
    }
    gw_strbuf_adds(acc, "]");
    if (x->version >= GW_MCP_FIRST_MODERN) {
        gw_strbuf_adds(acc, ",\"ttlMs\":");
        gw_strbuf_add_int(acc, LIST_TTL_MS);
        gw_strbuf_adds(acc, x->caller.key ? ",\"cacheScope\":\"private\""
                                          : ",\"cacheScope\":\"public\"");
    }
    mcp_result_tail(x, acc);
    gw_strbuf_adds(acc, "}");
    mcp_reply_result(x, acc->data, acc->len);
}

/* ---------- tools/call ---------- */

/* The server's rate limit (rate_limit:), counted per key (or client address). 0 when the call
 * may go on; otherwise answered. */
static int rate_limited(mcp_exchange *x) {
    const gw_limit_rule *rule = x->srv->rate;
    if (!rule || !gw_limits_table()) return 0;
    /* by key (anonymous callers by address), or by the client's address */
    const char *value =
        rule->dim == GW_LIMIT_DIM_KEY && x->caller.subject[0] ? x->caller.subject : x->client;
    gw_limit_check check = {rule, value, strlen(value)};
    gw_limit_reservation res;
    gw_limit_result out;
    if (gw_limit_reserve(gw_limits_table(), &check, 1, 0, gw_wall_ns(), &res, &out) == GW_LIMIT_OK)
        return 0;
    char msg[200];
    long long retry_s =
        out.retry_after_ns == INT64_MAX ? -1 : (out.retry_after_ns + 999999999) / 1000000000;
    snprintf(msg, sizeof msg,
             "Rate limit exceeded: %s allows %llu tool calls per %s; retry in %lld s", x->srv->name,
             (unsigned long long)rule->limit, gw_limit_window_name(rule->window), retry_s);
    mcp_call_report(x, MCP_CALL_RATE_LIMITED, 0);
    mcp_reply_error(x, 429, GW_MCP_REFUSED, msg, NULL);
    return 1;
}

/* '*' matches any run of characters; the rest is literal. Iterative, backtracking only to the
 * last star: time linear in the name times the pattern, whatever the stars. */
static int glob_match(const char *pat, const char *s, size_t len) {
    const char *star = NULL;
    size_t i = 0, star_i = 0;
    while (i < len) {
        if (*pat == '*') {
            star = ++pat;
            star_i = i;
        } else if (*pat && *pat == s[i]) {
            pat++;
            i++;
        } else if (star) {
            pat = star;
            i = ++star_i;
        } else {
            return 0;
        }
    }
    while (*pat == '*')
        pat++;
    return !*pat;
}

int mcp_upstream_allows(const gw_mcp_upstream *up, const char *tool, size_t len) {
    if (!up->allow_count) return 1;
    for (size_t i = 0; i < up->allow_count; i++)
        if (glob_match(up->allow[i], tool, len)) return 1;
    return 0;
}

static void tools_call(mcp_exchange *x) {
    json_object *name_obj = NULL, *args = NULL;
    if (!x->msg.params || !json_object_object_get_ex(x->msg.params, "name", &name_obj) ||
        !json_object_is_type(name_obj, json_type_string)) {
        mcp_reply_error(x, 200, GW_JSONRPC_INVALID_PARAMS,
                        "Invalid params: tools/call needs params.name, a string", NULL);
        return;
    }
    if (json_object_object_get_ex(x->msg.params, "arguments", &args) && args &&
        !json_object_is_type(args, json_type_object)) {
        mcp_reply_error(x, 200, GW_JSONRPC_INVALID_PARAMS,
                        "Invalid params: params.arguments must be an object", NULL);
        return;
    }
    if (!args) {
        args = json_object_new_object(); /* owned by the message from here */
        json_object_object_add(x->msg.params, "arguments", args);
    }
    const char *name = json_object_get_string(name_obj);
    size_t len = (size_t)json_object_get_string_len(name_obj);
    snprintf(x->tool_name, sizeof x->tool_name, "%.*s", (int)(len < 130 ? len : 130), name);
    const gw_mcp_server *srv = x->srv;
    const gw_mcp_tool *tool = gw_mcp_tool_find(srv, name, len);
    const gw_mcp_upstream *up = NULL;
    const char *up_tool = NULL;
    for (size_t i = 0; !tool && i < srv->upstream_count && !up; i++) {
        const gw_mcp_upstream *u = &srv->upstreams[i];
        if (len > u->name_len + 1 && !memcmp(name, u->name, u->name_len) &&
            name[u->name_len] == '_' &&
            mcp_upstream_allows(u, name + u->name_len + 1, len - u->name_len - 1)) {
            up = u;
            up_tool = name + u->name_len + 1;
        }
    }
    if (!tool && !up) {
        char msg[200];
        snprintf(msg, sizeof msg, "Unknown tool: %s", x->tool_name);
        mcp_reply_error(x, 200, GW_JSONRPC_INVALID_PARAMS, msg, NULL);
        return;
    }
    x->tool = tool;
    x->upstream = up;
    if (!mcp_caller_may(&x->caller, srv, name, len)) {
        char msg[700];
        snprintf(msg, sizeof msg,
                 "Forbidden: this API key may not call the tool %s of %s "
                 "(its models list needs mcp:%s/%s or a glob of it)",
                 x->tool_name, srv->name, srv->name, x->tool_name);
        mcp_call_report(x, MCP_CALL_FORBIDDEN, 0);
        mcp_reply_error(x, 403, GW_MCP_REFUSED, msg, NULL);
        return;
    }
    if (rate_limited(x)) return;
    if (tool) {
        char err[600];
        if (tool->schema &&
            gw_schema_validate_with(tool->schema, x->mw->schema_md, args, err, sizeof err) < 0) {
            char msg[700];
            snprintf(msg, sizeof msg, "Invalid arguments for %s: %s", tool->name, err);
            /* 2025-11-25 on: a tool error the model can correct; before: invalid params */
            if (x->version >= GW_MCP_V2025_11_25) {
                mcp_call_report(x, MCP_CALL_TOOL_ERROR, 0);
                mcp_tool_result_text(x, msg, strlen(msg), 1);
            } else {
                mcp_call_report(x, MCP_CALL_INVALID_ARGS, 0);
                mcp_reply_error(x, 200, GW_JSONRPC_INVALID_PARAMS, msg, NULL);
            }
            return;
        }
        mcp_rest_call(x, tool, args);
        return;
    }
    mcp_upstream_call(x, up, up_tool, args);
}

/* ---------- server/discover and the rest ---------- */

static void discover(mcp_exchange *x) {
    gw_strbuf out = {0};
    gw_strbuf_adds(&out, "{\"supportedVersions\":[");
    for (int i = GW_MCP_VERSIONS - 1, first = 1; i >= GW_MCP_FIRST_MODERN; i--, first = 0) {
        gw_strbuf_adds(&out, first ? "\"" : ",\"");
        gw_strbuf_adds(&out, gw_mcp_versions[i]);
        gw_strbuf_adds(&out, "\"");
    }
    gw_strbuf_adds(&out, "],\"capabilities\":{\"tools\":{\"listChanged\":false}}");
    if (x->srv->instructions) {
        gw_strbuf_adds(&out, ",\"instructions\":\"");
        gw_strbuf_add_json_escaped(&out, x->srv->instructions, strlen(x->srv->instructions));
        gw_strbuf_adds(&out, "\"");
    }
    gw_strbuf_adds(&out, ",\"ttlMs\":");
    gw_strbuf_add_int(&out, LIST_TTL_MS);
    gw_strbuf_adds(&out, ",\"cacheScope\":\"public\"");
    mcp_result_tail(x, &out);
    gw_strbuf_adds(&out, "}");
    mcp_reply_result(x, out.data, out.len);
    gw_strbuf_free(&out);
}

void mcp_dispatch(mcp_exchange *x) {
    const char *m = x->msg.method;
    int modern = x->version >= GW_MCP_FIRST_MODERN;
    if (!strcmp(m, "tools/list")) {
        tools_list(x);
    } else if (!strcmp(m, "tools/call")) {
        tools_call(x);
    } else if (!strcmp(m, "server/discover") && modern) {
        discover(x);
    } else if (!strcmp(m, "ping") && !modern) {
        gw_strbuf out = {0};
        gw_strbuf_adds(&out, "{}");
        mcp_reply_result(x, out.data, out.len);
        gw_strbuf_free(&out);
    } else {
        char msg[200];
        snprintf(msg, sizeof msg, "Method not found: %.100s", m);
        /* the stateless revision says 404, so a client tells it from a legacy server's 404 */
        mcp_reply_error(x, modern ? 404 : 200, GW_JSONRPC_METHOD_NOT_FOUND, msg, NULL);
    }
}
