/* guards.words: sensitive words in requests (every message's text, the prompt) and in answers
 * (the model's text, streamed or whole). block refuses the request with a 400, or ends the
 * answer with an explicit error (in a stream: an error event; not one byte of the word ever
 * reaches the caller, also when it is split across chunks); mask writes one '*' per character.
 * The message never quotes the word. Every text of the answer is checked on its own: the
 * content, the reasoning and each tool call's arguments. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/request_json.h"
#include "core/strbuf.h"
#include "core/worker-t.h"
#include "filters/filter.h"
#include "filters/request.h"
#include "filters/request_text.h"
#include "filters/words_guard.h"

/* The worker's scratch, fitted to this snapshot's matcher (once per reload and worker). */
static gw_words_scratch *scratch_for(gw_req *r, const gw_words *m) {
    gw_worker *w = r->worker;
    if (w->words_scratch_for == m && w->words_scratch) return w->words_scratch;
    if (!w->words_scratch)
        w->words_scratch = gw_words_scratch_new(m);
    else if (gw_words_scratch_fit(w->words_scratch, m) < 0)
        return NULL;
    w->words_scratch_for = w->words_scratch ? m : NULL;
    return w->words_scratch;
}

typedef struct words_walk {
    const gw_words_guard_conf *conf;
    gw_words_scratch *scratch;
    int changed;
} words_walk;

/* One text: 1 blocked, 0 passed (masked in place when masking), -1 error. */
static int check_text(void *ctx, gw_req_text *at, const char *text, size_t len) {
    words_walk *w = ctx;
    if (w->conf->action == GW_WORDS_BLOCK)
        return gw_words_find(w->conf->matcher, w->scratch, text, len, NULL);
    char *masked = malloc(len ? len : 1);
    size_t out_len, chars = 0;
    int rc = masked ? gw_words_mask(w->conf->matcher, w->scratch, text, len, masked, len, &out_len,
                                    &chars)
                    : -1;
    if (rc == 0 && chars) {
        rc = gw_req_text_replace(at, masked, out_len);
        w->changed = 1;
    }
    free(masked);
    return rc < 0 ? -1 : 0;
}

static gw_filter_rc words_request(gw_req *r) {
    const gw_words_guard_conf *c = gw_filter_conf(r, &gw_filter_words_guard);
    if (c->on_response) gw_chain_guard_answer(r);
    if (!c->on_request) return GW_FILTER_CONTINUE;
    words_walk walk = {.conf = c, .scratch = scratch_for(r, c->matcher)};
    struct json_object *tree = gw_req_json(r);
    int rc = walk.scratch && tree ? gw_req_texts(tree, check_text, &walk) : -1;
    if (rc > 0) {
        gw_req_fail(r, 400, "invalid_request_error", "content_filter", NULL,
                    "the request contains text this gateway does not accept (request id %s)",
                    r->id);
        return GW_FILTER_RESPOND;
    }
    /* masking changed the tree only where a word was: re-serialize only then */
    if (rc == 0 && walk.changed && gw_req_replace_body(r) < 0) rc = -1;
    if (rc < 0) {
        gw_req_fail(r, 503, "server_error", "out_of_memory", NULL,
                    "the gateway could not check the request (request id %s)", r->id);
        return GW_FILTER_RESPOND;
    }
    return GW_FILTER_CONTINUE;
}

/* Per request: each running text of the answer (a slot: a choice's content, its reasoning, a
 * tool call's arguments) has its own stream, started by its first piece and ended by its final
 * one. */
typedef struct words_state {
    gw_words_stream stream[GW_TEXT_SLOTS];
    unsigned char running[GW_TEXT_SLOTS];
} words_state;

static int words_response_text(gw_req *r, gw_text_field field, const char *text, size_t len,
                               int final, gw_strbuf *out, gw_error_info *err, char *msg,
                               size_t msg_cap) {
    const gw_words_guard_conf *c = gw_filter_conf(r, &gw_filter_words_guard);
    words_state *state = gw_filter_state(r, &gw_filter_words_guard);
    if (!c->on_response || field.slot >= GW_TEXT_SLOTS) {
        gw_strbuf_add(out, text, len);
        return 0;
    }
    gw_words_stream *st = &state->stream[field.slot];
    gw_words_scratch *s = scratch_for(r, c->matcher);
    if (field.start || !state->running[field.slot]) {
        gw_words_stream_init(st, c->matcher, c->action);
        state->running[field.slot] = 1;
    }
    char buf[4096 + GW_WORDS_HOLD_MAX];
    int rc = GW_WORDS_PASS;
    for (size_t done = 0; s && rc == GW_WORDS_PASS && done < len;) { /* bounded pieces */
        size_t piece = len - done < 4096 ? len - done : 4096, n = 0;
        gw_words_match match;
        rc = gw_words_stream_feed(st, s, text + done, piece, buf, sizeof buf, &n, &match);
        gw_strbuf_add(out, buf, n);
        done += piece;
    }
    if (s && rc == GW_WORDS_PASS && final) {
        size_t n = 0;
        rc = gw_words_stream_finish(st, s, buf, sizeof buf, &n);
        gw_strbuf_add(out, buf, n);
    }
    if (final) state->running[field.slot] = 0;
    if (s && rc == GW_WORDS_PASS) return 0;
    int blocked = s && rc == GW_WORDS_BLOCKED;
    snprintf(msg, msg_cap, "%s (request id %s)",
             blocked ? "the answer contained text this gateway does not pass"
                     : "the gateway could not check the answer",
             r->id);
    *err = (gw_error_info){.status = blocked ? 400 : 503,
                           .type = blocked ? "invalid_request_error" : "server_error",
                           .code = blocked ? "content_filter" : "out_of_memory",
                           .message = msg,
                           .message_len = strlen(msg)};
    return -1;
}

const gw_filter_ops gw_filter_words_guard = {
    .name = "words_guard",
    .state_size = sizeof(words_state),
    .on_request = words_request,
    .on_response_text = words_response_text,
};
