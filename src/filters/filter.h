/* The request pipeline: an ordered chain of filters, fixed when the config loads, in the manner
 * of nginx phases, haproxy flt_ops and Envoy filter chains. One filter is one file with one ops
 * table; per-request state goes in r->filter_state[index]. */
#ifndef AIGW_FILTERS_FILTER_H
#define AIGW_FILTERS_FILTER_H

#include "core/request-t.h"

struct evbuffer;

typedef enum {
    GW_FILTER_CONTINUE, /* on to the next filter */
    GW_FILTER_PAUSE,    /* the filter resumes the chain itself later (gw_chain_resume) */
    GW_FILTER_RESPOND,  /* the filter answered (an error, a cached reply): stop */
} gw_filter_rc;

typedef struct gw_filter_ops {
    const char *name;
    gw_filter_rc (*on_request)(gw_req *r);
    /* A response chunk on its way to the client (a whole body, or one stream event). A filter
     * may rewrite it in place; return -1 to fail the response. */
    int (*on_response_chunk)(gw_req *r, struct evbuffer *chunk, int eos);
    void (*on_done)(gw_req *r); /* always runs, for every filter, once the request ends */
    /* The gateway stops before the request ended: end it now in the caller's protocol and
     * return 1, or return 0 to leave it to the next filter (and finally a plain 503). */
    int (*on_shutdown)(gw_req *r);
} gw_filter_ops;

extern const gw_filter_ops gw_filter_access_log;
extern const gw_filter_ops gw_filter_parse_request;
extern const gw_filter_ops gw_filter_resolve_model;
extern const gw_filter_ops gw_filter_proxy;

/* The chain in order, NULL-terminated. */
extern const gw_filter_ops *const gw_request_chain[];

void gw_chain_run(gw_req *r);
static inline void gw_chain_resume(gw_req *r) {
    gw_chain_run(r);
}
int gw_chain_response_chunk(gw_req *r, struct evbuffer *chunk, int eos);
void gw_chain_done(gw_req *r);
int gw_chain_shutdown(gw_req *r);

#endif
