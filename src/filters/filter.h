/* The request pipeline: an ordered chain of filters, built when the config loads and kept in the
 * snapshot (each filter with its parsed settings), in the manner of nginx phases, haproxy flt_ops
 * and Envoy filter chains. One filter is one file with one ops table; its settings and its
 * per-request state are reached with gw_filter_conf and gw_filter_state. */
#ifndef AIGW_FILTERS_FILTER_H
#define AIGW_FILTERS_FILTER_H

#include "core/request-t.h"

struct evbuffer;
struct gw_strbuf;

typedef enum {
    GW_FILTER_CONTINUE, /* on to the next filter */
    GW_FILTER_PAUSE,    /* the filter resumes the chain itself later (gw_chain_resume) */
    GW_FILTER_RESPOND,  /* the filter answered (an error, a cached reply): stop */
} gw_filter_rc;

typedef struct gw_filter_ops {
    const char *name;
    size_t state_size; /* per-request state, zeroed when the request starts, freed after on_done */
    /* Only this many of its first bytes are zeroed (0: all of them): for a state whose arrays are
     * written before they are read, behind counts that come first (limits: 4 KB a request). */
    size_t state_zeroed;
    gw_filter_rc (*on_request)(gw_req *r);
    /* A response chunk on its way to the client (a whole body, or one stream event). A filter
     * may rewrite it in place; return -1 to fail the response. */
    int (*on_response_chunk)(gw_req *r, struct evbuffer *chunk, int eos);
    /* A response guard: the model's texts, piece by piece, as core/protocol-t.h's gw_text_hook
     * says (hold back, rewrite, or end the answer with an error; append to out). Chained in
     * order: each one sees what the one before released. Runs once some guard asked for it
     * (gw_chain_guard_answer), for every guard of the chain. */
    int (*on_response_text)(gw_req *r, gw_text_field field, const char *text, size_t len, int final,
                            struct gw_strbuf *out, gw_error_info *err, char *msg, size_t msg_cap);
    void (*on_done)(gw_req *r); /* always runs, for every filter, once the request ends */
    /* The gateway stops before the request ended: end it now in the caller's protocol and
     * return 1, or return 0 to leave it to the next filter (and finally a plain 503). */
    int (*on_shutdown)(gw_req *r);
} gw_filter_ops;

extern const gw_filter_ops gw_filter_access_log;
extern const gw_filter_ops gw_filter_ip_access;
extern const gw_filter_ops gw_filter_model_ip_access;
extern const gw_filter_ops gw_filter_auth;
extern const gw_filter_ops gw_filter_model_access;
extern const gw_filter_ops gw_filter_words_guard;
extern const gw_filter_ops gw_filter_pii_guard;
extern const gw_filter_ops gw_filter_limits;
extern const gw_filter_ops gw_filter_switches;
extern const gw_filter_ops gw_filter_parse_request;
extern const gw_filter_ops gw_filter_resolve_model;
extern const gw_filter_ops gw_filter_proxy;
extern const gw_filter_ops gw_filter_meter;

/* Fills cfg->chain in the pipeline's order with the filters the config asks for; -1 when more
 * than GW_MAX_FILTERS. The loader calls it once the settings are parsed. */
int gw_chain_build(gw_config *cfg);

/* The filter's settings in the request's snapshot, and its state for this request; NULL when
 * the filter is not in the chain (or has none). */
const void *gw_filter_conf(const gw_req *r, const gw_filter_ops *ops);
void *gw_filter_state(gw_req *r, const gw_filter_ops *ops);

/* A guard's on_request calls this when the answer must pass the response guards (it checks
 * answers, or it has placeholders to restore): only then are answers decoded and guarded, so a
 * request no guard looks back at streams as if there were none. */
void gw_chain_guard_answer(gw_req *r);

/* The bytes the filters of cfg's chain keep per request: allocated with the request (one
 * allocation for both), and handed to gw_chain_begin, which shares them out and zeroes each
 * filter's (its state_zeroed first bytes, or all). */
size_t gw_chain_state_size(const gw_config *cfg);
void gw_chain_begin(gw_req *r, void *block);

void gw_chain_run(gw_req *r);
static inline void gw_chain_resume(gw_req *r) {
    gw_chain_run(r);
}
int gw_chain_response_chunk(gw_req *r, struct evbuffer *chunk, int eos);
void gw_chain_done(gw_req *r);
int gw_chain_shutdown(gw_req *r);

#endif
