/* One finished request as metering, billing, the request log and the metrics see it: built by
 * the worker when the request ends (filters/meter.c), then handed off the request path (to the
 * store writer's queue) and to the worker's metrics. Fixed-size text fields, so a record is one
 * flat copy into a queue slot; only the optional captures are on the heap, owned by the record.
 * Types only. */
#ifndef AIGW_METER_RECORD_T_H
#define AIGW_METER_RECORD_T_H

#include <stddef.h>
#include <stdint.h>

#include "core/protocol-t.h"

enum {
    GW_RECORD_MAX_ATTEMPTS = 10, /* = GW_MAX_ATTEMPTS */
    GW_RECORD_NAME = 128,        /* model, tenant, project names; longer ones are cut */
    GW_RECORD_SHORT = 64,        /* channel, error codes, key ids */
};

/* One try at a channel. Times are microseconds from the request's arrival; -1: never happened.
 * The endpoint is an internal address: shown on the admin API only, never to a caller. */
typedef struct gw_attempt_record {
    char channel[GW_RECORD_SHORT];
    char endpoint[GW_RECORD_NAME];       /* "host:port" of the engine instance */
    char upstream_model[GW_RECORD_NAME]; /* the name the engine was asked for */
    int status;                          /* the engine's HTTP status; 0: none came */
    char error[GW_RECORD_SHORT];         /* the failure's code ("timeout", ...); "" on success */
    int64_t start_us, first_byte_us, end_us;
} gw_attempt_record;

/* One captured stream event (or a whole answer): the bytes the caller received, at t_us. */
typedef struct gw_capture_chunk {
    int64_t t_us; /* from the request's arrival */
    uint32_t len;
    char data[]; /* len bytes */
} gw_capture_chunk;

struct gw_capture_redactor;

/* What was captured of a request, within the configured caps: the body as it went upstream
 * (after the guards) and the answer as the caller got it. NULL pointers: nothing captured. */
typedef struct gw_capture {
    char *request_body;
    size_t request_body_len;
    /* the answer as the caller got it: stream events in order, or one chunk for a whole answer;
     * packed back to back (each gw_capture_chunk padded to 8 bytes) */
    char *response;
    size_t response_len, response_cap;
    size_t response_chunks;
    int truncated; /* a cap was reached: what is here is a prefix */
    /* masks the capture on the store writer before it is stored (meter/redact.h): a reference,
     * owned with the buffers; NULL: stored as captured */
    struct gw_capture_redactor *redactor;
} gw_capture;

typedef struct gw_request_record {
    char id[40];
    char trace_id[33];  /* W3C trace context: 32 hex digits */
    char span_id[17];   /* the gateway's span, sent upstream as the parent */
    char parent_id[17]; /* the caller's span, "" when it sent no traceparent */
    int64_t time_ms;    /* arrival, unix milliseconds of the gateway's (settable) wall clock */
    /* who */
    char tenant[GW_RECORD_NAME], project[GW_RECORD_NAME];
    char key_id[GW_RECORD_SHORT]; /* the API key's id, or the token's subject; "" without auth */
    char client_ip[48];
    /* what */
    char path[32];                       /* /v1/chat/completions, /v1/messages, ... */
    char protocol[16];                   /* openai, anthropic */
    char model[GW_RECORD_NAME];          /* the virtual name the caller used */
    char upstream_model[GW_RECORD_NAME]; /* what the serving engine was asked for */
    char channel[GW_RECORD_SHORT];       /* the channel that served (or failed last) */
    char endpoint[GW_RECORD_NAME];       /* its endpoint, "host:port" */
    int stream;
    /* outcome */
    int status;                       /* what the caller got; 499: it left first */
    char error_code[GW_RECORD_SHORT]; /* "" on success */
    int refused_by;                   /* a gw_refusal: which check refused it; 0: none */
    gw_usage usage;                   /* exact when usage.known, else an estimate */
    int estimated;                    /* the counts are the gateway's estimate */
    double cost;                      /* in the model's price currency; 0 without a price */
    char currency[8];
    int64_t first_token_us, latency_us; /* -1: no token came */
    uint32_t stream_events;             /* events sent to the caller */
    int64_t max_gap_us;                 /* the longest pause between two events */
    gw_capture capture;                 /* owned; freed with gw_record_free_capture */
    uint32_t attempt_count;
    /* last, so a record's copy can stop after its attempt_count attempts (gw_record_used_bytes):
     * one attempt is the rule, and the ten a record holds are three quarters of its size */
    gw_attempt_record attempts[GW_RECORD_MAX_ATTEMPTS]; /* past attempt_count: not set */
} gw_request_record;

/* The bytes of rec a copy must carry: all of it but the attempts past attempt_count. */
static inline size_t gw_record_used_bytes(const gw_request_record *rec) {
    uint32_t n =
        rec->attempt_count < GW_RECORD_MAX_ATTEMPTS ? rec->attempt_count : GW_RECORD_MAX_ATTEMPTS;
    return offsetof(gw_request_record, attempts) + n * sizeof(gw_attempt_record);
}

/* Which check refused a request, for the refusal counters. */
typedef enum gw_refusal {
    GW_REFUSED_NONE = 0,
    GW_REFUSED_IP,
    GW_REFUSED_AUTH,
    GW_REFUSED_MODEL_ACCESS,
    GW_REFUSED_SWITCH,
    GW_REFUSED_PII,
    GW_REFUSED_WORDS,
    GW_REFUSED_RATE_LIMIT,
    GW_REFUSED_QUOTA,
    GW_REFUSED_COUNT,
} gw_refusal;

#endif
