/* capture_pii: masks PII in captures on the store writer (see capture_pii.h). */
#include "filters/capture_pii.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json_string.h"
#include "core/strbuf.h"
#include "meter/record.h"

typedef struct pii_redactor {
    gw_capture_redactor base; /* first */
    gw_pii_set *set;
} pii_redactor;

/* The keys whose strings a stream sends in pieces of one text. */
#define KEY(k)                                                                                     \
    { k, sizeof k - 1 }
static const struct {
    const char *name;
    size_t len;
} joined_keys[] = {KEY("content"),  KEY("reasoning_content"), KEY("reasoning"),    KEY("text"),
                   KEY("thinking"), KEY("arguments"),         KEY("partial_json"), KEY("refusal")};
#undef KEY
enum {
    JOINED_KEYS = sizeof joined_keys / sizeof joined_keys[0],
    MAX_SLOTS = 256, /* joined texts of one answer (key x index); beyond, strings are read alone */
    /* strings read alone that repeat (every event's keys, id, object and model) are masked once
     * a capture: the texts up to this long, in a table of this many */
    MEMO_MAX_LEN = 128,
    MEMO_SIZE = 1024,
};

/* A JSON string literal of a document (a body, an answer, an event). */
typedef struct str_ref {
    uint32_t doc;
    size_t raw_start, raw_end; /* its contents between the quotes (to the end when cut) */
    size_t dec_off, dec_len;   /* decoded, in scratch.dec */
    int slot;                  /* the joined text it is a piece of; -1: read alone */
    int next;                  /* the slot's next piece; -1 */
    int changed;
    size_t new_off, new_len; /* the masked contents, decoded, in scratch.masked */
} str_ref;

typedef struct slot {
    int key;
    int64_t index;
    uint32_t last_event;
    int first, last; /* pieces */
} slot;

typedef struct doc {
    const char *s;
    size_t len;
} doc;

typedef struct doc_span {
    size_t off, len;
} doc_span;

typedef struct span_mask {
    size_t off, len; /* the value's mask, in scratch.values */
} span_mask;

typedef struct scratch {
    gw_pii_scratch *pii;
    gw_strbuf dec;    /* every string's decoded contents */
    gw_strbuf masked; /* the masked contents of the strings that changed */
    gw_strbuf joined; /* a joined text */
    gw_strbuf values; /* the masks of a text's values */
    gw_strbuf out;    /* the rewritten documents */
    str_ref *strs;
    size_t nstrs, strs_cap;
    gw_pii_span *spans;
    span_mask *masks;
    size_t spans_cap;
    int *pieces; /* a joined text's pieces (strs), and where each starts in joined */
    size_t *piece_at;
    size_t pieces_cap;
    doc *docs;
    doc_span *doc_out; /* each document's rewrite in out; off SIZE_MAX: unchanged */
    size_t docs_cap;
    slot slots[MAX_SLOTS];
    size_t nslots;
    uint32_t event; /* the SSE event being read, counted over the documents */
    struct {
        uint32_t generation; /* of the documents read: older entries are empty */
        int str;
    } memo[MEMO_SIZE];
    uint32_t generation;
    int failed; /* memory */
} scratch;

/* --- reading the strings of documents --- */

static str_ref *new_str(scratch *x) {
    if (x->nstrs == x->strs_cap) {
        size_t cap = x->strs_cap ? x->strs_cap * 2 : 256;
        str_ref *grown = realloc(x->strs, cap * sizeof *grown);
        if (!grown) {
            x->failed = 1;
            return NULL;
        }
        x->strs = grown;
        x->strs_cap = cap;
    }
    str_ref *r = &x->strs[x->nstrs++];
    memset(r, 0, sizeof *r);
    r->slot = r->next = -1;
    return r;
}

static int joined_key(const char *s, size_t len) {
    for (int i = 0; i < (int)JOINED_KEYS; i++)
        if (joined_keys[i].len == len && !memcmp(joined_keys[i].name, s, len)) return i;
    return -1;
}

/* The slot of (key, index) for a piece in the event being read: -1 when the slot has a piece
 * of this event already (a second string of one text in one event is read alone) or none is
 * left. */
static int slot_for(scratch *x, int key, int64_t index) {
    for (size_t i = 0; i < x->nslots; i++) {
        slot *s = &x->slots[i];
        if (s->key != key || s->index != index) continue;
        if (s->last_event == x->event) return -1;
        s->last_event = x->event;
        return (int)i;
    }
    if (x->nslots == MAX_SLOTS) return -1;
    x->slots[x->nslots] =
        (slot){.key = key, .index = index, .last_event = x->event, .first = -1, .last = -1};
    return (int)x->nslots++;
}

/* Whether s[from, to) ends an SSE event (a blank line): a capture's chunk may hold several. */
static int event_ends(const char *s, size_t from, size_t to) {
    for (size_t i = from; i + 1 < to; i++)
        if (s[i] == '\n' &&
            (s[i + 1] == '\n' || (s[i + 1] == '\r' && i + 2 < to && s[i + 2] == '\n')))
            return 1;
    return 0;
}

static size_t skip_space(const char *s, size_t len, size_t i) {
    while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
        i++;
    return i;
}

/* The integer at s[i] (after a key "index"), or keep. */
static int64_t read_index(const char *s, size_t len, size_t i, int64_t keep) {
    i = skip_space(s, len, i);
    int64_t v = 0;
    size_t digits = 0;
    while (i < len && s[i] >= '0' && s[i] <= '9' && digits < 12) {
        v = v * 10 + (s[i++] - '0');
        digits++;
    }
    return digits ? v : keep;
}

/* Every string literal of document d, decoded. join: strings under a joined key become pieces
 * of their (key, index)'s text, across the events of the documents. */
static void read_doc(scratch *x, const doc *dd, uint32_t d, int join) {
    const char *s = dd->s;
    size_t len = dd->len, i = 0;
    int last_key = -1;       /* the joined key the next value is under; -1: none */
    int64_t last_index = -1; /* the last "index" of this event */
    x->event++;
    while (i < len) {
        const char *q = memchr(s + i, '"', len - i);
        if (!q) break;
        if (join && event_ends(s, i, (size_t)(q - s))) { /* the next event of this chunk */
            x->event++;
            last_key = -1;
            last_index = -1;
        }
        size_t start = (size_t)(q - s) + 1, end = len;
        for (size_t j = start; j < len;) { /* the closing quote: one not escaped */
            const char *e = memchr(s + j, '"', len - j);
            if (!e) break;
            size_t at = (size_t)(e - s), slashes = 0;
            while (at - slashes > start && s[at - slashes - 1] == '\\')
                slashes++;
            if (slashes % 2 == 0) {
                end = at;
                break;
            }
            j = at + 1;
        }
        str_ref *r = new_str(x);
        if (!r) return;
        r->doc = d;
        r->raw_start = start;
        r->raw_end = end;
        r->dec_off = x->dec.len;
        if (!memchr(s + start, '\\', end - start)) /* no escape: the bytes are the text */
            gw_strbuf_add(&x->dec, s + start, end - start);
        else if (gw_json_string_decode(s + start, end - start, &x->dec) < 0) {
            x->dec.len = r->dec_off; /* not a valid literal (cut, or odd): read as it is */
            gw_strbuf_add(&x->dec, s + start, end - start);
        }
        r->dec_len = x->dec.len - r->dec_off;
        size_t after = skip_space(s, len, end + 1);
        if (end < len && after < len && s[after] == ':') { /* a key */
            const char *name = x->dec.data ? x->dec.data + r->dec_off : "";
            last_key = joined_key(name, r->dec_len);
            if (r->dec_len == 5 && !memcmp(name, "index", 5))
                last_index = read_index(s, len, after + 1, last_index);
        } else if (join && last_key >= 0) {
            r->slot = slot_for(x, last_key, last_index);
            if (r->slot >= 0) {
                slot *sl = &x->slots[r->slot];
                int me = (int)(r - x->strs);
                if (sl->last >= 0)
                    x->strs[sl->last].next = me;
                else
                    sl->first = me;
                sl->last = me;
            }
        }
        i = end + 1;
    }
}

/* --- finding and masking values --- */

static int write_strbuf(void *ud, const char *s, size_t len) {
    gw_strbuf *b = ud;
    gw_strbuf_add(b, s, len);
    return b->failed ? -1 : 0;
}

/* The mask of the value text[s.start, s.end), appended to values: the PII guard's mask for it
 * (the same scheme: 138****5678, [EMAIL]) when the value read alone is exactly one value, else
 * its kind in brackets. */
static void mask_value(const pii_redactor *rd, scratch *x, const char *text, const gw_pii_span *s,
                       span_mask *m) {
    const char *v = text + s->start;
    size_t len = s->end - s->start;
    m->off = x->values.len;
    gw_pii_span alone[2];
    gw_pii_result res;
    if (gw_pii_scan(rd->set, x->pii, v, len, alone, 2, NULL) == 1 && alone[0].start == 0 &&
        alone[0].end == len &&
        gw_pii_apply(rd->set, x->pii, v, len, write_strbuf, &x->values, NULL, &res) == GW_PII_OK &&
        res.changed && res.masked == 1) {
        m->len = x->values.len - m->off;
        return;
    }
    x->values.len = m->off;
    const char *name = gw_pii_detector_name(rd->set, s->detector);
    gw_strbuf_add(&x->values, "[", 1);
    for (const char *c = name ? name : "pii"; *c; c++) {
        char up = *c >= 'a' && *c <= 'z' ? (char)(*c - 'a' + 'A') : *c;
        gw_strbuf_add(&x->values, &up, 1);
    }
    gw_strbuf_add(&x->values, "]", 1);
    m->len = x->values.len - m->off;
}

/* Masks the values of one text made of n pieces (pieces[k] is at text[at[k], at[k + 1])). */
static void mask_text(const pii_redactor *rd, scratch *x, const char *text, size_t len,
                      const int *pieces, const size_t *at, size_t n) {
    if (!len) return;
    size_t count = gw_pii_scan(rd->set, x->pii, text, len, x->spans, x->spans_cap, NULL);
    if (count > x->spans_cap) {
        gw_pii_span *spans = realloc(x->spans, count * sizeof *spans);
        if (spans) x->spans = spans;
        span_mask *masks = spans ? realloc(x->masks, count * sizeof *masks) : NULL;
        if (masks) x->masks = masks;
        if (!spans || !masks) {
            x->failed = 1;
            return;
        }
        x->spans_cap = count;
        count = gw_pii_scan(rd->set, x->pii, text, len, x->spans, x->spans_cap, NULL);
    }
    if (!count) return;
    gw_strbuf_reset(&x->values);
    for (size_t i = 0; i < count; i++)
        mask_value(rd, x, text, &x->spans[i], &x->masks[i]);
    if (x->values.failed) {
        x->failed = 1;
        return;
    }
    size_t first = 0; /* the first span that may overlap the piece */
    for (size_t k = 0; k < n; k++) {
        size_t p = at[k], q = at[k + 1], cursor = p;
        str_ref *r = &x->strs[pieces[k]];
        size_t new_off = x->masked.len;
        int touched = 0;
        while (first < count && x->spans[first].end <= p)
            first++;
        for (size_t i = first; i < count && x->spans[i].start < q; i++) {
            const gw_pii_span *s = &x->spans[i];
            const span_mask *m = &x->masks[i];
            size_t a = s->start > p ? s->start : p, b = s->end < q ? s->end : q;
            gw_strbuf_add(&x->masked, text + cursor, a - cursor);
            if (m->len == s->end - s->start) /* the same length: each piece keeps its share */
                gw_strbuf_add(&x->masked, x->values.data + m->off + (a - s->start), b - a);
            else if (s->start >= p) /* else: the mask went into the piece the value starts in */
                gw_strbuf_add(&x->masked, x->values.data + m->off, m->len);
            cursor = b;
            touched = 1;
        }
        if (!touched) {
            x->masked.len = new_off;
            continue;
        }
        gw_strbuf_add(&x->masked, text + cursor, q - cursor);
        r->changed = 1;
        r->new_off = new_off;
        r->new_len = x->masked.len - new_off;
    }
}

/* Masks every text of the documents read: the joined ones, then each string read alone. */
static void mask_all(const pii_redactor *rd, scratch *x) {
    if (x->pieces_cap < x->nstrs + 1) {
        size_t cap = x->nstrs + 1;
        int *pieces = realloc(x->pieces, cap * sizeof *pieces);
        if (pieces) x->pieces = pieces;
        size_t *at = pieces ? realloc(x->piece_at, cap * sizeof *at) : NULL;
        if (at) x->piece_at = at;
        if (!pieces || !at) {
            x->failed = 1;
            return;
        }
        x->pieces_cap = cap;
    }
    for (size_t i = 0; i < x->nslots && !x->failed; i++) {
        gw_strbuf_reset(&x->joined);
        size_t n = 0;
        for (int k = x->slots[i].first; k >= 0; k = x->strs[k].next) {
            const str_ref *r = &x->strs[k];
            x->piece_at[n] = x->joined.len;
            x->pieces[n++] = k;
            gw_strbuf_add(&x->joined, x->dec.data + r->dec_off, r->dec_len);
        }
        if (x->joined.failed) x->failed = 1;
        x->piece_at[n] = x->joined.len;
        if (n && !x->failed)
            mask_text(rd, x, x->joined.data, x->joined.len, x->pieces, x->piece_at, n);
    }
    if (++x->generation == 0) { /* wrapped: no entry may look current */
        memset(x->memo, 0, sizeof x->memo);
        x->generation = 1;
    }
    for (size_t k = 0; k < x->nstrs && !x->failed; k++) {
        str_ref *r = &x->strs[k];
        if (r->slot >= 0) continue;
        const char *text = x->dec.data + r->dec_off;
        size_t at = SIZE_MAX; /* its place in the memo, when it may go there */
        int hit = 0;
        if (r->dec_len <= MEMO_MAX_LEN) {
            /* the length and the ends: repeats differ little, and memcmp settles it */
            uint32_t h = 2166136261u ^ (uint32_t)r->dec_len;
            size_t edge = r->dec_len < 16 ? r->dec_len : 16;
            for (size_t i = 0; i < edge; i++) {
                h = (h ^ (unsigned char)text[i]) * 16777619u;
                h = (h ^ (unsigned char)text[r->dec_len - 1 - i]) * 16777619u;
            }
            for (size_t probe = 0; probe < 8 && !hit; probe++) {
                size_t i = (h + probe) & (MEMO_SIZE - 1);
                if (x->memo[i].generation != x->generation) {
                    at = i;
                    break;
                }
                const str_ref *seen = &x->strs[x->memo[i].str];
                if (seen->dec_len == r->dec_len &&
                    !memcmp(x->dec.data + seen->dec_off, text, r->dec_len)) {
                    r->changed = seen->changed; /* the same text masks the same way */
                    r->new_off = seen->new_off;
                    r->new_len = seen->new_len;
                    hit = 1;
                }
            }
        }
        if (hit) continue;
        int piece = (int)k;
        size_t span[2] = {0, r->dec_len};
        mask_text(rd, x, text, r->dec_len, &piece, span, 1);
        if (at != SIZE_MAX) {
            x->memo[at].generation = x->generation;
            x->memo[at].str = (int)k;
        }
    }
    if (x->masked.failed) x->failed = 1;
}

/* --- writing the documents again --- */

static void add_escaped(void *ctx, const char *s, size_t len) {
    gw_strbuf_add(ctx, s, len);
}

/* Rewrites the documents with a changed string into out (doc_out[d]); the others keep off
 * SIZE_MAX. Returns how many changed. */
static size_t rewrite(scratch *x, size_t ndocs) {
    size_t changed = 0, k = 0;
    for (size_t d = 0; d < ndocs; d++) {
        x->doc_out[d].off = SIZE_MAX;
        size_t from = k;
        int any = 0;
        for (; k < x->nstrs && x->strs[k].doc == d; k++)
            any |= x->strs[k].changed;
        if (!any) continue;
        const doc *dd = &x->docs[d];
        x->doc_out[d].off = x->out.len;
        size_t cursor = 0;
        for (size_t i = from; i < k; i++) {
            const str_ref *r = &x->strs[i];
            if (!r->changed) continue;
            gw_strbuf_add(&x->out, dd->s + cursor, r->raw_start - cursor);
            gw_json_string_escape(x->masked.data + r->new_off, r->new_len, add_escaped, &x->out);
            cursor = r->raw_end;
        }
        gw_strbuf_add(&x->out, dd->s + cursor, dd->len - cursor);
        x->doc_out[d].len = x->out.len - x->doc_out[d].off;
        changed++;
    }
    if (x->out.failed) x->failed = 1;
    return changed;
}

static int ensure_docs(scratch *x, size_t n) {
    if (n <= x->docs_cap) return 0;
    doc *docs = realloc(x->docs, n * sizeof *docs);
    if (docs) x->docs = docs;
    doc_span *out = docs ? realloc(x->doc_out, n * sizeof *out) : NULL;
    if (out) x->doc_out = out;
    if (!docs || !out) return -1;
    x->docs_cap = n;
    return 0;
}

/* Reads, masks and rewrites ndocs documents (x->docs); join: they are an answer, whose texts a
 * stream sends in pieces. */
static size_t redact_docs(const pii_redactor *rd, scratch *x, size_t ndocs, int join) {
    x->nstrs = x->nslots = 0;
    x->failed = 0;
    gw_strbuf_reset(&x->dec);
    gw_strbuf_reset(&x->masked);
    gw_strbuf_reset(&x->out);
    /* buffers that exist, so an empty string's text is a pointer like any other */
    gw_strbuf_add(&x->dec, "", 1);
    gw_strbuf_add(&x->masked, "", 1);
    x->dec.len = x->masked.len = 0;
    for (size_t d = 0; d < ndocs && !x->failed; d++)
        read_doc(x, &x->docs[d], (uint32_t)d, join);
    if (x->dec.failed) x->failed = 1;
    if (x->failed) return 0;
    mask_all(rd, x);
    return x->failed ? 0 : rewrite(x, ndocs);
}

static int redact(const gw_capture_redactor *base, void *scratch_v, gw_capture *c) {
    const pii_redactor *rd = (const pii_redactor *)base;
    scratch *x = scratch_v;
    char *body = NULL, *response = NULL;
    size_t body_len = 0, response_len = 0, response_chunks = 0;
    if (c->request_body && c->request_body_len) {
        if (ensure_docs(x, 1) < 0) return -1;
        x->docs[0] = (doc){c->request_body, c->request_body_len};
        size_t changed = redact_docs(rd, x, 1, 0);
        if (x->failed) return -1;
        if (changed) {
            body_len = x->out.len;
            if (!(body = malloc(body_len ? body_len : 1))) return -1;
            memcpy(body, x->out.data, body_len);
        }
    }
    if (c->response && c->response_chunks) {
        size_t n = 0, off = 0;
        if (ensure_docs(x, c->response_chunks) < 0) goto fail;
        const gw_capture_chunk *ch;
        while (n < c->response_chunks && (ch = gw_capture_next(c->response, c->response_len, &off)))
            x->docs[n++] = (doc){ch->data, ch->len};
        size_t changed = redact_docs(rd, x, n, 1);
        if (x->failed) goto fail;
        if (changed) {
            response_chunks = n;
            for (size_t d = 0; d < n; d++)
                response_len += gw_capture_chunk_size(
                    x->doc_out[d].off == SIZE_MAX ? x->docs[d].len : x->doc_out[d].len);
            if (!(response = calloc(1, response_len ? response_len : 1))) goto fail;
            size_t at = 0;
            off = 0;
            for (size_t d = 0; d < n; d++) {
                ch = gw_capture_next(c->response, c->response_len, &off);
                gw_capture_chunk *to = (gw_capture_chunk *)(response + at);
                int same = x->doc_out[d].off == SIZE_MAX;
                size_t len = same ? x->docs[d].len : x->doc_out[d].len;
                to->t_us = ch->t_us;
                to->len = (uint32_t)len;
                memcpy(to->data, same ? x->docs[d].s : x->out.data + x->doc_out[d].off, len);
                at += gw_capture_chunk_size(len);
            }
        }
    }
    if (body) {
        free(c->request_body);
        c->request_body = body;
        c->request_body_len = body_len;
    }
    if (response) {
        free(c->response);
        c->response = response;
        c->response_len = c->response_cap = response_len;
        c->response_chunks = response_chunks;
    }
    return 0;
fail:
    free(body);
    return -1;
}

/* --- the redactor's life --- */

static void *scratch_new(void) {
    scratch *x = calloc(1, sizeof *x);
    if (!x) return NULL;
    x->pii = gw_pii_scratch_new();
    if (!x->pii) {
        free(x);
        return NULL;
    }
    return x;
}

static void scratch_free(void *v) {
    scratch *x = v;
    if (!x) return;
    gw_pii_scratch_free(x->pii);
    gw_strbuf_free(&x->dec);
    gw_strbuf_free(&x->masked);
    gw_strbuf_free(&x->joined);
    gw_strbuf_free(&x->values);
    gw_strbuf_free(&x->out);
    free(x->strs);
    free(x->spans);
    free(x->masks);
    free(x->pieces);
    free(x->piece_at);
    free(x->docs);
    free(x->doc_out);
    free(x);
}

static void destroy(gw_capture_redactor *base) {
    pii_redactor *rd = (pii_redactor *)base;
    gw_pii_set_free(rd->set);
    free(rd);
}

static const gw_capture_redactor_ops pii_redactor_ops = {
    .redact = redact,
    .scratch_new = scratch_new,
    .scratch_free = scratch_free,
    .destroy = destroy,
};

gw_capture_redactor *gw_capture_pii_redactor_new(const gw_pii_custom_desc *custom,
                                                 size_t custom_count, char *err, size_t cap) {
    if (custom_count > GW_PII_MAX_CUSTOM) custom_count = GW_PII_MAX_CUSTOM;
    gw_pii_custom_desc masked[GW_PII_MAX_CUSTOM];
    for (size_t i = 0; i < custom_count; i++) {
        masked[i] = custom[i];
        masked[i].action = GW_PII_MASK;
    }
    gw_pii_config config = {.custom = masked, .custom_count = custom_count};
    for (int k = 0; k < GW_PII_BUILTIN_COUNT; k++)
        config.builtin[k] = GW_PII_MASK;
    pii_redactor *rd = calloc(1, sizeof *rd);
    if (!rd) {
        snprintf(err, cap, "out of memory");
        return NULL;
    }
    rd->set = gw_pii_set_new(&config, err, cap);
    if (!rd->set) {
        free(rd);
        return NULL;
    }
    rd->base.ops = &pii_redactor_ops;
    atomic_init(&rd->base.refs, 1);
    return &rd->base;
}
