/* A snapshot's reference count, a worker's hold on it, and the lookups the request path makes
 * on it. */
#include "core/config.h"

#include <curl/curl.h>
#include <openssl/ssl.h>
#include <stdlib.h>
#include <string.h>

uint32_t gw_config_name_hash(const char *s, size_t len) {
    uint32_t h = 2166136261u; /* FNV-1a */
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)s[i]) * 16777619u;
    return h;
}

const gw_model *gw_config_find_model(const gw_config *cfg, const char *name, size_t len) {
    size_t s = gw_config_name_hash(name, len) & cfg->model_slot_mask;
    for (uint32_t idx; (idx = cfg->model_slots[s]) != 0; s = (s + 1) & cfg->model_slot_mask) {
        const gw_model *m = &cfg->models[idx - 1];
        if (m->name_len == len && !memcmp(m->name, name, len)) return m;
    }
    return NULL;
}

int gw_config_knows_name(const gw_config *cfg, const char *name, size_t len) {
    return gw_config_find_model(cfg, name, len) ||
           (cfg->knows_name && cfg->knows_name(cfg, name, len));
}

void gw_config_unref(gw_config *cfg) {
    if (!cfg) return;
    if (atomic_fetch_sub_explicit(&cfg->refs, 1, memory_order_acq_rel) != 1) return;
    for (size_t i = 0; i < cfg->channel_count; i++)
        curl_slist_free_all(cfg->channels[i].headers);
    if (cfg->tls_ctx) SSL_CTX_free(cfg->tls_ctx);
    if (cfg->release) cfg->release(cfg);
    gw_arena_free(&cfg->arena);
    free(cfg);
}

gw_config_hold *gw_config_hold_new(gw_config *cfg) {
    gw_config_hold *h = calloc(1, sizeof *h);
    if (!h) {
        gw_config_unref(cfg);
        return NULL;
    }
    h->cfg = cfg;
    return h;
}

static void hold_free(gw_config_hold *h) {
    gw_config_unref(h->cfg);
    free(h);
}

void gw_config_hold_retire(gw_config_hold *h) {
    if (!h) return;
    h->retired = 1;
    if (h->requests == 0) hold_free(h);
}

void gw_config_hold_drop(gw_config_hold *h) {
    if (--h->requests == 0 && h->retired) hold_free(h);
}
