/* SGLang. Options:
 *   api            openai (default): its /v1/chat/completions, /v1/completions and /v1/embeddings
 *                  through the OpenAI wire, extras (top_k, repetition_penalty,
 *                  chat_template_kwargs, separate_reasoning, ...) passed untouched; native: its
 *                  /generate with a prompt from chat_template (sglang_native.c)
 *   chat_template  native only; default chatml
 * The base URL is the server root. */
#include "engines/dual_api.h"
#include "engines/sglang_native.h"

typedef struct sglang_conf {
    int native;
    const gw_chat_template *tmpl; /* native: the prompt's template */
} sglang_conf;

static const gw_openai_wire sglang_wire = {
    .paths = {[GW_API_CHAT] = "/v1/chat/completions",
              [GW_API_COMPLETIONS] = "/v1/completions",
              [GW_API_EMBEDDINGS] = "/v1/embeddings"},
    /* SGLang honours stream_options.include_usage: metering then knows every stream's usage */
    .request_usage = 1,
};

static const sglang_conf sglang_default = {.native = 0, .tmpl = NULL};

static int sglang_configure(gw_channel *ch, gw_arena *arena, const gw_engine_option *options,
                            size_t count, gw_engine_config_error *err) {
    static const char *const known[] = {"api", "chat_template", NULL};
    if (gw_engine_options_check(options, count, known, "sglang", err) < 0 ||
        gw_engine_check_root_urls(ch, err) < 0)
        return -1;
    sglang_conf *c = gw_arena_alloc(arena, sizeof *c);
    *c = sglang_default;
    if (gw_dual_api_options(options, count, arena, "SGLang", "its /generate", &c->native, &c->tmpl,
                            err) < 0 ||
        gw_engine_auth_headers(ch, arena, "Authorization: Bearer ", NULL, err) < 0)
        return -1;
    ch->engine_conf = c;
    /* GET /health: 200 while the server lives (/health_generate would run a generation each
     * probe); used when health.active is on */
    ch->health.probe_path = "/health";
    return 0;
}

static const sglang_conf *conf_of(const gw_channel *ch) {
    return ch && ch->engine_conf ? ch->engine_conf : &sglang_default;
}

static int sglang_prepare(gw_req *r, const gw_target *t, gw_engine_call *call, int *status,
                          const char **err) {
    const sglang_conf *c = conf_of(t->channel);
    if (c->native) return gw_sglang_native_prepare(c->tmpl, r, call, status, err);
    return gw_openai_wire_prepare(&sglang_wire, r, t, call, status, err);
}

static int sglang_response(gw_engine_io *io, const char *body, size_t len) {
    const sglang_conf *c = conf_of(io->target->channel);
    if (c->native) return gw_sglang_native_response(c->tmpl, io, body, len);
    return gw_openai_wire_response(&sglang_wire, io, body, len);
}

static int sglang_stream_event(gw_engine_io *io, const char *event, size_t event_len,
                               const char *data, size_t len) {
    (void)event;
    (void)event_len;
    const sglang_conf *c = conf_of(io->target->channel);
    gw_dual_api_stream *s = gw_dual_api_stream_enter(io, c->native);
    int rc = c->native ? gw_sglang_native_stream_event(c->tmpl, io, data, len)
                       : gw_openai_wire_stream_event(&sglang_wire, io, data, len);
    io->state = s;
    return rc;
}

static int sglang_stream_end(gw_engine_io *io) {
    int native = conf_of(io->target->channel)->native; /* also when no event came */
    gw_dual_api_stream *s = gw_dual_api_stream_enter(io, native);
    int rc = native ? gw_sglang_native_stream_end(io) : gw_openai_wire_stream_end(io);
    io->state = s;
    return rc;
}

const gw_engine_ops gw_engine_sglang = {
    .name = "sglang",
    .configure = sglang_configure,
    .prepare = sglang_prepare,
    .response = sglang_response,
    .stream_state_size = sizeof(gw_dual_api_stream),
    .stream_event = sglang_stream_event,
    .stream_end = sglang_stream_end,
    .stream_free = gw_dual_api_stream_free,
    .models_path = "/v1/models",
    .error = gw_textgen_error,
};
