/* The settings of the PII guard (guards.pii), parsed by the config loader. */
#ifndef AIGW_FILTERS_PII_GUARD_H
#define AIGW_FILTERS_PII_GUARD_H

#include "security/pii.h"

typedef struct gw_pii_guard_conf {
    gw_pii_set *set; /* owned by the snapshot (freed with it) */
    int restores;    /* some detector restores: requests keep a table, answers are restored */
    int on_request;  /* the detectors run on requests (the default) */
    int on_response; /* and on answers (on: [response]) */
    /* the custom patterns as configured (arena memory): the capture redactor masks them too */
    const gw_pii_custom_desc *custom;
    size_t custom_count;
} gw_pii_guard_conf;

#endif
