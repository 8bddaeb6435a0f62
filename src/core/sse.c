#include "core/sse.h"

#include <stdlib.h>
#include <string.h>

void gw_sse_init(gw_sse_parser *p, size_t max_event, gw_sse_event_cb cb, void *ud) {
    memset(p, 0, sizeof *p);
    p->max_event = max_event;
    p->cb = cb;
    p->ud = ud;
}

void gw_sse_reset(gw_sse_parser *p) {
    p->line_len = p->data_len = p->event_len = 0;
    p->has_data = 0;
}

void gw_sse_free(gw_sse_parser *p) {
    free(p->line);
    free(p->data);
    p->line = p->data = NULL;
    p->line_cap = p->data_cap = 0;
    gw_sse_reset(p);
}

static int reserve(char **buf, size_t *cap, size_t need) {
    if (need <= *cap) return 0;
    size_t ncap = *cap ? *cap : 256;
    while (ncap < need)
        ncap *= 2;
    char *nbuf = realloc(*buf, ncap);
    if (!nbuf) return -1;
    *buf = nbuf;
    *cap = ncap;
    return 0;
}

static int dispatch(gw_sse_parser *p) {
    int rc = 0;
    if (p->has_data) rc = p->cb(p->ud, p->event, p->event_len, p->data ? p->data : "", p->data_len);
    p->data_len = p->event_len = 0;
    p->has_data = 0;
    return rc;
}

static int process_line(gw_sse_parser *p, const char *line, size_t len) {
    if (len == 0) return dispatch(p);
    if (line[0] == ':') return 0; /* comment, e.g. a keep-alive ping */
    const char *colon = memchr(line, ':', len);
    size_t name_len = colon ? (size_t)(colon - line) : len;
    const char *value = colon ? colon + 1 : line + len;
    size_t value_len = (size_t)(line + len - value);
    if (value_len && *value == ' ') {
        value++;
        value_len--;
    }
    if (name_len == 4 && !memcmp(line, "data", 4)) {
        size_t need = p->data_len + (p->has_data ? 1 : 0) + value_len;
        if (need > p->max_event) return -1;
        if (reserve(&p->data, &p->data_cap, need + 1) < 0) return -1;
        if (p->has_data) p->data[p->data_len++] = '\n';
        memcpy(p->data + p->data_len, value, value_len);
        p->data_len += value_len;
        p->data[p->data_len] = '\0';
        p->has_data = 1;
    } else if (name_len == 5 && !memcmp(line, "event", 5)) {
        p->event_len = value_len < sizeof p->event - 1 ? value_len : sizeof p->event - 1;
        memcpy(p->event, value, p->event_len);
        p->event[p->event_len] = '\0';
    }
    return 0; /* id, retry and unknown fields change nothing a proxy needs */
}

int gw_sse_feed(gw_sse_parser *p, const char *buf, size_t len) {
    size_t i = 0;
    while (i < len) {
        const char *nl = memchr(buf + i, '\n', len - i);
        if (!nl) {
            size_t rest = len - i;
            if (p->line_len + rest > p->max_event) return -1;
            if (reserve(&p->line, &p->line_cap, p->line_len + rest) < 0) return -1;
            memcpy(p->line + p->line_len, buf + i, rest);
            p->line_len += rest;
            return 0;
        }
        size_t seg = (size_t)(nl - (buf + i));
        const char *line = buf + i;
        size_t line_len = seg;
        if (p->line_len) { /* join with the carried-over start of this line */
            if (p->line_len + seg > p->max_event) return -1;
            if (reserve(&p->line, &p->line_cap, p->line_len + seg) < 0) return -1;
            memcpy(p->line + p->line_len, line, seg);
            line = p->line;
            line_len = p->line_len + seg;
            p->line_len = 0;
        }
        if (line_len && line[line_len - 1] == '\r') line_len--;
        int rc = process_line(p, line, line_len);
        if (rc) return rc;
        i += seg + 1;
    }
    return 0;
}

int gw_sse_finish(gw_sse_parser *p) {
    if (p->line_len) {
        size_t n = p->line_len;
        p->line_len = 0;
        if (n && p->line[n - 1] == '\r') n--;
        int rc = process_line(p, p->line, n);
        if (rc) return rc;
    }
    return dispatch(p);
}
