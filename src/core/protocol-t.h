/* The caller's protocol: the API dialect a request arrived in (OpenAI's, or Anthropic's
 * Messages API). The gateway's canonical form is OpenAI's: a request is converted to it when it
 * arrives, engine adapters read and write only that, and the protocol turns canonical answers,
 * stream chunks and errors back into the caller's dialect. Types only; the protocols live in
 * src/inbound/, and callers below that folder reach them through these function pointers. */
#ifndef AIGW_CORE_PROTOCOL_T_H
#define AIGW_CORE_PROTOCOL_T_H

#include <stddef.h>
#include <stdint.h>

struct evbuffer;
struct json_object;
typedef struct gw_req gw_req;

/* An error in neutral terms, rendered by the caller's protocol. `type` is OpenAI's vocabulary
 * (invalid_request_error, rate_limit_exceeded, server_error, ...); the Anthropic protocol maps
 * it, and the status, to its own. message need not be NUL-terminated. */
typedef struct gw_error_info {
    int status;
    const char *type;
    const char *code;      /* NULL: none */
    const char *code_json; /* an engine's code that was not a string (a number), as JSON text */
    const char *param;     /* NULL: none */
    const char *message;
    size_t message_len;
} gw_error_info;

/* One canonical JSON object: a whole OpenAI response, or one chat.completion.chunk /
 * text_completion chunk. [model_start, model_end) is the value of its "model" member when the
 * engine's name must be replaced by the caller's (the protocol writes the virtual name there);
 * both 0 when the text is already right. */
typedef struct gw_chunk {
    const char *json;
    size_t len;
    size_t model_start, model_end;
} gw_chunk;

/* Token usage of one request, normalized across engines: what metering bills. */
typedef struct gw_usage {
    int64_t prompt_tokens; /* all input tokens, cached ones included */
    int64_t completion_tokens;
    int64_t cached_tokens;         /* input tokens read from the engine's prefix/prompt cache */
    int64_t cache_creation_tokens; /* input tokens written to a cache (Anthropic) */
    int64_t reasoning_tokens;      /* part of completion_tokens */
    int known;                     /* the engine reported usage (else the counts are 0) */
} gw_usage;

struct gw_strbuf;

/* The texts of an answer the response guards read, each a stream of its own: a choice's
 * content (or a completion's text), its reasoning (reasoning_content), and each tool call's
 * arguments (JSON text, so a guard that writes values into them escapes them for JSON). */
typedef enum { GW_TEXT_CONTENT, GW_TEXT_REASONING, GW_TEXT_TOOL_ARGS } gw_text_kind;

/* The most texts the guards follow at once in a stream: one open text per choice (a choice's
 * text ends when it moves on to another), so a stream of up to this many choices. */
enum { GW_TEXT_SLOTS = 8 };

/* Which text a piece belongs to: its kind, and the slot that holds the guards' state for it
 * while it runs (a guard keeps one state per slot; a slot serves one text at a time, from its
 * first piece, marked start, to the piece marked final). */
typedef struct gw_text_field {
    gw_text_kind kind;
    unsigned slot; /* < GW_TEXT_SLOTS */
    int start;     /* the text's first piece: the guard starts the slot's state afresh */
} gw_text_field;

/* Response guards see the text a model generates, piece by piece (decoded UTF-8), before the
 * caller's protocol writes it: appended to out goes what may reach the caller now (a guard may
 * hold a piece back until the next decides it, or rewrite it); final: the text is complete,
 * release what is held (the slot then starts afresh with its next text). 0, or -1 with *err
 * (message in msg) to end the answer with that error. */
typedef int (*gw_text_hook)(gw_req *r, gw_text_field field, const char *text, size_t len, int final,
                            struct gw_strbuf *out, gw_error_info *err, char *msg, size_t msg_cap);

typedef struct gw_protocol_ops {
    const char *name; /* "openai", "anthropic" */
    /* The strictly parsed body (r->json) of the caller's dialect, converted to the canonical
     * form: sets r->json, r->body, r->api, r->stream, r->include_usage and the model name.
     * NULL for the canonical protocol itself. -1 with *err filled (message in msg) on a bad
     * request. */
    int (*to_canonical)(gw_req *r, gw_error_info *err, char *msg, size_t msg_cap);
    /* A whole canonical answer, written in the caller's dialect. -1 and *err when malformed. */
    int (*response)(gw_req *r, const gw_chunk *c, struct evbuffer *out, const char **err);
    /* A stream's frames are appended to a flat buffer whose memory serves event after event
     * (an evbuffer allocated and freed a chain for every one); memory that runs out latches
     * out->failed, which the attempt reports. */
    /* One canonical stream chunk, framed (and converted) for the caller; -1 when malformed. */
    int (*stream_chunk)(gw_req *r, const gw_chunk *c, struct gw_strbuf *out, const char **err);
    /* The stream is complete: the closing frames ([DONE], message_stop). */
    void (*stream_end)(gw_req *r, struct gw_strbuf *out);
    /* An error as a whole response body. */
    void (*error_body)(const gw_req *r, const gw_error_info *e, struct evbuffer *out);
    /* An error in a stream already begun: an explicit error event and the end of the stream. */
    void (*stream_error)(gw_req *r, const gw_error_info *e, struct gw_strbuf *out);
    /* Frees r->protocol_state, when the protocol keeps any. */
    void (*free_state)(gw_req *r);
} gw_protocol_ops;

#endif
