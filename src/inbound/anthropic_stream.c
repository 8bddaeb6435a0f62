/* Canonical chat.completion.chunk objects, one at a time, as Anthropic's stream events:
 * message_start, then content blocks (thinking, text, tool_use) each opened, fed deltas and
 * closed with increasing indices, then message_delta (stop reason, usage) and message_stop.
 * Engines differ in what they send: a first chunk with only delta.role, delta.role repeated in
 * every chunk (MindIE), reasoning as reasoning_content or reasoning, "usage":null on every
 * chunk, usage in a chunk of its own with "choices":[] (vLLM) or in the finish_reason chunk
 * (MindIE); all of these are read the same way. */
#include <event2/buffer.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json_parse.h"
#include "core/json_string.h"
#include "core/strbuf.h"
#include "inbound/anthropic.h"
#include "inbound/frames.h"

typedef enum { BLOCK_NONE, BLOCK_THINKING, BLOCK_TEXT, BLOCK_TOOL } block_kind;

typedef struct stream_state {
    json_tokener *tok; /* one for the whole stream */
    int started;       /* message_start sent */
    int ended;         /* message_stop or an error sent: nothing follows */
    block_kind open;
    unsigned block;  /* index of the open block */
    unsigned blocks; /* blocks opened so far: the next one's index */
    /* the open tool call, as the engine numbers it, and its id: a fragment with another index
     * or id begins the next call */
    int64_t tool_index;
    char *tool_id;
    size_t tool_calls;
    char finish[24];   /* finish_reason, "" until one came; longer ones mean nothing to us */
    char *stop_string; /* vLLM's choices[].stop_reason when a stop string ended the turn */
    gw_usage usage;
    int has_usage;
} stream_state;

static stream_state *state_of(gw_req *r) {
    if (!r->protocol_state) r->protocol_state = calloc(1, sizeof(stream_state));
    return r->protocol_state;
}

void gw_anthropic_in_free_state(gw_req *r) {
    stream_state *s = r->protocol_state;
    if (!s) return;
    if (s->tok) json_tokener_free(s->tok);
    free(s->tool_id);
    free(s->stop_string);
    free(s);
    r->protocol_state = NULL;
}

/* A string literal, its length counted by the compiler. */
#define ADD(out, lit) gw_strbuf_add((out), (lit), sizeof(lit) - 1)

static void add_json_string(gw_strbuf *out, const char *s, size_t len) {
    gw_strbuf_add(out, "\"", 1);
    gw_strbuf_add_json_escaped(out, s, len);
    gw_strbuf_add(out, "\"", 1);
}

static void add_unsigned(gw_strbuf *out, unsigned v) {
    char digits[16], *d = digits + sizeof digits;
    do
        *--d = (char)('0' + v % 10);
    while (v /= 10);
    gw_strbuf_add(out, d, (size_t)(digits + sizeof digits - d));
}

static void frame(gw_strbuf *out, const char *event) {
    ADD(out, "event: ");
    gw_strbuf_adds(out, event);
    ADD(out, "\ndata: ");
}

static void usage_field(gw_strbuf *out, const char *key_json, long long v) {
    gw_strbuf_adds(out, key_json);
    gw_strbuf_add_int(out, v);
}

static void usage_fields(gw_strbuf *out, const gw_anthropic_in_usage *a, int output_first) {
    if (output_first) {
        usage_field(out, "\"output_tokens\":", (long long)a->output_tokens);
        usage_field(out, ",\"input_tokens\":", (long long)a->input_tokens);
        usage_field(out, ",\"cache_read_input_tokens\":", (long long)a->cache_read_input_tokens);
        usage_field(out,
                    ",\"cache_creation_input_tokens\":", (long long)a->cache_creation_input_tokens);
    } else {
        usage_field(out, "\"input_tokens\":", (long long)a->input_tokens);
        usage_field(out,
                    ",\"cache_creation_input_tokens\":", (long long)a->cache_creation_input_tokens);
        usage_field(out, ",\"cache_read_input_tokens\":", (long long)a->cache_read_input_tokens);
        usage_field(out, ",\"output_tokens\":", (long long)a->output_tokens);
    }
}

/* Input tokens are not known yet in an OpenAI stream (they come with the usage at the end),
 * so 0, as other converters send; message_delta carries them. A first chunk that already has
 * usage (vLLM's continuous_usage_stats) gives them now. */
static void message_start(gw_req *r, stream_state *s, gw_strbuf *out, json_object *root) {
    char id[256];
    size_t id_len = gw_anthropic_in_message_id(id, sizeof id, r, root);
    size_t model_len;
    const char *model = gw_anthropic_in_model_name(r, &model_len);
    gw_usage u;
    gw_anthropic_in_usage a = {0};
    if (gw_anthropic_in_read_usage(gw_anthropic_in_member(root, "usage", json_type_object), &u))
        gw_anthropic_in_usage_of(r, &u, &a);
    frame(out, "message_start");
    ADD(out, "{\"type\":\"message_start\",\"message\":{\"id\":");
    add_json_string(out, id, id_len);
    ADD(out, ",\"type\":\"message\",\"role\":\"assistant\",\"model\":");
    add_json_string(out, model, model_len);
    ADD(out, ",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,"
             "\"usage\":{");
    usage_fields(out, &a, 0);
    ADD(out, "}}}\n\n");
    s->started = 1;
}

static void close_block(stream_state *s, gw_strbuf *out) {
    if (s->open == BLOCK_NONE) return;
    frame(out, "content_block_stop");
    ADD(out, "{\"type\":\"content_block_stop\",\"index\":");
    add_unsigned(out, s->block);
    ADD(out, "}\n\n");
    s->open = BLOCK_NONE;
}

/* Closes the open block and begins content_block_start for the next index; the caller writes
 * the content_block itself and the frame's end, as only it knows the block's members. */
static void begin_block(stream_state *s, gw_strbuf *out, block_kind kind) {
    close_block(s, out);
    s->block = s->blocks++;
    s->open = kind;
    frame(out, "content_block_start");
    ADD(out, "{\"type\":\"content_block_start\",\"index\":");
    add_unsigned(out, s->block);
    ADD(out, ",\"content_block\":");
}

static void delta(stream_state *s, gw_strbuf *out, const char *type, const char *field,
                  json_object *text) {
    frame(out, "content_block_delta");
    ADD(out, "{\"type\":\"content_block_delta\",\"index\":");
    add_unsigned(out, s->block);
    ADD(out, ",\"delta\":{\"type\":\"");
    gw_strbuf_adds(out, type);
    ADD(out, "\",\"");
    gw_strbuf_adds(out, field);
    ADD(out, "\":");
    add_json_string(out, json_object_get_string(text), (size_t)json_object_get_string_len(text));
    ADD(out, "}}\n\n");
}

static void text_delta(stream_state *s, gw_strbuf *out, block_kind kind, json_object *text) {
    if (s->open != kind) {
        begin_block(s, out, kind);
        if (kind == BLOCK_THINKING)
            ADD(out, "{\"type\":\"thinking\",\"thinking\":\"\",\"signature\":\"\"}}\n\n");
        else
            ADD(out, "{\"type\":\"text\",\"text\":\"\"}}\n\n");
    }
    if (kind == BLOCK_THINKING)
        delta(s, out, "thinking_delta", "thinking", text);
    else
        delta(s, out, "text_delta", "text", text);
}

/* One delta.tool_calls[] fragment. A fragment begins a new call when its id differs from the
 * open call's, else (no id) when its index does, else (neither) when it names a function or no
 * call is open; its arguments follow as input_json_delta, unchecked (the client joins them). */
static int tool_fragment(gw_req *r, stream_state *s, json_object *frag, gw_strbuf *out,
                         const char **err) {
    if (!json_object_is_type(frag, json_type_object)) {
        *err = "a tool call fragment of the engine's stream is not an object";
        return -1;
    }
    json_object *index = gw_anthropic_in_member(frag, "index", json_type_int);
    json_object *id = gw_anthropic_in_text(frag, "id");
    json_object *fn = gw_anthropic_in_member(frag, "function", json_type_object);
    json_object *name = gw_anthropic_in_text(fn, "name");
    json_object *args = gw_anthropic_in_text(fn, "arguments");
    int tool_open = s->open == BLOCK_TOOL;
    int is_new;
    if (id)
        is_new = !tool_open || !s->tool_id || strcmp(s->tool_id, json_object_get_string(id));
    else if (index)
        is_new = !tool_open || json_object_get_int64(index) != s->tool_index;
    else /* neither: a name begins a call (engines repeat no names without an index) */
        is_new = !tool_open || name;
    if (is_new) {
        if (!name) {
            *err = "a tool call of the engine's stream began without a function name";
            return -1;
        }
        char gen[80];
        const char *idtext = id ? json_object_get_string(id) : NULL;
        if (!idtext) { /* some engines send none; the client needs one to answer with */
            gw_anthropic_in_tool_id(gen, sizeof gen, r, s->tool_calls);
            idtext = gen;
        }
        char *copy = strdup(idtext);
        if (!copy) {
            *err = "out of memory";
            return -1;
        }
        free(s->tool_id);
        s->tool_id = copy;
        s->tool_index = index ? json_object_get_int64(index) : (int64_t)s->tool_calls;
        s->tool_calls++;
        begin_block(s, out, BLOCK_TOOL);
        ADD(out, "{\"type\":\"tool_use\",\"id\":");
        add_json_string(out, copy, strlen(copy));
        ADD(out, ",\"name\":");
        add_json_string(out, json_object_get_string(name),
                        (size_t)json_object_get_string_len(name));
        ADD(out, ",\"input\":{}}}\n\n");
    }
    if (args) delta(s, out, "input_json_delta", "partial_json", args);
    return 0;
}

static int choice(gw_req *r, stream_state *s, json_object *ch, gw_strbuf *out, const char **err) {
    json_object *d = gw_anthropic_in_member(ch, "delta", json_type_object);
    json_object *reasoning = gw_anthropic_in_text(d, "reasoning_content");
    if (!reasoning) reasoning = gw_anthropic_in_text(d, "reasoning");
    if (reasoning) text_delta(s, out, BLOCK_THINKING, reasoning);
    json_object *text = gw_anthropic_in_text(d, "content");
    if (text) text_delta(s, out, BLOCK_TEXT, text);
    json_object *refusal = gw_anthropic_in_text(d, "refusal");
    if (refusal) text_delta(s, out, BLOCK_TEXT, refusal);
    json_object *calls = gw_anthropic_in_member(d, "tool_calls", json_type_array);
    for (size_t i = 0, n = calls ? json_object_array_length(calls) : 0; i < n; i++)
        if (tool_fragment(r, s, json_object_array_get_idx(calls, i), out, err)) return -1;

    json_object *finish = gw_anthropic_in_text(ch, "finish_reason");
    if (finish) {
        snprintf(s->finish, sizeof s->finish, "%s", json_object_get_string(finish));
        /* vLLM: the matched stop string */
        json_object *stop = gw_anthropic_in_text(ch, "stop_reason");
        if (stop) {
            char *copy = strdup(json_object_get_string(stop));
            if (!copy) {
                *err = "out of memory";
                return -1;
            }
            free(s->stop_string);
            s->stop_string = copy;
        }
        close_block(s, out); /* the turn is over; only usage may follow */
    }
    return 0;
}

/* Whether the bytes at p (before end) begin with the literal. */
static int begins(const char *p, const char *end, const char *literal, size_t len) {
    return (size_t)(end - p) >= len && !memcmp(p, literal, len);
}
#define BEGINS(p, end, literal) begins(p, end, literal, sizeof literal - 1)

/* One pass over a chunk's quotes: where its "content":" is (NULL when it has none or several),
 * or NULL when anything a chunk of plain text never holds is there (a tool call, reasoning, a
 * refusal, a finish, usage, another choice). Every pattern begins with a quote, so looking at
 * each quote finds exactly what a search for each pattern would; none can match inside a JSON
 * string, where quotes are escaped (a search for eight patterns cost ~4k instructions a chunk). */
static const char *plain_content_key(const gw_chunk *c) {
    const char *p = c->json, *end = c->json + c->len, *content = NULL;
    while (p < end && (p = memchr(p, '"', (size_t)(end - p)))) {
        const char *q = ++p; /* after the quote */
        switch (q < end ? *q : '\0') {
        case 'c':
            if (BEGINS(q, end, "content\":\"")) {
                if (content) return NULL;
                content = q - 1;
            }
            break;
        case 't':
            if (BEGINS(q, end, "tool_calls\":[{")) return NULL;
            break;
        case 'r':
            if (BEGINS(q, end, "reasoning_content\":\"") || BEGINS(q, end, "reasoning\":\"") ||
                BEGINS(q, end, "refusal\":\""))
                return NULL;
            break;
        case 'f':
            if (BEGINS(q, end, "finish_reason\":\"")) return NULL;
            break;
        case 'u':
            if (BEGINS(q, end, "usage\":{")) return NULL;
            break;
        case 'i':
            if (BEGINS(q, end, "index\":1")) return NULL;
            break;
        default:
            break;
        }
    }
    return content;
}

/* Most chunks of a stream carry one piece of text and nothing else. Such a chunk becomes its
 * text_delta without being parsed: canonical chunks are valid JSON (the adapters validated or
 * built them), so the content's string literal is copied as it is. Anything else (the first
 * chunk, another kind of delta, a finish, usage, several choices) takes the full path. Returns
 * 1 when the chunk was handled. */
static int plain_text_chunk(stream_state *s, const gw_chunk *c, gw_strbuf *out) {
    static const char key[] = "\"content\":\"";
    if (!s->started || s->open != BLOCK_TEXT) return 0;
    const char *at = plain_content_key(c);
    if (!at) return 0;
    const char *lit = at + sizeof key - 2, *end = c->json + c->len, *p = lit + 1;
    while (p < end && *p != '"')
        p += *p == '\\' ? 2 : 1;
    if (p >= end) return 0;
    if (p == lit + 1) return 1; /* an empty piece of text: no event */
    static const char head[] =
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\","
        "\"index\":";
    static const char tail[] = ",\"delta\":{\"type\":\"text_delta\",\"text\":";
    char index[16], *i = index + sizeof index;
    unsigned v = s->block;
    do
        *--i = (char)('0' + v % 10);
    while (v /= 10);
    size_t n = sizeof head - 1 + (size_t)(index + sizeof index - i) + sizeof tail - 1 +
               (size_t)(p + 1 - lit) + 4;
    char *w = gw_frames_room(out, n);
    if (!w) return 1; /* out of memory: latched in out, which the attempt reports */
    w = gw_frames_put(w, head, sizeof head - 1);
    w = gw_frames_put(w, i, (size_t)(index + sizeof index - i));
    w = gw_frames_put(w, tail, sizeof tail - 1);
    w = gw_frames_put(w, lit, (size_t)(p + 1 - lit));
    memcpy(w, "}}\n\n", 4);
    gw_frames_commit(out, n);
    return 1;
}

int gw_anthropic_in_stream_chunk(gw_req *r, const gw_chunk *c, gw_strbuf *out, const char **err) {
    stream_state *s = state_of(r);
    if (!s || (!s->tok &&
               !(s->tok = gw_json_tokener_new(GW_ANTHROPIC_IN_JSON_DEPTH, JSON_TOKENER_STRICT)))) {
        *err = "out of memory";
        return -1;
    }
    if (s->ended || plain_text_chunk(s, c, out)) return 0;
    json_object *root = gw_json_object_only(gw_json_parse_with(s->tok, c->json, c->len));
    if (!root) {
        *err = "a chunk of the engine's stream is not a JSON object";
        return -1;
    }
    if (!s->started) message_start(r, s, out, root);
    int rc = 0;
    json_object *choices = gw_anthropic_in_member(root, "choices", json_type_array);
    for (size_t i = 0, n = choices ? json_object_array_length(choices) : 0; i < n; i++) {
        json_object *ch = json_object_array_get_idx(choices, i);
        json_object *index = gw_anthropic_in_member(ch, "index", json_type_int);
        if (index && json_object_get_int64(index) != 0) continue; /* only choices[0] */
        rc = choice(r, s, ch, out, err);
        break;
    }
    gw_usage u;
    if (rc == 0 &&
        gw_anthropic_in_read_usage(gw_anthropic_in_member(root, "usage", json_type_object), &u)) {
        s->usage = u; /* running totals (continuous_usage_stats): the last one holds */
        s->has_usage = 1;
    }
    json_object_put(root);
    return rc;
}

void gw_anthropic_in_stream_end(gw_req *r, gw_strbuf *out) {
    stream_state fallback = {0}; /* no state could be allocated: nothing was sent yet */
    stream_state *s = state_of(r);
    if (!s) s = &fallback;
    if (s->ended) return;
    if (!s->started) message_start(r, s, out, NULL);
    close_block(s, out);
    const char *reason = gw_anthropic_in_stop_reason(s->finish[0] ? s->finish : NULL,
                                                     s->tool_calls > 0, s->stop_string != NULL);
    gw_anthropic_in_usage a;
    gw_anthropic_in_usage_of(r, s->has_usage ? &s->usage : NULL, &a);
    frame(out, "message_delta");
    ADD(out, "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":");
    add_json_string(out, reason, strlen(reason));
    ADD(out, ",\"stop_sequence\":");
    if (!strcmp(reason, "stop_sequence"))
        add_json_string(out, s->stop_string, strlen(s->stop_string));
    else
        ADD(out, "null");
    ADD(out, "},\"usage\":{");
    usage_fields(out, &a, 1);
    ADD(out, "}}\n\n");
    frame(out, "message_stop");
    ADD(out, "{\"type\":\"message_stop\"}\n\n");
    s->ended = 1;
}

/* Anthropic ends a failed stream with the error event alone, the open block left open: the
 * SDKs raise on it. A message_start comes first when nothing was sent, so the SDK's stream
 * reader has a message to fail. */
void gw_anthropic_in_stream_error(gw_req *r, const gw_error_info *e, gw_strbuf *out) {
    stream_state fallback = {0};
    stream_state *s = state_of(r);
    if (!s) s = &fallback;
    if (s->ended) return;
    if (!s->started) message_start(r, s, out, NULL);
    frame(out, "error");
    struct evbuffer *error = evbuffer_new(); /* once a stream at most: its writer takes one */
    if (error) {
        gw_anthropic_in_error_json(error, e);
        gw_frames_take(out, error);
        evbuffer_free(error);
    } else {
        out->failed = 1; /* the attempt reports the memory, as for any frame */
    }
    ADD(out, "\n\n");
    s->ended = 1;
}
