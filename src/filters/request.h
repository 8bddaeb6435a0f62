#ifndef AIGW_FILTERS_REQUEST_H
#define AIGW_FILTERS_REQUEST_H

#include "core/http_server.h"
#include "core/request-t.h"

/* The x-request-id header every response of this request carries. */
static inline gw_http_header gw_req_id_header(const gw_req *r) {
    return (gw_http_header){
        .name = "x-request-id", .value = r->id, .name_len = 12, .value_len = r->id_len};
}

enum { GW_REQ_HEADERS_MAX = 3 + GW_REQ_EXTRA_HEADERS };

/* The headers every answer of this request carries: x-request-id, once a channel was tried
 * x-aigw-channel (who served, or was tried last) and x-aigw-attempts, and those filters added
 * (gw_req_add_header). Returns the count. */
size_t gw_req_headers(const gw_req *r, gw_http_header out[GW_REQ_HEADERS_MAX]);

/* A header for every answer of the request; dropped past GW_REQ_EXTRA_HEADERS. */
void gw_req_add_header(gw_req *r, const char *name, const char *value);

/* Takes the HTTP request (its body is moved, not copied) and runs the filter chain. path is
 * the route's (static) path; protocol the caller's dialect; api the canonical API (a request in
 * another dialect may change it). */
void gw_req_start(gw_worker *w, gw_http_req *http, const char *path, gw_api_kind api,
                  const gw_protocol_ops *protocol);

/* Answers with an error in the caller's dialect. `param` and `code` may be NULL. Finishes the
 * request. */
void gw_req_fail(gw_req *r, int status, const char *type, const char *code, const char *param,
                 const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/* A filter changed r->json (a guard masked a value): the body that goes upstream becomes its
 * serialization, so every adapter sends the change. -1 when out of memory. */
int gw_req_replace_body(gw_req *r);

/* Answers with the error in the caller's dialect, with its status. Finishes the request. */
void gw_req_fail_with(gw_req *r, const gw_error_info *e);

/* The drain deadline passed (or a second signal came): ends the request now with an explicit
 * error, a 503 before its response began, an error event and [DONE] in a running stream. */
void gw_req_cut_for_shutdown(gw_req *r);

/* The response is complete (or the client left): on_done hooks, access log, free. */
void gw_req_finish(gw_req *r);

#endif
