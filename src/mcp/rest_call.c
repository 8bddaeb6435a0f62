/* A REST tool's call: the request its template builds from the arguments, sent with the plain
 * HTTP client on the worker's curl multi; the answer made a tool result. An HTTP error of the
 * REST API is a result with isError (the model can read it and correct itself), not a protocol
 * failure; what the gateway's log gets (the URL, curl's words) the caller never sees. */
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/config.h"
#include "core/json_parse.h"
#include "core/http_server.h"
#include "core/log.h"
#include "mcp/mcp_internal.h"
#include "mcp/template.h"
#include "upstream/fetch.h"

enum { MAX_HEADERS = 40, ERROR_BODY_SHOWN = 2000 };

static int arg_in_list(const char *name, const char **list, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!strcmp(list[i], name)) return 1;
    return 0;
}

/* An argument the URL, the headers or the explicit query take (the body gets the others). */
static int arg_placed(const gw_mcp_rest *rest, const char *name) {
    if (gw_mcp_template_uses(&rest->url, name) || arg_in_list(name, rest->query, rest->query_count))
        return 1;
    for (size_t i = 0; i < rest->header_count; i++)
        if (gw_mcp_template_uses(&rest->headers[i].value, name)) return 1;
    return rest->body_arg && !strcmp(rest->body_arg, name);
}

static void add_query_pair(gw_strbuf *url, int *first, const char *name, json_object *v,
                           gw_strbuf *tmp) {
    if (json_object_is_type(v, json_type_array)) { /* form style, exploded: a=1&a=2 */
        for (size_t i = 0; i < json_object_array_length(v); i++)
            add_query_pair(url, first, name, json_object_array_get_idx(v, i), tmp);
        return;
    }
    gw_strbuf_adds(url, *first ? (memchr(url->data, '?', url->len) ? "&" : "?") : "&");
    *first = 0;
    gw_mcp_percent_encode(name, strlen(name), url);
    gw_strbuf_adds(url, "=");
    gw_mcp_value_text(v, gw_strbuf_reset(tmp));
    gw_mcp_percent_encode(tmp->data, tmp->len, url);
}

static void result_text(mcp_exchange *x, const gw_mcp_rest *rest, const gw_fetch_result *res) {
    if (!rest->result_pointer && !rest->has_result_template) {
        mcp_tool_result_text(x, res->body, res->body_len, 0);
        return;
    }
    /* the worker's tokener (strict, reused): an answer that is not plain JSON is shown whole */
    json_object *root = gw_json_parse_with(x->mw->w->tokener, res->body, res->body_len);
    gw_strbuf out = {0};
    if (rest->result_pointer) {
        json_object *v =
            root ? gw_mcp_json_at(root, rest->result_pointer, strlen(rest->result_pointer)) : NULL;
        if (v)
            gw_mcp_value_text(v, &out);
        else
            gw_strbuf_add(&out, res->body, res->body_len); /* not there: the whole answer */
    } else {
        char err[200];
        gw_mcp_template_render(&rest->result_template, root, GW_MCP_FILL_TEXT, &out, err,
                               sizeof err);
    }
    json_object_put(root);
    mcp_tool_result_text(x, out.data ? out.data : "", out.len, 0);
    gw_strbuf_free(&out);
}

static void on_rest_done(gw_fetch *f, const gw_fetch_result *res, void *ud) {
    mcp_exchange *x = ud;
    (void)f;
    x->fetch = NULL;
    x->t_up_end = gw_now_ns();
    const gw_mcp_rest *rest = &x->tool->rest;
    if (res->code != CURLE_OK || res->status == 0) {
        const char *why = res->too_large                          ? "too_large"
                          : res->code == CURLE_OPERATION_TIMEDOUT ? "timeout"
                                                                  : "unreachable";
        char err[300];
        gw_json_escape(err, sizeof err, res->error, strlen(res->error));
        gw_log_warn("mcp_rest_failed",
                    "\"server\":%s,\"tool\":\"%s\",\"reason\":\"%s\",\"error\":\"%s\"",
                    x->srv->name_json, x->tool->name, why, err);
        char msg[200];
        snprintf(msg, sizeof msg, "%s: the REST API %s", x->tool->name,
                 res->too_large                          ? "answered more than mcp.max_result_bytes"
                 : res->code == CURLE_OPERATION_TIMEDOUT ? "did not answer in time"
                                                         : "could not be reached");
        mcp_call_report(x,
                        res->too_large                          ? MCP_CALL_TOO_LARGE
                        : res->code == CURLE_OPERATION_TIMEDOUT ? MCP_CALL_TIMEOUT
                                                                : MCP_CALL_UNREACHABLE,
                        res->status);
        mcp_tool_result_text(x, msg, strlen(msg), 1);
        return;
    }
    if (res->status >= 400) {
        gw_strbuf msg = {0};
        char head[100];
        snprintf(head, sizeof head, "HTTP %d %s", res->status, gw_http_status_text(res->status));
        gw_strbuf_adds(&msg, head);
        if (res->body_len) {
            gw_strbuf_adds(&msg, ": ");
            gw_strbuf_add(&msg, res->body,
                          res->body_len > ERROR_BODY_SHOWN ? ERROR_BODY_SHOWN : res->body_len);
        }
        mcp_call_report(x, MCP_CALL_TOOL_ERROR, res->status);
        mcp_tool_result_text(x, msg.data, msg.len, 1);
        gw_strbuf_free(&msg);
        return;
    }
    mcp_call_report(x, MCP_CALL_OK, res->status);
    result_text(x, rest, res);
}

void mcp_rest_call(mcp_exchange *x, const gw_mcp_tool *tool, json_object *args) {
    const gw_mcp_rest *rest = &tool->rest;
    /* the worker's buffers, reused call after call (curl copies what it keeps) */
    gw_mcp_worker *mw = x->mw;
    gw_strbuf *url = gw_strbuf_reset(&mw->rest_url), *body = gw_strbuf_reset(&mw->rest_body),
              *tmp = gw_strbuf_reset(&mw->rest_tmp);
    url->max = 64 * 1024;
    body->max = x->cfg->max_body_bytes;
    gw_strbuf lines[MAX_HEADERS];
    const char *headers[MAX_HEADERS + 1];
    size_t nh = 0;
    memset(lines, 0, sizeof lines);
    char err[300];
    mcp_call_outcome fail = MCP_CALL_TOOL_ERROR; /* arguments the request cannot take */
    int rc = gw_mcp_template_render(&rest->url, args, GW_MCP_FILL_URL, url, err, sizeof err);
    int first = 1;
    for (size_t i = 0; rc == 0 && i < rest->query_count; i++) {
        json_object *v;
        if (json_object_object_get_ex(args, rest->query[i], &v) && v)
            add_query_pair(url, &first, rest->query[i], v, tmp);
    }
    if (rc == 0 && rest->body == GW_MCP_BODY_NONE && !rest->body_arg) {
        /* no body: what has no other place goes in the query */
        json_object_object_foreach(args, key, v) {
            if (v && !arg_placed(rest, key)) add_query_pair(url, &first, key, v, tmp);
        }
    }
    if (rc == 0 && rest->body_arg) {
        json_object *v;
        if (json_object_object_get_ex(args, rest->body_arg, &v)) gw_strbuf_add_json(body, v);
        headers[nh++] = "Content-Type: application/json";
    } else if (rc == 0 && rest->body == GW_MCP_BODY_JSON) {
        gw_strbuf_adds(body, "{");
        int n = 0;
        json_object_object_foreach(args, key, v) {
            if (arg_placed(rest, key)) continue;
            gw_strbuf_adds(body, n++ ? ",\"" : "\"");
            gw_strbuf_add_json_escaped(body, key, strlen(key));
            gw_strbuf_adds(body, "\":");
            if (v)
                gw_strbuf_add_json(body, v);
            else
                gw_strbuf_adds(body, "null");
        }
        gw_strbuf_adds(body, "}");
        headers[nh++] = "Content-Type: application/json";
    } else if (rc == 0 && rest->body == GW_MCP_BODY_FORM) {
        int n = 0;
        json_object_object_foreach(args, key, v) {
            if (arg_placed(rest, key) || !v) continue;
            if (n++) gw_strbuf_adds(body, "&");
            gw_mcp_percent_encode(key, strlen(key), body);
            gw_strbuf_adds(body, "=");
            gw_mcp_value_text(v, gw_strbuf_reset(tmp));
            gw_mcp_percent_encode(tmp->data, tmp->len, body);
        }
        headers[nh++] = "Content-Type: application/x-www-form-urlencoded";
    }
    headers[nh++] = "Accept: application/json, */*;q=0.5";
    if (rest->auth) headers[nh++] = rest->auth->header_line;
    char traceparent[96];
    mcp_traceparent_line(x, traceparent, sizeof traceparent);
    headers[nh++] = traceparent;
    for (size_t i = 0; rc == 0 && i < rest->header_count && nh < MAX_HEADERS - 1; i++) {
        gw_strbuf *line = &lines[i < MAX_HEADERS ? i : 0];
        gw_strbuf_adds(line, rest->headers[i].name);
        gw_strbuf_adds(line, ": ");
        if (gw_mcp_template_render(&rest->headers[i].value, args, GW_MCP_FILL_HEADER, line, err,
                                   sizeof err) < 0) {
            if (strstr(err, "line break")) rc = -1;
            continue; /* an argument not given: the header is left out */
        }
        gw_strbuf_add(line, "", 1);
        if (!line->failed) headers[nh++] = line->data;
    }
    headers[nh] = NULL;
    gw_strbuf_add(url, "", 1);
    if (rc == 0 && (url->failed || body->failed)) {
        snprintf(err, sizeof err, "the request is larger than the gateway builds");
        rc = -1;
    }
    if (rc == 0) {
        gw_fetch_request req = {
            .method = rest->method,
            .url = url->data,
            .headers = headers,
            .body = body->len ? body->data : (rest->body || rest->body_arg ? "" : NULL),
            .body_len = body->len,
            .timeout_ms = rest->timeout_ms ? rest->timeout_ms : x->cfg->mcp->timeout_ms,
            .max_response_bytes = x->cfg->mcp->max_result_bytes};
        mcp_url_host(url->data, x->endpoint, sizeof x->endpoint);
        x->t_up_start = gw_now_ns();
        x->fetch = gw_fetch_start(x->mw->curl, &req, on_rest_done, x);
        if (!x->fetch) {
            x->t_up_start = 0;
            fail = MCP_CALL_INTERNAL;
            snprintf(err, sizeof err, "out of memory");
            rc = -1;
        }
    }
    /* a large one is given back rather than kept for the next call */
    if (url->cap > 65536) gw_strbuf_free(url);
    if (body->cap > 65536) gw_strbuf_free(body);
    if (tmp->cap > 65536) gw_strbuf_free(tmp);
    for (size_t i = 0; i < MAX_HEADERS; i++)
        gw_strbuf_free(&lines[i]);
    if (rc < 0) {
        char msg[400];
        snprintf(msg, sizeof msg, "%s: %s", tool->name, err);
        mcp_call_report(x, fail, 0);
        mcp_tool_result_text(x, msg, strlen(msg), 1);
    }
}
