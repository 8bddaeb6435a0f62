/* The `api: openai | native` choice of MindIE and SGLang (see dual_api.h). */
#include "engines/dual_api.h"

#include <stdio.h>
#include <string.h>

int gw_dual_api_options(const gw_engine_option *options, size_t count, gw_arena *arena,
                        const char *engine, const char *native_route, int *native,
                        const gw_chat_template **tmpl, gw_engine_config_error *err) {
    const gw_engine_option *api = gw_engine_option_get(options, count, "api");
    *native = 0;
    if (api) {
        if (!strcmp(api->value, "native")) {
            *native = 1;
        } else if (strcmp(api->value, "openai")) {
            snprintf(err->message, sizeof err->message,
                     "api must be openai (%s's /v1 routes) or native (%s), found '%s'", engine,
                     native_route, api->value);
            err->option = (int)(api - options);
            return -1;
        }
    }
    const gw_engine_option *t = gw_engine_option_get(options, count, "chat_template");
    if (t && !*native) {
        snprintf(err->message, sizeof err->message,
                 "chat_template applies to api: native only (%s's OpenAI route applies the "
                 "model's own template)",
                 engine);
        err->option = (int)(t - options);
        return -1;
    }
    if (*native && !(*tmpl = gw_textgen_template_option(options, count, arena, err))) return -1;
    return 0;
}

gw_dual_api_stream *gw_dual_api_stream_enter(gw_engine_io *io, int native) {
    gw_dual_api_stream *s = io->state;
    s->native = native;
    io->state = native ? (void *)&s->u.textgen : (void *)&s->u.openai;
    return s;
}

void gw_dual_api_stream_free(void *state) {
    gw_dual_api_stream *s = state;
    if (s->native) gw_textgen_stream_free(&s->u.textgen);
}
