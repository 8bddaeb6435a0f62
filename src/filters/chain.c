#include "filters/filter.h"

/* Access log first so its on_done sees every request, whichever filter answered. */
const gw_filter_ops *const gw_request_chain[] = {
    &gw_filter_access_log,
    &gw_filter_parse_request,
    &gw_filter_resolve_model,
    &gw_filter_proxy,
    NULL,
};

void gw_chain_run(gw_req *r) {
    while (!r->finished && gw_request_chain[r->filter_next]) {
        const gw_filter_ops *f = gw_request_chain[r->filter_next++];
        if (!f->on_request) continue;
        if (f->on_request(r) != GW_FILTER_CONTINUE) return;
    }
}

int gw_chain_response_chunk(gw_req *r, struct evbuffer *chunk, int eos) {
    for (size_t i = 0; gw_request_chain[i]; i++) {
        const gw_filter_ops *f = gw_request_chain[i];
        if (f->on_response_chunk && f->on_response_chunk(r, chunk, eos) < 0) return -1;
    }
    return 0;
}

void gw_chain_done(gw_req *r) {
    for (size_t i = 0; gw_request_chain[i]; i++)
        if (gw_request_chain[i]->on_done) gw_request_chain[i]->on_done(r);
}

int gw_chain_shutdown(gw_req *r) {
    for (size_t i = 0; gw_request_chain[i]; i++)
        if (gw_request_chain[i]->on_shutdown && gw_request_chain[i]->on_shutdown(r)) return 1;
    return 0;
}
