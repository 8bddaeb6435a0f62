/* Running a set over a text: every detector reports its next value, and the scan takes the
 * earliest (then the longest, then the first detector's), so values come out in order and
 * never overlap. Each detector's next value is kept until the scan passes its start; only a
 * value that was overlapped sends its detector looking again, from the end of the winner.
 * So each detector crosses the text about once, whatever the number of values. */
#include <stdint.h>
#include <stdlib.h>

#include "security/pii_internal.h"

/* A custom regex runs on text a client chose with a pattern an operator wrote: bound what one
 * match may cost, as routing rules do (src/route/rules.c measured these limits). */
enum {
    REGEX_MATCH_LIMIT = 1000000,
    REGEX_DEPTH_LIMIT = 10000,
    REGEX_HEAP_LIMIT_KIB = 1024,
};

gw_pii_scratch *gw_pii_scratch_new(void) {
    gw_pii_scratch *s = calloc(1, sizeof(*s));
    if (!s) return NULL;
    /* one pair of offsets: a detector needs the whole match, never its groups */
    s->match = pcre2_match_data_create(1, NULL);
    s->limits = pcre2_match_context_create(NULL);
    if (!s->match || !s->limits) {
        gw_pii_scratch_free(s);
        return NULL;
    }
    pcre2_set_match_limit(s->limits, REGEX_MATCH_LIMIT);
    pcre2_set_depth_limit(s->limits, REGEX_DEPTH_LIMIT);
    pcre2_set_heap_limit(s->limits, REGEX_HEAP_LIMIT_KIB);
    return s;
}

void gw_pii_scratch_free(gw_pii_scratch *scratch) {
    if (!scratch) return;
    pcre2_match_data_free(scratch->match);
    pcre2_match_context_free(scratch->limits);
    free(scratch);
}

void pii_scan_begin(const gw_pii_set *set, gw_pii_scratch *scratch) {
    for (unsigned d = 0; d < set->count; d++)
        scratch->state[d] = PII_NEXT_UNKNOWN;
    scratch->regex_errors = 0;
    scratch->start_limit = SIZE_MAX;
}

/* NOTEMPTY: a pattern that can match nothing ("a*") reports its non-empty matches instead of
 * an empty one at every position. */
static int find_custom(const pii_detector *d, gw_pii_scratch *scratch, const char *text, size_t len,
                       size_t from, size_t limit, gw_pii_span *span) {
    if (from >= limit) return 0;
    /* the offset limit is the last start allowed */
    pcre2_set_offset_limit(scratch->limits, limit < len ? limit - 1 : PCRE2_UNSET);
    int rc = pcre2_match(d->regex, (PCRE2_SPTR)text, len, from, PCRE2_NOTEMPTY, scratch->match,
                         scratch->limits);
    if (rc < 0) {
        if (rc != PCRE2_ERROR_NOMATCH) scratch->regex_errors++;
        return 0;
    }
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(scratch->match);
    /* \K in a lookbehind can report a start after the end: no span */
    if (ov[1] <= ov[0]) return 0;
    return pii_found(span, ov[0], ov[1], GW_PII_CUSTOM);
}

static void refresh(const gw_pii_set *set, gw_pii_scratch *scratch, unsigned d, const char *text,
                    size_t len, size_t pos) {
    const pii_detector *det = &set->det[d];
    gw_pii_span *next = &scratch->next[d];
    size_t limit = scratch->start_limit < len ? scratch->start_limit : len;
    int found = det->find ? det->find(text, len, pos, limit, next)
                          : find_custom(det, scratch, text, len, pos, limit, next);
    if (found) {
        next->kind = det->kind;
        next->detector = d;
    }
    scratch->state[d] = found ? PII_NEXT_FOUND : PII_NEXT_NONE;
}

int pii_scan_next(const gw_pii_set *set, gw_pii_scratch *scratch, const char *text, size_t len,
                  size_t *pos, gw_pii_span *span) {
    const gw_pii_span *best = NULL;
    for (unsigned d = 0; d < set->count; d++) {
        if (scratch->state[d] == PII_NEXT_NONE) continue;
        if (scratch->state[d] == PII_NEXT_UNKNOWN || scratch->next[d].start < *pos)
            refresh(set, scratch, d, text, len, *pos);
        if (scratch->state[d] != PII_NEXT_FOUND) continue;
        const gw_pii_span *n = &scratch->next[d];
        if (!best || n->start < best->start || (n->start == best->start && n->end > best->end))
            best = n;
    }
    if (!best) return 0;
    *span = *best;
    *pos = best->end;
    return 1;
}

size_t gw_pii_scan(const gw_pii_set *set, gw_pii_scratch *scratch, const char *text, size_t len,
                   gw_pii_span *spans, size_t cap, unsigned *regex_errors) {
    if (regex_errors) *regex_errors = 0;
    if (!set || !scratch || !text) return 0;
    pii_scan_begin(set, scratch);
    size_t pos = 0, n = 0;
    gw_pii_span span;
    while (pii_scan_next(set, scratch, text, len, &pos, &span)) {
        if (n < cap) spans[n] = span;
        n++;
    }
    if (regex_errors) *regex_errors = scratch->regex_errors;
    return n;
}
