#include "core/sse.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum { FIELD_UNKNOWN = sizeof(((gw_sse_parser *)0)->field) }; /* a name longer than any we need */

void gw_sse_init(gw_sse_parser *p, size_t max_event, gw_sse_event_cb cb, void *ud) {
    memset(p, 0, sizeof *p);
    p->max_event = max_event;
    p->cb = cb;
    p->ud = ud;
}

void gw_sse_reset(gw_sse_parser *p) {
    p->state = GW_SSE_FIELD;
    p->field_len = p->data_len = p->event_len = p->line_start = 0;
    p->has_data = p->strip_space = 0;
}

void gw_sse_free(gw_sse_parser *p) {
    free(p->data);
    p->data = NULL;
    p->data_cap = 0;
    gw_sse_reset(p);
}

static int append_data(gw_sse_parser *p, const char *bytes, size_t len) {
    size_t need = p->data_len + len;
    if (need > p->max_event + 1) return -1; /* + 1: a CR that the line's LF will take back */
    if (need + 1 > p->data_cap) {
        size_t cap = p->data_cap ? p->data_cap : 256;
        while (cap < need + 1)
            cap *= 2;
        if (cap > p->max_event + 2) cap = p->max_event + 2;
        char *grown = realloc(p->data, cap);
        if (!grown) return -1;
        p->data = grown;
        p->data_cap = cap;
    }
    memcpy(p->data + p->data_len, bytes, len);
    p->data_len += len;
    return 0;
}

static int dispatch(gw_sse_parser *p) {
    int rc = 0;
    if (p->has_data) {
        p->data[p->data_len] = '\0';
        rc = p->cb(p->ud, p->event, p->event_len, p->data, p->data_len);
    }
    p->data_len = p->event_len = 0;
    p->has_data = 0;
    return rc;
}

static int field_is(const gw_sse_parser *p, const char *name) {
    size_t len = strlen(name);
    return p->field_len == len && !memcmp(p->field, name, len);
}

/* A data line begins: joined to the previous ones with '\n'. */
static int begin_data_line(gw_sse_parser *p) {
    if (p->has_data && append_data(p, "\n", 1) < 0) return -1;
    p->has_data = 1;
    p->line_start = p->data_len;
    return 0;
}

/* The field name ends at a colon: choose where the value goes. */
static int begin_value(gw_sse_parser *p) {
    p->strip_space = 1;
    if (field_is(p, "data")) {
        p->state = GW_SSE_DATA;
        return begin_data_line(p);
    }
    if (field_is(p, "event")) {
        p->state = GW_SSE_EVENT_NAME;
        p->event_len = 0;
        return 0;
    }
    p->state = GW_SSE_SKIP; /* a comment (empty name), id, retry or an unknown field */
    return 0;
}

/* The line ends (LF, or the end of the stream). A CR before the LF is not part of the value. */
static int end_line(gw_sse_parser *p) {
    int rc = 0;
    switch (p->state) {
    case GW_SSE_FIELD:
        if (p->field_len == 0) {
            rc = dispatch(p); /* a blank line ends the event */
        } else if (p->field_len == 5 && !memcmp(p->field, "data\r", 5)) {
            rc = begin_data_line(p); /* "data" alone: an empty data line */
        } else if (field_is(p, "data")) {
            rc = begin_data_line(p);
        } else if (p->field_len == 1 && p->field[0] == '\r') {
            rc = dispatch(p); /* a blank CRLF line */
        }
        break;
    case GW_SSE_DATA:
        if (p->data_len > p->line_start && p->data[p->data_len - 1] == '\r') p->data_len--;
        if (p->data_len > p->max_event) rc = -1;
        break;
    case GW_SSE_EVENT_NAME:
        if (p->event_len && p->event[p->event_len - 1] == '\r') p->event_len--;
        break;
    case GW_SSE_SKIP:
        break;
    }
    p->state = GW_SSE_FIELD;
    p->field_len = 0;
    p->strip_space = 0;
    return rc;
}

/* s begins with "data:" (5 bytes readable): two loads, where a memcmp call would cost more than
 * the rest of a read's fast path. */
static int starts_with_data(const char *s) {
    uint32_t word, data;
    memcpy(&word, s, 4);
    memcpy(&data, "data", 4);
    return word == data && s[4] == ':';
}

/* At the start of an event: when buf[i..] holds the whole of it as one data line and the blank
 * line after it (nearly every event of an engine, read whole), the callback gets the value where
 * it lies: no copy. Returns the position after the event, or 0 when the event is not like that
 * (the general parser reads it). */
__attribute__((always_inline)) static inline size_t
dispatch_in_place(gw_sse_parser *p, const char *buf, size_t len, size_t i, int *rc) {
    if (len - i < 7 || !starts_with_data(buf + i)) return 0;
    size_t v = i + 5;
    if (buf[v] == ' ') v++;
    const char *nl = memchr(buf + v, '\n', len - v);
    if (!nl) return 0;
    size_t end = (size_t)(nl - buf), after = end + 1;
    if (end > v && buf[end - 1] == '\r') end--;
    if (after < len && buf[after] == '\n')
        after += 1;
    else if (after + 1 < len && buf[after] == '\r' && buf[after + 1] == '\n')
        after += 2;
    else
        return 0;                         /* more lines, or the blank line not read yet */
    if (end - v > p->max_event) return 0; /* the general parser says so */
    *rc = p->cb(p->ud, p->event, 0, buf + v, end - v);
    return after;
}

/* The parser is between events: nothing of a line or an event is held. */
static int at_rest(const gw_sse_parser *p) {
    return p->state == GW_SSE_FIELD && p->field_len == 0 && !p->has_data && !p->event_len;
}

/* Any read but the usual one: whole events in it handed on in place where they can be, the rest
 * through the general parser, byte state kept across reads. Out of line, so that the usual read
 * (gw_sse_feed) costs no more than its own few tests, its scan and the callback. */
__attribute__((noinline)) static int feed_general(gw_sse_parser *p, const char *buf, size_t len) {
    size_t i = 0;
    while (i < len) {
        if (at_rest(p)) {
            int rc = 0;
            size_t next = dispatch_in_place(p, buf, len, i, &rc);
            if (next) {
                i = next;
                if (rc) return rc;
                continue;
            }
        }
        if (p->state == GW_SSE_FIELD) {
            char c = buf[i++];
            int rc = 0;
            if (c == '\n')
                rc = end_line(p);
            else if (c == ':')
                rc = begin_value(p);
            else if (p->field_len < FIELD_UNKNOWN)
                p->field[p->field_len++] = c;
            if (rc) return rc;
            continue;
        }
        if (p->strip_space) {
            p->strip_space = 0;
            if (buf[i] == ' ') {
                i++;
                continue;
            }
        }
        /* the rest of the value up to the line's end, in one piece */
        const char *nl = memchr(buf + i, '\n', len - i);
        size_t run = nl ? (size_t)(nl - (buf + i)) : len - i;
        if (p->state == GW_SSE_DATA) {
            if (append_data(p, buf + i, run) < 0) return -1;
        } else if (p->state == GW_SSE_EVENT_NAME) {
            size_t room = sizeof p->event - 1 - p->event_len;
            size_t n = run < room ? run : room;
            memcpy(p->event + p->event_len, buf + i, n);
            p->event_len += n;
            p->event[p->event_len] = '\0';
        }
        i += run;
        if (nl) {
            i++;
            int rc = end_line(p);
            if (rc) return rc;
        }
    }
    return 0;
}

/* The usual read of an engine's stream is exactly one event: one data line and its blank line.
 * It is handed on with one scan (dispatch_in_place, inlined here so the common read costs no
 * call). A read that begins with such an event and holds more goes on to feed_general after it,
 * the first line not scanned twice; any other read goes to feed_general whole. */
int gw_sse_feed(gw_sse_parser *p, const char *buf, size_t len) {
    if (len >= 7 && buf[len - 1] == '\n' && at_rest(p)) {
        int rc = 0;
        size_t after = dispatch_in_place(p, buf, len, 0, &rc);
        if (after) return after == len || rc ? rc : feed_general(p, buf + after, len - after);
    }
    return feed_general(p, buf, len);
}

int gw_sse_finish(gw_sse_parser *p) {
    if (p->state != GW_SSE_FIELD || p->field_len) {
        int rc = end_line(p);
        if (rc) return rc;
    }
    return dispatch(p);
}
