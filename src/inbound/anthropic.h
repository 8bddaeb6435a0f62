/* Internals of the Anthropic Messages protocol, shared by its files: the request conversion
 * (anthropic_request.c), whole answers (anthropic_response.c), streams (anthropic_stream.c),
 * errors (anthropic_error.c) and the small helpers they all use (anthropic.c). */
#ifndef AIGW_INBOUND_ANTHROPIC_H
#define AIGW_INBOUND_ANTHROPIC_H

#include <json-c/json_types.h>
#include <stddef.h>
#include <stdint.h>

#include "core/protocol-t.h"
#include "core/request-t.h"

struct evbuffer;
struct json_object;

/* Engines nest little; tool arguments are parsed separately. Deeper input is refused. The
 * engine's answers, chunks and tool arguments are parsed strictly (JSON_TOKENER_STRICT): what
 * the caller gets back must be JSON its SDK parses. */
enum { GW_ANTHROPIC_IN_JSON_DEPTH = 64 };

/* The gw_protocol_ops members. */
int gw_anthropic_in_to_canonical(gw_req *r, gw_error_info *err, char *msg, size_t msg_cap);
int gw_anthropic_in_response(gw_req *r, const gw_chunk *c, struct evbuffer *out, const char **err);
int gw_anthropic_in_stream_chunk(gw_req *r, const gw_chunk *c, struct gw_strbuf *out,
                                 const char **err);
void gw_anthropic_in_stream_end(gw_req *r, struct gw_strbuf *out);
void gw_anthropic_in_error_body(const gw_req *r, const gw_error_info *e, struct evbuffer *out);
void gw_anthropic_in_stream_error(gw_req *r, const gw_error_info *e, struct gw_strbuf *out);
void gw_anthropic_in_free_state(gw_req *r);

/* Anthropic's error type for an HTTP status, refined by the OpenAI type when the status says
 * little (a mid-stream error has none, a 500 may be a timeout). */
const char *gw_anthropic_in_error_type(int status, const char *openai_type);
/* {"type":"error","error":{"type","message"}}: the body of an error response and the data of
 * a stream's error event alike. */
void gw_anthropic_in_error_json(struct evbuffer *out, const gw_error_info *e);

/* A string literal, its length counted by the compiler. */
#define GW_ANTHROPIC_IN_ADD(out, lit) evbuffer_add((out), (lit), sizeof(lit) - 1)

/* The member key of obj when it is of that type, else NULL. */
struct json_object *gw_anthropic_in_member(struct json_object *obj, const char *key,
                                           json_type type);
/* A string member with at least one character, else NULL. */
struct json_object *gw_anthropic_in_text(struct json_object *obj, const char *key);

/* A new object of n key/value pairs (const char *, json_object *), in order. Every value is
 * consumed whatever happens, so a caller checks one NULL: a NULL value (a failed allocation)
 * fails the whole object. A NULL key skips its pair (an absent optional member, value NULL). */
struct json_object *gw_anthropic_in_object(int n, ...);

/* The message id: "msg_" and the id of the engine's answer or first chunk `root` (kept as it
 * is when it already starts with msg_), or the request's id when the engine sent none (root
 * NULL: nothing came). Truncated to fit; returns the length. */
size_t gw_anthropic_in_message_id(char *buf, size_t cap, const gw_req *r, struct json_object *root);
/* The id of the n-th tool call when the engine gave it none: the client needs one to answer
 * with, the same in a whole answer and a stream. */
void gw_anthropic_in_tool_id(char *buf, size_t cap, const gw_req *r, size_t n);
/* The model name answers carry: the one the caller asked for. */
const char *gw_anthropic_in_model_name(const gw_req *r, size_t *len);

/* Reads an OpenAI usage object (prompt_tokens, completion_tokens,
 * prompt_tokens_details.cached_tokens, completion_tokens_details.reasoning_tokens); 0 when v is
 * not one. */
int gw_anthropic_in_read_usage(struct json_object *v, gw_usage *u);

/* Anthropic's usage, where input_tokens excludes the tokens read from or written to a cache. */
typedef struct gw_anthropic_in_usage {
    int64_t input_tokens;
    int64_t output_tokens;
    int64_t cache_read_input_tokens;
    int64_t cache_creation_input_tokens;
} gw_anthropic_in_usage;

/* From the usage the answer carried (seen: NULL when none), else what the engine adapter put
 * in r->usage; cache writes come from r->usage (only Anthropic engines report them). */
void gw_anthropic_in_usage_of(const gw_req *r, const gw_usage *seen, gw_anthropic_in_usage *a);

/* OpenAI's finish_reason as an Anthropic stop_reason. A "stop" that came with tool calls is
 * tool_use (clients run tools on that reason, and some engines say "stop"); with a matched
 * stop string (vLLM's choices[].stop_reason) it is stop_sequence. */
const char *gw_anthropic_in_stop_reason(const char *finish_reason, int has_tool_calls,
                                        int has_stop_string);

#endif
