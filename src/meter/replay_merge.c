/* The merged view of a captured answer: its events read in order and assembled into the text,
 * the reasoning and the tool calls the caller ended up with. OpenAI's chunks (choices[0].delta:
 * content, reasoning_content or reasoning, tool_calls by index) and Anthropic's events
 * (content_block_start / _delta: text_delta, thinking_delta, input_json_delta), or a whole
 * answer of either (choices[0].message; content blocks). Only the first choice is assembled. */
#include <json-c/json.h>
#include <string.h>

#include "core/json_parse.h"
#include "core/strbuf.h"
#include "meter/request_query.h"

enum { MAX_TOOL_CALLS = 64, MAX_EVENT_JSON = 8 * 1024 * 1024 };

typedef struct tool_call {
    int index; /* OpenAI's tool_calls index, or Anthropic's content block index */
    gw_strbuf id, name, arguments;
} tool_call;

typedef struct merge {
    gw_strbuf content, reasoning;
    tool_call calls[MAX_TOOL_CALLS];
    size_t call_count;
    json_object *id, *model, *finish_reason, *usage, *error; /* references kept */
    size_t events, malformed;
    int has_content;
} merge;

static const char *str_of(json_object *o, const char *k, size_t *len) {
    json_object *v;
    if (!o || !json_object_object_get_ex(o, k, &v) || !json_object_is_type(v, json_type_string))
        return NULL;
    if (len) *len = (size_t)json_object_get_string_len(v);
    return json_object_get_string(v);
}

static json_object *member(json_object *o, const char *k) {
    json_object *v;
    return o && json_object_object_get_ex(o, k, &v) ? v : NULL;
}

static void keep(json_object **slot, json_object *v) {
    if (!v || json_object_is_type(v, json_type_null)) return;
    json_object_put(*slot);
    *slot = json_object_get(v);
}

static void keep_first(json_object **slot, json_object *v) {
    if (!*slot) keep(slot, v);
}

static void append(gw_strbuf *b, json_object *o, const char *k) {
    size_t len;
    const char *s = str_of(o, k, &len);
    if (s) gw_strbuf_add(b, s, len);
}

static tool_call *call_at(merge *m, int index) {
    for (size_t i = 0; i < m->call_count; i++)
        if (m->calls[i].index == index) return &m->calls[i];
    if (m->call_count == MAX_TOOL_CALLS) return NULL;
    tool_call *c = &m->calls[m->call_count++];
    memset(c, 0, sizeof *c);
    c->index = index;
    return c;
}

static void set_buf(gw_strbuf *b, json_object *o, const char *k) {
    size_t len;
    const char *s = str_of(o, k, &len);
    if (s) gw_strbuf_add(gw_strbuf_reset(b), s, len);
}

/* OpenAI: a chunk's delta or a whole answer's message. */
static void openai_choice(merge *m, json_object *choice) {
    json_object *part = member(choice, "delta");
    if (!part) part = member(choice, "message");
    if (part) {
        if (str_of(part, "content", NULL)) m->has_content = 1;
        append(&m->content, part, "content");
        append(&m->reasoning, part, "reasoning_content");
        append(&m->reasoning, part, "reasoning");
        json_object *calls = member(part, "tool_calls");
        size_t n = calls && json_object_is_type(calls, json_type_array)
                       ? json_object_array_length(calls)
                       : 0;
        for (size_t i = 0; i < n; i++) {
            json_object *tc = json_object_array_get_idx(calls, i), *idx = member(tc, "index");
            tool_call *c = call_at(m, idx ? json_object_get_int(idx) : (int)i);
            if (!c) break;
            set_buf(&c->id, tc, "id");
            json_object *fn = member(tc, "function");
            if (str_of(fn, "name", NULL)) set_buf(&c->name, fn, "name");
            append(&c->arguments, fn, "arguments");
        }
    }
    keep(&m->finish_reason, member(choice, "finish_reason"));
}

/* Anthropic: one stream event, or a whole message. */
static void anthropic_event(merge *m, json_object *o, const char *type) {
    if (!strcmp(type, "message_start")) {
        json_object *msg = member(o, "message");
        keep_first(&m->id, member(msg, "id"));
        keep_first(&m->model, member(msg, "model"));
        keep(&m->usage, member(msg, "usage"));
    } else if (!strcmp(type, "content_block_start")) {
        json_object *block = member(o, "content_block"), *idx = member(o, "index");
        const char *bt = str_of(block, "type", NULL);
        if (bt && !strcmp(bt, "tool_use")) {
            tool_call *c = call_at(m, idx ? json_object_get_int(idx) : 0);
            if (c) {
                set_buf(&c->id, block, "id");
                set_buf(&c->name, block, "name");
            }
        } else if (bt && !strcmp(bt, "text")) {
            m->has_content = 1;
            append(&m->content, block, "text");
        } else if (bt && !strcmp(bt, "thinking")) {
            append(&m->reasoning, block, "thinking");
        }
    } else if (!strcmp(type, "content_block_delta")) {
        json_object *delta = member(o, "delta"), *idx = member(o, "index");
        const char *dt = str_of(delta, "type", NULL);
        if (!dt) return;
        if (!strcmp(dt, "text_delta")) {
            m->has_content = 1;
            append(&m->content, delta, "text");
        } else if (!strcmp(dt, "thinking_delta")) {
            append(&m->reasoning, delta, "thinking");
        } else if (!strcmp(dt, "input_json_delta")) {
            tool_call *c = call_at(m, idx ? json_object_get_int(idx) : 0);
            if (c) append(&c->arguments, delta, "partial_json");
        }
    } else if (!strcmp(type, "message_delta")) {
        keep(&m->finish_reason, member(member(o, "delta"), "stop_reason"));
        keep(&m->usage, member(o, "usage"));
    } else if (!strcmp(type, "message")) { /* a whole answer */
        keep_first(&m->id, member(o, "id"));
        keep_first(&m->model, member(o, "model"));
        keep(&m->finish_reason, member(o, "stop_reason"));
        keep(&m->usage, member(o, "usage"));
        json_object *blocks = member(o, "content");
        size_t n = blocks && json_object_is_type(blocks, json_type_array)
                       ? json_object_array_length(blocks)
                       : 0;
        for (size_t i = 0; i < n; i++) {
            json_object *b = json_object_array_get_idx(blocks, i);
            const char *bt = str_of(b, "type", NULL);
            if (!bt) continue;
            if (!strcmp(bt, "text")) {
                m->has_content = 1;
                append(&m->content, b, "text");
            } else if (!strcmp(bt, "thinking")) {
                append(&m->reasoning, b, "thinking");
            } else if (!strcmp(bt, "tool_use")) {
                tool_call *c = call_at(m, (int)i);
                if (!c) continue;
                set_buf(&c->id, b, "id");
                set_buf(&c->name, b, "name");
                json_object *input = member(b, "input");
                if (input) gw_strbuf_add_json(gw_strbuf_reset(&c->arguments), input);
            }
        }
    } else if (!strcmp(type, "error")) {
        keep(&m->error, member(o, "error"));
    }
}

static void take(merge *m, const char *json, size_t len) {
    if (len == 0) return;
    if (len == 6 && !memcmp(json, "[DONE]", 6)) return;
    json_object *o = len <= MAX_EVENT_JSON ? gw_json_parse(json, len, 64, 0) : NULL;
    if (!o || !json_object_is_type(o, json_type_object)) {
        json_object_put(o);
        m->malformed++;
        return;
    }
    m->events++;
    json_object *choices = member(o, "choices");
    const char *type = str_of(o, "type", NULL);
    if (choices && json_object_is_type(choices, json_type_array)) {
        keep_first(&m->id, member(o, "id"));
        keep_first(&m->model, member(o, "model"));
        keep(&m->usage, member(o, "usage"));
        if (json_object_array_length(choices) > 0) {
            /* the first choice only (n > 1 answers are rare in logs) */
            json_object *first = NULL;
            for (size_t i = 0; i < json_object_array_length(choices) && !first; i++) {
                json_object *c = json_object_array_get_idx(choices, i), *idx = member(c, "index");
                if (!idx || json_object_get_int(idx) == 0) first = c;
            }
            if (first) openai_choice(m, first);
        }
    } else if (type) {
        anthropic_event(m, o, type);
    } else if (member(o, "error")) {
        keep(&m->error, member(o, "error"));
    } else if (member(o, "usage")) {
        keep(&m->usage, member(o, "usage")); /* a usage-only chunk */
    }
    json_object_put(o);
}

/* The data of each SSE event in one captured chunk (data lines of an event joined by "\n"). */
static void take_sse(merge *m, const char *s, size_t len, gw_strbuf *data) {
    gw_strbuf_reset(data);
    int have = 0;
    size_t i = 0;
    while (i <= len) {
        const char *nl = i < len ? memchr(s + i, '\n', len - i) : NULL;
        size_t end = nl ? (size_t)(nl - s) : len;
        size_t line_len = end - i;
        const char *line = s + i;
        if (line_len && line[line_len - 1] == '\r') line_len--;
        if (line_len == 0) { /* end of an event */
            if (have) take(m, data->data, data->len);
            gw_strbuf_reset(data);
            have = 0;
        } else if (line_len >= 5 && !memcmp(line, "data:", 5)) {
            size_t skip = line_len > 5 && line[5] == ' ' ? 6 : 5;
            if (have) gw_strbuf_add(data, "\n", 1);
            gw_strbuf_add(data, line + skip, line_len - skip);
            have = 1;
        }
        if (!nl) break;
        i = end + 1;
    }
    if (have) take(m, data->data, data->len); /* an event cut at the capture's end */
}

static json_object *string_or_null(const gw_strbuf *b, int present) {
    if (!present) return NULL;
    return json_object_new_string_len(b->data ? b->data : "", (int)b->len);
}

void gw_replay_merged(const gw_replay *r, const char *id, gw_strbuf *out) {
    merge m;
    memset(&m, 0, sizeof m);
    gw_strbuf data = {.max = MAX_EVENT_JSON};
    for (size_t i = 0; i < r->count; i++) {
        const char *ev = r->data + r->events[i].offset;
        size_t len = r->events[i].len;
        if (r->stream)
            take_sse(&m, ev, len, &data);
        else
            take(&m, ev, len);
    }
    gw_strbuf_free(&data);
    json_object *o = json_object_new_object();
    json_object_object_add(o, "object", json_object_new_string("request.merged"));
    json_object_object_add(o, "id", json_object_new_string(id));
    json_object_object_add(o, "response_id", json_object_get(m.id));
    json_object_object_add(o, "model", json_object_get(m.model));
    json_object_object_add(o, "stream", json_object_new_boolean(r->stream));
    json_object_object_add(o, "content", string_or_null(&m.content, m.has_content));
    json_object_object_add(o, "reasoning", string_or_null(&m.reasoning, m.reasoning.len > 0));
    json_object *calls = json_object_new_array();
    for (size_t i = 0; i < m.call_count; i++) {
        tool_call *c = &m.calls[i];
        json_object *call = json_object_new_object(), *fn = json_object_new_object();
        json_object_object_add(call, "id", string_or_null(&c->id, 1));
        json_object_object_add(call, "type", json_object_new_string("function"));
        json_object_object_add(fn, "name", string_or_null(&c->name, 1));
        json_object_object_add(fn, "arguments", string_or_null(&c->arguments, 1));
        json_object_object_add(call, "function", fn);
        json_object_array_add(calls, call);
        gw_strbuf_free(&c->id);
        gw_strbuf_free(&c->name);
        gw_strbuf_free(&c->arguments);
    }
    json_object_object_add(o, "tool_calls", calls);
    json_object_object_add(o, "finish_reason", json_object_get(m.finish_reason));
    json_object_object_add(o, "usage", json_object_get(m.usage));
    json_object_object_add(o, "error", json_object_get(m.error));
    json_object_object_add(o, "events", json_object_new_int64((int64_t)m.events));
    json_object_object_add(o, "malformed_events", json_object_new_int64((int64_t)m.malformed));
    json_object_object_add(o, "truncated", json_object_new_boolean(r->truncated));
    gw_strbuf_add_json(out, o);
    json_object_put(o);
    json_object_put(m.id);
    json_object_put(m.model);
    json_object_put(m.finish_reason);
    json_object_put(m.usage);
    json_object_put(m.error);
    gw_strbuf_free(&m.content);
    gw_strbuf_free(&m.reasoning);
}
