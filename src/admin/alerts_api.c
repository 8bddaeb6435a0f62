#include "admin/alerts_api.h"

#include <event2/buffer.h>
#include <http_parser.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin/audit.h"
#include "alerts/alert_math.h"
#include "alerts/alerts.h"
#include "core/error_response.h"
#include "core/log.h"

enum { DEFAULT_LIMIT = 100, MAX_LIMIT = 1000 };

static const char *const types[] = {"budget",        "cost_anomaly", "error_rate",
                                    "endpoint_down", "endpoint_up",  "channel_down",
                                    "channel_up",    "test",         NULL};

static int hex(char c) {
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* The value of name in the query, %XX decoded, into out; 1 when present, -1 when too long or
 * malformed. */
static int query_param(const gw_http_req *req, const char *name, char *out, size_t outlen) {
    size_t nlen = strlen(name);
    const char *q = req->query, *end = req->query ? req->query + req->query_len : NULL;
    while (q && q < end) {
        const char *amp = memchr(q, '&', (size_t)(end - q));
        const char *stop = amp ? amp : end;
        if ((size_t)(stop - q) > nlen && !memcmp(q, name, nlen) && q[nlen] == '=') {
            size_t n = 0;
            for (const char *p = q + nlen + 1; p < stop; p++) {
                char c = *p;
                if (c == '%') {
                    if (stop - p < 3 || hex(p[1]) < 0 || hex(p[2]) < 0) return -1;
                    c = (char)(hex(p[1]) * 16 + hex(p[2]));
                    p += 2;
                }
                if (n + 1 >= outlen) return -1;
                out[n++] = c;
            }
            out[n] = '\0';
            return 1;
        }
        q = amp ? amp + 1 : NULL;
    }
    return 0;
}

static void bad_param(gw_http_req *req, const char *message) {
    gw_http_respond_openai_error(req, 400, "invalid_request_error", "invalid_value", message);
}

static int read_query(gw_http_req *req, gw_alert_query *q) {
    char v[64];
    *q = (gw_alert_query){.from = -1, .to = -1, .limit = DEFAULT_LIMIT};
    const char *times[] = {"from", "to"};
    int64_t *dest[] = {&q->from, &q->to};
    for (int i = 0; i < 2; i++) {
        int rc = query_param(req, times[i], v, sizeof v);
        if (rc == 0) continue;
        if (rc < 0 || (*dest[i] = gw_alert_parse_time(v, strlen(v))) < 0) {
            bad_param(req, i == 0 ? "from: expected RFC 3339 (2030-03-15T12:00:00Z) or unix "
                                    "seconds"
                                  : "to: expected RFC 3339 (2030-03-15T12:00:00Z) or unix "
                                    "seconds");
            return -1;
        }
    }
    int rc = query_param(req, "type", q->type, sizeof q->type);
    if (rc < 0) {
        bad_param(req, "type: unknown alert type");
        return -1;
    }
    if (rc > 0) {
        int known = 0;
        for (int i = 0; types[i] && !known; i++)
            known = !strcmp(types[i], q->type);
        if (!known) {
            bad_param(req, "type: expected budget, cost_anomaly, error_rate, endpoint_down, "
                           "endpoint_up, channel_down, channel_up or test");
            return -1;
        }
    }
    if ((rc = query_param(req, "limit", v, sizeof v)) != 0) {
        char *end;
        long n = rc > 0 ? strtol(v, &end, 10) : 0;
        if (rc < 0 || !*v || *end || n < 1 || n > MAX_LIMIT) {
            bad_param(req, "limit: expected an integer from 1 to 1000");
            return -1;
        }
        q->limit = (int)n;
    }
    return 0;
}

static void list(gw_http_req *req, gw_alerts *alerts) {
    gw_alert_query q;
    if (read_query(req, &q) < 0) return;
    struct evbuffer *out = evbuffer_new();
    if (!out) {
        gw_http_respond_openai_error(req, 503, "server_error", "out_of_memory", "out of memory");
        return;
    }
    char err[300];
    evbuffer_add_printf(out, "{\"object\":\"list\",\"data\":[");
    if (gw_alerts_history(alerts, &q, out, err, sizeof err) < 0) {
        evbuffer_free(out);
        char esc[400];
        gw_json_escape(esc, sizeof esc, err, strlen(err));
        gw_log_error("alerts_history_failed", "\"reason\":\"%s\"", esc);
        gw_http_respond_openai_error(req, 503, "server_error", "alerts_unavailable",
                                     "the alert history cannot be read now");
        return;
    }
    gw_alerts_stats st;
    gw_alerts_get_stats(alerts, &st);
    char last[32] = "";
    if (st.last_evaluation >= 0) gw_alert_format_time(st.last_evaluation, last, sizeof last);
    evbuffer_add_printf(out,
                        "],\"stats\":{\"evaluations\":%llu,\"last_evaluation\":%s%s%s,"
                        "\"raised\":%llu,\"dropped\":%llu,\"delivery_failures\":%llu,"
                        "\"pending\":%zu,\"health_events_dropped\":%llu}}",
                        (unsigned long long)st.evaluations, *last ? "\"" : "",
                        *last ? last : "null", *last ? "\"" : "", (unsigned long long)st.raised,
                        (unsigned long long)st.dropped, (unsigned long long)st.delivery_failures,
                        st.pending, (unsigned long long)st.health_events_dropped);
    gw_http_respond_buffer(req, 200, "application/json", out, NULL, 0);
    evbuffer_free(out);
}

static void send_test(gw_http_req *req, gw_alerts *alerts) {
    char id[32], body[96];
    if (gw_alerts_test(alerts, id, sizeof id) < 0) {
        gw_admin_audit(req, "alerts.test", NULL, 429);
        gw_http_respond_openai_error(req, 429, "rate_limit_error", "too_many_tests",
                                     "too many test alerts wait already; try again shortly");
        return;
    }
    gw_admin_audit(req, "alerts.test", id, 202);
    int n = snprintf(body, sizeof body, "{\"id\":\"%s\",\"status\":\"queued\"}", id);
    gw_http_respond(req, 202, "application/json", body, (size_t)n, NULL, 0);
}

void gw_admin_alerts(gw_http_req *req, gw_alerts *alerts, const char *rest, size_t rest_len) {
    int test = rest_len == 5 && !memcmp(rest, "/test", 5);
    if (rest_len && !test) {
        gw_http_respond_openai_error(req, 404, "invalid_request_error", "unknown_url",
                                     "use GET /admin/alerts or POST /admin/alerts/test");
        return;
    }
    if (test ? req->method != HTTP_POST : req->method != HTTP_GET && req->method != HTTP_HEAD) {
        gw_http_respond_openai_error(req, 405, "invalid_request_error", "method_not_allowed",
                                     test ? "use POST /admin/alerts/test"
                                          : "use GET /admin/alerts");
        return;
    }
    if (!alerts) {
        gw_http_respond_openai_error(req, 409, "invalid_request_error", "alerts_off",
                                     "alerts are off: the config has no metering.alerts");
        return;
    }
    if (test)
        send_test(req, alerts);
    else
        list(req, alerts);
}
