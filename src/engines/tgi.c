/* Hugging Face text-generation-inference through its own protocol: POST /generate and
 * /generate_stream with a prompt from the channel's chat template (textgen.c). The base URL is
 * the server root. Options: chat_template (default chatml). TGI's own /v1 routes would apply the
 * model's template themselves; this adapter serves the TGI deployments (and TGI-compatible
 * servers) where that route is missing or the template must be chosen here. */
#include "engines/openai_wire.h"
#include "engines/textgen.h"

static int tgi_configure(gw_channel *ch, gw_arena *arena, const gw_engine_option *options,
                         size_t count, gw_engine_config_error *err) {
    static const char *const known[] = {"chat_template", NULL};
    if (gw_engine_options_check(options, count, known, "tgi", err) < 0 ||
        gw_engine_check_root_urls(ch, err) < 0)
        return -1;
    gw_textgen_conf *c = gw_arena_alloc(arena, sizeof *c);
    *c = gw_textgen_tgi_default;
    if (!(c->tmpl = gw_textgen_template_option(options, count, arena, err))) return -1;
    if (gw_engine_auth_headers(ch, arena, "Authorization: Bearer ", NULL, err) < 0) return -1;
    ch->engine_conf = c;
    /* GET /health: 200 while the engine serves, 503 when not; used when health.active is on */
    ch->health.probe_path = "/health";
    return 0;
}

static const gw_textgen_conf *conf_of(const gw_channel *ch) {
    return ch && ch->engine_conf ? ch->engine_conf : &gw_textgen_tgi_default;
}

static int tgi_prepare(gw_req *r, const gw_target *t, gw_engine_call *call, int *status,
                       const char **err) {
    return gw_textgen_prepare(conf_of(t->channel), r, call, status, err);
}

static int tgi_response(gw_engine_io *io, const char *body, size_t len) {
    return gw_textgen_response(conf_of(io->target->channel), io, body, len);
}

static int tgi_stream_event(gw_engine_io *io, const char *event, size_t event_len, const char *data,
                            size_t len) {
    (void)event;
    (void)event_len;
    return gw_textgen_stream_event(conf_of(io->target->channel), io, data, len);
}

const gw_engine_ops gw_engine_tgi = {
    .name = "tgi",
    .configure = tgi_configure,
    .prepare = tgi_prepare,
    .response = tgi_response,
    .stream_state_size = sizeof(gw_textgen_stream),
    .stream_event = tgi_stream_event,
    .stream_end = gw_textgen_stream_end,
    .stream_free = gw_textgen_stream_free,
    /* TGI serves one model whatever name a request gives: nothing to check names against */
    .models_path = NULL,
    .error = gw_textgen_error,
};
