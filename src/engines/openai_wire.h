/* The OpenAI wire protocol, as OpenAI, vLLM, SGLang, Azure OpenAI, Ollama, llama.cpp and MindIE's
 * OpenAI route speak it, with each one's quirks as flags. The request body goes up as the caller
 * wrote it but for spliced changes (the model name, max_completion_tokens for MindIE, a usage
 * request), so unknown fields (vLLM's top_k, chat_template_kwargs, ...) and exact numbers survive;
 * answers come back byte for byte but for the model name. */
#ifndef AIGW_ENGINES_OPENAI_WIRE_H
#define AIGW_ENGINES_OPENAI_WIRE_H

#include "engines/engine.h"

typedef struct gw_openai_wire {
    const char *paths[GW_API_COUNT]; /* per canonical API, appended to the base URL; NULL: not
                                        served by this engine (a 400 names the API) */
    /* the engine reads max_tokens only (MindIE): max_completion_tokens is renamed */
    int rename_max_completion_tokens;
    /* usage rides in the chunk with finish_reason, never a chunk of its own (MindIE): split it
     * out when the caller asked for usage, strip it when not */
    int usage_in_finish_chunk;
    /* ask for usage on every stream (stream_options.include_usage), so metering always knows
     * it; the usage chunk is dropped when the caller did not ask for it */
    int request_usage;
} gw_openai_wire;

/* State of one stream (stream_state_size of an adapter that uses this wire). */
enum { GW_OPENAI_PREFIX_MAX = 256, GW_OPENAI_HEAD_MAX = 384, GW_OPENAI_TAIL_MAX = 256 };

typedef struct gw_openai_stream {
    int done; /* [DONE] seen */
    /* The start of the last event found valid, up to the end of its model value (id, object,
     * created and model are the same in every chunk of a stream), in head[0, prefix_len): an
     * event that begins with the same bytes is scanned from there on. 0 when there is none. */
    size_t prefix_len;
    size_t prefix_model_start; /* where the model value begins in the prefix */
    /* The stream's shape: the last event that repeated the prefix and held one generated text
     * (a token's delta) and no usage object, as its bytes around that text's string: the first
     * head_len (the prefix and what follows it up to the string's opening quote) and the last
     * tail_len (from the closing quote on). An event with the same bytes around another valid
     * string is the same JSON with the same members: only that string is read. tail_len 0:
     * none. */
    size_t head_len, tail_len;
    char head[GW_OPENAI_HEAD_MAX];
    char tail[GW_OPENAI_TAIL_MAX];
} gw_openai_stream;

int gw_openai_wire_prepare(const gw_openai_wire *w, gw_req *r, const gw_target *t,
                           gw_engine_call *call, int *status, const char **err);
int gw_openai_wire_response(const gw_openai_wire *w, gw_engine_io *io, const char *body,
                            size_t len);
int gw_openai_wire_stream_event(const gw_openai_wire *w, gw_engine_io *io, const char *data,
                                size_t len);
int gw_openai_wire_stream_end(gw_engine_io *io);

/* For engines whose base URL is the server root (vLLM, SGLang): -1 with err when a configured URL
 * ends in /v1. */
int gw_engine_check_root_urls(const gw_channel *ch, gw_engine_config_error *err);

/* Reads the first non-null "usage" object of a canonical response or chunk into u (OpenAI's
 * keys, with prompt_tokens_details.cached_tokens and completion_tokens_details.reasoning_tokens);
 * 1 when found, 0 when none. Only the usage object is parsed. */
int gw_usage_scan(const char *json, size_t len, gw_usage *u);

#endif
