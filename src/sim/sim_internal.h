/* Types and functions shared by the simulator's files; not part of the library API (sim.h).
 * Threading rule: everything a worker touches on the request path is its own (event_base,
 * tokener, scratch buffer, in-flight list, listener); what other threads read (stats, the last
 * request) is atomic or behind that worker's own mutex, and the instance-wide fault is read
 * through a seqlock, so no lock is shared between workers on the request path. */
#ifndef AIGW_SIM_SIM_INTERNAL_H
#define AIGW_SIM_SIM_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/event_struct.h>
#include <event2/http.h>
#include <json-c/json.h>

#include <sys/socket.h>

#include "sim/sim.h"

enum {
    SIM_MAX_THREADS = 256,
    SIM_MAX_MODELS = 32,
    SIM_MAX_MODEL_NAME = 4096, /* names of any realistic length; the gateway must not cut them */
    SIM_DEFAULT_OUTPUT_TOKENS = 16,
    SIM_MAX_OUTPUT_TOKENS = 100000, /* per request, all choices together */
    SIM_MAX_CHOICES = 128,
    SIM_MAX_DELAY_MS = 3600 * 1000,
    SIM_MAX_BODY_BYTES = 16 * 1024 * 1024,
    SIM_MAX_HEADERS_BYTES = 64 * 1024,
    SIM_MAX_EMBEDDING_INPUTS = 2048,
    SIM_MAX_DIMENSIONS = 8192,
    SIM_DEFAULT_DIMENSIONS = 16,
    SIM_MAX_MODEL_LEN = 8192, /* advertised in /v1/models, as vLLM's max_model_len */
    SIM_JSON_DEPTH = 64,
    SIM_MAX_TEXT_BYTES = 16 * 1024, /* x-sim-text, as sent (before percent-decoding) */
    SIM_MAX_CHUNK_BYTES = 4096,     /* x-sim-chunk-bytes */
};

typedef enum { SIM_API_CHAT, SIM_API_COMPLETIONS, SIM_API_EMBEDDINGS, SIM_API_MODELS } sim_api;

/* The engine imitated (sim_config.engine). OPENAI is the historical default: vLLM-like, with
 * today's exact bodies; VLLM adds what only vLLM sends (prompt_tokens_details). */
typedef enum {
    SIM_ENGINE_OPENAI,
    SIM_ENGINE_VLLM,
    SIM_ENGINE_SGLANG,
    SIM_ENGINE_MINDIE,
    SIM_ENGINE_TGI,
    SIM_ENGINE_ANTHROPIC,
    SIM_ENGINE_AZURE,
} sim_engine;

typedef enum {
    SIM_FAULT_NONE,
    SIM_FAULT_STATUS,      /* answer with fault_arg as the status and an error body */
    SIM_FAULT_HANG,        /* never answer */
    SIM_FAULT_STALL,       /* the response head (stream: SSE; else with Content-Length), then
                              nothing more */
    SIM_FAULT_RESET,       /* TCP RST, no response */
    SIM_FAULT_RESET_AFTER, /* stream: TCP RST after fault_arg token chunks; else as RESET */
    SIM_FAULT_CUT,         /* stream: close after fault_arg token chunks; else half a body */
    SIM_FAULT_MALFORMED,   /* broken JSON: the body, or one SSE frame */
    SIM_FAULT_MID_ERROR,   /* stream: vLLM's mid-stream error event after the first token */
    SIM_FAULT_REFUSE,      /* instance-wide only: no listener, so connects are refused */
} sim_fault;

/* Error bodies. The named ones can be chosen with x-sim-error-shape; SGLANG_NATIVE is only what
 * SGLang's /generate answers a request it cannot run. */
typedef enum {
    SIM_SHAPE_OPENAI,    /* {"error":{"message","type","param","code"}} */
    SIM_SHAPE_FLAT,      /* {"object":"error","message","type","param","code"} */
    SIM_SHAPE_TGI,       /* {"error","error_type"}, TGI's vocabulary */
    SIM_SHAPE_EMPTY,     /* no body */
    SIM_SHAPE_MINDIE,    /* {"error","error_type"}, MindIE's phrases */
    SIM_SHAPE_ANTHROPIC, /* {"type":"error","error":{"type","message"}} */
    SIM_SHAPE_AZURE,     /* {"error":{"code":"<status>","message"}} */
    SIM_SHAPE_NAMED_COUNT,
    SIM_SHAPE_SGLANG_NATIVE = SIM_SHAPE_NAMED_COUNT, /* {"error":{"message"}} */
} sim_error_shape;

/* Per-request behaviour: the server's defaults overridden by x-sim-* headers. */
typedef struct sim_options {
    int first_token_ms;
    int inter_token_ms;
    int output_tokens;
    sim_fault fault;
    int fault_arg;
    sim_error_shape error_shape;
    /* x-sim-text, already validated: the value lives in the request's own headers, so it is
     * read only while the request callback runs (copies of opt kept longer never read it); the
     * generation then holds its own sim_script. NULL = the vocabulary. */
    const char *text;
    bool text_percent; /* x-sim-text-encoding: percent */
    int chunk_bytes;   /* x-sim-chunk-bytes; 0 = a token per word */
    int text_tokens;   /* the script's tokens: its natural length */
    /* x-sim-reasoning and x-sim-tool-args (sim_script_parts.c), validated, read like text */
    const char *reasoning;
    const char *tool_args;
} sim_options;

/* The instance-wide defaults set with POST /sim/fault; x-sim-* headers override them. */
typedef struct sim_instance_setting {
    sim_fault fault; /* SIM_FAULT_NONE: no fault unless a request asks for one */
    int fault_arg;
    int error_shape;    /* a sim_error_shape; -1 = not set */
    int first_token_ms; /* -1 = not set: the server's default */
    int inter_token_ms; /* -1 = not set */
} sim_instance_setting;

/* A sim_instance_setting behind a seqlock: every /v1 request reads it, on any worker, without a
 * lock; the rare writer (a /sim request, holding the server's control_lock) makes the sequence
 * odd while it stores, and a reader that saw it odd or changed reads again. */
typedef struct sim_instance_fault {
    atomic_uint seq;
    atomic_int fault, fault_arg, error_shape, first_token_ms, inter_token_ms;
} sim_instance_fault;

/* Why a request is refused, before it is written in the shape the client asked for. */
typedef struct sim_problem {
    int status;
    const char *param; /* NULL = JSON null */
    char message[512];
} sim_problem;

typedef struct sim_model {
    char *name;
    char *json_name; /* escaped for a JSON string, without the quotes */
    char *prom_name; /* escaped for a Prometheus label value */
} sim_model;

/* A deterministic tool call (sim_tools.c): answered when a request offers tools and the
 * conversation is not coming back from one. */
typedef struct sim_tool_call {
    char id[48]; /* call_sim_<n> / toolu_sim_<n>, n = the request's message count */
    char *name;  /* raw bytes, as the request spelled the tool */
    size_t name_len;
    char *arguments; /* the input object as JSON text */
    size_t arguments_len;
    int fragments; /* >= 2: streams send the arguments in this many pieces, one token each */
} sim_tool_call;

/* A scripted answer (x-sim-text): the decoded text cut into tokens; immutable once built. */
typedef struct sim_script sim_script;

/* A validated generation request (any engine's), reduced to what the answer depends on. The
 * finish is, in order: a tool call, a stop sequence, length_limited, else a natural stop. */
typedef struct sim_generation {
    sim_api api;
    int model;              /* index into the served models */
    const char *model_json; /* the model to echo, JSON-escaped; valid in the request callback */
    long prompt_tokens;     /* whitespace-separated words of all the text sent, >= 1 */
    long cached_tokens;     /* of prompt_tokens, read from the simulated prefix cache */
    int tokens;             /* text tokens generated per choice */
    int choices;            /* prompts x n */
    bool length_limited;    /* finish_reason "length" rather than "stop" */
    bool stream;
    bool include_usage;
    long message_count;    /* chat: the messages sent (names tool call ids) */
    sim_tool_call *tool;   /* owned; NULL = a text answer */
    char *stop;            /* owned: the stop sequence that ended the text; NULL = none */
    sim_script *script;    /* owned: the scripted text; NULL = the vocabulary */
    sim_script *reasoning; /* owned: scripted reasoning said before the answer; NULL = none */
    long seed;             /* TGI / MindIE: echoed in details */
    bool has_seed;
} sim_generation;

typedef struct sim_stats {
    atomic_long requests, chat, completions, embeddings;
    atomic_long streams_started, streams_completed, streams_cancelled, active;
} sim_stats;

typedef struct sim_model_stats {
    atomic_long running;
    atomic_long prompt_tokens, generation_tokens;
    atomic_long success_stop, success_length;
} sim_model_stats;

/* A bounded copy of the worker's latest /v1 request, for GET /sim/last-request. */
typedef struct sim_last_request {
    pthread_mutex_t lock;
    uint64_t stamp_ns; /* CLOCK_MONOTONIC: the newest copy across workers wins; 0 = none */
    char method[16];
    char *path; /* with "?query" when there is one */
    size_t path_len, path_cap;
    size_t query_at; /* where the query starts in path (after '?'); 0 = no query */
    char *headers;   /* "name\0value\0" pairs, names as received */
    size_t headers_len, headers_cap;
    char *body; /* raw bytes; parsed when served */
    size_t body_len, body_cap;
    bool body_too_big;
} sim_last_request;

typedef struct sim_server sim_server;
typedef struct sim_worker sim_worker;
typedef struct sim_inflight sim_inflight;

struct sim_worker {
    sim_server *server;
    int index;
    pthread_t thread;
    bool thread_started;
    struct event_base *base;
    struct evhttp *http;
    struct evhttp_bound_socket *bound; /* this worker's listener; NULL while refusing */
    struct evhttp *control_http;       /* worker 0 with a control port: the /sim/ hooks only */
    struct evhttp *management_http;    /* worker 0 in mindie mode: MindIE's management port */
    /* Activated from any thread when the server's listening state changes; the worker then
     * closes or reopens its own listener (evhttp is not thread-safe) and acknowledges. */
    struct event listen_control;
    atomic_uint listen_applied; /* the listen_generation this worker has carried out */
    atomic_int listen_error;    /* errno of the last reopen that failed; 0 = none */
    json_tokener *tokener;
    struct evbuffer *scratch; /* response bodies are built here, then moved to evhttp */
    sim_inflight *inflight;   /* requests answered later: delays, hangs, streams */
    uint64_t id_state;        /* xorshift state for response ids */
    sim_stats stats;
    sim_model_stats model_stats[SIM_MAX_MODELS];
    char model_echo[6 * SIM_MAX_MODEL_NAME + 1]; /* a wildcard-served name, escaped */
    sim_last_request last;
};

struct sim_server {
    sim_engine engine;
    sim_error_shape shape; /* the engine's own error shape: the default of every answer */
    int management_port;   /* MindIE's; -1 = none */
    char *host;
    int port;
    struct sockaddr_storage addr; /* host:port, what every listener binds (and binds again) */
    socklen_t addr_len;
    int control_port; /* -1 = no control listener */
    int first_token_ms, inter_token_ms, output_tokens;
    sim_model models[SIM_MAX_MODELS];
    int model_count;
    int wildcard_model; /* index of a "*" entry, which accepts any model name; -1 = none */
    long created;       /* the "created" of every model in /v1/models */
    sim_worker **workers;
    int worker_count;

    /* Instance-wide state, changed by /sim/fault and /sim/reset. */
    pthread_mutex_t control_lock; /* serializes those writers; never taken on the request path */
    bool control_lock_ready;
    sim_instance_fault instance;
    atomic_bool refusing;          /* "refuse" is set: listeners stay closed */
    atomic_uint listen_generation; /* bumped whenever the workers must look at `refusing` */
    int port_hold_fd; /* bound, never listening: keeps the port ours while refusing; -1 = none */
};

/* sim_router.c: the evhttp callbacks and the steps every engine's request goes through. */
void sim_handle_request(struct evhttp_request *req, void *worker);
/* The control port's callback: the /sim/ hooks only. */
void sim_handle_control_request(struct evhttp_request *req, void *worker);
static inline bool sim_is_get(enum evhttp_cmd_type cmd) {
    return cmd == EVHTTP_REQ_GET || cmd == EVHTTP_REQ_HEAD;
}
/* The request's path, without its query; "/" when it has none. */
const char *sim_request_path(struct evhttp_request *req);
/* Counts and records a request to an engine route and reads its x-sim-* options; false when a
 * bad header was already answered. *body is the raw body (not NUL-terminated). */
bool sim_request_begin(sim_worker *w, struct evhttp_request *req, sim_options *opt,
                       const char **body, size_t *body_len);
/* Parses a body that must be a JSON object; NULL with a 400 problem otherwise. */
json_object *sim_request_object(sim_worker *w, const char *body, size_t len, sim_problem *problem);
/* The faults that replace the answer entirely (status, hang, reset; reset:N without a stream).
 * True when the request was taken care of. */
bool sim_replacing_fault(sim_worker *w, struct evhttp_request *req, const sim_options *opt,
                         int model, bool stream);
/* Answers the JSON body built in w->scratch now or after the first-token delay, carrying the
 * body-level faults (stall, cut, malformed; mid-error becomes a 500). */
void sim_answer(sim_worker *w, struct evhttp_request *req, const sim_options *opt, int model,
                long prompt_tokens, long completion_tokens, bool length_limited);

/* sim_engine.c: engine modes and the routes each one serves. */
bool sim_engine_parse(const char *name, sim_engine *engine);
sim_error_shape sim_engine_shape(sim_engine engine);
/* Routes a request that is not a /sim/ hook. */
void sim_engine_route(sim_worker *w, struct evhttp_request *req, const char *path,
                      enum evhttp_cmd_type cmd);
/* True when an instance-wide fault is set: health endpoints that report it answer 503. */
bool sim_instance_faulty(const sim_server *s);

/* sim_faults.c */
bool sim_options_from_headers(const sim_server *s, struct evhttp_request *req, sim_options *opt,
                              sim_problem *problem);
/* Closes the client connection with a TCP RST and frees it (and req) at once. */
void sim_fault_reset(struct evhttp_request *req);
/* The same for a connection: frees it, and the requests still on it. */
void sim_connection_reset(struct evhttp_connection *conn);
/* Bytes of the answer not yet handed to the network: evhttp's output and the kernel's unsent
 * queue. An RST discards them, so a reset that must deliver what came before waits for 0. */
size_t sim_connection_unsent(struct evhttp_connection *conn);
/* The instance-wide setting: a consistent snapshot, lock-free. */
void sim_instance_load(const sim_server *s, sim_instance_setting *out);
/* Writers hold s->control_lock (or run before the workers start). */
void sim_instance_store(sim_server *s, const sim_instance_setting *in);
void sim_instance_clear(sim_instance_setting *setting);
/* Reads a POST /sim/fault body; false with a 400 problem when it is not a valid setting. */
bool sim_instance_from_json(json_object *body, sim_instance_setting *out, sim_problem *problem);
/* Appends the setting as the JSON GET /sim/fault answers. */
void sim_instance_body(const sim_instance_setting *setting, struct evbuffer *out);

/* sim_control.c: /sim/fault, /sim/reset and the listeners they close and reopen. */
void sim_control_fault(sim_worker *w, struct evhttp_request *req, enum evhttp_cmd_type cmd);
void sim_control_reset(sim_worker *w, struct evhttp_request *req);
/* The listen_control callback, on the worker's own thread. */
void sim_control_listen_apply(evutil_socket_t fd, short what, void *worker);

/* sim.c */
/* Opens the worker's listener on s->addr (SO_REUSEPORT, shared with the other workers); 0 or an
 * errno. */
int sim_worker_listen(sim_worker *w);

/* sim_reply.c */
/* Sends `body` (moved out) as JSON; a 200 carries the cut/malformed faults of `opt`. */
void sim_reply_json(struct evhttp_request *req, const sim_options *opt, int status,
                    struct evbuffer *body);
void sim_reply_problem(sim_worker *w, struct evhttp_request *req, sim_error_shape shape,
                       const sim_problem *problem);
void sim_reply_error(sim_worker *w, struct evhttp_request *req, sim_error_shape shape, int status,
                     const char *param, const char *message);
/* The error "type" vLLM/OpenAI use for a status (BadRequestError, NotFoundError, ...). */
const char *sim_error_type(int status);
void sim_problem_set(sim_problem *p, int status, const char *param, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* sim_json.c */
/* Parses the request body strictly; NULL and a 400 problem when it is not one JSON value. */
json_object *sim_json_parse(sim_worker *w, const char *text, size_t len, sim_problem *problem);
/* Appends s as a quoted JSON string. */
void sim_json_add_string(struct evbuffer *out, const char *s, size_t len);
/* Appends s escaped for the inside of a JSON string, without quotes. */
void sim_json_add_escaped(struct evbuffer *out, const char *s, size_t len);
/* Member `key` of an object; NULL when absent or when obj is not an object. */
json_object *sim_json_member(json_object *obj, const char *key);
static inline bool sim_json_is_null(json_object *v) {
    return v == NULL || json_object_is_type(v, json_type_null);
}
/* Returns a malloc'ed copy of s escaped for the inside of a JSON string. */
char *sim_json_escape_dup(const char *s);
/* Escapes s for the inside of a JSON string into out, which holds 6 * len + 1 bytes. */
size_t sim_json_escape(char *out, const char *s, size_t len);

/* sim_text.c. Every function taking a script reads the vocabulary when it is NULL. */
long sim_count_words(const char *s, size_t len);
/* Raw bytes of token k: a vocabulary word (with a leading space unless k == 0), or a piece of
 * the script, which may need JSON escaping. */
const char *sim_token_text(const sim_script *script, int k, size_t *len);
/* Appends token k escaped for the inside of a JSON string. */
void sim_token_append(struct evbuffer *out, const sim_script *script, int k);
/* Appends tokens [0, count) as one text, escaped for the inside of a JSON string. */
void sim_text_append(struct evbuffer *out, const sim_script *script, int count);
/* The index of the first of tokens [0, count) equal to one of `stop` (a string or an array of
 * strings, compared without surrounding blanks), or -1; *matched is then that stop string. */
int sim_text_stop_index(json_object *stop, const sim_script *script, int count,
                        json_object **matched);
/* A stable token id for generated token k (the same word, the same id). */
int sim_token_id(const sim_script *script, int k);
/* Validates an x-sim-text value (at most SIM_MAX_TEXT_BYTES, percent-encoded when `percent`,
 * UTF-8, not empty) and counts its tokens; false with a 400 problem otherwise. */
bool sim_script_check(const char *header, const char *value, bool percent, int chunk_bytes,
                      int *tokens, sim_problem *problem);
/* Builds the script of a value sim_script_check accepted; NULL when out of memory. */
sim_script *sim_script_new(const char *value, bool percent, int chunk_bytes);
void sim_script_free(sim_script *script);
int sim_script_tokens(const sim_script *script);
/* The whole decoded text. */
const char *sim_script_text(const sim_script *script, size_t *len);

/* sim_script_parts.c: the parts of a chat answer a test scripts besides its text. */
/* Reads and checks x-sim-reasoning and x-sim-tool-args (encoded like x-sim-text); false with
 * a 400 problem when one is bad. */
bool sim_script_parts_from_headers(struct evhttp_request *req, sim_options *opt,
                                   sim_problem *problem);
/* gen->reasoning from opt (chat only), and a tool call's arguments replaced by
 * x-sim-tool-args, streamed in x-sim-chunk-bytes pieces when given; false with a 500 problem
 * when out of memory. */
bool sim_script_parts_apply(sim_generation *gen, const sim_options *opt, sim_problem *problem);
/* The reasoning's tokens (0 without any): in streams they come first, one step each. */
int sim_reasoning_tokens(const sim_generation *gen);
/* A stream step of the reasoning, as a choice of an OpenAI chunk (delta_prefix goes first in
 * the delta: MindIE's role); returns its tokens (1). */
int sim_reasoning_frame(const sim_generation *gen, struct evbuffer *out, int choice, int step,
                        const char *delta_prefix, const char *finish);
/* "reasoning_content": the whole reasoning, or null. */
void sim_reasoning_member(const sim_generation *gen, struct evbuffer *out);
/* A deterministic logprob for generated token k. */
double sim_token_logprob(int k);

/* sim_request.c: validation of the JSON bodies into what the answer needs. */
/* Resolves the body's model to a served entry, and the name to echo (JSON-escaped, valid until
 * the request callback returns: it may live in w->model_echo). */
bool sim_request_model(sim_worker *w, json_object *body, int *model, const char **model_json,
                       sim_problem *problem);
/* Validates a chat or completions body. With forced_model >= 0 the body's model is ignored
 * (Azure's deployment, TGI's single model) and forced_json is echoed. */
bool sim_request_generation(sim_worker *w, json_object *body, sim_api api, const sim_options *opt,
                            int forced_model, const char *forced_json, sim_generation *gen,
                            sim_problem *problem);
/* Builds gen->script when opt has a scripted text; false with a 500 problem when out of
 * memory. */
bool sim_generation_script(sim_generation *gen, const sim_options *opt, sim_problem *problem);
/* The script (sim_generation_script), then the tokens to generate: max_tokens when given
 * (length_limited when it is less than the natural length: the script's tokens, else
 * output_tokens; a script never runs past its end), else the natural length; bounded per request
 * over all choices. False with a problem when out of memory. */
bool sim_plan_tokens(sim_generation *gen, const sim_options *opt, bool limited, long max_tokens,
                     sim_problem *problem);
/* The served model a request names no model for: the first one (or "sim-model" when only the
 * wildcard is served). */
void sim_request_default_model(const sim_server *s, int *model, const char **model_json);
/* Completion tokens of the whole answer: text and tool-call argument pieces, all choices. */
long sim_generation_completion(const sim_generation *gen);
/* Frees what the generation owns (tool call, stop sequence, script). */
void sim_generation_release(sim_generation *gen);

/* sim_completion.c: non-stream chat and completions answers. */
void sim_completion_body(sim_worker *w, struct evbuffer *out, const sim_generation *gen);
/* Writes a fresh response id such as "chatcmpl-<32 hex>" into buf. */
void sim_make_id(sim_worker *w, const char *prefix, char *buf, size_t buflen);
/* The usage object of an OpenAI-style answer (vLLM mode adds prompt_tokens_details). */
void sim_completion_usage(const sim_server *s, struct evbuffer *out, long prompt_tokens,
                          long completion_tokens, bool details);

/* sim_tools.c */
/* OpenAI chat: validates `tools` / `tool_choice` and decides whether this turn is a tool call
 * (*tool, owned by the caller) or text (*tool NULL). */
bool sim_tools_openai(json_object *body, long message_count, sim_tool_call **tool,
                      sim_problem *problem);
/* Anthropic: the same over its tools (already validated) and tool_choice; `due` when the last
 * message is a user turn without a tool_result. */
bool sim_tools_anthropic(json_object *body, long message_count, bool due, sim_tool_call **tool,
                         sim_problem *problem);
void sim_tool_call_free(sim_tool_call *tool);
/* Takes arguments (malloc'd JSON text) in place of the generated ones; streams send them in
 * pieces of about piece_bytes (0: the usual size). */
void sim_tool_call_arguments(sim_tool_call *tool, char *arguments, size_t len, int piece_bytes);
/* Bytes [*start, *start + *len) of the arguments are piece i of tool->fragments. */
void sim_tool_fragment(const sim_tool_call *tool, int i, size_t *start, size_t *len);

/* sim_openai_stream.c: OpenAI-style chunks (vLLM order; MindIE's and TGI's variants). */
void sim_openai_stream_start(sim_worker *w, struct evhttp_request *req, sim_generation *gen,
                             const sim_options *opt);

/* sim_openai.c: the OpenAI-compatible routes of every OpenAI-style mode. */
/* The /v1/ routes of the openai, vllm, sglang, mindie and tgi modes. */
void sim_openai_v1(sim_worker *w, struct evhttp_request *req, const char *path,
                   enum evhttp_cmd_type cmd);
/* One OpenAI-style request, already begun: api is chat, completions or embeddings; with
 * forced_model >= 0 the body's model is ignored. */
void sim_openai_handle(sim_worker *w, struct evhttp_request *req, sim_api api,
                       const sim_options *opt, const char *body_text, size_t body_len,
                       int forced_model, const char *forced_json);

/* sim_anthropic.c, sim_anthropic_stream.c: the Anthropic Messages API. */
void sim_anthropic_route(sim_worker *w, struct evhttp_request *req, const char *path,
                         enum evhttp_cmd_type cmd);
/* end_turn, max_tokens, stop_sequence or tool_use. */
const char *sim_anthropic_stop_reason(const sim_generation *gen);
void sim_anthropic_stream_start(sim_worker *w, struct evhttp_request *req, sim_generation *gen,
                                const sim_options *opt);

/* sim_tgi.c: TGI's /generate and /generate_stream, also MindIE's TGI-style ones. */
void sim_tgi_route(sim_worker *w, struct evhttp_request *req, const char *path,
                   enum evhttp_cmd_type cmd);
/* A begun /generate or /generate_stream request with its parsed body (TGI or MindIE style). */
void sim_tgi_handle(sim_worker *w, struct evhttp_request *req, const sim_options *opt,
                    json_object *body, bool stream);
/* GET /info */
void sim_tgi_info(sim_worker *w, struct evhttp_request *req);

/* sim_sglang_native.c: SGLang's POST /generate. */
void sim_sglang_generate(sim_worker *w, struct evhttp_request *req, enum evhttp_cmd_type cmd);

/* sim_mindie.c: MindIE's business routes besides /v1 and its vLLM-style /generate. */
void sim_mindie_route(sim_worker *w, struct evhttp_request *req, const char *path,
                      enum evhttp_cmd_type cmd);
/* The management port's callback: /health, /v2/health/live, /v2/health/ready. */
void sim_handle_management_request(struct evhttp_request *req, void *worker);

/* sim_azure.c: SIM_AZURE_DEPLOYMENTS{deployment}/... */
#define SIM_AZURE_DEPLOYMENTS "/openai/deployments/" /* the deployment's name follows it */
void sim_azure_route(sim_worker *w, struct evhttp_request *req, const char *path,
                     enum evhttp_cmd_type cmd);

/* sim_embeddings.c: builds the answer into out, or returns false with a problem. */
bool sim_embeddings_body(sim_worker *w, json_object *body, const char *model_json,
                         struct evbuffer *out, long *prompt_tokens, sim_problem *problem);

/* sim_models.c */
bool sim_models_parse(sim_server *s, const char *list, char *err, size_t errlen);
void sim_models_free(sim_server *s);
/* The entry serving `name`: an exact match, else the wildcard; -1 when none. */
int sim_model_find(const sim_server *s, const char *name, size_t len);
/* The entry answering a request that names no model (vLLM: the first served one). */
int sim_model_default(const sim_server *s);
void sim_models_body(const sim_server *s, struct evbuffer *out);

/* sim_inflight.c: requests answered later. A kind embeds sim_inflight first and supplies ops. */
typedef struct sim_inflight_ops {
    void (*on_timer)(sim_inflight *fl);
    void (*destroy)(sim_inflight *fl); /* frees the kind's struct; never touches the request */
    bool uncounted; /* a /sim request waiting: not in the `active` or cancel counters */
} sim_inflight_ops;

struct sim_inflight {
    sim_inflight *prev, *next;
    const sim_inflight_ops *ops;
    sim_worker *worker;
    struct evhttp_request *req;
    struct evhttp_connection *conn;
    struct event timer;
    int model;     /* counted in vllm:num_requests_running; -1 = none */
    bool watching; /* reading the client socket ourselves to notice it leave */
    bool timer_pending;
};

/* Takes the request over until sim_inflight_end: a client that leaves calls destroy, counts
 * streams_cancelled and frees the request. watch_client is for requests that have not started
 * their response (evhttp reads nothing then, so it would not notice). */
void sim_inflight_begin(sim_inflight *fl, const sim_inflight_ops *ops, sim_worker *w,
                        struct evhttp_request *req, int model, bool watch_client);
void sim_inflight_arm(sim_inflight *fl, int delay_ms);
/* The request goes back to evhttp (still valid; the caller answers it next) and fl is freed. */
void sim_inflight_end(sim_inflight *fl);
/* Frees fl, then closes the connection (and so the request) without a complete answer. */
void sim_inflight_close(sim_inflight *fl);
/* The same, with a TCP RST rather than a clean close. */
void sim_inflight_reset(sim_inflight *fl);
/* Frees fl when its connection is already gone (so it is not touched). */
void sim_inflight_forget(sim_inflight *fl);
/* At shutdown: frees every in-flight state; evhttp_free then frees connections and requests. */
void sim_inflight_abandon_all(sim_worker *w);
/* Answers `body` (moved out) after delay_ms, honouring the cut/malformed faults in opt. */
void sim_delayed_reply(sim_worker *w, struct evhttp_request *req, const sim_options *opt,
                       int delay_ms, struct evbuffer *body, int model, long prompt_tokens,
                       long completion_tokens, bool length_limited);
/* Never answers; only a client that leaves (or sim_stop) ends it. */
void sim_hang(sim_worker *w, struct evhttp_request *req, int model);
/* Sends a 200 head promising content_length bytes of JSON, then never the body; ends as a hang. */
void sim_stall(sim_worker *w, struct evhttp_request *req, int model, size_t content_length);

/* sim_stream.c: the pacing and the faults of every stream; the frames are the format's. */
typedef struct sim_stream sim_stream;
typedef struct sim_stream_format {
    const char *content_type;
    /* The last step's frame carries the finish (MindIE, TGI): a stream that stops early writes
     * it as an ordinary frame, and a mid-error never writes it. */
    bool finish_in_last;
    void (*begin)(sim_stream *st, struct evbuffer *out); /* before the first step; may be NULL */
    /* Step `step` of choice `choice`; returns the completion tokens the frame carries. */
    int (*frame)(sim_stream *st, struct evbuffer *out, int choice, int step, bool last);
    void (*finish)(sim_stream *st, struct evbuffer *out);    /* after the last step; may be NULL */
    void (*malformed)(sim_stream *st, struct evbuffer *out); /* a broken frame */
    void (*mid_error)(sim_stream *st, struct evbuffer *out); /* the engine fails; then ends */
} sim_stream_format;

struct sim_stream {
    sim_inflight base;
    const sim_stream_format *fmt;
    sim_generation gen; /* owns its strings; gen.model_json points at model_json */
    sim_options opt;
    char *model_json;
    char *prefix; /* the format's own string: the OpenAI chunk prefix, SGLang's request id */
    size_t prefix_len;
    char id[64];       /* Anthropic's message id */
    int steps;         /* frames per choice */
    int step;          /* the next step */
    long token_chunks; /* step frames written, for the cut and after-first-token faults */
    long produced;     /* completion tokens in the frames written, all choices */
    bool draining;     /* a batch is in evhttp's output; wait for it to be written */
    bool tick_due;     /* the next step's time has come */
    bool closing;      /* cut, reset:N: close once the last batch is written */
    int reset_waits;   /* reset:N: polls spent waiting for the chunks to be sent */
};

/* A stream of `steps` frames per choice; takes gen's strings over (gen->tool, gen->stop and
 * gen->script are NULL afterwards). NULL when out of memory. */
sim_stream *sim_stream_new(sim_worker *w, const sim_stream_format *fmt, sim_generation *gen,
                           const sim_options *opt, int steps);
/* Frees a stream that never ran. */
void sim_stream_discard(sim_stream *st);
/* Sends the head and runs the stream; it frees itself. */
void sim_stream_run(sim_stream *st, struct evhttp_request *req);
/* The engine whose variant a shared format writes (MindIE's and TGI's differ in details). */
static inline sim_engine sim_stream_engine(const sim_stream *st) {
    return st->base.worker->server->engine;
}

/* sim_stats.c */
static inline void sim_count(atomic_long *counter, long delta) {
    atomic_fetch_add_explicit(counter, delta, memory_order_relaxed);
}
void sim_stats_success(sim_worker *w, int model, long prompt_tokens, long completion_tokens,
                       bool length_limited);
void sim_stats_body(const sim_server *s, struct evbuffer *out);
void sim_stats_reset(sim_server *s);
/* The engine's own metric names: vLLM's (openai, vllm), SGLang's or TGI's. */
void sim_metrics_body(const sim_server *s, struct evbuffer *out);

/* sim_last_request.c */
void sim_last_request_init(sim_last_request *last);
void sim_last_request_free(sim_last_request *last);
/* Records the method, the path with its query, the headers and the body. */
void sim_last_request_record(sim_worker *w, struct evhttp_request *req, const char *body,
                             size_t body_len);
/* Appends the JSON of the newest request recorded by any worker, or `null`. */
void sim_last_request_body(const sim_server *s, struct evbuffer *out);

#endif
