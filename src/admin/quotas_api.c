#include "admin/quotas_api.h"

#include <event2/buffer.h>
#include <http_parser.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#include "admin/audit.h"
#include "core/clock.h"
#include "core/error_response.h"
#include "core/json_parse.h"
#include "core/log.h"
#include "filters/limits.h"

static void respond_status(gw_http_req *req, const gw_quota_rule *q, const char *value,
                           const gw_quota_status *st) {
    char body[600], esc[300];
    gw_json_escape(esc, sizeof esc, value, strlen(value));
    int n = snprintf(body, sizeof body,
                     "{\"quota\":\"%s\",\"value\":\"%s\",\"budget\":%llu,\"budget_set\":%s,"
                     "\"spent\":%llu,\"remaining\":%llu,\"period_start\":%lld,"
                     "\"period_end\":%lld}",
                     q->name, esc, (unsigned long long)st->budget,
                     st->budget_set ? "true" : "false", (unsigned long long)st->spent,
                     (unsigned long long)st->remaining, (long long)(st->period_start / 1000000000),
                     (long long)(st->period_end / 1000000000));
    gw_http_respond(req, 200, "application/json", body, (size_t)n, NULL, 0);
}

void gw_admin_quotas(gw_http_req *req, const gw_config *cfg, const char *rest, size_t rest_len,
                     void (*changed)(void *ud), void *ud) {
    static const char *const dims[] = {"key", "tenant", "project"};
    char by[16], value[256];
    const char *slash = rest_len > 1 ? memchr(rest + 1, '/', rest_len - 1) : NULL;
    size_t by_len = slash ? (size_t)(slash - rest - 1) : 0;
    size_t value_len = slash ? (size_t)(rest + rest_len - slash - 1) : 0;
    if (rest_len < 2 || rest[0] != '/' || !slash || by_len >= sizeof by || !value_len ||
        value_len >= sizeof value) {
        gw_http_respond_openai_error(req, 404, "invalid_request_error", "unknown_url",
                                     "use /admin/quotas/{key|tenant|project}/{value}");
        return;
    }
    memcpy(by, rest + 1, by_len);
    by[by_len] = '\0';
    memcpy(value, slash + 1, value_len);
    value[value_len] = '\0';
    const gw_quota_rule *q = NULL;
    for (size_t i = 0; cfg->limits && i < cfg->limits->quota_count && !q; i++)
        if ((size_t)cfg->limits->quotas[i].dim < 3 && !strcmp(dims[cfg->limits->quotas[i].dim], by))
            q = &cfg->limits->quotas[i];
    if (!q) {
        gw_http_respond_openai_error(req, 404, "invalid_request_error", "quota_not_found",
                                     "no quota is configured by that dimension");
        return;
    }
    gw_quota_table *t = gw_quotas_table();
    int64_t now = gw_wall_ns();
    if (req->method == HTTP_PATCH) {
        size_t len = evbuffer_get_length(req->body);
        const char *text = len ? (const char *)evbuffer_pullup(req->body, -1) : NULL;
        json_object *root = text ? gw_json_parse(text, len, 8, JSON_TOKENER_STRICT) : NULL, *v;
        int rc = root && json_object_is_type(root, json_type_object) ? 0 : -1;
        if (rc == 0 && json_object_object_get_ex(root, "spent", &v))
            rc = json_object_is_type(v, json_type_int) && json_object_get_int64(v) >= 0
                     ? gw_quota_set_spent(t, q, value, value_len,
                                          (uint64_t)json_object_get_int64(v), now)
                     : -1;
        if (rc == 0 && json_object_object_get_ex(root, "budget", &v)) {
            if (json_object_is_type(v, json_type_null))
                rc = gw_quota_clear_budget(t, q, value, value_len, now);
            else
                rc = json_object_is_type(v, json_type_int) && json_object_get_int64(v) > 0
                         ? gw_quota_set_budget(t, q, value, value_len,
                                               (uint64_t)json_object_get_int64(v), now)
                         : -1;
        }
        json_object_put(root);
        if (changed) changed(ud); /* also after a 400: a field before the bad one was set */
        char target[300];
        snprintf(target, sizeof target, "%s/%s", by, value);
        gw_admin_audit(req, "quota.update", target, rc < 0 ? 400 : 200);
        if (rc < 0) {
            gw_http_respond_openai_error(req, 400, "invalid_request_error", "invalid_value",
                                         "expected {\"spent\": tokens} and/or {\"budget\": tokens "
                                         "or null}");
            return;
        }
    } else if (req->method != HTTP_GET) {
        gw_http_respond_openai_error(req, 405, "invalid_request_error", "method_not_allowed",
                                     "use GET or PATCH /admin/quotas/{by}/{value}");
        return;
    }
    gw_quota_status st;
    gw_quota_read(t, q, value, value_len, now, &st);
    respond_status(req, q, value, &st);
}
