#include "admin/usage_api.h"

#include <http_parser.h>
#include <stdlib.h>
#include <string.h>

#include "admin/meter_reads.h"
#include "core/clock.h"
#include "core/error_response.h"
#include "meter/metering-t.h"
#include "meter/usage_query.h"

typedef enum { USAGE_TOTALS, USAGE_TOP, USAGE_TIMELINE } usage_kind;

typedef struct usage_read {
    gw_admin_read rd; /* first */
    usage_kind kind;
    gw_usage_query q;
    char currency[8];
} usage_read;

static int run_usage(gw_admin_read *rd, gw_meter_reads *db) {
    usage_read *u = (usage_read *)rd;
    rd->content_type = u->q.csv ? "text/csv; charset=utf-8" : "application/json";
    switch (u->kind) {
    case USAGE_TOP:
        return gw_usage_top(db, &u->q, &rd->out, rd->err, sizeof rd->err);
    case USAGE_TIMELINE:
        return gw_usage_timeline(db, &u->q, &rd->out, rd->err, sizeof rd->err);
    default:
        return gw_usage_totals(db, &u->q, &rd->out, rd->err, sizeof rd->err);
    }
}

/* The currency every price is in, or NULL when prices mix currencies (or there are none). */
static const char *single_currency(const gw_config *cfg) {
    const gw_metering_conf *m = cfg->metering;
    if (!m || !m->price_count) return NULL;
    for (size_t i = 1; i < m->price_count; i++)
        if (strcmp(m->prices[i].currency, m->prices[0].currency)) return NULL;
    return m->prices[0].currency;
}

/* group_by=tenant,project,key,model in any order, each once. */
static int parse_group(gw_http_req *req, gw_usage_query *q) {
    char v[128];
    int n = gw_admin_param(req, "group_by", v, sizeof v);
    if (n == -2) return -1;
    if (n <= 0) return 0;
    for (char *p = v; *p;) {
        char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        int d = gw_usage_dim_parse(p, len);
        if (d < 0) {
            gw_admin_bad_param(req, "group_by",
                               "group_by: expected a comma-separated list of tenant, project, "
                               "key, model; found '%.*s'",
                               (int)len, p);
            return -1;
        }
        for (size_t i = 0; i < q->group_count; i++)
            if (q->group[i] == (gw_usage_dim)d) {
                gw_admin_bad_param(req, "group_by", "group_by names '%.*s' twice", (int)len, p);
                return -1;
            }
        q->group[q->group_count++] = (gw_usage_dim)d;
        if (!comma) break;
        p = comma + 1;
    }
    return 0;
}

static int parse_choice(gw_http_req *req, const char *name, int (*parse)(const char *, size_t),
                        const char *expected, int *out) {
    char v[32];
    int n = gw_admin_param(req, name, v, sizeof v);
    if (n == -2) return -1;
    if (n < 0) return 0; /* the default stays */
    int c = parse(v, (size_t)n);
    if (c < 0) {
        gw_admin_bad_param(req, name, "%s: expected %s, found '%s'", name, expected, v);
        return -1;
    }
    *out = c;
    return 0;
}

static int format_parse(const char *s, size_t len) {
    return len == 4 && !memcmp(s, "json", 4) ? 0 : len == 3 && !memcmp(s, "csv", 3) ? 1 : -1;
}

static int64_t floor_to(int64_t t, int64_t size) {
    return t >= 0 ? t / size * size : -((-t + size - 1) / size * size);
}

void gw_admin_usage(gw_http_req *req, struct gw_meter_reader *reader, const gw_config *cfg,
                    const char *rest, size_t rest_len) {
    usage_kind kind;
    if (rest_len == 0)
        kind = USAGE_TOTALS;
    else if (rest_len == 4 && !memcmp(rest, "/top", 4))
        kind = USAGE_TOP;
    else if (rest_len == 9 && !memcmp(rest, "/timeline", 9))
        kind = USAGE_TIMELINE;
    else {
        gw_http_respond_openai_error(req, 404, "invalid_request_error", "unknown_url",
                                     "unknown admin URL");
        return;
    }
    if (req->method != HTTP_GET && req->method != HTTP_HEAD) {
        gw_http_respond_openai_error(req, 405, "invalid_request_error", "method_not_allowed",
                                     "use GET");
        return;
    }
    static const char *const totals_params[] = {"from", "to", "group_by", "format", NULL};
    static const char *const top_params[] = {"from", "to", "by", "metric", "n", "format", NULL};
    static const char *const timeline_params[] = {"from",     "to",     "bucket",
                                                  "group_by", "format", NULL};
    if (gw_admin_only_params(req, kind == USAGE_TOP        ? top_params
                                  : kind == USAGE_TIMELINE ? timeline_params
                                                           : totals_params) < 0)
        return;
    usage_read *u = calloc(1, sizeof *u);
    if (!u) {
        gw_http_respond_openai_error(req, 503, "server_error", "out_of_memory", "out of memory");
        return;
    }
    u->kind = kind;
    gw_usage_query *q = &u->q;
    q->bucket = GW_BUCKET_HOUR;
    q->top_by = GW_DIM_MODEL;
    q->metric = GW_METRIC_TOKENS;
    q->n = 10;
    int csv = 0, bucket = GW_BUCKET_HOUR, by = GW_DIM_MODEL, metric = GW_METRIC_TOKENS;
    if (parse_choice(req, "format", format_parse, "json or csv", &csv) < 0 ||
        (kind == USAGE_TIMELINE &&
         parse_choice(req, "bucket", gw_usage_bucket_parse, "minute, hour or day", &bucket) < 0) ||
        (kind == USAGE_TOP &&
         (parse_choice(req, "by", gw_usage_dim_parse, "model, tenant, project or key", &by) < 0 ||
          parse_choice(req, "metric", gw_usage_metric_parse, "tokens, cost or requests", &metric) <
              0)) ||
        (kind != USAGE_TOP && parse_group(req, q) < 0))
        goto answered;
    q->csv = csv;
    q->bucket = (gw_usage_bucket)bucket;
    q->top_by = (gw_usage_dim)by;
    q->metric = (gw_usage_metric)metric;
    if (kind == USAGE_TOP) {
        char v[16];
        int n = gw_admin_param(req, "n", v, sizeof v);
        if (n == -2) goto answered;
        if (n >= 0) {
            char *end;
            long count = strtol(v, &end, 10);
            if (!n || *end || count < 1 || count > GW_USAGE_MAX_TOP) {
                gw_admin_bad_param(req, "n", "n: expected an integer from 1 to %d, found '%s'",
                                   GW_USAGE_MAX_TOP, v);
                goto answered;
            }
            q->n = (size_t)count;
        }
    }
    /* the range, to the minute: from rounds down, to up; defaults: the last day (timelines: a
     * span that suits the bucket) */
    int64_t span_s = kind == USAGE_TIMELINE ? (bucket == GW_BUCKET_MINUTE ? 3600
                                               : bucket == GW_BUCKET_HOUR ? 86400
                                                                          : 30 * 86400)
                                            : 86400;
    int64_t to_ms = (gw_wall_ns() / 1000000 / 60000 + 1) * 60000, from_ms = -1;
    if (gw_admin_time_range(req, &from_ms, &to_ms) < 0) goto answered;
    int64_t to_s = (to_ms + 59999) / 60000 * 60;
    int64_t from_s = from_ms < 0 ? to_s - span_s : floor_to(from_ms / 1000, 60);
    if (from_s < 0) from_s = 0;
    if (from_s >= to_s) {
        gw_admin_bad_param(req, "from", "from must be before to");
        goto answered;
    }
    q->from_s = from_s;
    q->to_s = to_s;
    if (kind == USAGE_TIMELINE) {
        int64_t size = gw_usage_bucket_seconds(q->bucket);
        int64_t points = (to_s - floor_to(from_s, size) + size - 1) / size;
        if (points > GW_USAGE_MAX_POINTS) {
            gw_admin_bad_param(req, "bucket",
                               "the range holds %lld buckets of a %s, at most %d: choose a "
                               "larger bucket or a shorter range",
                               (long long)points,
                               bucket == GW_BUCKET_MINUTE ? "minute"
                               : bucket == GW_BUCKET_HOUR ? "hour"
                                                          : "day",
                               GW_USAGE_MAX_POINTS);
            goto answered;
        }
    }
    const char *cur = single_currency(cfg);
    if (cur) {
        memcpy(u->currency, cur, strlen(cur) + 1);
        q->currency = u->currency;
    }
    u->rd.run = run_usage;
    gw_admin_read_start(req, reader, &u->rd);
    return;
answered:
    free(u);
}
