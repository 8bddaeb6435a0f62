#include "alerts/alert.h"

#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alerts/alert_math.h"
#include "alerts/alerts-t.h"
#include "core/random.h"

void gw_alert_init(gw_alert *a, const char *type, const char *severity, int64_t time) {
    memset(a, 0, sizeof *a);
    memcpy(a->id, "alr_", 4);
    gw_random_hex(a->id + 4, 8);
    a->type = type;
    a->severity = severity;
    a->time = time;
    a->subject = json_object_new_object();
    a->values = json_object_new_object();
    a->thresholds = json_object_new_object();
}

void gw_alert_subject(gw_alert *a, const char *name, const char *value) {
    json_object_object_add(a->subject, name, json_object_new_string(value));
    size_t n = strlen(a->subject_key);
    snprintf(a->subject_key + n, sizeof a->subject_key - n, "%s%s=%s", n ? "," : "", name, value);
}

/* 12 significant digits: 412.8, not json-c's 412.80000000000001 */
static json_object *number(double v) {
    char text[40];
    snprintf(text, sizeof text, "%.12g", v);
    return json_object_new_double_s(v, text);
}

void gw_alert_value(gw_alert *a, const char *name, double v) {
    json_object_object_add(a->values, name, number(v));
}
void gw_alert_value_int(gw_alert *a, const char *name, int64_t v) {
    json_object_object_add(a->values, name, json_object_new_int64(v));
}
void gw_alert_value_str(gw_alert *a, const char *name, const char *v) {
    json_object_object_add(a->values, name, json_object_new_string(v));
}
void gw_alert_threshold(gw_alert *a, const char *name, double v) {
    json_object_object_add(a->thresholds, name, number(v));
}

void gw_alert_message(gw_alert *a, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(a->message, sizeof a->message, fmt, ap);
    va_end(ap);
}

char *gw_alert_body(const gw_alert *a) {
    char when[32];
    gw_alert_format_time(a->time, when, sizeof when);
    json_object *o = json_object_new_object();
    if (!o) return NULL;
    json_object_object_add(o, "id", json_object_new_string(a->id));
    json_object_object_add(o, "type", json_object_new_string(a->type));
    json_object_object_add(o, "severity", json_object_new_string(a->severity));
    json_object_object_add(o, "time", json_object_new_string(when));
    json_object_object_add(o, "subject", json_object_get(a->subject));
    json_object_object_add(o, "values", json_object_get(a->values));
    json_object_object_add(o, "thresholds", json_object_get(a->thresholds));
    json_object_object_add(o, "message", json_object_new_string(a->message));
    const char *text =
        json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
    char *body = text ? strdup(text) : NULL;
    json_object_put(o);
    return body;
}

void gw_alert_clear(gw_alert *a) {
    json_object_put(a->subject);
    json_object_put(a->values);
    json_object_put(a->thresholds);
    a->subject = a->values = a->thresholds = NULL;
}

const char *gw_alert_dim_name(int dim) {
    switch (dim) {
    case GW_ALERT_BY_TENANT:
        return "tenant";
    case GW_ALERT_BY_PROJECT:
        return "project";
    case GW_ALERT_BY_KEY:
        return "key";
    case GW_ALERT_BY_MODEL:
        return "model";
    default:
        return "total";
    }
}
