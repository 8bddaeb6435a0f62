/* Huawei MindIE Server. Options:
 *   api             openai (default): its /v1/chat/completions and /v1/completions through the
 *                   OpenAI wire, with MindIE's quirks (max_completion_tokens read as max_tokens,
 *                   usage inside the finish chunk); native: its TGI-style /generate and
 *                   /generate_stream with a prompt from chat_template (textgen.c)
 *   chat_template   native only; default chatml
 *   management_url  http(s)://host:port of the management port (1026 by default), where MindIE
 *                   answers /health: the inference port has none, so active health checks are
 *                   on only when this is set (health.path overrides the probed path)
 * The base URL is the inference port's root. MindIE serves no embeddings. */
#include <stdio.h>
#include <string.h>

#include "engines/dual_api.h"

typedef struct mindie_conf {
    int native;
    gw_textgen_conf textgen;
} mindie_conf;

static const gw_openai_wire mindie_wire = {
    .paths = {[GW_API_CHAT] = "/v1/chat/completions", [GW_API_COMPLETIONS] = "/v1/completions"},
    .rename_max_completion_tokens = 1,
    .usage_in_finish_chunk = 1,
};

static const char embeddings_error[] =
    "the embeddings API (/v1/embeddings) is not served by channel type mindie";

static const mindie_conf mindie_default = {
    .native = 0,
    .textgen =
        {
            .tmpl = NULL, /* chatml */
            .max_stops = 4,
            /* MindIE's details carry prompt_tokens; its parameter list has no
             * decoder_input_details */
            .decoder_input_details = 0,
            .image_error =
                "image input is not supported by channel type mindie with a text template",
            .tools_error = "tools are not supported by channel type mindie with api: native (its "
                           "text-generation protocol has no tool calling)",
            .embeddings_error = embeddings_error,
        },
};

/* http(s)://host[:port], an optional trailing slash: the health checker keeps only the scheme
 * and authority, so a path would be silently ignored. NULL when malformed. */
static const char *management_url(gw_arena *arena, const char *v) {
    size_t scheme = !strncmp(v, "http://", 7) ? 7 : !strncmp(v, "https://", 8) ? 8 : 0;
    if (!scheme) return NULL;
    size_t len = strlen(v);
    if (len > scheme && v[len - 1] == '/') len--;
    size_t authority = strcspn(v + scheme, "/?# \t\r\n");
    if (!authority || scheme + authority != len) return NULL;
    return gw_arena_strndup(arena, v, len);
}

static int mindie_configure(gw_channel *ch, gw_arena *arena, const gw_engine_option *options,
                            size_t count, gw_engine_config_error *err) {
    static const char *const known[] = {"api", "chat_template", "management_url", NULL};
    if (gw_engine_options_check(options, count, known, "mindie", err) < 0 ||
        gw_engine_check_root_urls(ch, err) < 0)
        return -1;
    mindie_conf *c = gw_arena_alloc(arena, sizeof *c);
    *c = mindie_default;
    if (gw_dual_api_options(options, count, arena, "MindIE", "its TGI-style /generate", &c->native,
                            &c->textgen.tmpl, err) < 0)
        return -1;
    const gw_engine_option *mgmt = gw_engine_option_get(options, count, "management_url");
    const char *url = mgmt ? management_url(arena, mgmt->value) : NULL;
    if (mgmt && !url) {
        snprintf(err->message, sizeof err->message,
                 "management_url must be http(s)://host:port of MindIE's management port (no "
                 "path), found '%s'",
                 mgmt->value);
        err->option = (int)(mgmt - options);
        return -1;
    }
    if (gw_engine_auth_headers(ch, arena, "Authorization: Bearer ", NULL, err) < 0) return -1;
    ch->engine_conf = c;
    if (url) {
        ch->health.base_url = url;
        ch->health.probe_path = "/health"; /* 200 empty; 500/503 when abnormal */
        if (!ch->health.path) ch->health.path = ch->health.probe_path;
        ch->health.active = 1;
    }
    return 0;
}

static const mindie_conf *conf_of(const gw_channel *ch) {
    return ch && ch->engine_conf ? ch->engine_conf : &mindie_default;
}

static int mindie_prepare(gw_req *r, const gw_target *t, gw_engine_call *call, int *status,
                          const char **err) {
    const mindie_conf *c = conf_of(t->channel);
    if (r->api == GW_API_EMBEDDINGS) {
        *status = 400;
        *err = embeddings_error;
        return -1;
    }
    if (c->native) return gw_textgen_prepare(&c->textgen, r, call, status, err);
    return gw_openai_wire_prepare(&mindie_wire, r, t, call, status, err);
}

static int mindie_response(gw_engine_io *io, const char *body, size_t len) {
    const mindie_conf *c = conf_of(io->target->channel);
    if (c->native) return gw_textgen_response(&c->textgen, io, body, len);
    return gw_openai_wire_response(&mindie_wire, io, body, len);
}

static int mindie_stream_event(gw_engine_io *io, const char *event, size_t event_len,
                               const char *data, size_t len) {
    (void)event;
    (void)event_len;
    const mindie_conf *c = conf_of(io->target->channel);
    gw_dual_api_stream *s = gw_dual_api_stream_enter(io, c->native);
    int rc = c->native ? gw_textgen_stream_event(&c->textgen, io, data, len)
                       : gw_openai_wire_stream_event(&mindie_wire, io, data, len);
    io->state = s;
    return rc;
}

static int mindie_stream_end(gw_engine_io *io) {
    int native = conf_of(io->target->channel)->native; /* also when no event came */
    gw_dual_api_stream *s = gw_dual_api_stream_enter(io, native);
    int rc = native ? gw_textgen_stream_end(io) : gw_openai_wire_stream_end(io);
    io->state = s;
    return rc;
}

const gw_engine_ops gw_engine_mindie = {
    .name = "mindie",
    .configure = mindie_configure,
    .prepare = mindie_prepare,
    .response = mindie_response,
    .stream_state_size = sizeof(gw_dual_api_stream),
    .stream_event = mindie_stream_event,
    .stream_end = mindie_stream_end,
    .stream_free = gw_dual_api_stream_free,
    /* `model` must equal MindIE's modelName on its OpenAI route: the probe checks it */
    .models_path = "/v1/models",
    .error = gw_textgen_error,
};
