/* Prometheus scrapes usually carry no credentials, and the admin listener defaults to
 * loopback: /metrics is open on it unless metrics.require_token says otherwise (then a scrape
 * config sends the admin token as a bearer token). */
#include "admin/metrics_api.h"

#include <event2/buffer.h>
#include <http_parser.h>

#include "core/error_response.h"
#include "meter/metrics.h"
#include "meter/metrics_text.h"

void gw_admin_metrics(gw_http_req *req, const gw_admin_ops *ops, void *ud, int token_ok) {
    const gw_config *cfg = ops->config(ud);
    if (gw_metrics_conf_of(cfg)->require_token && !token_ok) {
        gw_http_respond_openai_error(req, 401, "authentication_error", "invalid_admin_token",
                                     "a valid admin token is required: Authorization: Bearer "
                                     "<token> (metrics.require_token)");
        return;
    }
    if (req->method != HTTP_GET && req->method != HTTP_HEAD) {
        gw_http_respond_openai_error(req, 405, "invalid_request_error", "method_not_allowed",
                                     "use GET /metrics");
        return;
    }
    const struct gw_metrics *mx = ops->metrics ? ops->metrics(ud) : NULL;
    struct evbuffer *out = evbuffer_new();
    if (!mx || !out || gw_metrics_write(mx, cfg, out) < 0) {
        if (out) evbuffer_free(out);
        gw_http_respond_openai_error(req, 503, "server_error", mx ? "out_of_memory" : "no_metrics",
                                     mx ? "out of memory" : "metrics are not available");
        return;
    }
    gw_http_respond_buffer(req, 200, GW_PROM_CONTENT_TYPE, out, NULL, 0);
    evbuffer_free(out);
}
