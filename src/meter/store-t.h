/* What the store's read side and its callers share (meter/store.h has the ops table): the read
 * connection's name, what a read answers, and a text as a backend hands it out. Types only. */
#ifndef AIGW_METER_STORE_T_H
#define AIGW_METER_STORE_T_H

#include <stddef.h>

/* A backend's read connection (meter/store.h). */
typedef struct gw_meter_reads gw_meter_reads;

/* What a read answers. */
enum {
    GW_METER_READ_OK = 0,
    GW_METER_READ_NONE = 1,       /* no request with that id */
    GW_METER_READ_NO_CAPTURE = 2, /* the request is there, its answer was not captured */
    GW_METER_READ_ERROR = -1,     /* err says why */
    GW_METER_READ_TIMEOUT = -2,   /* cut at the reader's time limit */
};

/* A text of a row: s is never NULL (an absent value is ""); valid during the row's callback. */
typedef struct gw_text {
    const char *s;
    size_t len;
} gw_text;

#endif
