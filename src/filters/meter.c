/* meter: the last filter's on_done of every request builds its record (see meter.h). */
#include "filters/meter.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/request_json.h"
#include "core/worker-t.h"
#include "filters/auth.h"
#include "filters/client_ip.h"
#include "filters/filter.h"
#include "meter/capture.h"
#include "meter/meter.h"
#include "meter/metrics.h"
#include "meter/metering-t.h"
#include "meter/price.h"
#include "meter/record.h"
#include "meter/redact.h"

static void copy_text(char *dst, size_t cap, const char *src, size_t len) {
    if (!src) len = 0;
    if (len >= cap) len = cap - 1; /* names are bounded in the record: the log shows a prefix */
    if (len) memcpy(dst, src, len);
    dst[len] = '\0';
}

static void copy_str(char *dst, size_t cap, const char *src) {
    copy_text(dst, cap, src, src ? strlen(src) : 0);
}

gw_refusal gw_refusal_of(const char *code) {
    static const struct {
        const char *code;
        gw_refusal refusal;
    } table[] = {
        {"address_denied", GW_REFUSED_IP},
        {"invalid_api_key", GW_REFUSED_AUTH},
        {"model_not_allowed", GW_REFUSED_MODEL_ACCESS},
        {"model_disabled", GW_REFUSED_SWITCH},
        {"tenant_disabled", GW_REFUSED_SWITCH},
        {"key_disabled", GW_REFUSED_SWITCH},
        {"pii_detected", GW_REFUSED_PII},
        {"content_filter", GW_REFUSED_WORDS},
        {"rate_limit_exceeded", GW_REFUSED_RATE_LIMIT},
        {"insufficient_quota", GW_REFUSED_QUOTA},
    };
    if (!code) return GW_REFUSED_NONE;
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (!strcmp(code, table[i].code)) return table[i].refusal;
    return GW_REFUSED_NONE;
}

static int64_t us_since(const gw_req *r, int64_t t_ns) {
    return t_ns ? (t_ns - r->t_start) / 1000 : -1;
}

/* The usage to bill: the engine's, or when it reported none for an answer that was served (or
 * cut, or left by the caller after the engine began), the gateway's estimate, marked so. A
 * refused or failed request consumed nothing upstream and is recorded with zero tokens. */
static void usage_of(gw_req *r, gw_request_record *rec) {
    rec->usage = r->usage;
    if (r->usage.known) return;
    int served =
        r->attempt_count && (r->status < 400 || r->status == 499 || (r->t_first_byte && r->stream));
    if (!served) return;
    rec->estimated = 1;
    rec->usage.prompt_tokens = (int64_t)gw_req_prompt_tokens(r);
    rec->usage.completion_tokens = r->completion_estimate;
    if (rec->usage.prompt_tokens + rec->usage.completion_tokens == 0)
        rec->usage.prompt_tokens = 1; /* a served request is never billed as nothing */
}

static void attempts_of(gw_req *r, gw_request_record *rec) {
    size_t n =
        r->attempts_logged < GW_RECORD_MAX_ATTEMPTS ? r->attempts_logged : GW_RECORD_MAX_ATTEMPTS;
    rec->attempt_count = (uint32_t)n;
    for (size_t i = 0; i < n; i++) {
        const gw_req_attempt *a = &r->attempts[i];
        gw_attempt_record *o = &rec->attempts[i];
        memset(o, 0, sizeof *o);
        if (a->target) {
            copy_str(o->channel, sizeof o->channel, a->target->channel->name);
            copy_text(o->upstream_model, sizeof o->upstream_model, a->target->upstream_model,
                      a->target->upstream_model_len);
        }
        copy_str(o->endpoint, sizeof o->endpoint, a->endpoint);
        o->status = a->status;
        copy_str(o->error, sizeof o->error, a->fail_code);
        o->start_us = us_since(r, a->t_start);
        o->first_byte_us = us_since(r, a->t_head);
        o->end_us = us_since(r, a->t_end);
    }
    if (n) copy_str(rec->endpoint, sizeof rec->endpoint, r->attempts[n - 1].endpoint);
}

void gw_record_from_request(gw_req *r, gw_request_record *rec) {
    /* the attempts are zeroed as they are filled: the 4 KB past attempt_count is never read */
    memset(rec, 0, offsetof(gw_request_record, attempts));
    memset(&rec->capture, 0, sizeof rec->capture);
    copy_text(rec->id, sizeof rec->id, r->id, r->id_len);
    copy_str(rec->trace_id, sizeof rec->trace_id, r->trace.trace_id);
    copy_str(rec->span_id, sizeof rec->span_id, r->trace.span_id);
    copy_str(rec->parent_id, sizeof rec->parent_id, r->trace.parent_id);
    int64_t ended_ns = r->t_end ? r->t_end : gw_now_ns();
    rec->time_ms = (gw_wall_ns() - (ended_ns - r->t_start)) / 1000000;

    const gw_auth_identity *who = gw_auth_identity_of(r);
    if (who) {
        copy_str(rec->tenant, sizeof rec->tenant, who->tenant);
        copy_str(rec->project, sizeof rec->project, who->project);
        copy_str(rec->key_id, sizeof rec->key_id, who->subject);
    }
    gw_ip ip;
    char ip_text[GW_IP_TEXT_MAX + 1];
    if (gw_req_client_ip(r, &ip) == 0) {
        copy_str(rec->client_ip, sizeof rec->client_ip, gw_ip_format(&ip, ip_text, sizeof ip_text));
    } else { /* the peer as the log has it, "host:port": the port goes */
        const char *colon = strrchr(r->client, ':');
        copy_text(rec->client_ip, sizeof rec->client_ip, r->client,
                  colon ? (size_t)(colon - r->client) : strlen(r->client));
    }

    copy_str(rec->path, sizeof rec->path, r->path);
    copy_str(rec->protocol, sizeof rec->protocol, r->protocol ? r->protocol->name : "");
    copy_text(rec->model, sizeof rec->model, r->model_name, r->model_name_len);
    if (r->target)
        copy_text(rec->upstream_model, sizeof rec->upstream_model, r->target->upstream_model,
                  r->target->upstream_model_len);
    if (r->channel) copy_str(rec->channel, sizeof rec->channel, r->channel->name);
    rec->stream = r->stream;

    rec->status = r->status;
    copy_str(rec->error_code, sizeof rec->error_code, r->error_code);
    rec->refused_by = gw_refusal_of(r->error_code);
    usage_of(r, rec);
    /* an error carries no token: its first byte is not a first token */
    rec->first_token_us = r->status < 400 ? us_since(r, r->t_first_byte) : -1;
    rec->latency_us = (ended_ns - r->t_start) / 1000;
    rec->stream_events = r->stream_events;
    rec->max_gap_us = r->max_gap_ns / 1000;
    attempts_of(r, rec);
}

/* The capture this request keeps, made at its first use; NULL when capture is off or memory
 * ran out (a capture is never worth failing a request for). */
static gw_capture *capture_of(gw_req *r) {
    if (!r->capture) r->capture = calloc(1, sizeof(gw_capture));
    return r->capture;
}

void gw_meter_capture_request(gw_req *r) {
    const gw_metering_conf *m = r->cfg->metering;
    if (!m || !m->capture.bodies || !r->worker->meter) return;
    gw_capture *c = capture_of(r);
    if (c) gw_capture_request(c, r->body, r->body_len, m->capture.max_body_bytes);
}

int gw_meter_captures_streams(const gw_req *r) {
    const gw_metering_conf *m = r->cfg->metering;
    return m && m->capture.streams && r->worker->meter;
}

void gw_meter_capture_response(gw_req *r, struct evbuffer *out, int whole) {
    const gw_metering_conf *m = r->cfg->metering;
    if (whole ? !(m && m->capture.bodies && r->worker->meter) : !gw_meter_captures_streams(r))
        return;
    gw_capture *c = capture_of(r);
    if (c)
        gw_capture_response(c, (gw_now_ns() - r->t_start) / 1000, out,
                            whole ? m->capture.max_body_bytes : m->capture.max_stream_bytes);
}

/* A stream's first gap: finds the series its gaps count in (+ 1; 0 when the table is full, and
 * then again at the next gap), and counts this one. Apart from gw_meter_observe_gap so that the
 * per-event call keeps no stack frame. */
static __attribute__((noinline)) void first_gap(gw_req *r, gw_worker_metrics *m, int64_t gap_ns) {
    const gw_auth_identity *who = gw_auth_identity_of(r);
    char model[GW_RECORD_NAME];
    copy_text(model, sizeof model, r->model_name, r->model_name_len);
    r->metrics_series =
        gw_metrics_series(m, model, r->channel ? r->channel->name : "", who ? who->tenant : "") + 1;
    if (r->metrics_series) gw_metrics_observe_gap(m, r->metrics_series - 1, gap_ns / 1000);
}

void gw_meter_observe_gap(gw_req *r, int64_t gap_ns) {
    gw_worker_metrics *m = r->worker->metrics;
    if (!m) return;
    if (r->metrics_series)
        gw_metrics_observe_gap(m, r->metrics_series - 1, gap_ns / 1000);
    else
        first_gap(r, m, gap_ns);
}

static void meter_done(gw_req *r) {
    gw_meter *meter = r->worker->meter;
    gw_request_record rec;
    gw_record_from_request(r, &rec);
    const gw_metering_conf *m = r->cfg->metering;
    if (m) {
        const char *currency = NULL;
        rec.cost = gw_meter_cost(m, rec.model, &rec.usage, &currency);
        if (currency) copy_str(rec.currency, sizeof rec.currency, currency);
    }
    if (r->capture) { /* the record owns the buffers from here */
        rec.capture = *(gw_capture *)r->capture;
        free(r->capture);
        r->capture = NULL;
        /* masked on the store writer, as this request's config says (one atomic add) */
        if (m) rec.capture.redactor = gw_capture_redactor_ref(m->capture.redactor);
    }
    gw_metrics_observe(r->worker->metrics, &rec);
    if (meter)
        gw_meter_submit(meter, &rec); /* never blocks; a full queue drops and counts */
    else
        gw_record_free_capture(&rec.capture);
}

const gw_filter_ops gw_filter_meter = {
    .name = "meter",
    .on_done = meter_done,
};
