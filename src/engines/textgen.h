/* TGI's text-generation protocol (POST /generate, /generate_stream), which MindIE's TGI-style
 * native routes speak too, and the canonical output every native text-generation adapter
 * (TGI, MindIE native, SGLang native) writes: a chat.completion / text_completion answer or
 * chunks built from plain generated text, with stop strings held back and stripped. */
#ifndef AIGW_ENGINES_TEXTGEN_H
#define AIGW_ENGINES_TEXTGEN_H

#include <stddef.h>
#include <stdint.h>

#include "core/strbuf.h"
#include "engines/chat_template.h"
#include "engines/engine.h"

struct json_object;

/* The settings of one channel speaking the protocol (its engine_conf, or part of it). */
typedef struct gw_textgen_conf {
    const gw_chat_template *tmpl; /* chat requests' prompt */
    size_t max_stops;             /* the engine's limit (TGI's max_stop_sequences: 4) */
    /* ask for details.prefill on non-streamed answers, the only prompt count TGI's /generate
     * gives; MindIE's details carry prompt_tokens */
    int decoder_input_details;
    const char *image_error;      /* "image input is not supported by channel type tgi ..." */
    const char *tools_error;      /* a request offering tools */
    const char *embeddings_error; /* /v1/embeddings */
} gw_textgen_conf;

extern const gw_textgen_conf gw_textgen_tgi_default;

/* The stop strings of one request: the template's (chat only) then the caller's, each once.
 * They point into the template (snapshot arena) and r->json, which outlive the request. */
enum { GW_TEXTGEN_MAX_STOPS = 8 };
typedef struct gw_textgen_stops {
    const char *s[GW_TEXTGEN_MAX_STOPS];
    size_t len[GW_TEXTGEN_MAX_STOPS];
    size_t count;
} gw_textgen_stops;

/* r's stops; tmpl (NULL: chatml) counts for chat requests only. At most `limit`
 * (<= GW_TEXTGEN_MAX_STOPS); -1 with *err (a 400) when more, or when `stop` is not a string or
 * an array of strings. */
int gw_textgen_stops_collect(const gw_req *r, const gw_chat_template *tmpl, size_t limit,
                             gw_textgen_stops *out, const char **err);
/* The length of a whole answer's text without a stop string of r's it ends with. */
size_t gw_textgen_strip_stop(const gw_req *r, const gw_chat_template *tmpl, const char *text,
                             size_t len);

/* --- the native protocols' requests --- */

/* The ceiling of a request body built for r (gw_strbuf.max). */
size_t gw_textgen_body_max(const gw_req *r);
/* Checks shared by the native protocols' prepare: the API is chat or completions, n is 1, no
 * tools are offered; then the prompt goes into b JSON-escaped (chat: through tmpl, NULL:
 * chatml; completions: a string or an array of one string). 0, or -1 with *status and *err. */
int gw_textgen_prompt(gw_req *r, const gw_chat_template *tmpl, const char *image_error,
                      const char *tools_error, const char *embeddings_error, gw_strbuf *b,
                      int *status, const char **err);
/* max_completion_tokens, else max_tokens: the member, or NULL when absent or null. */
struct json_object *gw_textgen_max_tokens(struct json_object *req);
/* One member of a parameters object, "key":<v as the caller wrote it> (json-c keeps a parsed
 * number's text), after a comma when *count says one came before. */
void gw_textgen_param(gw_strbuf *b, int *count, const char *key, struct json_object *v);
/* "stop":[...] as a parameter, when r has stops (gw_textgen_stops_collect: -1 with *err). */
int gw_textgen_param_stops(gw_strbuf *b, int *count, const gw_req *r, const gw_chat_template *tmpl,
                           size_t limit, const char **err);
/* The body built in b as the call to path: 0, b's memory handed to the call; or, when b ran out
 * of room, -1 with *status 500 and *err, b freed. */
int gw_textgen_call(gw_strbuf *b, const char *path, gw_engine_call *call, int *status,
                    const char **err);

/* --- the native protocols' answers --- */

/* A member that is present and not null, else NULL. */
struct json_object *gw_textgen_member(struct json_object *obj, const char *key);
int gw_textgen_is_number(struct json_object *v);
/* A token count: a number member, clamped to [0, 2^50], *found set; 0 when absent. */
int64_t gw_textgen_count(struct json_object *obj, const char *key, int *found);
/* The one object of an answer: root itself, or the only element of a one-element array (a
 * batch-style answer to one prompt); NULL otherwise. */
struct json_object *gw_textgen_single_object(struct json_object *root);

/* --- canonical output --- */

/* "stop", "length" from TGI's eos_token, stop_sequence, length (MindIE's too). */
const char *gw_textgen_finish_reason(const char *tgi_reason);
/* A whole answer: a chat.completion or a text_completion, as io->r->api says; fills
 * io->r->usage when u->known. */
int gw_textgen_emit_response(gw_engine_io *io, const char *text, size_t len, const char *finish,
                             const gw_usage *u);

/* The state of one stream of generated text. */
typedef struct gw_textgen_stream {
    int started;  /* the first event arrived (role chunk out, stops collected) */
    int finished; /* the finish chunk went out */
    int stopped;  /* a stop string appeared: later text is dropped */
    int ended;    /* gw_emit_end ran */
    long long created;
    gw_textgen_stops stops;
    size_t max_stop_len;
    gw_strbuf held;  /* a tail that may begin a stop string (freed by stream_free) */
    size_t text_len; /* SGLang: bytes of the cumulative text consumed */
} gw_textgen_stream;

/* At the first event: collects the stops (as prepare did) and writes the role chunk (chat). */
int gw_textgen_stream_begin(gw_engine_io *io, gw_textgen_stream *s, const gw_chat_template *tmpl);
/* New generated text: written but for a tail that may begin a stop string, held until the next
 * text shows it does not; nothing after a stop string. -1 (io->err) when the protocol fails. */
int gw_textgen_stream_text(gw_engine_io *io, gw_textgen_stream *s, const char *text, size_t len);
/* The end of the generation: the held tail (unless a stop string began there), the finish
 * chunk, the usage chunk when the caller asked; io->r->usage filled. */
int gw_textgen_stream_finish(gw_engine_io *io, gw_textgen_stream *s, const char *finish,
                             const gw_usage *u);
void gw_textgen_stream_free(void *state);

/* --- errors --- */

/* An engine's error in OpenAI's vocabulary: 422 -> 400, 424 -> 500, an empty 503 -> "the engine
 * is unavailable", types the engine invented ("Input Validation Error", "overloaded",
 * "BadRequestError") -> the type OpenAI pairs with the status. msg holds the message. */
void gw_textgen_error_map(gw_error_info *e, int empty_body, char *msg, size_t msg_cap);
/* The `error` op of TGI, MindIE and SGLang: gw_error_parse, then gw_textgen_error_map. */
void gw_textgen_error(int status, const char *body, size_t len, gw_error_info *e, char *msg,
                      size_t msg_cap);

/* --- TGI's protocol --- */

int gw_textgen_prepare(const gw_textgen_conf *c, gw_req *r, gw_engine_call *call, int *status,
                       const char **err);
int gw_textgen_response(const gw_textgen_conf *c, gw_engine_io *io, const char *body, size_t len);
/* stream state: gw_textgen_stream */
int gw_textgen_stream_event(const gw_textgen_conf *c, gw_engine_io *io, const char *data,
                            size_t len);
int gw_textgen_stream_end(gw_engine_io *io);

/* --- configuration --- */

/* A `chat_template` option (NULL: chatml) loaded; NULL with err naming the option. */
const gw_chat_template *gw_textgen_template_option(const gw_engine_option *options, size_t count,
                                                   gw_arena *arena, gw_engine_config_error *err);

#endif
