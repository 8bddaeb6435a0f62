/* The `metering:` section of a config snapshot: where usage and request logs are stored, the
 * price of each model, the bounds of the writer's queue, what is captured of a request and how
 * long it is kept. Parsed by src/config/load_metering.c into the snapshot's arena; read by the
 * request path (prices, capture caps) and by the store writer (src/meter/meter.h). Types only. */
#ifndef AIGW_METER_METERING_T_H
#define AIGW_METER_METERING_T_H

#include <stddef.h>
#include <stdint.h>

struct gw_alerts_conf;
struct gw_capture_redactor;

/* The price of one model, per million tokens. */
typedef struct gw_price {
    const char *model; /* the virtual name callers use; "*" prices every model not listed */
    double input;
    double output;
    double cached_input; /* input tokens read from the engine's cache; default: input */
    char currency[8];    /* default "USD" */
} gw_price;

typedef struct gw_capture_conf {
    int bodies;              /* capture request bodies and whole answers */
    size_t max_body_bytes;   /* each; a longer one is kept as a prefix, marked truncated */
    int streams;             /* capture stream events with their times (for replay) */
    size_t max_stream_bytes; /* of one stream, events included whole until the cap */
    int redact_pii;          /* mask PII in what is captured before it is stored (default on) */
    /* the masking, built with the snapshot when captures are on and redact_pii; the snapshot
     * holds one reference (meter/redact.h), each record with a capture one more */
    struct gw_capture_redactor *redactor;
} gw_capture_conf;

typedef struct gw_retention_conf {
    int days;               /* request logs and captures older than this are deleted */
    int64_t max_mb;         /* and the oldest beyond this size (rows and captures) */
    int minute_rollup_days; /* per-minute rollups older than this are deleted (hours, days stay) */
    int interval_ms;        /* how often the writer checks age (size: after every batch) */
} gw_retention_conf;

typedef struct gw_metering_conf {
    const char *store; /* the SQLite file; the loader fills in store.path when unset */
    gw_price *prices;
    size_t price_count;
    /* open addressing over prices by model name (index + 1; 0 empty), built at load so the
     * worker's lookup is a hash and a compare, no allocation */
    uint32_t *price_slots;
    size_t price_slot_mask;
    const gw_price *default_price; /* the "*" entry, or NULL */
    uint32_t queue_size;           /* records the writer's queue holds (a power of two) */
    uint32_t batch;                /* records written per transaction, at most */
    gw_capture_conf capture;
    gw_retention_conf retention;
    /* metering.alerts, parsed by src/config/load_alerts.c (the alerts' own types); NULL: none */
    struct gw_alerts_conf *alerts;
    int line; /* where the section is, for messages */
} gw_metering_conf;

#endif
