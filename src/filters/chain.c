#include <stdlib.h>
#include <string.h>

#include "core/strbuf.h"
#include "filters/auth.h"
#include "filters/filter.h"
#include "filters/limits.h"

/* The pipeline's order. Access log first so its on_done sees every request, whichever filter
 * answered; then what a request must pass before an engine is asked. A filter that needs
 * settings is added only when the config has them (the guards, the limits). */
static int add(gw_config *cfg, const gw_filter_ops *ops, const void *conf) {
    if (cfg->chain_len == GW_MAX_FILTERS) return -1;
    cfg->chain[cfg->chain_len++] = (gw_filter_slot){.ops = ops, .conf = conf};
    return 0;
}

int gw_chain_build(gw_config *cfg) {
    cfg->chain_len = 0;
    int rc = add(cfg, &gw_filter_access_log, NULL);
    /* direct clients were judged when they connected; those behind a trusted proxy, here */
    if (cfg->trusted_proxies && (cfg->access_allow || cfg->access_deny))
        rc |= add(cfg, &gw_filter_ip_access, NULL);
    /* who calls, from headers alone: before any work on the body */
    int auth = cfg->auth && cfg->auth->mode != GW_AUTH_OFF;
    if (auth) rc |= add(cfg, &gw_filter_auth, cfg->auth);
    rc |= add(cfg, &gw_filter_parse_request, NULL);
    rc |= add(cfg, &gw_filter_resolve_model, NULL);
    if (auth) rc |= add(cfg, &gw_filter_model_access, NULL);
    rc |= add(cfg, &gw_filter_switches, NULL); /* the operator's: one load when none changed */
    int model_lists = 0;
    for (size_t i = 0; i < cfg->model_count && !model_lists; i++)
        model_lists = cfg->models[i].access_allow || cfg->models[i].access_deny;
    if (model_lists) rc |= add(cfg, &gw_filter_model_ip_access, NULL);
    /* PII first: a word list never sees a value the PII guard took out */
    if (cfg->pii_guard) rc |= add(cfg, &gw_filter_pii_guard, cfg->pii_guard);
    if (cfg->words_guard) rc |= add(cfg, &gw_filter_words_guard, cfg->words_guard);
    /* what the request costs is known once the guards let it through */
    /* (with keys, also for the limits the key store keeps with each key) */
    if (cfg->limits || auth) rc |= add(cfg, &gw_filter_limits, cfg->limits);
    rc |= add(cfg, &gw_filter_proxy, NULL);
    /* last, so its on_done sees the proxy's final attempt logged */
    rc |= add(cfg, &gw_filter_meter, NULL);
    return rc;
}

static const gw_filter_ops *ops_at(const gw_req *r, size_t i) {
    return i < r->cfg->chain_len ? r->cfg->chain[i].ops : NULL;
}

const void *gw_filter_conf(const gw_req *r, const gw_filter_ops *ops) {
    for (size_t i = 0; i < r->cfg->chain_len; i++)
        if (r->cfg->chain[i].ops == ops) return r->cfg->chain[i].conf;
    return NULL;
}

void *gw_filter_state(gw_req *r, const gw_filter_ops *ops) {
    for (size_t i = 0; i < r->cfg->chain_len; i++)
        if (r->cfg->chain[i].ops == ops) return r->filter_state[i];
    return NULL;
}

/* The response guards in order, each fed what the one before released; the last one appends
 * to out. */
static int text_hook(gw_req *r, gw_text_field field, const char *text, size_t len, int final,
                     gw_strbuf *out, gw_error_info *err, char *msg, size_t msg_cap) {
    gw_strbuf *between = &r->guard_buf[GW_GUARD_BETWEEN];
    const char *in = text;
    size_t in_len = len;
    int rc = 0, last = -1, k = 0;
    for (size_t i = 0; i < r->cfg->chain_len; i++)
        if (r->cfg->chain[i].ops->on_response_text) last = (int)i;
    for (int i = 0; i <= last && rc == 0; i++) {
        const gw_filter_ops *f = r->cfg->chain[i].ops;
        if (!f->on_response_text) continue;
        gw_strbuf *to = i == last ? out : gw_strbuf_reset(&between[k]);
        size_t from = to->len;
        rc = f->on_response_text(r, field, in, in_len, final, to, err, msg, msg_cap);
        if (to->failed) rc = -1;
        in = to->data ? to->data + from : "";
        in_len = to->len - from;
        k ^= 1;
    }
    return rc;
}

void gw_chain_guard_answer(gw_req *r) {
    r->text_hook = text_hook;
}

static size_t state_bytes(const gw_filter_ops *ops) {
    return (ops->state_size + 15) & ~(size_t)15;
}

size_t gw_chain_state_size(const gw_config *cfg) {
    size_t total = 0;
    for (size_t i = 0; i < cfg->chain_len; i++)
        total += state_bytes(cfg->chain[i].ops);
    return total;
}

void gw_chain_begin(gw_req *r, void *block) {
    char *at = block;
    for (size_t i = 0; i < r->cfg->chain_len; i++) {
        const gw_filter_ops *ops = r->cfg->chain[i].ops;
        if (ops->state_size) {
            r->filter_state[i] = at;
            memset(at, 0, ops->state_zeroed ? ops->state_zeroed : ops->state_size);
        }
        at += state_bytes(ops);
    }
}

void gw_chain_run(gw_req *r) {
    const gw_filter_ops *f;
    while (!r->finished && (f = ops_at(r, r->filter_next))) {
        r->filter_next++;
        if (!f->on_request) continue;
        if (f->on_request(r) != GW_FILTER_CONTINUE) return;
    }
}

int gw_chain_response_chunk(gw_req *r, struct evbuffer *chunk, int eos) {
    const gw_filter_ops *f;
    for (size_t i = 0; (f = ops_at(r, i)); i++)
        if (f->on_response_chunk && f->on_response_chunk(r, chunk, eos) < 0) return -1;
    return 0;
}

void gw_chain_done(gw_req *r) {
    const gw_filter_ops *f;
    for (size_t i = 0; (f = ops_at(r, i)); i++)
        if (f->on_done) f->on_done(r);
}

int gw_chain_shutdown(gw_req *r) {
    const gw_filter_ops *f;
    for (size_t i = 0; (f = ops_at(r, i)); i++)
        if (f->on_shutdown && f->on_shutdown(r)) return 1;
    return 0;
}
