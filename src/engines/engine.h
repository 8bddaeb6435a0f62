/* An engine adapter owns the whole upstream exchange for one wire protocol: per channel it reads
 * its own config keys, builds the channel's fixed headers (its authentication style, versions)
 * and declares its health probe; per attempt it chooses the method, path and body; per stream it
 * keeps its own state and turns each event (name and data) into canonical OpenAI chunks; it
 * normalizes errors and usage. The proxy, the routing and the attempt know none of this.
 *
 * Adapters write canonical OpenAI JSON only: the caller's protocol (r->protocol, OpenAI's or
 * Anthropic's) frames and converts it, so every adapter serves every inbound dialect. */
#ifndef AIGW_ENGINES_ENGINE_H
#define AIGW_ENGINES_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/strbuf.h"
#include "core/protocol-t.h"
#include "core/request-t.h"

struct evbuffer;

/* A channel key the generic loader does not know, handed to the channel's adapter. */
typedef struct gw_engine_option {
    const char *key;
    const char *value; /* a scalar, ${VAR} already expanded */
    int line, column;
} gw_engine_option;

/* What configure reports: message, and which option it concerns (-1: the channel). */
typedef struct gw_engine_config_error {
    char message[300];
    int option;
} gw_engine_config_error;

/* One attempt's request, chosen by prepare. */
typedef struct gw_engine_call {
    const char *path; /* appended to the endpoint's base URL (query included), e.g. "/generate" */
    const char *body; /* r->body when unchanged, else owned_body */
    size_t body_len;
    char *owned_body; /* malloc'd by the adapter, freed with the attempt */
} gw_engine_call;

/* The context of one answer's translation: the request, its target, the adapter's per-stream
 * state and where the caller's bytes go. An adapter fills err (malformed input) or error (the
 * engine reported an error inside a 2xx answer or stream). */
typedef struct gw_engine_io {
    gw_req *r;
    const gw_target *target;
    void *state;          /* stream_state_size bytes, zeroed when the stream begins */
    struct evbuffer *out; /* a whole answer in the caller's dialect, handed on without a copy */
    /* a stream's frames in the caller's dialect, flat: written once, sent from here (the
     * attempt lends it the worker thread's buffer for an upstream read, and empties it when the
     * read's frames are sent) */
    gw_strbuf frames;
    const char *err;
    gw_error_info error;
    char error_message[512];
    int blocked; /* a response guard ended the answer with io->error */
} gw_engine_io;

enum {
    GW_EVENT_CONTINUE = 0,
    GW_EVENT_END = 1,        /* the terminal event: the stream is complete, closing frames out */
    GW_EVENT_MALFORMED = -1, /* io->err says why */
    GW_EVENT_ERROR = -2,     /* the engine reported an error mid-stream: io->error */
};

typedef struct gw_engine_ops {
    const char *name;
    /* Per channel, when the config loads (control thread): reads the adapter's own options
     * (unknown ones are errors), sets ch->engine_conf (arena memory), ch->headers and the
     * health probe defaults. -1 with err on a bad setting. */
    int (*configure)(gw_channel *ch, gw_arena *arena, const gw_engine_option *options,
                     size_t option_count, gw_engine_config_error *err);
    /* Per attempt: the path and body for r (canonical OpenAI request in r->json / r->body) at
     * target t. -1 with *status (400: the request cannot be served by this engine; 500: the
     * gateway failed) and *err. */
    int (*prepare)(gw_req *r, const gw_target *t, gw_engine_call *call, int *status,
                   const char **err);
    /* A whole 2xx answer. 0, -1 malformed (io->err), GW_EVENT_ERROR (io->error). */
    int (*response)(gw_engine_io *io, const char *body, size_t len);
    /* Streams: one SSE event (event is the `event:` name, empty when none). */
    size_t stream_state_size;
    int (*stream_event)(gw_engine_io *io, const char *event, size_t event_len, const char *data,
                        size_t len);
    /* The engine closed the stream without a terminal event: write the closing frames and
     * return 0 when that is how this engine ends a complete stream, else -1 (cut). */
    int (*stream_end)(gw_engine_io *io);
    void (*stream_free)(void *state); /* NULL: the state holds nothing to free */
    /* GET this path of an endpoint lists the engine's models (`aigw check --probe`); NULL: the
     * engine has no such list. */
    const char *models_path;
    /* An error answer (status >= 400) of the engine's shape, normalized; the message is copied
     * into msg. */
    void (*error)(int status, const char *body, size_t len, gw_error_info *e, char *msg,
                  size_t msg_cap);
} gw_engine_ops;

const gw_engine_ops *gw_engine_find(const char *name);
const char *gw_engine_names(void); /* "openai, vllm, ..." for config errors */

extern const gw_engine_ops gw_engine_openai, gw_engine_vllm, gw_engine_sglang, gw_engine_azure,
    gw_engine_mindie, gw_engine_tgi, gw_engine_anthropic;

/* --- helpers for adapters --- */

/* The option named key, or NULL. */
const gw_engine_option *gw_engine_option_get(const gw_engine_option *options, size_t count,
                                             const char *key);
/* -1 with err when an option is not in `known` (NULL-terminated). */
int gw_engine_options_check(const gw_engine_option *options, size_t count, const char *const *known,
                            const char *engine, gw_engine_config_error *err);
/* The channel's fixed headers: Content-Type, an empty Expect, and `auth` when not NULL (a whole
 * header line such as "x-api-key: ..."); extra lines after it. NULL when out of memory. */
struct curl_slist *gw_engine_headers(const char *auth, const char *const *extra);

/* ch->headers: gw_engine_headers with the channel's api_key, when it has one, as the line
 * auth_prefix + key ("Authorization: Bearer ", "x-api-key: "). -1 with err when the key holds a
 * line break or memory runs out. */
int gw_engine_auth_headers(gw_channel *ch, gw_arena *arena, const char *auth_prefix,
                           const char *const *extra, gw_engine_config_error *err);

/* {"id":"<id_prefix><id>","object":"<object>","created":<created>,"model":"" — how a canonical
 * answer or chunk begins, id escaped. Returns where the model's "" begins (b's last 2 bytes):
 * the caller's protocol writes the model name the caller asked for there. */
size_t gw_engine_add_head(gw_strbuf *b, const char *id_prefix, const char *id, size_t id_len,
                          const char *object, int64_t created);
/* The end of a canonical choice: ,"logprobs":null,"finish_reason": and finish, quoted, or null
 * (NULL: a chunk before the last). */
void gw_engine_add_finish(gw_strbuf *b, const char *finish);

/* Canonical output through the request's response guards (when it has any) and the caller's
 * protocol. A guard that ends the answer sets io->blocked; the emit then returns -1. */
int gw_emit_response(gw_engine_io *io, const char *json, size_t len, size_t model_start,
                     size_t model_end);
int gw_emit_chunk(gw_engine_io *io, const char *json, size_t len, size_t model_start,
                  size_t model_end);
void gw_emit_end(gw_engine_io *io);
/* The same for an adapter that already estimated the generated texts of json (metering's
 * count while the engine reports no usage) in the scan it made anyway: `generated` tokens,
 * counted unless the usage is known by now. The response guards estimate what they release
 * themselves: with guards, pass 0. */
int gw_emit_response_counted(gw_engine_io *io, const char *json, size_t len, size_t model_start,
                             size_t model_end, int64_t generated);
int gw_emit_chunk_counted(gw_engine_io *io, const char *json, size_t len, size_t model_start,
                          size_t model_end, int64_t generated);
/* The same without the guards (they use these themselves). */
int gw_emit_response_raw(gw_engine_io *io, const char *json, size_t len, size_t model_start,
                         size_t model_end);
int gw_emit_chunk_raw(gw_engine_io *io, const char *json, size_t len, size_t model_start,
                      size_t model_end);
/* src/engines/text_guard.c */
int gw_text_guard_chunk(gw_engine_io *io, const char *json, size_t len, size_t model_start,
                        size_t model_end);
int gw_text_guard_response(gw_engine_io *io, const char *json, size_t len, size_t model_start,
                           size_t model_end);
int gw_text_guard_end(gw_engine_io *io);
/* Fills io->error from an engine's error object of any shape; returns GW_EVENT_ERROR. */
int gw_engine_fail(gw_engine_io *io, int status, const char *body, size_t len);

#endif
