/* The last step of the chain: pick a channel and hand the request to the upstream exchange,
 * which ends the request itself when the response is complete. */
#include <string.h>

#include "core/log.h"
#include "core/request.h"
#include "filters/filter.h"
#include "route/route.h"
#include "upstream/upstream.h"

static gw_filter_rc proxy_request(gw_req *r) {
    r->channel = gw_route_pick(r);
    if (gw_log_enabled(GW_LOG_DEBUG)) {
        char channel[256] = "";
        if (r->channel)
            gw_json_escape(channel, sizeof channel, r->channel->name, strlen(r->channel->name));
        gw_log(GW_LOG_DEBUG, "route", "\"request_id\":\"%s\",\"model\":%.*s,\"channel\":\"%s\"",
               r->id, (int)r->model->name_json_len, r->model->name_json, channel);
    }
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

static int proxy_shutdown(gw_req *r) {
    return r->upstream ? gw_upstream_shutdown(r) : 0;
}

const gw_filter_ops gw_filter_proxy = {
    .name = "proxy",
    .on_request = proxy_request,
    .on_done = proxy_done,
    .on_shutdown = proxy_shutdown,
};
