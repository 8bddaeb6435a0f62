/* access: allow and deny lists for a client behind trusted proxies. A direct client was judged
 * when it connected (the server's accept hook), before a byte was read; a trusted proxy's own
 * connection passes there, and each request it forwards is judged here by the client address
 * its X-Forwarded-For names, before the body is parsed. */
#include <string.h>
#include <strings.h>

#include "core/http_server.h"
#include "filters/client_ip.h"
#include "filters/filter.h"
#include "filters/request.h"
#include "security/client_address.h"

int gw_req_client_ip(const gw_req *r, gw_ip *out) {
    if (!r->http) return -1;
    /* every X-Forwarded-For line, in order: the proxy may append its own line after one the
     * client forged, and the walk reads from the last (a request has at most
     * GW_HTTP_MAX_HEADERS lines) */
    gw_xff_line lines[GW_HTTP_MAX_HEADERS];
    size_t n = 0;
    for (size_t i = 0; r->cfg->trusted_proxies && i < r->http->header_count; i++) {
        const gw_http_header *h = &r->http->headers[i];
        if (h->name_len == 15 && !strncasecmp(h->name, "x-forwarded-for", 15))
            lines[n++] = (gw_xff_line){h->value, h->value_len};
    }
    return gw_client_address_lines(r->http->peer_addr, lines, n, r->cfg->trusted_proxies, out) < 0
               ? -1
               : 0;
}

static gw_filter_rc ip_access(gw_req *r) {
    const gw_config *cfg = r->cfg;
    gw_ip client;
    if (gw_req_client_ip(r, &client) < 0 ||
        !gw_cidr_allowed(cfg->access_allow, cfg->access_deny, &client)) {
        gw_req_fail(r, 403, "permission_error", "address_denied", NULL,
                    "this client address may not use the gateway (request id %s)", r->id);
        return GW_FILTER_RESPOND;
    }
    return GW_FILTER_CONTINUE;
}

/* After resolve_model: a model's own lists (access: under the model). */
static gw_filter_rc model_ip_access(gw_req *r) {
    const gw_model *m = r->model;
    if (!m->access_allow && !m->access_deny) return GW_FILTER_CONTINUE;
    gw_ip client;
    if (gw_req_client_ip(r, &client) < 0 ||
        !gw_cidr_allowed(m->access_allow, m->access_deny, &client)) {
        gw_req_fail(r, 403, "permission_error", "address_denied", "model",
                    "this client address may not use the model `%s` (request id %s)", m->name,
                    r->id);
        return GW_FILTER_RESPOND;
    }
    return GW_FILTER_CONTINUE;
}

const gw_filter_ops gw_filter_model_ip_access = {
    .name = "model_ip_access",
    .on_request = model_ip_access,
};

const gw_filter_ops gw_filter_ip_access = {
    .name = "ip_access",
    .on_request = ip_access,
};
