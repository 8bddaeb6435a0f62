/* Anthropic's Messages API (POST /v1/messages) behind the OpenAI-compatible entry point: the
 * canonical chat request is rebuilt as a Messages body (anthropic_request.c), and answers,
 * streams and errors come back as canonical OpenAI JSON (anthropic_response.c,
 * anthropic_stream.c). Here: the channel's settings and headers, the shared helpers and the
 * normalization of errors into OpenAI's vocabulary. */
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/error_parse.h"
#include "core/request_json.h"
#include "engines/anthropic_wire.h"

const gw_anthropic_conf gw_anthropic_conf_default = {
    .version = GW_ANTHROPIC_DEFAULT_VERSION,
    .beta = NULL,
    .default_max_tokens = GW_ANTHROPIC_DEFAULT_MAX_TOKENS,
};

size_t gw_anthropic_write_head(gw_strbuf *b, json_object *id, const char *object) {
    int is_id = id && json_object_is_type(id, json_type_string); /* "msg_..." */
    return gw_engine_add_head(b, "chatcmpl-", is_id ? json_object_get_string(id) : "",
                              is_id ? (size_t)json_object_get_string_len(id) : 0, object,
                              (int64_t)time(NULL));
}

const char *gw_anthropic_finish_reason(const char *stop_reason) {
    if (!stop_reason) return NULL;
    if (!strcmp(stop_reason, "max_tokens") || !strcmp(stop_reason, "model_context_window_exceeded"))
        return "length";
    if (!strcmp(stop_reason, "tool_use")) return "tool_calls";
    if (!strcmp(stop_reason, "refusal")) return "content_filter";
    /* end_turn, stop_sequence, pause_turn (a server tool paused the turn: the caller may go
     * on), and reasons Anthropic adds later */
    return "stop";
}

/* Far above any real count, low enough that sums of a few never overflow int64. */
#define COUNT_MAX ((int64_t)1 << 50)

/* A count that is present and a number; absent and null ones leave *v alone. */
static void read_count(json_object *obj, const char *key, int64_t *v) {
    json_object *n;
    if (!json_object_object_get_ex(obj, key, &n)) return;
    if (json_object_is_type(n, json_type_int) || json_object_is_type(n, json_type_double)) {
        int64_t x = json_object_get_int64(n);
        *v = x < 0 ? 0 : x > COUNT_MAX ? COUNT_MAX : x;
    }
}

void gw_anthropic_usage_read(json_object *usage, gw_usage *u, int64_t *input_tokens) {
    if (!usage || !json_object_is_type(usage, json_type_object)) return;
    read_count(usage, "input_tokens", input_tokens);
    read_count(usage, "output_tokens", &u->completion_tokens);
    read_count(usage, "cache_read_input_tokens", &u->cached_tokens);
    read_count(usage, "cache_creation_input_tokens", &u->cache_creation_tokens);
    /* Anthropic's input_tokens leaves out what the cache served or stored; OpenAI's
     * prompt_tokens counts every input token */
    u->prompt_tokens = *input_tokens + u->cached_tokens + u->cache_creation_tokens;
    u->known = 1;
}

void gw_anthropic_usage_write(gw_strbuf *b, const gw_usage *u) {
    int64_t total = u->prompt_tokens + u->completion_tokens; /* each at most 3 * COUNT_MAX */
    gw_strbuf_adds(b, "{\"prompt_tokens\":");
    gw_strbuf_add_int(b, u->prompt_tokens);
    gw_strbuf_adds(b, ",\"completion_tokens\":");
    gw_strbuf_add_int(b, u->completion_tokens);
    gw_strbuf_adds(b, ",\"total_tokens\":");
    gw_strbuf_add_int(b, total);
    gw_strbuf_adds(b, ",\"prompt_tokens_details\":{\"cached_tokens\":");
    gw_strbuf_add_int(b, u->cached_tokens);
    gw_strbuf_adds(b, "}}");
}

int gw_anthropic_error_status(const char *type) {
    static const struct {
        const char *type;
        int status;
    } statuses[] = {
        {"invalid_request_error", 400},
        {"authentication_error", 401},
        {"billing_error", 402},
        {"permission_error", 403},
        {"not_found_error", 404},
        {"request_too_large", 413},
        {"rate_limit_error", 429},
        {"api_error", 500},
        {"timeout_error", 504},
        /* 529 upstream; OpenAI clients know 503 as "try again later" */
        {"overloaded_error", 503},
    };
    for (size_t i = 0; type && i < sizeof statuses / sizeof statuses[0]; i++)
        if (!strcmp(type, statuses[i].type)) return statuses[i].status;
    return 500;
}

/* Whether the message (not NUL-terminated) mentions the model, as Anthropic's 404 for an
 * unknown model does ("model: claude-x"). */
static int mentions_model(const char *s, size_t len) {
    for (size_t i = 0; i + 5 <= len; i++)
        if (!strncasecmp(s + i, "model", 5)) return 1;
    return 0;
}

void gw_anthropic_error_map(gw_error_info *e) {
    if (e->status == 529) e->status = 503;
    const char *type = e->type;
    if (!type) return; /* the caller's protocol picks the type that goes with the status */
    if (!strcmp(type, "invalid_request_error") || !strcmp(type, "authentication_error") ||
        !strcmp(type, "permission_error")) {
        return; /* the same words in both vocabularies */
    } else if (!strcmp(type, "rate_limit_error")) {
        e->type = "rate_limit_exceeded";
    } else if (!strcmp(type, "overloaded_error")) {
        e->type = "server_error";
        e->code = "overloaded";
    } else if (!strcmp(type, "api_error") || !strcmp(type, "timeout_error")) {
        e->type = "server_error";
    } else if (!strcmp(type, "not_found_error")) {
        e->type = "invalid_request_error";
        if (mentions_model(e->message, e->message_len)) e->code = "model_not_found";
    } else if (!strcmp(type, "request_too_large")) {
        e->type = "invalid_request_error";
    } else {
        /* a type OpenAI clients would not know (billing_error, later ones): the status decides,
         * and the message still says what Anthropic said */
        e->type = NULL;
    }
}

int gw_anthropic_fail(gw_engine_io *io, json_object *root, const char *text, size_t len) {
    json_object *error, *type;
    const char *name = NULL;
    if (root && json_object_object_get_ex(root, "error", &error) &&
        json_object_object_get_ex(error, "type", &type) &&
        json_object_is_type(type, json_type_string))
        name = json_object_get_string(type);
    int rc = gw_engine_fail(io, gw_anthropic_error_status(name), text, len);
    gw_anthropic_error_map(&io->error);
    return rc;
}

/* A header value from the config: one line, bounded. */
static int header_value_ok(const char *v) {
    return v && *v && strlen(v) <= 200 && !strpbrk(v, "\r\n");
}

static int anthropic_configure(gw_channel *ch, gw_arena *arena, const gw_engine_option *options,
                               size_t option_count, gw_engine_config_error *err) {
    static const char *const known[] = {"anthropic_version", "anthropic_beta", "default_max_tokens",
                                        NULL};
    if (gw_engine_options_check(options, option_count, known, "anthropic", err) < 0) return -1;
    gw_anthropic_conf *conf = gw_arena_alloc(arena, sizeof *conf);
    *conf = gw_anthropic_conf_default;

    const gw_engine_option *o;
    if ((o = gw_engine_option_get(options, option_count, "anthropic_version"))) {
        if (!header_value_ok(o->value)) {
            snprintf(err->message, sizeof err->message,
                     "anthropic_version must be a version date such as %s (one line, at most 200 "
                     "characters)",
                     GW_ANTHROPIC_DEFAULT_VERSION);
            err->option = (int)(o - options);
            return -1;
        }
        conf->version = gw_arena_strdup(arena, o->value);
    }
    if ((o = gw_engine_option_get(options, option_count, "anthropic_beta"))) {
        if (!header_value_ok(o->value)) {
            snprintf(err->message, sizeof err->message,
                     "anthropic_beta must name one or more beta features, comma-separated (one "
                     "line, at most 200 characters)");
            err->option = (int)(o - options);
            return -1;
        }
        conf->beta = gw_arena_strdup(arena, o->value);
    }
    if ((o = gw_engine_option_get(options, option_count, "default_max_tokens"))) {
        char *end = NULL;
        errno = 0;
        long long v = o->value ? strtoll(o->value, &end, 10) : 0;
        if (!o->value || end == o->value || *end || errno || v < 1 ||
            v > GW_ANTHROPIC_MAX_MAX_TOKENS) {
            snprintf(err->message, sizeof err->message,
                     "default_max_tokens must be an integer from 1 to %d (Anthropic requires "
                     "max_tokens; this is sent when the request gives none)",
                     GW_ANTHROPIC_MAX_MAX_TOKENS);
            err->option = (int)(o - options);
            return -1;
        }
        conf->default_max_tokens = v;
    }

    const char *extra[3] = {NULL, NULL, NULL};
    size_t vlen = strlen("anthropic-version: ") + strlen(conf->version) + 1;
    char *version = gw_arena_alloc(arena, vlen);
    snprintf(version, vlen, "anthropic-version: %s", conf->version);
    extra[0] = version;
    if (conf->beta) {
        size_t blen = strlen("anthropic-beta: ") + strlen(conf->beta) + 1;
        char *beta = gw_arena_alloc(arena, blen);
        snprintf(beta, blen, "anthropic-beta: %s", conf->beta);
        extra[1] = beta;
    }
    /* Anthropic authenticates with x-api-key, not Authorization: Bearer */
    if (gw_engine_auth_headers(ch, arena, "x-api-key: ", extra, err) < 0) return -1;
    ch->engine_conf = conf;
    /* Anthropic has no health endpoint to probe: ch->health stays as the loader set it */
    return 0;
}

static int anthropic_prepare(gw_req *r, const gw_target *t, gw_engine_call *call, int *status,
                             const char **err) {
    if (r->api == GW_API_COMPLETIONS || r->api == GW_API_EMBEDDINGS) {
        *status = 400;
        *err = r->api == GW_API_COMPLETIONS
                   ? "the completions API (/v1/completions) is not served by this model's engine "
                     "(anthropic); use /v1/chat/completions"
                   : "the embeddings API (/v1/embeddings) is not served by this model's engine "
                     "(anthropic)";
        return -1;
    }
    json_object *req = gw_req_json(r);
    if (!req && r->json_deferred) {
        *status = 503;
        *err = "out of memory";
        return -1;
    }
    if (!req) {
        *status = 500;
        *err = "the request was not parsed before it reached the engine";
        return -1;
    }
    const gw_anthropic_conf *conf = t->channel && t->channel->engine_conf
                                        ? t->channel->engine_conf
                                        : &gw_anthropic_conf_default;
    const char *model = t->upstream_model;
    size_t model_len = t->upstream_model_len;
    if (!model) { /* unset: the channel serves the virtual name */
        model = r->model_name;
        model_len = r->model_name_len;
    }
    char *body = NULL;
    size_t len = 0;
    if (gw_anthropic_request(conf, req, model ? model : "", model ? model_len : 0, r->stream, &body,
                             &len, status, err) < 0)
        return -1;
    call->path = "/v1/messages";
    call->owned_body = body;
    call->body = body;
    call->body_len = len;
    return 0;
}

static void anthropic_error(int status, const char *body, size_t len, gw_error_info *e, char *msg,
                            size_t msg_cap) {
    gw_error_parse(status, body, len, e, msg, msg_cap);
    gw_anthropic_error_map(e);
}

const gw_engine_ops gw_engine_anthropic = {
    .name = "anthropic",
    .configure = anthropic_configure,
    .prepare = anthropic_prepare,
    .response = gw_anthropic_response,
    .stream_state_size = sizeof(gw_anthropic_stream),
    .stream_event = gw_anthropic_stream_event,
    .stream_end = gw_anthropic_stream_end,
    .stream_free = gw_anthropic_stream_free,
    .error = anthropic_error,
    .models_path = "/v1/models", /* with x-api-key and anthropic-version, as every call */
};
