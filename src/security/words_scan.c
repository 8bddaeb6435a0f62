/* Sensitive words, matching: whole texts and streams, on a worker thread with its scratch.
 *
 * Streams rescan rather than use Hyperscan's streaming mode. Each piece is copied behind the
 * tail held back from the piece before (at most 255 bytes) and scanned in block mode. Why:
 *  - Hyperscan's stream state cannot say "a word may be starting here", and the stream must
 *    know that to hold such a tail back; so a prefix check over the tail is needed anyway, and
 *    with the tail in hand a rescan finds every word that crosses the boundary;
 *  - masking needs where each occurrence starts; in block mode that is end - length (literals),
 *    while streaming mode would need start-of-match tracking (HS_FLAG_SOM_LEFTMOST and a SOM
 *    horizon), a bigger stream state and slower scans;
 *  - there is no per-request Hyperscan state to allocate (hs_open_stream mallocs), nothing to
 *    close on every path a request can end by, and one block database serves whole texts and
 *    streams alike;
 *  - the cost is rescanning the held tail, at most 255 bytes a piece and usually none.
 *
 * Hold-back: after a scan, the stream keeps the longest tail of the text that is a proper
 * prefix of some word (ASCII-folded), found by binary search of the sorted words for each
 * candidate start, longest first, within the (longest word - 1) last bytes, only at bytes some
 * word starts with, and only for lengths shorter than the longest such word. Plus an
 * incomplete UTF-8 character at the very end, so released text ends on a character boundary.
 * Every occurrence that will complete later starts inside that tail (else a longer tail would
 * be a word's prefix), so nothing of it has been released: the invariant the tests check. */
#include "security/words.h"

#include <limits.h>
#include <string.h>

#include "security/words_impl.h"

enum { RUNNING, BLOCKED, FINISHED };

/* ---- Hyperscan callbacks ---- */

typedef struct first_ctx {
    int found;
    unsigned id;
    unsigned long long end;
} first_ctx;

static int on_first(unsigned id, unsigned long long from, unsigned long long to, unsigned flags,
                    void *ctx) {
    (void)from;
    (void)flags;
    first_ctx *c = ctx;
    c->found = 1;
    c->id = id;
    c->end = to;
    return 1; /* one is enough to refuse: stop the scan */
}

typedef struct mask_ctx {
    const gw_words *m;
    uint16_t *end_len;
    int any;
} mask_ctx;

/* Hyperscan does not promise to report in order, so occurrences are only recorded here (the
 * longest ending at each offset: O(1) a report) and merged by one sweep afterwards. */
static int on_mask(unsigned id, unsigned long long from, unsigned long long to, unsigned flags,
                   void *ctx) {
    (void)from;
    (void)flags;
    mask_ctx *c = ctx;
    uint16_t len = c->m->entries[id].len;
    if (c->end_len[to] < len) c->end_len[to] = len;
    c->any = 1;
    return 0;
}

/* ---- Whole texts ---- */

int gw_words_find(const gw_words *m, gw_words_scratch *s, const char *text, size_t len,
                  gw_words_match *match) {
    if (!m->db || len == 0) return 0;
    if (!s->hs || len > UINT_MAX) return -1;
    first_ctx c = {0};
    hs_error_t rc = m->hs->scan(m->db, text, (unsigned)len, 0, s->hs, on_first, &c);
    if (rc != HS_SUCCESS && rc != HS_SCAN_TERMINATED) return -1;
    if (!c.found) return 0;
    if (match) *match = (gw_words_match){c.end - m->entries[c.id].len, c.end, c.id};
    return 1;
}

/* ---- Hold-back ---- */

/* Whether the folded text `key` (k bytes, starting with byte c) is a proper prefix of a word:
 * a word longer than k begins with it. */
static int is_proper_prefix(const gw_words *m, const unsigned char *key, size_t k,
                            unsigned char c) {
    size_t lo = m->first_lo[c], hi = m->first_hi[c], end = hi;
    while (lo < hi) { /* the first word not below key */
        size_t mid = lo + (hi - lo) / 2;
        const gw_words_entry *e = &m->entries[mid];
        if (gw_words_compare((const unsigned char *)m->pool + e->folded, e->len, key, k) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    /* Words that start with key follow it in order, key itself first when it is a word. */
    if (lo < end && m->entries[lo].len == k && !memcmp(m->pool + m->entries[lo].folded, key, k))
        lo++;
    return lo < end && m->entries[lo].len > k && !memcmp(m->pool + m->entries[lo].folded, key, k);
}

/* Where the tail to hold back starts in buf[0..len): len when nothing needs holding. */
static size_t hold_from(const gw_words *m, gw_words_scratch *s, const unsigned char *buf,
                        size_t len) {
    size_t from = len;

    /* An incomplete character at the end: its lead byte and fewer continuation bytes than the
     * lead announces. Anything malformed counts as complete, so garbage is not held forever. */
    size_t back = 0;
    while (back < 3 && back < len && (buf[len - 1 - back] & 0xC0) == 0x80)
        back++;
    if (back < len) {
        unsigned char lead = buf[len - 1 - back];
        size_t need = lead >= 0xF0 && lead <= 0xF4   ? 4
                      : lead >= 0xE0 && lead <= 0xEF ? 3
                      : lead >= 0xC2 && lead <= 0xDF ? 2
                                                     : 1;
        if (need > back + 1) from = len - 1 - back;
    }

    if (m->max_len < 2) return from; /* one-byte words have no proper prefix */
    size_t window = m->max_len - 1;
    if (window > len) window = len;
    size_t base = len - window;
    for (size_t i = 0; i < window; i++)
        s->folded[i] = gw_words_fold(buf[base + i]);
    /* Longest first: the first hit is the one to hold from. */
    for (size_t i = 0; i < window && base + i < from; i++) {
        unsigned char c = s->folded[i];
        size_t k = window - i;
        if (k >= m->first_max_len[c]) continue; /* no word starts with c and is longer */
        if (is_proper_prefix(m, s->folded + i, k, c)) return base + i;
    }
    return from;
}

/* ---- Streams ---- */

void gw_words_stream_init(gw_words_stream *st, const gw_words *m, gw_words_action action) {
    memset(st, 0, sizeof *st);
    st->m = m;
    st->action = action;
    st->state = RUNNING;
}

size_t gw_words_stream_held(const gw_words_stream *st) {
    return st->held_len;
}

size_t gw_words_stream_masked(const gw_words_stream *st) {
    return st->masked_chars;
}

/* Scans the held tail and seg[0..n) as one text, writes what may go to out (at most
 * held + n bytes) and keeps the rest. `final`: the text ends here, hold nothing. */
static int step(gw_words_stream *st, gw_words_scratch *s, const unsigned char *seg, size_t n,
                int final, unsigned char *out, size_t *out_len, gw_words_match *match) {
    const gw_words *m = st->m;
    unsigned char *buf = s->buf;
    size_t total = st->held_len + n;
    *out_len = 0;
    memcpy(buf, st->held, st->held_len);
    if (n) memcpy(buf + st->held_len, seg, n);

    int any = 0;
    if (st->action == GW_WORDS_BLOCK) {
        /* At the end the tail needs no scan: every scan it was part of found nothing. */
        if (m->db && total > 0 && !final) {
            first_ctx c = {0};
            hs_error_t rc =
                m->hs->scan(m->db, (const char *)buf, (unsigned)total, 0, s->hs, on_first, &c);
            if (rc != HS_SUCCESS && rc != HS_SCAN_TERMINATED) return GW_WORDS_ERROR;
            if (c.found) {
                if (match)
                    *match = (gw_words_match){st->offset + c.end - m->entries[c.id].len,
                                              st->offset + c.end, c.id};
                return GW_WORDS_BLOCKED;
            }
        }
    } else {
        memset(s->end_len, 0, (total + 1) * sizeof *s->end_len);
        if (m->db && total > 0) {
            mask_ctx c = {m, s->end_len, 0};
            hs_error_t rc =
                m->hs->scan(m->db, (const char *)buf, (unsigned)total, 0, s->hs, on_mask, &c);
            if (rc != HS_SUCCESS) return GW_WORDS_ERROR;
            any = c.any;
        }
        /* The part of an occurrence that began in text already released: one more span. */
        size_t hm = st->held_masked;
        if (hm) {
            if (s->end_len[hm] < hm) s->end_len[hm] = (uint16_t)hm;
            any = 1;
        }
    }

    size_t from = final ? total : hold_from(m, s, buf, total);
    size_t w = 0, held_masked = 0;
    if (!any) {
        memcpy(out, buf, from);
        w = from;
    } else {
        /* Byte i is masked when some occurrence [e - len, e) with e > i starts at or before i:
         * a sweep from the right keeping the smallest start seen. */
        size_t reach = SIZE_MAX;
        for (size_t e = total; e > 0; e--) {
            uint16_t l = s->end_len[e];
            if (l && e - l < reach) reach = e - l;
            s->masked[e - 1] = reach <= e - 1;
        }
        for (size_t i = 0; i < from; i++) {
            if (!s->masked[i])
                out[w++] = buf[i];
            else if ((buf[i] & 0xC0) != 0x80) { /* one star per character: at its lead byte */
                out[w++] = '*';
                st->masked_chars++;
            }
        }
        /* The held tail may begin inside an occurrence that starts before it; a rescan would
         * not see that one again, so the stream remembers how far into the tail it reaches. */
        while (from + held_masked < total && s->masked[from + held_masked])
            held_masked++;
    }

    st->held_len = (uint16_t)(total - from);
    st->held_masked = (uint16_t)held_masked;
    memcpy(st->held, buf + from, total - from);
    st->offset += from;
    *out_len = w;
    return GW_WORDS_PASS;
}

int gw_words_stream_feed(gw_words_stream *st, gw_words_scratch *s, const char *piece, size_t len,
                         char *out, size_t out_cap, size_t *out_len, gw_words_match *match) {
    *out_len = 0;
    if (st->state != RUNNING || out_cap < len + st->held_len) return GW_WORDS_ERROR;
    if (st->m->db && !s->hs) return GW_WORDS_ERROR;
    size_t done = 0, written = 0;
    /* Big pieces go a segment at a time: the scratch's buffers are fixed. Released text is
     * at most what came in, so out never overflows. */
    while (done < len) {
        size_t n = len - done < GW_WORDS_SEGMENT ? len - done : GW_WORDS_SEGMENT, w;
        int rc = step(st, s, (const unsigned char *)piece + done, n, 0,
                      (unsigned char *)out + written, &w, match);
        written += w;
        done += n;
        if (rc != GW_WORDS_PASS) {
            /* Blocked, or a scan that failed: either way the stream takes no more text. */
            st->state = rc == GW_WORDS_BLOCKED ? BLOCKED : FINISHED;
            *out_len = written;
            return rc;
        }
    }
    *out_len = written;
    return GW_WORDS_PASS;
}

int gw_words_stream_finish(gw_words_stream *st, gw_words_scratch *s, char *out, size_t out_cap,
                           size_t *out_len) {
    *out_len = 0;
    if (st->state != RUNNING || out_cap < st->held_len) return GW_WORDS_ERROR;
    if (st->m->db && !s->hs) return GW_WORDS_ERROR;
    st->state = FINISHED;
    return step(st, s, NULL, 0, 1, (unsigned char *)out, out_len, NULL);
}

int gw_words_mask(const gw_words *m, gw_words_scratch *s, const char *text, size_t len, char *out,
                  size_t out_cap, size_t *out_len, size_t *masked_chars) {
    *out_len = 0;
    if (out_cap < len) return -1;
    /* A stream fed the whole text: the same code and the same fixed buffers for any size. */
    gw_words_stream st;
    gw_words_stream_init(&st, m, GW_WORDS_MASK);
    size_t w = 0, tail = 0;
    if (gw_words_stream_feed(&st, s, text, len, out, out_cap, &w, NULL) != GW_WORDS_PASS ||
        gw_words_stream_finish(&st, s, out + w, out_cap - w, &tail) != GW_WORDS_PASS)
        return -1;
    *out_len = w + tail;
    if (masked_chars) *masked_chars = st.masked_chars;
    return 0;
}
