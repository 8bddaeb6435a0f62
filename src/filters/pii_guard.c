/* guards.pii: personal data in requests. Per detector: block (400 naming the kind, never the
 * value), mask (the model sees 138****5678), or restore (the model sees [[PII_PHONE_1]] and the
 * caller gets the original back in the answer, streamed or whole, also when a placeholder is
 * split across chunks). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/strbuf.h"
#include "core/worker-t.h"
#include "filters/filter.h"
#include "filters/pii_guard.h"
#include "filters/request.h"
#include "filters/request_text.h"

typedef struct pii_state {
    gw_pii_table *table; /* this request's placeholders; NULL until one was made */
    gw_pii_restorer restorer;
    int restoring;
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

static gw_filter_rc pii_request(gw_req *r) {
    const gw_pii_guard_conf *c = gw_filter_conf(r, &gw_filter_pii_guard);
    pii_state *state = gw_filter_state(r, &gw_filter_pii_guard);
    gw_worker *wk = r->worker;
    if (!wk->pii_scratch) wk->pii_scratch = gw_pii_scratch_new(); /* once per worker */
    if (c->restores && !state->table) state->table = gw_pii_table_new(c->set);
    pii_walk walk = {.conf = c, .scratch = wk->pii_scratch, .state = state};
    int rc = walk.scratch && (!c->restores || state->table)
                 ? gw_req_texts(r->json, apply_text, &walk)
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
    return GW_FILTER_CONTINUE;
}

/* The answer with every placeholder of this request back to its original. */
static int pii_response_text(gw_req *r, const char *text, size_t len, int final, gw_strbuf *out,
                             gw_error_info *err, char *msg, size_t msg_cap) {
    pii_state *state = gw_filter_state(r, &gw_filter_pii_guard);
    if (!state->table) {
        gw_strbuf_add(out, text, len);
        return 0;
    }
    if (!state->restoring) {
        gw_pii_restorer_init(&state->restorer, state->table);
        state->restoring = 1;
    }
    gw_pii_status st = gw_pii_restorer_feed(&state->restorer, text, len, write_strbuf, out);
    if (st == GW_PII_OK && final) st = gw_pii_restorer_flush(&state->restorer, write_strbuf, out);
    if (st == GW_PII_OK) return 0;
    snprintf(msg, msg_cap, "the gateway could not restore the answer (request id %s)", r->id);
    *err = (gw_error_info){.status = 503,
                           .type = "server_error",
                           .code = "out_of_memory",
                           .message = msg,
                           .message_len = strlen(msg)};
    return -1;
}

static void pii_done(gw_req *r) {
    pii_state *state = gw_filter_state(r, &gw_filter_pii_guard);
    if (state) gw_pii_table_free(state->table);
}

const gw_filter_ops gw_filter_pii_guard = {
    .name = "pii_guard",
    .state_size = sizeof(pii_state),
    .on_request = pii_request,
    .on_response_text = pii_response_text,
    .on_done = pii_done,
};
