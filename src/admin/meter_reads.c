#include "admin/meter_reads.h"

#include <event2/buffer.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin/query_params.h"
#include "core/error_response.h"
#include "core/openai_error.h"
#include "meter/time_parse.h"

void gw_admin_bad_param(gw_http_req *req, const char *param, const char *fmt, ...) {
    char msg[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    struct evbuffer *out = evbuffer_new();
    if (!out) {
        gw_http_respond_openai_error(req, 503, "server_error", "out_of_memory", "out of memory");
        return;
    }
    gw_openai_error(out, msg, "invalid_request_error", "invalid_parameter", param);
    gw_http_respond_buffer(req, 400, "application/json", out, NULL, 0);
    evbuffer_free(out);
}

int gw_admin_only_params(gw_http_req *req, const char *const *allowed) {
    char bad[64];
    if (!gw_query_unknown(req->query, req->query_len, allowed, bad, sizeof bad)) return 0;
    char expected[256] = "";
    size_t n = 0;
    for (const char *const *a = allowed; *a && n < sizeof expected - 40; a++)
        n += (size_t)snprintf(expected + n, sizeof expected - n, "%s%s", a == allowed ? "" : ", ",
                              *a);
    gw_admin_bad_param(req, bad, "unknown parameter '%s' (expected one of: %s)", bad, expected);
    return -1;
}

int gw_admin_param(gw_http_req *req, const char *name, char *buf, size_t cap) {
    int n = gw_query_param(req->query, req->query_len, name, buf, cap);
    if (n == -2) {
        gw_admin_bad_param(req, name, "%s: malformed, given twice, or longer than %zu bytes", name,
                           cap - 1);
        return -2;
    }
    return n;
}

int gw_admin_time_range(gw_http_req *req, int64_t *from_ms, int64_t *to_ms) {
    const char *const names[] = {"from", "to"};
    int64_t *dst[] = {from_ms, to_ms};
    for (int i = 0; i < 2; i++) {
        char v[64];
        int n = gw_admin_param(req, names[i], v, sizeof v);
        if (n == -2) return -1;
        if (n < 0) continue;
        if (gw_time_parse(v, (size_t)n, dst[i]) < 0) {
            gw_admin_bad_param(req, names[i],
                               "%s: expected RFC 3339 (2024-06-01T12:00:00Z) or unix seconds, "
                               "found '%s'",
                               names[i], v);
            return -1;
        }
    }
    if (*from_ms >= *to_ms) {
        gw_admin_bad_param(req, "from", "from must be before to");
        return -1;
    }
    return 0;
}

static void run_read(gw_reader_job *job, gw_meter_reads *reads) {
    gw_admin_read *rd = (gw_admin_read *)job;
    rd->status = 200;
    int rc = rd->run(rd, reads);
    if (rc < 0) {
        int cut = rc == GW_METER_READ_TIMEOUT;
        rd->status = cut ? 503 : 500;
        rd->error_code = cut ? "query_timeout" : "store_error";
        if (!rd->err[0]) snprintf(rd->err, sizeof rd->err, "the metering store failed");
    } else if (rd->out.failed) {
        rd->status = 500;
        rd->error_code = "answer_too_large";
        snprintf(rd->err, sizeof rd->err, "the answer is too large: narrow the query");
    }
}

void gw_admin_read_free(gw_admin_read *rd) {
    if (rd->release) rd->release(rd);
    gw_strbuf_free(&rd->out);
    free(rd);
}

static void done_read(gw_reader_job *job) {
    gw_admin_read *rd = (gw_admin_read *)job;
    gw_http_req *req = rd->req;
    if (req) {
        req->on_abort = NULL;
        req->handler_ud = NULL;
        if (job->cancelled)
            gw_http_respond_openai_error(req, 503, "server_error", "server_shutdown",
                                         "the gateway is stopping");
        else if (rd->status >= 400)
            gw_http_respond_openai_error(
                req, rd->status, rd->status >= 500 ? "server_error" : "invalid_request_error",
                rd->error_code ? rd->error_code : "error", rd->err);
        else if (rd->answer) {
            rd->answer(rd);
            return;
        } else
            gw_http_respond(req, rd->status,
                            rd->content_type ? rd->content_type : "application/json",
                            rd->out.data ? rd->out.data : "", rd->out.len, NULL, 0);
    }
    gw_admin_read_free(rd);
}

/* The client left while its read ran: the answer is dropped when the read is done. */
static void abort_read(gw_http_req *req, void *ud) {
    (void)req;
    ((gw_admin_read *)ud)->req = NULL;
}

void gw_admin_read_start(gw_http_req *req, gw_meter_reader *reader, gw_admin_read *rd) {
    if (!reader) {
        gw_admin_read_free(rd);
        gw_http_respond_openai_error(req, 409, "invalid_request_error", "metering_off",
                                     "metering is off: add a metering section to the config");
        return;
    }
    rd->job.run = run_read;
    rd->job.done = done_read;
    rd->req = req;
    if (!rd->out.max) rd->out.max = 64 * 1024 * 1024;
    if (gw_meter_reader_post(reader, &rd->job) < 0) {
        gw_admin_read_free(rd);
        gw_http_respond_openai_error(req, 503, "server_error", "too_many_queries",
                                     "too many usage queries are waiting; try again");
        return;
    }
    req->handler_ud = rd;
    req->on_abort = abort_read;
}
