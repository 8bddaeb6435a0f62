/* Canonical answers through the request's response guards (r->text_hook). Every text a chunk or
 * a whole answer carries for the caller (engines/text_fields.h finds them: each choice's content
 * or completion text, its reasoning, each tool call's arguments) is decoded, handed to the
 * guards as a text of its own, and the JSON written again with what they released.
 *
 * In a stream a text runs over many chunks, and a guard may hold its end back until the next
 * piece decides it. A text ends (final: the guards release all they hold) when its choice moves
 * on to another text (reasoning to content, one tool call to the next), when its choice
 * finishes, or when the stream ends. What is still held then goes out in a chunk of its own,
 * shaped like the text's own chunks, just before the chunk that moved on or finished: so
 * reasoning never trails into the content and a tool call's arguments never into the next
 * call, as Anthropic's content blocks require. Each running text has a slot (r->guard_text):
 * one per choice, so streams of up to GW_TEXT_SLOTS choices. A guard's error ends the answer
 * (io->blocked). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json_string.h"
#include "core/strbuf.h"
#include "engines/engine.h"
#include "engines/text_fields.h"

static int guard_failed(gw_engine_io *io) {
    io->blocked = 1;
    io->err = "a response guard ended the answer";
    return -1;
}

/* The answer has more texts than the guards follow: refused, in the caller's protocol. */
static int too_many(gw_engine_io *io, const char *what) {
    snprintf(io->error_message, sizeof io->error_message,
             "the response guards check at most %s (request id %s)", what, io->r->id);
    io->error = (gw_error_info){.status = 400,
                                .type = "invalid_request_error",
                                .code = "too_many_choices",
                                .param = "n",
                                .message = io->error_message,
                                .message_len = strlen(io->error_message)};
    return guard_failed(io);
}

static int spans_of(gw_engine_io *io, const char *json, size_t len, gw_text_span *spans,
                    size_t *count) {
    int rc = gw_text_spans(json, len, spans, GW_TEXT_SPANS_MAX, count);
    if (rc == -2) return too_many(io, "64 texts (choices, reasoning, tool calls) in one answer");
    if (rc < 0) io->err = "a malformed chunk in the engine's answer";
    return rc;
}

/* The guards, appending to out what they release. */
static int run_hook(gw_engine_io *io, gw_text_field field, const char *text, size_t len, int final,
                    gw_strbuf *out) {
    gw_req *r = io->r;
    if (r->text_hook(r, field, text, len, final, out, &io->error, io->error_message,
                     sizeof io->error_message) < 0)
        return guard_failed(io);
    if (out->failed) {
        io->err = "out of memory";
        return -1;
    }
    return 0;
}

static int is_text(const gw_text_span *s) {
    return s->kind != GW_TEXT_SPAN_FINISH && s->end > s->start;
}

/* One text: the same kind, and for tool calls the same call. */
static int same_text(uint8_t kind, int has_index, int64_t index, const gw_text_span *s) {
    if (kind != s->kind) return 0;
    if (kind != GW_TEXT_TOOL_ARGS) return 1;
    return has_index == s->has_tool_index && (!has_index || index == s->tool_index);
}

static int slot_same(const gw_guard_text *t, const gw_text_span *s) {
    return same_text(t->kind, t->has_tool_index, t->tool_index, s);
}

static int spans_same(const gw_text_span *a, const gw_text_span *b) {
    return same_text(a->kind, a->has_tool_index, a->tool_index, b);
}

/* Reasoning, content, then tool calls, then the finish: the order of Anthropic's blocks. */
static int rank(const gw_text_span *s) {
    switch (s->kind) {
    case GW_TEXT_REASONING:
        return 0;
    case GW_TEXT_CONTENT:
        return 1;
    case GW_TEXT_TOOL_ARGS:
        return 2;
    default:
        return 3;
    }
}

/* The order the guards see a chunk's spans in: by choice, then rank, then document order. */
static void order_spans(const gw_text_span *s, size_t n, uint8_t *order) {
    for (size_t i = 0; i < n; i++) {
        size_t j = i;
        for (; j > 0; j--) {
            const gw_text_span *p = &s[order[j - 1]];
            if (p->choice < s[i].choice || (p->choice == s[i].choice && rank(p) <= rank(&s[i])))
                break;
            order[j] = order[j - 1];
        }
        order[j] = (uint8_t)i;
    }
}

static int slot_of_choice(const gw_req *r, int64_t choice) {
    for (int i = 0; i < GW_TEXT_SLOTS; i++)
        if (r->guard_text[i].open && r->guard_text[i].choice == choice) return i;
    return -1;
}

static int slot_free(const gw_req *r) {
    for (int i = 0; i < GW_TEXT_SLOTS; i++)
        if (!r->guard_text[i].open) return i;
    return -1;
}

/* A chunk that carries only `text` for the slot's text: written like the engine's own. */
static int emit_held(gw_engine_io *io, const gw_guard_text *t, const gw_strbuf *text) {
    gw_req *r = io->r;
    int completions = r->api == GW_API_COMPLETIONS;
    gw_strbuf *c = gw_strbuf_reset(&r->guard_buf[GW_GUARD_CHUNK]);
    size_t model_at =
        gw_engine_add_head(c, "chatcmpl-", r->id, strlen(r->id),
                           completions ? "text_completion" : "chat.completion.chunk", 0);
    gw_strbuf_adds(c, ",\"choices\":[{\"index\":");
    gw_strbuf_add_int(c, t->choice);
    if (completions)
        gw_strbuf_adds(c, ",\"text\":\"");
    else if (t->kind == GW_TEXT_CONTENT)
        gw_strbuf_adds(c, ",\"delta\":{\"content\":\"");
    else if (t->kind == GW_TEXT_REASONING)
        gw_strbuf_adds(c, t->reasoning_key ? ",\"delta\":{\"reasoning\":\""
                                           : ",\"delta\":{\"reasoning_content\":\"");
    else if (t->has_tool_index) {
        gw_strbuf_adds(c, ",\"delta\":{\"tool_calls\":[{\"index\":");
        gw_strbuf_add_int(c, t->tool_index);
        gw_strbuf_adds(c, ",\"function\":{\"arguments\":\"");
    } else {
        gw_strbuf_adds(c, ",\"delta\":{\"tool_calls\":[{\"function\":{\"arguments\":\"");
    }
    gw_strbuf_add_json_escaped(c, text->data, text->len);
    gw_strbuf_adds(c, completions ? "\"" : t->kind == GW_TEXT_TOOL_ARGS ? "\"}}]}" : "\"}");
    gw_engine_add_finish(c, NULL);
    gw_strbuf_adds(c, "}]}");
    if (c->failed) {
        io->err = "out of memory";
        return -1;
    }
    return gw_emit_chunk_raw(io, c->data, c->len, model_at, model_at + 2);
}

/* The slot's text ends: what the guards still hold goes out in a chunk of its own, and the
 * slot is free. */
static int end_text(gw_engine_io *io, int slot) {
    gw_req *r = io->r;
    gw_guard_text t = r->guard_text[slot];
    r->guard_text[slot].open = 0;
    gw_strbuf *out = gw_strbuf_reset(&r->guard_buf[GW_GUARD_FLUSH]);
    gw_text_field field = {(gw_text_kind)t.kind, (unsigned)slot, 0};
    if (run_hook(io, field, NULL, 0, 1, out) < 0) return -1;
    return out->len ? emit_held(io, &t, out) : 0;
}

/* The JSON again, each guarded literal replaced by what the guards released for it (escaped),
 * the model's span moved along; then out through the protocol. */
static int rewrite(gw_engine_io *io, const char *json, size_t len, size_t model_start,
                   size_t model_end, const gw_text_span *spans, size_t n, const uint8_t *guarded,
                   const size_t *off, const size_t *rel_len, int whole) {
    gw_req *r = io->r;
    const gw_strbuf *released = &r->guard_buf[GW_GUARD_RELEASED];
    gw_strbuf *b = gw_strbuf_reset(&r->guard_buf[GW_GUARD_CHUNK]);
    size_t at = 0, shift_start = model_start, shift_end = model_end;
    for (size_t i = 0; i < n; i++) {
        if (!guarded[i]) continue;
        gw_strbuf_add(b, json + at, spans[i].start - at);
        size_t before = b->len;
        gw_strbuf_add_json_escaped(b, rel_len[i] ? released->data + off[i] : "", rel_len[i]);
        size_t grown = b->len - before, was = spans[i].end - spans[i].start;
        if (model_end && spans[i].start < model_start) { /* the model member comes after it */
            shift_start = shift_start - was + grown;
            shift_end = shift_end - was + grown;
        }
        at = spans[i].end;
    }
    gw_strbuf_add(b, json + at, len - at);
    if (b->failed) {
        io->err = "out of memory";
        return -1;
    }
    return whole ? gw_emit_response_raw(io, b->data, b->len, shift_start, shift_end)
                 : gw_emit_chunk_raw(io, b->data, b->len, shift_start, shift_end);
}

/* One literal decoded and through the guards; what they released is appended to released. */
static int guard_span(gw_engine_io *io, const char *json, const gw_text_span *s, unsigned slot,
                      int start, int final) {
    gw_req *r = io->r;
    gw_strbuf *text = gw_strbuf_reset(&r->guard_buf[GW_GUARD_TEXT]);
    if (gw_json_string_decode(json + s->start, s->end - s->start, text) < 0 || text->failed) {
        io->err = "a malformed string in the engine's answer";
        return -1;
    }
    gw_text_field field = {(gw_text_kind)s->kind, slot, start};
    return run_hook(io, field, text->data ? text->data : "", text->len, final,
                    &r->guard_buf[GW_GUARD_RELEASED]);
}

/* The texts running belong to one attempt at a channel: a failover starts them afresh (it
 * happens before anything reached the caller, and the first chunk an attempt passes on always
 * writes something, so this is a belt to those braces). */
static void follow_attempt(gw_req *r) {
    if (r->guard_attempt == r->attempt_count) return;
    memset(r->guard_text, 0, sizeof r->guard_text);
    r->guard_attempt = r->attempt_count;
}

int gw_text_guard_chunk(gw_engine_io *io, const char *json, size_t len, size_t model_start,
                        size_t model_end) {
    gw_req *r = io->r;
    follow_attempt(r);
    gw_text_span spans[GW_TEXT_SPANS_MAX];
    size_t n;
    if (spans_of(io, json, len, spans, &n) < 0) return -1;
    int any = 0;
    for (size_t i = 0; i < n && !any; i++)
        any = is_text(&spans[i]) || spans[i].kind == GW_TEXT_SPAN_FINISH;
    if (!any) return gw_emit_chunk_raw(io, json, len, model_start, model_end);

    uint8_t order[GW_TEXT_SPANS_MAX], guarded[GW_TEXT_SPANS_MAX] = {0};
    size_t off[GW_TEXT_SPANS_MAX], rel_len[GW_TEXT_SPANS_MAX];
    order_spans(spans, n, order);
    gw_strbuf *released = gw_strbuf_reset(&r->guard_buf[GW_GUARD_RELEASED]);
    for (size_t k = 0, end; k < n; k = end) {
        int64_t choice = spans[order[k]].choice;
        const gw_text_span *first = NULL;
        int finish = 0;
        for (end = k; end < n && spans[order[end]].choice == choice; end++) {
            const gw_text_span *s = &spans[order[end]];
            if (s->kind == GW_TEXT_SPAN_FINISH) finish = 1;
            if (!first && is_text(s)) first = s;
        }
        /* the choice moves on from its running text, or finishes: that text ends first */
        int open = slot_of_choice(r, choice);
        if (open >= 0 && (first ? !slot_same(&r->guard_text[open], first) : finish) &&
            end_text(io, open) < 0)
            return -1;
        for (size_t j = k; j < end; j++) {
            const gw_text_span *s = &spans[order[j]], *next = NULL;
            if (!is_text(s)) continue;
            for (size_t m = j + 1; m < end && !next; m++)
                if (is_text(&spans[order[m]])) next = &spans[order[m]];
            int final = next ? !spans_same(s, next) : finish;
            int slot = slot_of_choice(r, choice), start = slot < 0;
            if (start) {
                if ((slot = slot_free(r)) < 0) return too_many(io, "8 choices of a stream");
                r->guard_text[slot] = (gw_guard_text){.open = 1,
                                                      .kind = s->kind,
                                                      .reasoning_key = s->reasoning_key,
                                                      .has_tool_index = s->has_tool_index,
                                                      .choice = choice,
                                                      .tool_index = s->tool_index};
            }
            off[order[j]] = released->len;
            if (guard_span(io, json, s, (unsigned)slot, start, final) < 0) return -1;
            rel_len[order[j]] = released->len - off[order[j]];
            guarded[order[j]] = 1;
            if (final) r->guard_text[slot].open = 0;
        }
    }
    return rewrite(io, json, len, model_start, model_end, spans, n, guarded, off, rel_len, 0);
}

/* A whole answer: every text is complete, each through the guards at once. */
int gw_text_guard_response(gw_engine_io *io, const char *json, size_t len, size_t model_start,
                           size_t model_end) {
    gw_text_span spans[GW_TEXT_SPANS_MAX];
    uint8_t guarded[GW_TEXT_SPANS_MAX] = {0};
    size_t n, off[GW_TEXT_SPANS_MAX], rel_len[GW_TEXT_SPANS_MAX];
    if (spans_of(io, json, len, spans, &n) < 0) return -1;
    gw_strbuf *released = gw_strbuf_reset(&io->r->guard_buf[GW_GUARD_RELEASED]);
    int any = 0;
    for (size_t i = 0; i < n; i++) {
        if (!is_text(&spans[i])) continue;
        off[i] = released->len;
        if (guard_span(io, json, &spans[i], 0, 1, 1) < 0) return -1;
        rel_len[i] = released->len - off[i];
        guarded[i] = any = 1;
    }
    if (!any) return gw_emit_response_raw(io, json, len, model_start, model_end);
    return rewrite(io, json, len, model_start, model_end, spans, n, guarded, off, rel_len, 1);
}

/* The stream ends: every text still running ends with it. */
int gw_text_guard_end(gw_engine_io *io) {
    follow_attempt(io->r);
    for (int slot = 0; slot < GW_TEXT_SLOTS; slot++)
        if (io->r->guard_text[slot].open && end_text(io, slot) < 0) return -1;
    return 0;
}
