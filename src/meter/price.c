#include "meter/price.h"

#include <stdint.h>
#include <string.h>

static uint32_t hash(const char *s, size_t len) {
    uint32_t h = 2166136261u; /* FNV-1a */
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= 16777619u;
    }
    return h;
}

int gw_price_index(gw_metering_conf *c, gw_arena *arena, size_t *dup) {
    c->default_price = NULL;
    size_t slots = 8;
    while (slots < c->price_count * 2)
        slots <<= 1;
    c->price_slots = gw_arena_alloc(arena, slots * sizeof *c->price_slots);
    c->price_slot_mask = slots - 1;
    for (size_t i = 0; i < c->price_count; i++) {
        const char *m = c->prices[i].model;
        if (!strcmp(m, "*")) {
            if (c->default_price) {
                *dup = i;
                return -1;
            }
            c->default_price = &c->prices[i];
            continue;
        }
        size_t len = strlen(m);
        for (size_t at = hash(m, len) & c->price_slot_mask;; at = (at + 1) & c->price_slot_mask) {
            uint32_t v = c->price_slots[at];
            if (!v) {
                c->price_slots[at] = (uint32_t)i + 1;
                break;
            }
            if (!strcmp(c->prices[v - 1].model, m)) {
                *dup = i;
                return -1;
            }
        }
    }
    return 0;
}

const gw_price *gw_price_find(const gw_metering_conf *c, const char *model, size_t len) {
    if (!c) return NULL;
    if (c->price_slots && model) {
        for (size_t at = hash(model, len) & c->price_slot_mask;;
             at = (at + 1) & c->price_slot_mask) {
            uint32_t v = c->price_slots[at];
            if (!v) break;
            const char *m = c->prices[v - 1].model;
            if (!strncmp(m, model, len) && m[len] == '\0') return &c->prices[v - 1];
        }
    }
    return c->default_price;
}

double gw_meter_cost(const gw_metering_conf *c, const char *model, const gw_usage *u,
                     const char **currency) {
    const gw_price *p = gw_price_find(c, model, model ? strlen(model) : 0);
    if (currency) *currency = p ? p->currency : NULL;
    if (!p || !u) return 0;
    int64_t cached = u->cached_tokens > 0 ? u->cached_tokens : 0;
    int64_t prompt = u->prompt_tokens > 0 ? u->prompt_tokens : 0;
    if (cached > prompt) cached = prompt; /* an engine that counts them apart from the prompt */
    int64_t completion = u->completion_tokens > 0 ? u->completion_tokens : 0;
    return ((double)(prompt - cached) * p->input + (double)cached * p->cached_input +
            (double)completion * p->output) /
           1e6;
}
