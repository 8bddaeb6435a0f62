/* The Anthropic Messages API adapter's parts, shared by src/engines/anthropic*.c only: the
 * canonical (OpenAI) chat request turned into a Messages body, a whole message turned into a
 * chat.completion, and stream events turned into chat.completion.chunks. */
#ifndef AIGW_ENGINES_ANTHROPIC_WIRE_H
#define AIGW_ENGINES_ANTHROPIC_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "core/strbuf.h"
#include "engines/engine.h"

struct json_object;

enum {
    GW_ANTHROPIC_DEFAULT_MAX_TOKENS = 4096,
    GW_ANTHROPIC_MAX_MAX_TOKENS = 1000000,
    /* content blocks one streamed message may open: far above what a model writes, low enough
     * that a hostile stream cannot grow the block table without bound */
    GW_ANTHROPIC_MAX_BLOCKS = 65536,
    /* nesting of the JSON read (tool arguments, answers): as deep as a request may be */
    GW_ANTHROPIC_JSON_DEPTH = 128,
};

#define GW_ANTHROPIC_DEFAULT_VERSION "2023-06-01"

/* A channel's settings (ch->engine_conf, in the snapshot arena). */
typedef struct gw_anthropic_conf {
    const char *version; /* anthropic-version */
    const char *beta;    /* anthropic-beta, NULL: none */
    int64_t default_max_tokens;
} gw_anthropic_conf;

/* The settings of a channel configured with none of the options. */
extern const gw_anthropic_conf gw_anthropic_conf_default;

/* gw_engine_add_head for a message: id "chatcmpl-<message id>" (id used when a JSON string),
 * created now. Returns where the model's "" begins. */
size_t gw_anthropic_write_head(gw_strbuf *b, struct json_object *id, const char *object);

/* The canonical chat request `req` as a Messages API body for `model`: malloc'd into *body.
 * -1 with *status (400: the request cannot be expressed for Anthropic; 500: out of memory) and a
 * static *err. */
int gw_anthropic_request(const gw_anthropic_conf *conf, struct json_object *req, const char *model,
                         size_t model_len, int stream, char **body, size_t *body_len, int *status,
                         const char **err);

/* Anthropic's stop_reason as an OpenAI finish_reason (NULL stays NULL). */
const char *gw_anthropic_finish_reason(const char *stop_reason);
/* Reads the members of an Anthropic usage object that are present into u (absent or null ones
 * leave u as it was): input_tokens, output_tokens and the two cache counts. prompt_tokens is
 * recomputed as input + cache read + cache creation; Anthropic counts those apart. */
void gw_anthropic_usage_read(struct json_object *usage, gw_usage *u, int64_t *input_tokens);
/* OpenAI's usage object for u. */
void gw_anthropic_usage_write(gw_strbuf *b, const gw_usage *u);

/* The HTTP status Anthropic pairs with an error type (a mid-stream error carries only the
 * type); 500 for a type it does not know. */
int gw_anthropic_error_status(const char *type);
/* An Anthropic error, already parsed by gw_error_parse, in OpenAI's terms: 529 becomes 503 and
 * the type (and code) OpenAI's vocabulary. */
void gw_anthropic_error_map(gw_error_info *e);
/* io->error from an Anthropic error object: its type decides the status. */
int gw_anthropic_fail(gw_engine_io *io, struct json_object *root, const char *text, size_t len);

int gw_anthropic_response(gw_engine_io *io, const char *body, size_t len);

/* What one content block of a stream is, by its index. */
enum {
    GW_ANTHROPIC_BLOCK_NONE = 0, /* not opened, or of a kind without canonical output */
    GW_ANTHROPIC_BLOCK_TEXT,
    GW_ANTHROPIC_BLOCK_THINKING,
    GW_ANTHROPIC_BLOCK_TOOL_USE,
};

typedef struct gw_anthropic_block {
    int kind;
    int tool_index; /* GW_ANTHROPIC_BLOCK_TOOL_USE: its index among the message's tool calls */
} gw_anthropic_block;

/* The state of one stream (zeroed when it begins). */
typedef struct gw_anthropic_stream {
    /* {"id":"chatcmpl-<msg id>","object":"chat.completion.chunk","created":N,"model":"" — the
     * start every chunk shares, built at message_start; the model value is its last 2 bytes */
    char *prefix;
    size_t prefix_len;
    gw_strbuf chunk;            /* the chunk being built, reused */
    gw_anthropic_block *blocks; /* by Anthropic's block index */
    size_t block_cap;
    int tool_count;
    const char *finish_reason; /* OpenAI's, from message_delta; NULL: none yet */
    gw_usage usage;
    int64_t input_tokens;
    int started, done;
} gw_anthropic_stream;

int gw_anthropic_stream_event(gw_engine_io *io, const char *event, size_t event_len,
                              const char *data, size_t len);
int gw_anthropic_stream_end(gw_engine_io *io);
void gw_anthropic_stream_free(void *state);

#endif
