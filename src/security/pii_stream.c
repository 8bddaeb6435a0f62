/* Detecting personal data in text that arrives in pieces: the window rule of pii.h's
 * gw_pii_stream. The held text is rescanned whole with every piece (a window of a few hundred
 * bytes at most, usually far less), which keeps the detectors as they are: they judge a value by
 * the bytes around it, and the rescan gives them those bytes. */
#include <stdlib.h>
#include <string.h>

#include "security/pii_internal.h"

enum {
    CONTEXT = 72,   /* released bytes kept before the held text: what detectors look back at */
    SEGMENT = 4096, /* a big piece goes in this much at a time, so the buffer stays small */
};

void gw_pii_stream_init(gw_pii_stream *st, const gw_pii_set *set) {
    st->set = set;
    st->context = st->len = 0;
}

size_t gw_pii_stream_held(const gw_pii_stream *st) {
    return st->len - st->context;
}

void gw_pii_stream_free(gw_pii_stream *st) {
    free(st->buf);
    st->buf = NULL;
    st->context = st->len = st->cap = 0;
}

/* Scans text[from, len) (text[0, from) is released context) and releases what the rule allows:
 * everything when final. *cut is where the held text begins afterwards. */
static gw_pii_status release(const gw_pii_set *set, gw_pii_scratch *scratch, const char *text,
                             size_t from, size_t len, int final, gw_pii_write_fn write, void *ud,
                             gw_pii_result *result, size_t *cut_at) {
    size_t window = set->window, cut = len;
    if (!final) {
        cut = len - from > window ? len - window : from;
        while (cut > from && ((unsigned char)text[cut] & 0xC0) == 0x80)
            cut--; /* not inside a character */
    }
    *cut_at = from;
    if (cut == from) return GW_PII_OK; /* nothing could go: no scan */
    size_t pos = from, written = from;
    gw_pii_span sp;
    pii_scan_begin(set, scratch);
    scratch->start_limit = cut; /* what starts later is decided with later pieces */
    while (pii_scan_next(set, scratch, text, len, &pos, &sp)) {
        if (sp.end > cut) {
            if (sp.start >= cut) break;
            /* it crosses the cut: it may still grow, so it stays whole in the held text, up to
             * the bound; past that it is judged as it stands */
            if (len - sp.start <= GW_PII_STREAM_HOLD_MAX) {
                cut = sp.start;
                break;
            }
            cut = sp.end;
        }
        const pii_detector *d = &set->det[sp.detector];
        if (d->action == GW_PII_BLOCK) {
            result->blocked_kind = d->kind;
            result->blocked_detector = sp.detector;
            result->blocked_name = d->name;
            result->regex_errors = scratch->regex_errors;
            return GW_PII_BLOCKED;
        }
        if (sp.start > written && write(ud, text + written, sp.start - written) < 0)
            return GW_PII_ERR_OUTPUT;
        if (pii_write_mask(d, text + sp.start, sp.end - sp.start, write, ud) < 0)
            return GW_PII_ERR_OUTPUT;
        written = sp.end;
        result->masked++;
        result->changed = 1;
    }
    result->regex_errors = scratch->regex_errors;
    if (cut > written && write(ud, text + written, cut - written) < 0) return GW_PII_ERR_OUTPUT;
    *cut_at = cut;
    return GW_PII_OK;
}

/* Room for n more bytes after the held text. */
static int reserve(gw_pii_stream *st, size_t n) {
    if (st->cap - st->len >= n) return 0;
    size_t cap = st->cap ? st->cap : 512;
    while (cap - st->len < n)
        cap *= 2;
    char *grown = realloc(st->buf, cap);
    if (!grown) return -1;
    st->buf = grown;
    st->cap = cap;
    return 0;
}

/* Keeps buf[cut, len) as the held text, after up to CONTEXT bytes before it. */
static void keep_from(gw_pii_stream *st, size_t cut) {
    size_t ctx = cut < CONTEXT ? cut : CONTEXT;
    memmove(st->buf, st->buf + cut - ctx, st->len - (cut - ctx));
    st->len -= cut - ctx;
    st->context = ctx;
}

gw_pii_status gw_pii_stream_feed(gw_pii_stream *st, gw_pii_scratch *scratch, const char *piece,
                                 size_t len, int final, gw_pii_write_fn write, void *ud,
                                 gw_pii_result *result) {
    gw_pii_result ignored;
    if (!result) result = &ignored;
    memset(result, 0, sizeof *result);
    if (!st->set || !scratch || (!piece && len) || !write) return GW_PII_ERR_ARGUMENT;
    if (st->set->count == 0) {
        if (len && write(ud, piece, len) < 0) return GW_PII_ERR_OUTPUT;
        return GW_PII_OK;
    }
    size_t cut;
    gw_pii_status rc = GW_PII_OK;
    if (final && st->len == 0) /* a whole text: scanned where it is */
        return release(st->set, scratch, piece, 0, len, 1, write, ud, result, &cut);
    for (size_t done = 0; rc == GW_PII_OK && (done < len || (final && done == len));) {
        size_t n = len - done < SEGMENT ? len - done : SEGMENT;
        int last = final && done + n == len;
        if (reserve(st, n) < 0) return GW_PII_ERR_OUTPUT;
        if (n) memcpy(st->buf + st->len, piece + done, n);
        st->len += n;
        done += n;
        gw_pii_result step = {0};
        rc = release(st->set, scratch, st->buf, st->context, st->len, last, write, ud, &step, &cut);
        result->masked += step.masked;
        result->changed |= step.changed;
        result->regex_errors += step.regex_errors;
        if (rc == GW_PII_BLOCKED) {
            result->blocked_kind = step.blocked_kind;
            result->blocked_detector = step.blocked_detector;
            result->blocked_name = step.blocked_name;
        }
        if (rc == GW_PII_OK) keep_from(st, cut);
        if (last) break;
    }
    if (final || rc != GW_PII_OK) st->context = st->len = 0; /* the next text starts afresh */
    return rc;
}
