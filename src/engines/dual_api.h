/* Engines that speak two protocols, one chosen per channel with `api`: openai, the engine's
 * OpenAI-compatible /v1 routes through openai_wire.c, or native, its own text-generation route
 * with a prompt from `chat_template` (MindIE, SGLang). Here: reading those two options, and the
 * stream state that holds either route's. */
#ifndef AIGW_ENGINES_DUAL_API_H
#define AIGW_ENGINES_DUAL_API_H

#include "engines/chat_template.h"
#include "engines/engine.h"
#include "engines/openai_wire.h"
#include "engines/textgen.h"

/* Reads `api` (openai when absent) into *native, and for native `chat_template` into *tmpl
 * (chatml when absent; left alone for openai). engine ("MindIE") and native_route ("its
 * /generate") go into the messages. -1 with err: api neither openai nor native, chat_template
 * without api: native, a template that does not load. */
int gw_dual_api_options(const gw_engine_option *options, size_t count, gw_arena *arena,
                        const char *engine, const char *native_route, int *native,
                        const gw_chat_template **tmpl, gw_engine_config_error *err);

/* The stream state of either route (the adapter's stream_state_size); `native` says which, so
 * stream_free knows what it holds. */
typedef struct gw_dual_api_stream {
    int native;
    union {
        gw_openai_stream openai;
        gw_textgen_stream textgen;
    } u;
} gw_dual_api_stream;

/* The routes read io->state as their own state: this records which route the stream takes,
 * points io->state at that route's part and returns the whole, which the caller puts back in
 * io->state once the route returned. */
gw_dual_api_stream *gw_dual_api_stream_enter(gw_engine_io *io, int native);
void gw_dual_api_stream_free(void *state);

#endif
