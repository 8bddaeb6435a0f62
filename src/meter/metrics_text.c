#include "meter/metrics_text.h"

#include <event2/buffer.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* HELP text escapes backslash and newline; a label value also the double quote. */
static void escape(struct evbuffer *out, const char *s, int quote) {
    const char *run = s;
    for (; *s; s++) {
        const char *rep = *s == '\\'           ? "\\\\"
                          : *s == '\n'         ? "\\n"
                          : quote && *s == '"' ? "\\\""
                                               : 0;
        if (!rep) continue;
        evbuffer_add(out, run, (size_t)(s - run));
        evbuffer_add(out, rep, 2);
        run = s + 1;
    }
    evbuffer_add(out, run, (size_t)(s - run));
}

void gw_prom_escape_value(struct evbuffer *out, const char *value) {
    escape(out, value, 1);
}

void gw_prom_family(struct evbuffer *out, const char *name, const char *type, const char *help) {
    evbuffer_add_printf(out, "# HELP %s ", name);
    escape(out, help, 0);
    evbuffer_add_printf(out, "\n# TYPE %s %s\n", name, type);
}

void gw_prom_number(struct evbuffer *out, double v) {
    if (isnan(v)) {
        evbuffer_add(out, "NaN", 3);
        return;
    }
    if (isinf(v)) {
        evbuffer_add_printf(out, "%s", v > 0 ? "+Inf" : "-Inf");
        return;
    }
    if (v == (double)(int64_t)v && fabs(v) < 9e15) {
        evbuffer_add_printf(out, "%lld", (long long)v);
        return;
    }
    char text[40];
    for (int digits = 15; digits <= 17; digits++) { /* the shortest that reads back the same */
        snprintf(text, sizeof text, "%.*g", digits, v);
        if (strtod(text, NULL) == v) break;
    }
    evbuffer_add(out, text, strlen(text));
}

static void labels_open(struct evbuffer *out, const char *name, const char *suffix,
                        const gw_prom_label *labels, size_t n) {
    evbuffer_add_printf(out, "%s%s", name, suffix);
    if (!n) return;
    for (size_t i = 0; i < n; i++) {
        evbuffer_add_printf(out, "%s%s=\"", i ? "," : "{", labels[i].name);
        escape(out, labels[i].value, 1);
        evbuffer_add(out, "\"", 1);
    }
}

void gw_prom_sample(struct evbuffer *out, const char *name, const gw_prom_label *labels, size_t n,
                    double value) {
    labels_open(out, name, "", labels, n);
    evbuffer_add(out, n ? "} " : " ", n ? 2 : 1);
    gw_prom_number(out, value);
    evbuffer_add(out, "\n", 1);
}

void gw_prom_sample_u64(struct evbuffer *out, const char *name, const gw_prom_label *labels,
                        size_t n, uint64_t value) {
    labels_open(out, name, "", labels, n);
    evbuffer_add_printf(out, "%s%llu\n", n ? "} " : " ", (unsigned long long)value);
}

void gw_prom_histogram(struct evbuffer *out, const char *name, const gw_prom_label *labels,
                       size_t n, const int64_t *bound_us, size_t bounds, const uint64_t *buckets,
                       uint64_t sum_us) {
    uint64_t cumulative = 0;
    for (size_t b = 0; b <= bounds; b++) {
        cumulative += buckets[b];
        labels_open(out, name, "_bucket", labels, n);
        evbuffer_add(out, n ? ",le=\"" : "{le=\"", 5);
        if (b == bounds)
            evbuffer_add(out, "+Inf", 4);
        else
            gw_prom_number(out, (double)bound_us[b] / 1e6);
        evbuffer_add_printf(out, "\"} %llu\n", (unsigned long long)cumulative);
    }
    labels_open(out, name, "_sum", labels, n);
    /* whole microseconds: six decimals are exact */
    evbuffer_add_printf(out, "%s%llu.%06llu\n", n ? "} " : " ",
                        (unsigned long long)(sum_us / 1000000),
                        (unsigned long long)(sum_us % 1000000));
    labels_open(out, name, "_count", labels, n);
    evbuffer_add_printf(out, "%s%llu\n", n ? "} " : " ", (unsigned long long)cumulative);
}
