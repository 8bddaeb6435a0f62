/* Applying a set's actions to one text in one pass. Output is written lazily: the text before
 * the first value that changes is copied only once there is one, so a clean text (most of
 * them) costs the scan and nothing else. */
#include <string.h>

#include "security/pii_internal.h"

typedef struct writer {
    gw_pii_write_fn write;
    void *ud;
    const char *text;
    size_t copied; /* text before this is written */
    int changed;
} writer;

/* Writes the text up to `upto`, then the replacement. */
static int replace(writer *w, size_t upto, const char *s, size_t n) {
    w->changed = 1;
    if (upto > w->copied && w->write(w->ud, w->text + w->copied, upto - w->copied) < 0) return -1;
    w->copied = upto;
    return n ? w->write(w->ud, s, n) : 0;
}

static int mask(writer *w, const pii_detector *d, const gw_pii_span *sp) {
    if (replace(w, sp->start, NULL, 0) < 0) return -1;
    if (pii_write_mask(d, w->text + sp->start, sp->end - sp->start, w->write, w->ud) < 0) return -1;
    w->copied = sp->end;
    return 0;
}

gw_pii_status gw_pii_apply(const gw_pii_set *set, gw_pii_scratch *scratch, const char *text,
                           size_t len, gw_pii_write_fn write, void *ud, gw_pii_table *table,
                           gw_pii_result *result) {
    gw_pii_result ignored;
    if (!result) result = &ignored;
    memset(result, 0, sizeof(*result));
    if (!set || !scratch || (!text && len) || !write) return GW_PII_ERR_ARGUMENT;
    if (set->count == 0 || len == 0) return GW_PII_OK;

    writer w = {write, ud, text, 0, 0};
    gw_pii_status status = GW_PII_OK;
    size_t pos = 0;
    gw_pii_span sp;
    pii_scan_begin(set, scratch);
    while (pii_scan_next(set, scratch, text, len, &pos, &sp)) {
        const pii_detector *d = &set->det[sp.detector];
        if (d->action == GW_PII_BLOCK) {
            result->blocked_kind = d->kind;
            result->blocked_detector = sp.detector;
            result->blocked_name = d->name;
            status = GW_PII_BLOCKED;
            break;
        }
        const char *ph;
        size_t ph_len;
        if (d->action == GW_PII_RESTORE && table &&
            pii_table_put(table, d, sp.detector, text + sp.start, sp.end - sp.start, &ph,
                          &ph_len) == 0) {
            if (replace(&w, sp.start, ph, ph_len) < 0) goto output_error;
            w.copied = sp.end;
            result->restored++;
            continue;
        }
        if (d->action == GW_PII_RESTORE) result->restore_overflow++;
        if (mask(&w, d, &sp) < 0) goto output_error;
        result->masked++;
    }
    result->regex_errors = scratch->regex_errors;
    result->changed = w.changed;
    if (status == GW_PII_OK && w.changed && len > w.copied &&
        write(ud, text + w.copied, len - w.copied) < 0)
        return GW_PII_ERR_OUTPUT;
    return status;
output_error:
    result->regex_errors = scratch->regex_errors;
    result->changed = w.changed;
    return GW_PII_ERR_OUTPUT;
}
