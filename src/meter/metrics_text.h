/* Prometheus' text exposition format 0.0.4: HELP and TYPE lines, samples with escaped label
 * values, histograms with cumulative buckets, +Inf, _sum and _count. */
#ifndef AIGW_METER_METRICS_TEXT_H
#define AIGW_METER_METRICS_TEXT_H

#include <stddef.h>
#include <stdint.h>

struct evbuffer;

#define GW_PROM_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

typedef struct gw_prom_label {
    const char *name;  /* a valid label name: the caller's constant */
    const char *value; /* any bytes: escaped */
} gw_prom_label;

/* "# HELP name help" (help escaped) and "# TYPE name type". */
void gw_prom_family(struct evbuffer *out, const char *name, const char *type, const char *help);
/* A label value with \, " and newline escaped as the format says. */
void gw_prom_escape_value(struct evbuffer *out, const char *value);
/* A sample value: integers exactly, other numbers in the shortest form that reads back the same,
 * and +Inf, -Inf, NaN. */
void gw_prom_number(struct evbuffer *out, double value);
/* name{labels} value */
void gw_prom_sample(struct evbuffer *out, const char *name, const gw_prom_label *labels,
                    size_t label_count, double value);
void gw_prom_sample_u64(struct evbuffer *out, const char *name, const gw_prom_label *labels,
                        size_t label_count, uint64_t value);
/* One histogram series: buckets[i] counts the observations in (bound_us[i-1], bound_us[i]],
 * buckets[bounds] those past the last bound; written cumulative, with le="+Inf" equal to
 * _count, and _sum in seconds. */
void gw_prom_histogram(struct evbuffer *out, const char *name, const gw_prom_label *labels,
                       size_t label_count, const int64_t *bound_us, size_t bounds,
                       const uint64_t *buckets, uint64_t sum_us);

#endif
