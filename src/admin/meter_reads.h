/* What the usage and request-log endpoints share: answering a bad parameter in OpenAI's error
 * shape with its name, reading a time range, and running a read on the metering reader's thread
 * with the answer written when it is done (the control loop never waits on SQLite). */
#ifndef AIGW_ADMIN_METER_READS_H
#define AIGW_ADMIN_METER_READS_H

#include <stddef.h>
#include <stdint.h>

#include "core/http_server.h"
#include "core/strbuf.h"
#include "meter/reader.h"

/* 400 invalid_request_error with param set to the parameter's name. */
void gw_admin_bad_param(gw_http_req *req, const char *param, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Checks the query names only allowed parameters (400 naming the first other one): 0, or -1
 * answered. */
int gw_admin_only_params(gw_http_req *req, const char *const *allowed);

/* A parameter's decoded value into buf: its length, -1 absent; -2 answered (400). */
int gw_admin_param(gw_http_req *req, const char *name, char *buf, size_t cap);

/* from and to (RFC 3339 or unix seconds) as unix milliseconds, each left as it is when absent:
 * 0, or -1 answered (400 naming the parameter; from must be before to). */
int gw_admin_time_range(gw_http_req *req, int64_t *from_ms, int64_t *to_ms);

/* A read: embedded first in the endpoint's own struct (calloc'd). run fills out and sets
 * status (200, 404, ...) or returns a GW_METER_READ_ERROR with err (answered 500), or
 * GW_METER_READ_TIMEOUT (503: the query was cut at the time limit). */
typedef struct gw_admin_read gw_admin_read;
struct gw_admin_read {
    gw_reader_job job;
    gw_http_req *req; /* NULL once the client left */
    int (*run)(gw_admin_read *rd, gw_meter_reads *reads);
    void (*release)(gw_admin_read *rd); /* frees what the endpoint's struct holds; may be NULL */
    /* answers a successful read itself (a stream), on the loop; it owns rd from then on and
     * frees it with gw_admin_read_free. NULL: out is the answer. */
    void (*answer)(gw_admin_read *rd);
    gw_strbuf out;
    int status;
    const char *content_type; /* default application/json */
    const char *error_code;   /* with status >= 400: the answer is an error with out's text */
    char err[300];
};

void gw_admin_read_free(gw_admin_read *rd);

/* Queues rd on reader and answers req when it is done; answers 503 at once (and frees rd) when
 * the reader has too much queued, 409 when metering is off (reader NULL). */
void gw_admin_read_start(gw_http_req *req, gw_meter_reader *reader, gw_admin_read *rd);

#endif
