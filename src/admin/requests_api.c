#include "admin/requests_api.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <http_parser.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin/meter_reads.h"
#include "core/clock.h"
#include "core/error_response.h"
#include "meter/request_query.h"

/* --- search --- */

typedef struct search_read {
    gw_admin_read rd;
    gw_requests_query q;
} search_read;

static int run_search(gw_admin_read *rd, gw_meter_reads *db) {
    return gw_requests_search(db, &((search_read *)rd)->q, &rd->out, rd->err, sizeof rd->err);
}

/* status=200 (exact) or 5xx (a class). */
static int parse_status(const char *v, int *min, int *max) {
    if (strlen(v) == 3 && v[0] >= '1' && v[0] <= '5' && (v[1] == 'x' || v[1] == 'X') &&
        (v[2] == 'x' || v[2] == 'X')) {
        *min = (v[0] - '0') * 100;
        *max = *min + 99;
        return 0;
    }
    char *end;
    long s = strtol(v, &end, 10);
    if (!*v || *end || s < 100 || s > 599) return -1;
    *min = *max = (int)s;
    return 0;
}

static void search(gw_http_req *req, struct gw_meter_reader *reader) {
    static const char *const params[] = {"from",   "to",    "tenant", "key", "model",
                                         "status", "limit", "cursor", NULL};
    if (gw_admin_only_params(req, params) < 0) return;
    search_read *s = calloc(1, sizeof *s);
    if (!s) {
        gw_http_respond_openai_error(req, 503, "server_error", "out_of_memory", "out of memory");
        return;
    }
    gw_requests_query *q = &s->q;
    q->from_ms = 0;
    q->to_ms = INT64_MAX;
    q->limit = GW_REQUESTS_DEFAULT_LIMIT;
    if (gw_admin_time_range(req, &q->from_ms, &q->to_ms) < 0 ||
        gw_admin_param(req, "tenant", q->tenant, sizeof q->tenant) == -2 ||
        gw_admin_param(req, "key", q->key, sizeof q->key) == -2 ||
        gw_admin_param(req, "model", q->model, sizeof q->model) == -2)
        goto answered;
    char v[64];
    int n = gw_admin_param(req, "status", v, sizeof v);
    if (n == -2) goto answered;
    if (n >= 0 && parse_status(v, &q->status_min, &q->status_max) < 0) {
        gw_admin_bad_param(req, "status",
                           "status: expected an HTTP status (429) or a class (5xx), found '%s'", v);
        goto answered;
    }
    n = gw_admin_param(req, "limit", v, sizeof v);
    if (n == -2) goto answered;
    if (n >= 0) {
        char *end;
        long limit = strtol(v, &end, 10);
        if (!n || *end || limit < 1 || limit > GW_REQUESTS_MAX_LIMIT) {
            gw_admin_bad_param(req, "limit", "limit: expected an integer from 1 to %d, found '%s'",
                               GW_REQUESTS_MAX_LIMIT, v);
            goto answered;
        }
        q->limit = (size_t)limit;
    }
    n = gw_admin_param(req, "cursor", v, sizeof v);
    if (n == -2) goto answered;
    if (n >= 0) {
        if (gw_requests_cursor_parse(v, (size_t)n, &q->cursor_time_ms, &q->cursor_seq) < 0) {
            gw_admin_bad_param(req, "cursor",
                               "cursor: expected the next_cursor of an earlier answer");
            goto answered;
        }
        q->has_cursor = 1;
    }
    s->rd.run = run_search;
    gw_admin_read_start(req, reader, &s->rd);
    return;
answered:
    free(s);
}

/* --- one request --- */

typedef struct detail_read {
    gw_admin_read rd;
    char id[48];
} detail_read;

static int run_detail(gw_admin_read *rd, gw_meter_reads *db) {
    detail_read *d = (detail_read *)rd;
    int rc = gw_request_detail(db, d->id, &rd->out, rd->err, sizeof rd->err);
    if (rc == GW_METER_READ_NONE) {
        rd->status = 404;
        rd->error_code = "request_not_found";
        snprintf(rd->err, sizeof rd->err, "no request with that id in the request log");
    }
    return rc < 0 ? rc : 0;
}

/* --- replay --- */

typedef struct replay_read {
    gw_admin_read rd;
    char id[48];
    int merged;
    double speed; /* 0: at once */
    gw_replay replay;
    struct event_base *base;
    struct event *timer;
    struct evbuffer *chunk;
    size_t next;
    int64_t start_ns;
} replay_read;

static void release_replay(gw_admin_read *rd) {
    replay_read *r = (replay_read *)rd;
    gw_replay_free(&r->replay);
    if (r->timer) event_free(r->timer);
    if (r->chunk) evbuffer_free(r->chunk);
}

static int run_replay(gw_admin_read *rd, gw_meter_reads *db) {
    replay_read *r = (replay_read *)rd;
    int rc = gw_replay_load(db, r->id, &r->replay, rd->err, sizeof rd->err);
    if (rc < 0) return rc;
    if (rc > 0) {
        int none = rc == GW_METER_READ_NONE;
        rd->status = 404;
        rd->error_code = none ? "request_not_found" : "no_capture";
        snprintf(rd->err, sizeof rd->err, "%s",
                 none ? "no request with that id in the request log"
                      : "the request's answer was not captured (metering.capture)");
        return 0;
    }
    if (r->merged) {
        gw_replay_merged(&r->replay, r->id, &rd->out);
        rd->answer = NULL;
    } else if (!r->replay.stream) {
        /* a whole answer: itself, as the caller got it */
        for (size_t i = 0; i < r->replay.count; i++)
            gw_strbuf_add(&rd->out, r->replay.data + r->replay.events[i].offset,
                          r->replay.events[i].len);
        rd->answer = NULL;
    }
    return 0;
}

static void replay_finish(replay_read *r) {
    gw_admin_read_free(&r->rd);
}

/* Writes every event that is due, then waits for the next one's time or for the client. */
static void pump(replay_read *r) {
    gw_http_req *req = r->rd.req;
    int64_t now = gw_now_ns();
    while (r->next < r->replay.count) {
        const gw_replay_event *ev = &r->replay.events[r->next];
        int64_t due = r->start_ns;
        if (r->speed > 0) {
            double after = (double)(ev->t_us > 0 ? ev->t_us : 0) * 1000.0 / r->speed;
            due += after < 9e15 ? (int64_t)after : (int64_t)9e15;
        }
        if (due > now) {
            int64_t wait = due - now;
            struct timeval tv = {(time_t)(wait / 1000000000),
                                 (suseconds_t)(wait % 1000000000 / 1000)};
            evtimer_add(r->timer, &tv);
            return;
        }
        if (gw_http_output_full(req)) return; /* on_drain resumes */
        evbuffer_add(r->chunk, r->replay.data + ev->offset, ev->len);
        gw_http_stream_write(req, r->chunk);
        r->next++;
    }
    req->on_abort = NULL;
    req->on_drain = NULL;
    gw_http_stream_end(req);
    replay_finish(r);
}

static void on_timer(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    pump(arg);
}

static void on_drain(gw_http_req *req, void *ud) {
    (void)req;
    replay_read *r = ud;
    if (!evtimer_pending(r->timer, NULL)) pump(r);
}

static void on_abort(gw_http_req *req, void *ud) {
    (void)req;
    replay_finish(ud);
}

static void start_stream(gw_admin_read *rd) {
    replay_read *r = (replay_read *)rd;
    gw_http_req *req = rd->req;
    r->timer = evtimer_new(r->base, on_timer, r);
    r->chunk = evbuffer_new();
    if (!r->timer || !r->chunk) {
        gw_http_respond_openai_error(req, 503, "server_error", "out_of_memory", "out of memory");
        replay_finish(r);
        return;
    }
    static const gw_http_header headers[] = {
        {"Cache-Control", "no-cache", 13, 8},
        {"X-Accel-Buffering", "no", 17, 2},
    };
    gw_http_stream_begin(req, 200, "text/event-stream", headers, 2);
    req->handler_ud = r;
    req->on_abort = on_abort;
    req->on_drain = on_drain;
    r->start_ns = gw_now_ns();
    pump(r);
}

static void replay(gw_http_req *req, struct gw_meter_reader *reader, struct event_base *base,
                   const char *id, size_t id_len) {
    static const char *const params[] = {"speed", "view", NULL};
    if (gw_admin_only_params(req, params) < 0) return;
    replay_read *r = calloc(1, sizeof *r);
    if (!r) {
        gw_http_respond_openai_error(req, 503, "server_error", "out_of_memory", "out of memory");
        return;
    }
    memcpy(r->id, id, id_len);
    r->speed = 1;
    r->base = base;
    char v[32];
    int n = gw_admin_param(req, "speed", v, sizeof v);
    if (n == -2) goto answered;
    if (n >= 0) {
        char *end;
        double speed = strtod(v, &end);
        if (!n || *end || !isfinite(speed) || speed < 0 || speed > 1000) {
            gw_admin_bad_param(req, "speed",
                               "speed: expected a number from 0 (at once) to 1000, found '%s'", v);
            goto answered;
        }
        r->speed = speed;
    }
    n = gw_admin_param(req, "view", v, sizeof v);
    if (n == -2) goto answered;
    if (n >= 0) {
        if (strcmp(v, "merged") && strcmp(v, "stream")) {
            gw_admin_bad_param(req, "view", "view: expected merged or stream, found '%s'", v);
            goto answered;
        }
        r->merged = !strcmp(v, "merged");
    }
    r->rd.run = run_replay;
    r->rd.release = release_replay;
    r->rd.answer = start_stream; /* run clears it for answers that are not a stream */
    gw_admin_read_start(req, reader, &r->rd);
    return;
answered:
    free(r);
}

/* Ids are short and plain ("req_..."): anything else is no request of ours. */
static int plain_id(const char *s, size_t len) {
    if (len == 0 || len >= 40) return 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.' || c == ':'))
            return 0;
    }
    return 1;
}

void gw_admin_requests(gw_http_req *req, struct gw_meter_reader *reader, struct event_base *base,
                       const char *rest, size_t rest_len) {
    if (req->method != HTTP_GET && req->method != HTTP_HEAD) {
        gw_http_respond_openai_error(req, 405, "invalid_request_error", "method_not_allowed",
                                     "use GET");
        return;
    }
    if (rest_len == 0) {
        search(req, reader);
        return;
    }
    const char *id = rest + 1;
    size_t id_len = rest_len - 1;
    int is_replay = 0;
    if (id_len > 7 && !memcmp(id + id_len - 7, "/replay", 7)) {
        id_len -= 7;
        is_replay = 1;
    }
    if (rest[0] != '/' || !plain_id(id, id_len)) {
        gw_http_respond_openai_error(req, 404, "invalid_request_error", "request_not_found",
                                     "no request with that id in the request log");
        return;
    }
    if (is_replay) {
        replay(req, reader, base, id, id_len);
        return;
    }
    static const char *const no_params[] = {NULL};
    if (gw_admin_only_params(req, no_params) < 0) return;
    detail_read *d = calloc(1, sizeof *d);
    if (!d) {
        gw_http_respond_openai_error(req, 503, "server_error", "out_of_memory", "out of memory");
        return;
    }
    memcpy(d->id, id, id_len);
    d->rd.run = run_detail;
    gw_admin_read_start(req, reader, &d->rd);
}
