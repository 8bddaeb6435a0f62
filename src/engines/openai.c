/* The adapters of the OpenAI wire: `openai` (OpenAI itself and any compatible API: DeepSeek,
 * Qwen's compatible mode, Ollama, llama.cpp's server; base_url is the API base, ending in /v1),
 * `vllm` (its server root; extras such as top_k or chat_template_kwargs pass untouched) and
 * `azure` (deployment URLs with api-version, the api-key header). SGLang and MindIE use the same
 * wire from their own files. */
#include <stdio.h>
#include <string.h>

#include "core/error_parse.h"
#include "engines/openai_wire.h"

/* request_usage: "true"/"false"; -1 with err otherwise. */
static int option_bool(const gw_engine_option *options, size_t count, const char *key, int *out,
                       gw_engine_config_error *err) {
    const gw_engine_option *o = gw_engine_option_get(options, count, key);
    if (!o) return 0;
    if (!strcmp(o->value, "true") || !strcmp(o->value, "yes") || !strcmp(o->value, "on")) {
        *out = 1;
    } else if (!strcmp(o->value, "false") || !strcmp(o->value, "no") || !strcmp(o->value, "off")) {
        *out = 0;
    } else {
        snprintf(err->message, sizeof err->message, "expected true or false for %s, found '%s'",
                 key, o->value);
        err->option = (int)(o - options);
        return -1;
    }
    return 0;
}

/* The header line "name: value" in the snapshot's arena. */
static const char *header_line(gw_arena *arena, const char *name, const char *value) {
    size_t len = strlen(name) + 2 + strlen(value) + 1;
    char *line = gw_arena_alloc(arena, len);
    snprintf(line, len, "%s: %s", name, value);
    return line;
}

/* vLLM's and SGLang's base URL is the server root: /v1 belongs to the paths. */
int gw_engine_check_root_urls(const gw_channel *ch, gw_engine_config_error *err) {
    for (size_t i = 0; i < ch->endpoint_url_count; i++) {
        const char *url = ch->endpoint_urls[i];
        size_t len = strlen(url);
        while (len && url[len - 1] == '/')
            len--;
        if (len >= 3 && !memcmp(url + len - 3, "/v1", 3)) {
            snprintf(err->message, sizeof err->message,
                     "type %s takes the server's root URL, without /v1 (found '%s'); the adapter "
                     "adds the API paths itself",
                     ch->type, url);
            return -1;
        }
    }
    return 0;
}

static const gw_openai_wire *wire_of(const gw_target *t) {
    return t->channel->engine_conf;
}

static int family_prepare(gw_req *r, const gw_target *t, gw_engine_call *call, int *status,
                          const char **err) {
    return gw_openai_wire_prepare(wire_of(t), r, t, call, status, err);
}
static int family_response(gw_engine_io *io, const char *body, size_t len) {
    return gw_openai_wire_response(wire_of(io->target), io, body, len);
}
static int family_stream_event(gw_engine_io *io, const char *event, size_t event_len,
                               const char *data, size_t len) {
    (void)event;
    (void)event_len;
    return gw_openai_wire_stream_event(wire_of(io->target), io, data, len);
}
static void family_error(int status, const char *body, size_t len, gw_error_info *e, char *msg,
                         size_t msg_cap) {
    gw_error_parse(status, body, len, e, msg, msg_cap);
}

static gw_openai_wire *new_wire(gw_arena *arena, const char *chat, const char *completions,
                                const char *embeddings) {
    gw_openai_wire *w = gw_arena_alloc(arena, sizeof *w);
    memset(w, 0, sizeof *w);
    w->paths[GW_API_CHAT] = chat;
    w->paths[GW_API_COMPLETIONS] = completions;
    w->paths[GW_API_EMBEDDINGS] = embeddings;
    w->request_usage = 1;
    return w;
}

static int openai_configure(gw_channel *ch, gw_arena *arena, const gw_engine_option *options,
                            size_t count, gw_engine_config_error *err) {
    static const char *const known[] = {"organization", "project", "request_usage", NULL};
    if (gw_engine_options_check(options, count, known, ch->type, err) < 0) return -1;
    gw_openai_wire *w = new_wire(arena, "/chat/completions", "/completions", "/embeddings");
    if (option_bool(options, count, "request_usage", &w->request_usage, err) < 0) return -1;
    const char *extra[3] = {NULL};
    size_t n = 0;
    const gw_engine_option *o;
    if ((o = gw_engine_option_get(options, count, "organization")))
        extra[n++] = header_line(arena, "OpenAI-Organization", o->value);
    if ((o = gw_engine_option_get(options, count, "project")))
        extra[n++] = header_line(arena, "OpenAI-Project", o->value);
    ch->engine_conf = w;
    return gw_engine_auth_headers(ch, arena, "Authorization: Bearer ", extra, err);
}

static int vllm_configure(gw_channel *ch, gw_arena *arena, const gw_engine_option *options,
                          size_t count, gw_engine_config_error *err) {
    static const char *const known[] = {"request_usage", NULL};
    if (gw_engine_options_check(options, count, known, ch->type, err) < 0 ||
        gw_engine_check_root_urls(ch, err) < 0)
        return -1;
    gw_openai_wire *w =
        new_wire(arena, "/v1/chat/completions", "/v1/completions", "/v1/embeddings");
    if (option_bool(options, count, "request_usage", &w->request_usage, err) < 0) return -1;
    ch->engine_conf = w;
    ch->health.probe_path = "/health"; /* 200 while the engine lives; /health is never keyed */
    return gw_engine_auth_headers(ch, arena, "Authorization: Bearer ", NULL, err);
}

/* A deployment name goes into the URL path: letters, digits, '.', '_' and '-' only. */
static int plain_name(const char *s) {
    if (!*s) return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '.' || *s == '_' || *s == '-'))
            return 0;
    return 1;
}

static const char *azure_path(gw_arena *arena, const char *deployment, const char *api,
                              const char *version) {
    size_t len = strlen(deployment) + strlen(api) + strlen(version) + 48;
    char *path = gw_arena_alloc(arena, len);
    snprintf(path, len, "/openai/deployments/%s/%s?api-version=%s", deployment, api, version);
    return path;
}

static int azure_configure(gw_channel *ch, gw_arena *arena, const gw_engine_option *options,
                           size_t count, gw_engine_config_error *err) {
    static const char *const known[] = {"deployment", "api_version", "request_usage", NULL};
    if (gw_engine_options_check(options, count, known, ch->type, err) < 0) return -1;
    const gw_engine_option *dep = gw_engine_option_get(options, count, "deployment");
    const gw_engine_option *ver = gw_engine_option_get(options, count, "api_version");
    if (!dep) {
        snprintf(err->message, sizeof err->message,
                 "type azure needs deployment (the Azure OpenAI deployment's name)");
        return -1;
    }
    if (!plain_name(dep->value) || (ver && !plain_name(ver->value))) {
        const gw_engine_option *bad = plain_name(dep->value) ? ver : dep;
        snprintf(err->message, sizeof err->message,
                 "%s may hold only letters, digits, '.', '_' and '-', found '%s'", bad->key,
                 bad->value);
        err->option = (int)(bad - options);
        return -1;
    }
    /* the latest GA version when this adapter was written; override per channel */
    const char *version = ver ? ver->value : "2024-10-21";
    gw_openai_wire *w = new_wire(arena, azure_path(arena, dep->value, "chat/completions", version),
                                 azure_path(arena, dep->value, "completions", version),
                                 azure_path(arena, dep->value, "embeddings", version));
    if (option_bool(options, count, "request_usage", &w->request_usage, err) < 0) return -1;
    ch->engine_conf = w;
    return gw_engine_auth_headers(ch, arena, "api-key: ", NULL, err);
}

#define OPENAI_FAMILY(var, engine_name, configure_fn, models)                                      \
    const gw_engine_ops var = {                                                                    \
        .name = engine_name,                                                                       \
        .configure = configure_fn,                                                                 \
        .models_path = models,                                                                     \
        .prepare = family_prepare,                                                                 \
        .response = family_response,                                                               \
        .stream_state_size = sizeof(gw_openai_stream),                                             \
        .stream_event = family_stream_event,                                                       \
        .stream_end = gw_openai_wire_stream_end,                                                   \
        .error = family_error,                                                                     \
    }

OPENAI_FAMILY(gw_engine_openai, "openai", openai_configure, "/models");
OPENAI_FAMILY(gw_engine_vllm, "vllm", vllm_configure, "/v1/models");
/* Azure lists models per resource, not per deployment: nothing to check a deployment against */
OPENAI_FAMILY(gw_engine_azure, "azure", azure_configure, NULL);
