#include <string.h>

#include "engines/engine.h"

static const gw_engine_ops *const engines[] = {&gw_engine_openai, NULL};

const gw_engine_ops *gw_engine_find(const char *name) {
    for (size_t i = 0; engines[i]; i++)
        if (!strcmp(engines[i]->name, name)) return engines[i];
    return NULL;
}

const char *gw_engine_names(void) {
    return "openai";
}
