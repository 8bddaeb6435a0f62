/* Anthropic stream events as canonical chat.completion.chunks. Anthropic frames a message as
 * message_start, content blocks (each start / deltas / stop, by index), message_delta with the
 * stop reason and usage, then message_stop; OpenAI frames it as chunks of deltas with the
 * finish_reason last. The state remembers what a block is (its deltas name only its index) and
 * the usage and stop reason, which arrive before the end they belong to. */
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#include "core/json_parse.h"
#include "engines/anthropic_wire.h"

static int malformed(gw_engine_io *io, const char *why) {
    io->err = why;
    return GW_EVENT_MALFORMED;
}

static json_object *get(json_object *obj, const char *key) {
    json_object *v = NULL;
    if (!obj || !json_object_object_get_ex(obj, key, &v)) return NULL;
    return v;
}

static json_object *get_string(json_object *obj, const char *key) {
    json_object *v = get(obj, key);
    return v && json_object_is_type(v, json_type_string) ? v : NULL;
}

static const char *get_cstring(json_object *obj, const char *key) {
    json_object *v = get_string(obj, key);
    return v ? json_object_get_string(v) : NULL;
}

/* The start of a chunk, up to the delta's value. */
static void chunk_begin(gw_anthropic_stream *s) {
    s->chunk.len = 0;
    s->chunk.failed = 0;
    gw_strbuf_add(&s->chunk, s->prefix, s->prefix_len);
    gw_strbuf_adds(&s->chunk, ",\"choices\":[{\"index\":0,\"delta\":");
}

/* Closes the chunk with `finish` (an OpenAI finish_reason, or NULL) and hands it to the
 * caller's protocol. */
static int chunk_emit(gw_engine_io *io, gw_anthropic_stream *s, const char *finish) {
    gw_engine_add_finish(&s->chunk, finish);
    gw_strbuf_adds(&s->chunk, "}]}");
    if (s->chunk.failed) return malformed(io, "out of memory");
    if (gw_emit_chunk(io, s->chunk.data, s->chunk.len, s->prefix_len - 2, s->prefix_len) < 0)
        return GW_EVENT_MALFORMED;
    return GW_EVENT_CONTINUE;
}

/* A chunk whose delta is {"<key>":<value>}, value a JSON string from the event. */
static int emit_text(gw_engine_io *io, gw_anthropic_stream *s, const char *key,
                     json_object *value) {
    if (!json_object_get_string_len(value)) return GW_EVENT_CONTINUE; /* nothing to say */
    chunk_begin(s);
    gw_strbuf_adds(&s->chunk, "{\"");
    gw_strbuf_adds(&s->chunk, key);
    gw_strbuf_adds(&s->chunk, "\":");
    gw_strbuf_add_json(&s->chunk, value);
    gw_strbuf_adds(&s->chunk, "}");
    return chunk_emit(io, s, NULL);
}

/* The block record for an event's index, growing the table for a new one; NULL when the index
 * is missing or out of bounds. */
static gw_anthropic_block *block_at(gw_anthropic_stream *s, json_object *event, int grow) {
    json_object *index = get(event, "index");
    if (!index || !json_object_is_type(index, json_type_int)) return NULL;
    int64_t i = json_object_get_int64(index);
    if (i < 0 || i >= GW_ANTHROPIC_MAX_BLOCKS) return NULL;
    if ((size_t)i >= s->block_cap) {
        if (!grow) return NULL;
        size_t cap = s->block_cap ? s->block_cap : 8;
        while (cap <= (size_t)i)
            cap *= 2;
        gw_anthropic_block *blocks = realloc(s->blocks, cap * sizeof *blocks);
        if (!blocks) return NULL;
        memset(blocks + s->block_cap, 0, (cap - s->block_cap) * sizeof *blocks);
        s->blocks = blocks;
        s->block_cap = cap;
    }
    return &s->blocks[i];
}

static int on_message_start(gw_engine_io *io, gw_anthropic_stream *s, json_object *event) {
    if (s->started) return malformed(io, "a second message_start in one Anthropic stream");
    json_object *message = get(event, "message");
    json_object *id = get_string(message, "id");
    if (!message || !json_object_is_type(message, json_type_object))
        return malformed(io, "an Anthropic message_start without its message");
    gw_anthropic_usage_read(get(message, "usage"), &s->usage, &s->input_tokens);

    /* every chunk starts alike: built once */
    gw_strbuf p = {0};
    gw_anthropic_write_head(&p, id, "chat.completion.chunk");
    if (p.failed) {
        gw_strbuf_free(&p);
        return malformed(io, "out of memory");
    }
    s->prefix = p.data;
    s->prefix_len = p.len;
    s->started = 1;

    chunk_begin(s);
    gw_strbuf_adds(&s->chunk, "{\"role\":\"assistant\",\"content\":\"\"}");
    return chunk_emit(io, s, NULL);
}

static int on_block_start(gw_engine_io *io, gw_anthropic_stream *s, json_object *event) {
    json_object *content = get(event, "content_block");
    const char *type = get_cstring(content, "type");
    gw_anthropic_block *b = block_at(s, event, 1);
    if (!b || !type) return malformed(io, "an Anthropic content_block_start without index or type");
    *b = (gw_anthropic_block){0};
    if (!strcmp(type, "text")) {
        b->kind = GW_ANTHROPIC_BLOCK_TEXT;
        json_object *text = get_string(content, "text"); /* "" in practice */
        return text ? emit_text(io, s, "content", text) : GW_EVENT_CONTINUE;
    }
    if (!strcmp(type, "thinking")) {
        b->kind = GW_ANTHROPIC_BLOCK_THINKING;
        json_object *text = get_string(content, "thinking");
        return text ? emit_text(io, s, "reasoning_content", text) : GW_EVENT_CONTINUE;
    }
    if (strcmp(type, "tool_use")) return GW_EVENT_CONTINUE; /* no canonical form */
    json_object *id = get_string(content, "id"), *name = get_string(content, "name");
    if (!id || !name) return malformed(io, "an Anthropic tool_use block without id or name");
    b->kind = GW_ANTHROPIC_BLOCK_TOOL_USE;
    b->tool_index = s->tool_count++;
    /* the call's arguments follow as input_json_delta fragments */
    chunk_begin(s);
    gw_strbuf_adds(&s->chunk, "{\"tool_calls\":[{\"index\":");
    gw_strbuf_add_int(&s->chunk, b->tool_index);
    gw_strbuf_adds(&s->chunk, ",\"id\":");
    gw_strbuf_add_json(&s->chunk, id);
    gw_strbuf_adds(&s->chunk, ",\"type\":\"function\",\"function\":{\"name\":");
    gw_strbuf_add_json(&s->chunk, name);
    gw_strbuf_adds(&s->chunk, ",\"arguments\":\"\"}}]}");
    return chunk_emit(io, s, NULL);
}

static int on_block_delta(gw_engine_io *io, gw_anthropic_stream *s, json_object *event) {
    json_object *delta = get(event, "delta");
    const char *type = get_cstring(delta, "type");
    if (!type) return malformed(io, "an Anthropic content_block_delta without a delta type");
    gw_anthropic_block *b = block_at(s, event, 0);
    int kind = b ? b->kind : GW_ANTHROPIC_BLOCK_NONE;
    json_object *v;
    if (!strcmp(type, "text_delta")) {
        if (!(v = get_string(delta, "text"))) return malformed(io, "a text_delta without text");
        return emit_text(io, s, "content", v);
    }
    if (!strcmp(type, "thinking_delta")) {
        if (!(v = get_string(delta, "thinking")))
            return malformed(io, "a thinking_delta without thinking");
        return emit_text(io, s, "reasoning_content", v);
    }
    if (!strcmp(type, "input_json_delta")) {
        if (!(v = get_string(delta, "partial_json")))
            return malformed(io, "an input_json_delta without partial_json");
        /* a server tool's input (web search) is not the caller's to run */
        if (kind != GW_ANTHROPIC_BLOCK_TOOL_USE || !json_object_get_string_len(v))
            return GW_EVENT_CONTINUE;
        chunk_begin(s);
        gw_strbuf_adds(&s->chunk, "{\"tool_calls\":[{\"index\":");
        gw_strbuf_add_int(&s->chunk, b->tool_index);
        gw_strbuf_adds(&s->chunk, ",\"function\":{\"arguments\":");
        gw_strbuf_add_json(&s->chunk, v);
        gw_strbuf_adds(&s->chunk, "}}]}");
        return chunk_emit(io, s, NULL);
    }
    return GW_EVENT_CONTINUE; /* signature_delta, citations_delta, later kinds */
}

static int on_message_delta(gw_engine_io *io, gw_anthropic_stream *s, json_object *event) {
    (void)io;
    const char *finish =
        gw_anthropic_finish_reason(get_cstring(get(event, "delta"), "stop_reason"));
    if (finish) s->finish_reason = finish;
    /* output_tokens is a running total; newer versions repeat input and cache counts here */
    gw_anthropic_usage_read(get(event, "usage"), &s->usage, &s->input_tokens);
    return GW_EVENT_CONTINUE;
}

static int on_message_stop(gw_engine_io *io, gw_anthropic_stream *s) {
    chunk_begin(s);
    gw_strbuf_adds(&s->chunk, "{}");
    /* a stream that never said why it stopped still stopped */
    int rc = chunk_emit(io, s, s->finish_reason ? s->finish_reason : "stop");
    if (rc != GW_EVENT_CONTINUE) return rc;
    if (s->usage.known && io->r->include_usage) {
        s->chunk.len = 0;
        gw_strbuf_add(&s->chunk, s->prefix, s->prefix_len);
        gw_strbuf_adds(&s->chunk, ",\"choices\":[],\"usage\":");
        gw_anthropic_usage_write(&s->chunk, &s->usage);
        gw_strbuf_adds(&s->chunk, "}");
        if (s->chunk.failed) return malformed(io, "out of memory");
        if (gw_emit_chunk(io, s->chunk.data, s->chunk.len, s->prefix_len - 2, s->prefix_len) < 0)
            return GW_EVENT_MALFORMED;
    }
    if (s->usage.known) io->r->usage = s->usage;
    s->done = 1;
    gw_emit_end(io);
    return GW_EVENT_END;
}

/* An event's data: one JSON object. */
static json_object *parse(const char *data, size_t len) {
    return gw_json_object_only(gw_json_parse(data, len, GW_ANTHROPIC_JSON_DEPTH, 0));
}

/* Whether the event name is `name`. */
static int is(const char *event, size_t len, const char *name) {
    return strlen(name) == len && !memcmp(event, name, len);
}

int gw_anthropic_stream_event(gw_engine_io *io, const char *event, size_t event_len,
                              const char *data, size_t len) {
    gw_anthropic_stream *s = io->state;
    if (s->done) return GW_EVENT_CONTINUE; /* nothing belongs after message_stop */
    if (is(event, event_len, "ping")) return GW_EVENT_CONTINUE;
    json_object *root = NULL;
    char name[32];
    if (!event_len) {
        /* Anthropic names every event; a proxy that dropped the names still left the type */
        if (!(root = parse(data, len)))
            return malformed(io, "an Anthropic stream event is not a JSON object");
        const char *type = get_cstring(root, "type");
        if (!type || strlen(type) >= sizeof name) {
            json_object_put(root);
            return GW_EVENT_CONTINUE;
        }
        event_len = strlen(type);
        event = memcpy(name, type, event_len + 1);
        if (is(event, event_len, "ping")) {
            json_object_put(root);
            return GW_EVENT_CONTINUE;
        }
    }
    static const char *const known[] = {"message_start",
                                        "content_block_start",
                                        "content_block_delta",
                                        "content_block_stop",
                                        "message_delta",
                                        "message_stop",
                                        "error",
                                        NULL};
    size_t k = 0;
    while (known[k] && !is(event, event_len, known[k]))
        k++;
    if (!known[k] || !strcmp(known[k], "content_block_stop")) { /* unknown: Anthropic adds some */
        json_object_put(root);
        return GW_EVENT_CONTINUE;
    }
    if (!root && !(root = parse(data, len)))
        return malformed(io, "an Anthropic stream event is not a JSON object");
    int rc;
    if (!strcmp(known[k], "error"))
        rc = gw_anthropic_fail(io, root, data, len);
    else if (!strcmp(known[k], "message_start"))
        rc = on_message_start(io, s, root);
    else if (!s->started)
        rc = malformed(io, "an Anthropic stream event before message_start");
    else if (!strcmp(known[k], "content_block_start"))
        rc = on_block_start(io, s, root);
    else if (!strcmp(known[k], "content_block_delta"))
        rc = on_block_delta(io, s, root);
    else if (!strcmp(known[k], "message_delta"))
        rc = on_message_delta(io, s, root);
    else
        rc = on_message_stop(io, s);
    json_object_put(root);
    return rc;
}

int gw_anthropic_stream_end(gw_engine_io *io) {
    gw_anthropic_stream *s = io->state;
    /* Anthropic always ends a complete message with message_stop: without it, it was cut */
    return s->done ? 0 : -1;
}

void gw_anthropic_stream_free(void *state) {
    gw_anthropic_stream *s = state;
    free(s->prefix);
    gw_strbuf_free(&s->chunk);
    free(s->blocks);
    s->prefix = NULL;
    s->blocks = NULL;
    s->block_cap = 0;
}
