/* The settings of the sensitive-words guard (guards.words), parsed by the config loader. */
#ifndef AIGW_FILTERS_WORDS_GUARD_H
#define AIGW_FILTERS_WORDS_GUARD_H

#include "security/words.h"

typedef struct gw_words_guard_conf {
    gw_words *matcher; /* owned by the snapshot (freed with it) */
    gw_words_action action;
    int on_request, on_response;
} gw_words_guard_conf;

#endif
