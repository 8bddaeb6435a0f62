#include "server/persist.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "store/quota_rows.h"
#include "store/switch_rows.h"

/* Rows of ended periods are dropped from the store this often (and at start). */
#define PRUNE_EVERY_NS (INT64_C(60) * 1000000000)

/* Rows per transaction in the once-a-second save: a burst of new subjects (a table's worth)
 * spreads over a few seconds instead of holding the control thread at once. */
enum { SAVE_BATCH = 4096 };

/* What the store holds for a slot, as last saved: a slot is written when it differs. The period's
 * end is compared too: a worker stores it just after the count of a new period, and a save that
 * came between the two is put right by the next one. */
typedef struct saved_slot {
    uint64_t key, word, budget;
    int64_t end;
} saved_slot;

struct gw_persist {
    gw_key_store *st;
    gw_quota_table *quotas;
    saved_slot *saved; /* one per slot of quotas */
    size_t slots;
    size_t cursor; /* where the next partial save resumes, so every slot gets its turn */
    gw_store_quota_row *batch;
    saved_slot *batch_state; /* what each row of batch makes saved[] once it is written */
    size_t *batch_slot;      /* and where */
    int64_t load_now;
    int64_t pruned_at; /* when rows of ended periods were last dropped */
};

static void log_store_error(const char *event, const char *err) {
    char esc[400];
    gw_json_escape(esc, sizeof esc, err, strlen(err));
    gw_log_error(event, "\"reason\":\"%s\"", esc);
}

static saved_slot of(const gw_quota_saved *q) {
    /* the period and the count change together: one word, as the table keeps them */
    return (saved_slot){.key = q->key,
                        .word = (uint64_t)q->period << 48 | q->spent,
                        .budget = q->budget,
                        .end = q->period_end};
}

static int restore_row(const gw_store_quota_row *row, void *ctx) {
    gw_persist *p = ctx;
    gw_quota_saved q = {.key = row->subject,
                        .period = row->period,
                        .period_end = row->period_end,
                        .spent = row->spent > GW_QUOTA_SPENT_MAX ? GW_QUOTA_SPENT_MAX : row->spent,
                        .budget = row->budget};
    int64_t at = gw_quota_table_restore(p->quotas, &q, p->load_now);
    if (at < 0) {
        gw_log_warn("quota_not_restored", "\"reason\":\"the quota table is full\"");
        return 1;
    }
    p->saved[at] = of(&q); /* the store has it already */
    return 0;
}

typedef struct switch_load {
    gw_switch *items;
    size_t count;
} switch_load;

static int load_switch(const char *kind, const char *value, void *ctx) {
    switch_load *l = ctx;
    if (l->count == GW_SWITCHES_MAX) return 1;
    gw_switch_kind k;
    if (!strcmp(kind, "tenant"))
        k = GW_SWITCH_TENANT;
    else if (!strcmp(kind, "model"))
        k = GW_SWITCH_MODEL;
    else
        return 0; /* a kind of a newer aigw */
    if (strlen(value) > GW_SWITCH_VALUE_MAX) return 0;
    gw_switch *s = &l->items[l->count++];
    s->kind = k;
    snprintf(s->value, sizeof s->value, "%s", value);
    return 0;
}

gw_persist *gw_persist_open(gw_key_store *st, gw_quota_table *quotas, int64_t now,
                            gw_switches **switches, char *err, size_t errlen) {
    *switches = NULL;
    gw_persist *p = calloc(1, sizeof *p);
    if (!p) return snprintf(err, errlen, "out of memory"), NULL;
    p->st = st;
    p->quotas = quotas;
    p->slots = gw_quota_table_slots(quotas);
    p->saved = calloc(p->slots, sizeof *p->saved);
    p->batch = calloc(SAVE_BATCH, sizeof *p->batch);
    p->batch_state = calloc(SAVE_BATCH, sizeof *p->batch_state);
    p->batch_slot = calloc(SAVE_BATCH, sizeof *p->batch_slot);
    p->load_now = now;
    switch_load sw = {.items = calloc(GW_SWITCHES_MAX, sizeof(gw_switch))};
    if (!p->saved || !p->batch || !p->batch_state || !p->batch_slot || !sw.items) {
        snprintf(err, errlen, "out of memory");
        goto bad;
    }
    uint64_t seed;
    int found = gw_store_quota_seed(st, &seed, err, errlen);
    if (found < 0) goto bad;
    if (!found && gw_store_quota_set_seed(st, gw_quota_table_seed(quotas), err, errlen) < 0)
        goto bad;
    if (found && gw_quota_table_set_seed(quotas, seed) < 0) {
        snprintf(err, errlen, "the quota table counted before the store was read");
        goto bad;
    }
    if (gw_store_quota_load(st, now, restore_row, p, err, errlen) < 0 ||
        gw_store_quota_prune(st, now, err, errlen) < 0)
        goto bad;
    p->pruned_at = now;
    if (gw_store_switch_load(st, load_switch, &sw, err, errlen) < 0) goto bad;
    if (sw.count && !(*switches = gw_switches_from(sw.items, sw.count))) {
        snprintf(err, errlen, "out of memory");
        goto bad;
    }
    free(sw.items);
    return p;
bad:
    free(sw.items);
    gw_persist_free(p);
    return NULL;
}

void gw_persist_free(gw_persist *p) {
    if (!p) return;
    free(p->saved);
    free(p->batch);
    free(p->batch_state);
    free(p->batch_slot);
    free(p);
}

/* One pass from the cursor: up to SAVE_BATCH changed slots written. 1 when it stopped at the
 * batch's end (more may wait), 0 when it went round, -1 on a store error. */
static int save_batch(gw_persist *p, int64_t now) {
    size_t n = 0, at = p->cursor, seen = 0;
    for (; seen < p->slots && n < SAVE_BATCH; seen++, at = (at + 1) % p->slots) {
        gw_quota_saved q;
        gw_quota_table_read_slot(p->quotas, at, &q);
        saved_slot now_slot = of(&q);
        if (!q.key || !memcmp(&now_slot, &p->saved[at], sizeof now_slot)) continue;
        p->batch[n] = (gw_store_quota_row){.subject = q.key,
                                           .period = q.period,
                                           .period_end = q.period_end,
                                           .spent = q.spent,
                                           .budget = q.budget};
        p->batch_state[n] = now_slot;
        p->batch_slot[n++] = at;
    }
    if (n) {
        char err[300];
        if (gw_store_quota_save(p->st, p->batch, n, now, err, sizeof err) < 0) {
            log_store_error("quota_save_failed", err);
            return -1; /* saved[] unchanged: the same rows are tried again */
        }
        uint64_t tokens = 0;
        for (size_t i = 0; i < n; i++) {
            p->saved[p->batch_slot[i]] = p->batch_state[i];
            tokens += p->batch[i].spent;
        }
        gw_log_debug("quota_saved", "\"rows\":%zu,\"tokens\":%llu", n, (unsigned long long)tokens);
    }
    p->cursor = at;
    return seen < p->slots ? 1 : 0;
}

int gw_persist_save_quotas(gw_persist *p, int64_t now, int all) {
    if (!p) return 0;
    int rc = 0;
    /* A table no subject has claimed a slot of (no quotas configured, none restored) is not
     * read: a pass is 65,536 slots (2 MB) every second, for nothing. all: until a pass goes
     * round the table without stopping at a full batch. */
    if (gw_quota_table_claims(p->quotas))
        while ((rc = save_batch(p, now)) > 0 && all) {
        }
    if (now - p->pruned_at >= PRUNE_EVERY_NS || now < p->pruned_at) {
        char err[300];
        if (gw_store_quota_prune(p->st, now, err, sizeof err) < 0) {
            log_store_error("quota_save_failed", err);
            return -1;
        }
        p->pruned_at = now;
    }
    return rc < 0 ? -1 : 0;
}

int gw_persist_switch(gw_persist *p, gw_switch_kind kind, const char *value, int off, int64_t now) {
    if (!p) return 0;
    char err[300];
    if (gw_store_switch_set(p->st, kind == GW_SWITCH_TENANT ? "tenant" : "model", value, off, now,
                            err, sizeof err) < 0) {
        log_store_error("switch_save_failed", err);
        return -1;
    }
    return 0;
}
