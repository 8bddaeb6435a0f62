/* guards.pii: personal data in requests and, where configured (on: [response]), in answers.
 * Per detector: block (400 naming the kind, never the value), mask (the model sees 138****5678),
 * or restore (the model sees [[PII_PHONE_1]] and the caller gets the original back in the
 * answer, streamed or whole, also when a placeholder is split across chunks, and inside a tool
 * call's arguments, JSON-escaped).
 *
 * In answers, each text (a choice's content, its reasoning, a tool call's arguments) passes two
 * stages in this order: the detectors first, on the model's own text (block ends the answer,
 * mask and restore mask: the caller never sent that value, so nothing comes back), then the
 * restorer, which puts the caller's values back in place of their placeholders. So a value the
 * caller sent is never masked on its way back, and a placeholder (no detector's shape) is never
 * taken for one. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/request_json.h"
#include "core/strbuf.h"
#include "core/worker-t.h"
#include "filters/filter.h"
#include "filters/pii_guard.h"
#include "filters/request.h"
#include "filters/request_text.h"

/* One running text of the answer (a guard slot). */
typedef struct pii_text {
    gw_pii_stream detect;
    gw_pii_restorer restorer;
    int running;
} pii_text;

typedef struct pii_state {
    gw_pii_table *table; /* this request's placeholders; NULL until one was made */
    pii_text text[GW_TEXT_SLOTS];
    gw_strbuf detected; /* between the two stages, reused piece after piece */
} pii_state;

static int write_strbuf(void *ud, const char *s, size_t len) {
    gw_strbuf_add(ud, s, len);
    return ((gw_strbuf *)ud)->failed ? -1 : 0;
}

typedef struct pii_walk {
    const gw_pii_guard_conf *conf;
    gw_pii_scratch *scratch;
    pii_state *state;
    gw_strbuf out;
    gw_pii_result result;
    int changed;
} pii_walk;

/* One text: 1 blocked (result says the kind), 0 passed or rewritten, -1 error. */
static int apply_text(void *ctx, gw_req_text *at, const char *text, size_t len) {
    pii_walk *w = ctx;
    w->out.len = 0;
    gw_pii_status st = gw_pii_apply(w->conf->set, w->scratch, text, len, write_strbuf, &w->out,
                                    w->state->table, &w->result);
    if (st == GW_PII_BLOCKED) return 1;
    if (st != GW_PII_OK) return -1;
    if (!w->result.changed) return 0;
    w->changed = 1;
    return gw_req_text_replace(at, w->out.data ? w->out.data : "", w->out.len);
}

static gw_pii_scratch *scratch_of(gw_req *r) {
    gw_worker *wk = r->worker;
    if (!wk->pii_scratch) wk->pii_scratch = gw_pii_scratch_new(); /* once per worker */
    return wk->pii_scratch;
}

static int restoring(const pii_state *state) {
    return state->table && gw_pii_table_count(state->table) > 0;
}

static gw_filter_rc pii_request(gw_req *r) {
    const gw_pii_guard_conf *c = gw_filter_conf(r, &gw_filter_pii_guard);
    pii_state *state = gw_filter_state(r, &gw_filter_pii_guard);
    if (c->on_request) {
        if (c->restores && !state->table) state->table = gw_pii_table_new(c->set);
        pii_walk walk = {.conf = c, .scratch = scratch_of(r), .state = state};
        struct json_object *tree = gw_req_json(r);
        int rc = walk.scratch && tree && (!c->restores || state->table)
                     ? gw_req_texts(tree, apply_text, &walk)
                     : -1;
        gw_strbuf_free(&walk.out);
        if (rc > 0) {
            gw_req_fail(r, 400, "invalid_request_error", "pii_detected", NULL,
                        "the request contains personal data of a kind this gateway does not pass "
                        "(%s) (request id %s)",
                        walk.result.blocked_name, r->id);
            return GW_FILTER_RESPOND;
        }
        if (rc == 0 && walk.changed && gw_req_replace_body(r) < 0) rc = -1;
        if (rc < 0) {
            gw_req_fail(r, 503, "server_error", "out_of_memory", NULL,
                        "the gateway could not check the request (request id %s)", r->id);
            return GW_FILTER_RESPOND;
        }
    }
    /* the answer is read when it is checked, or has placeholders to restore */
    if (c->on_response || restoring(state)) gw_chain_guard_answer(r);
    return GW_FILTER_CONTINUE;
}

static int fail_answer(gw_req *r, gw_pii_status st, const gw_pii_result *result, gw_error_info *err,
                       char *msg, size_t msg_cap) {
    int blocked = st == GW_PII_BLOCKED;
    if (blocked)
        snprintf(msg, msg_cap,
                 "the answer contained personal data of a kind this gateway does not pass (%s) "
                 "(request id %s)",
                 result->blocked_name, r->id);
    else
        snprintf(msg, msg_cap, "the gateway could not check the answer (request id %s)", r->id);
    *err = (gw_error_info){.status = blocked ? 400 : 503,
                           .type = blocked ? "invalid_request_error" : "server_error",
                           .code = blocked ? "pii_detected" : "out_of_memory",
                           .message = msg,
                           .message_len = strlen(msg)};
    return -1;
}

/* One piece of a text of the answer: the detectors, then the restorer (see the top). */
static int pii_response_text(gw_req *r, gw_text_field field, const char *text, size_t len,
                             int final, gw_strbuf *out, gw_error_info *err, char *msg,
                             size_t msg_cap) {
    const gw_pii_guard_conf *c = gw_filter_conf(r, &gw_filter_pii_guard);
    pii_state *state = gw_filter_state(r, &gw_filter_pii_guard);
    int restore = restoring(state), detect = c->on_response;
    if ((!restore && !detect) || field.slot >= GW_TEXT_SLOTS) {
        gw_strbuf_add(out, text, len);
        return 0;
    }
    pii_text *t = &state->text[field.slot];
    if (field.start || !t->running) {
        if (detect) gw_pii_stream_init(&t->detect, c->set);
        if (restore && field.kind == GW_TEXT_TOOL_ARGS)
            gw_pii_restorer_init_json(&t->restorer, state->table);
        else if (restore)
            gw_pii_restorer_init(&t->restorer, state->table);
        t->running = 1;
    }
    if (final) t->running = 0;
    gw_pii_result result = {0};
    gw_pii_status st = GW_PII_OK;
    if (detect) {
        gw_pii_scratch *scratch = scratch_of(r);
        gw_strbuf *to = restore ? gw_strbuf_reset(&state->detected) : out;
        size_t from = to->len;
        st = scratch ? gw_pii_stream_feed(&t->detect, scratch, text, len, final, write_strbuf, to,
                                          &result)
                     : GW_PII_ERR_OUTPUT;
        text = to->data ? to->data + from : "";
        len = to->len - from;
        if (st != GW_PII_OK) return fail_answer(r, st, &result, err, msg, msg_cap);
        if (!restore) return 0;
    }
    st = gw_pii_restorer_feed(&t->restorer, text, len, write_strbuf, out);
    if (st == GW_PII_OK && final) st = gw_pii_restorer_flush(&t->restorer, write_strbuf, out);
    return st == GW_PII_OK ? 0 : fail_answer(r, st, &result, err, msg, msg_cap);
}

static void pii_done(gw_req *r) {
    pii_state *state = gw_filter_state(r, &gw_filter_pii_guard);
    if (!state) return;
    gw_pii_table_free(state->table);
    for (size_t i = 0; i < GW_TEXT_SLOTS; i++)
        gw_pii_stream_free(&state->text[i].detect);
    gw_strbuf_free(&state->detected);
}

const gw_filter_ops gw_filter_pii_guard = {
    .name = "pii_guard",
    .state_size = sizeof(pii_state),
    .on_request = pii_request,
    .on_response_text = pii_response_text,
    .on_done = pii_done,
};
