/* The last step of the chain: pick a channel and hand the request to the upstream exchange,
 * which ends the request itself when the response is complete. */
#include "core/request.h"
#include "filters/filter.h"
#include "route/route.h"
#include "upstream/upstream.h"

static gw_filter_rc proxy_request(gw_req *r) {
    r->channel = gw_route_pick(r);
    if (!r->channel) {
        gw_req_fail(r, 503, "server_error", "no_channel", NULL,
                    "no channel is available for model `%s`", r->model->name);
        return GW_FILTER_RESPOND;
    }
    gw_upstream_start(r);
    return GW_FILTER_PAUSE;
}

static void proxy_done(gw_req *r) {
    gw_upstream_free(r); /* a client that left mid-transfer cancels it here */
}

const gw_filter_ops gw_filter_proxy = {
    .name = "proxy",
    .on_request = proxy_request,
    .on_done = proxy_done,
};
