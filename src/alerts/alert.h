/* One alert as it is recorded and delivered: its type, severity and time, what it is about (the
 * subject: tenant, model, channel, endpoint...), the values that raised it and the thresholds
 * they crossed. The webhook body and the history's entry are its JSON:
 *   {"id":"alr_...","type":"budget","severity":"warning","time":"2030-03-15T12:00:00Z",
 *    "subject":{"tenant":"acme"},"values":{...},"thresholds":{...},"message":"..."} */
#ifndef AIGW_ALERTS_ALERT_H
#define AIGW_ALERTS_ALERT_H

#include <stddef.h>
#include <stdint.h>

struct json_object;

enum { GW_ALERT_ID_LEN = 24, GW_ALERT_KEY_LEN = 512 };

typedef struct gw_alert {
    char id[GW_ALERT_ID_LEN]; /* alr_ and 16 hex digits */
    const char *type;         /* budget, cost_anomaly, error_rate, endpoint_down, ... (static) */
    const char *severity;     /* info, warning, critical (static) */
    int64_t time;             /* unix seconds of the gateway's wall clock */
    /* the subject as one text ("tenant=acme"), for "has this fired lately" */
    char subject_key[GW_ALERT_KEY_LEN];
    /* when set, the alert is recorded (and sent) once only for this text: a budget threshold
     * of one period */
    char dedup[GW_ALERT_KEY_LEN];
    struct json_object *subject, *values, *thresholds;
    char message[400];
} gw_alert;

/* A new alert with a fresh id; gw_alert_clear releases it. */
void gw_alert_init(gw_alert *a, const char *type, const char *severity, int64_t time);
/* Adds name: value to the subject (and its key). */
void gw_alert_subject(gw_alert *a, const char *name, const char *value);
void gw_alert_value(gw_alert *a, const char *name, double v);
void gw_alert_value_int(gw_alert *a, const char *name, int64_t v);
void gw_alert_value_str(gw_alert *a, const char *name, const char *v);
void gw_alert_threshold(gw_alert *a, const char *name, double v);
/* Its message, printf-style (cut to fit). */
void gw_alert_message(gw_alert *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The JSON body (malloc'd; NULL when out of memory). */
char *gw_alert_body(const gw_alert *a);
void gw_alert_clear(gw_alert *a);

/* The subject's name for a rollup column ("tenant", "project", "key", "model"). */
const char *gw_alert_dim_name(int dim);

#endif
