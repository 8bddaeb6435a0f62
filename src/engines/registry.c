#include <string.h>

#include "engines/engine.h"

static const gw_engine_ops *const engines[] = {
    &gw_engine_openai, &gw_engine_vllm,  &gw_engine_sglang,    &gw_engine_mindie,
    &gw_engine_tgi,    &gw_engine_azure, &gw_engine_anthropic, NULL,
};

const gw_engine_ops *gw_engine_find(const char *name) {
    for (size_t i = 0; engines[i]; i++)
        if (!strcmp(engines[i]->name, name)) return engines[i];
    return NULL;
}

const char *gw_engine_names(void) {
    return "openai, vllm, sglang, mindie, tgi, azure, anthropic";
}
