/* Sensitive words, building: reading and checking word lists, and compiling them into one
 * Hyperscan database of literals. Runs on the control thread when a config loads. */
#include "security/words.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "security/words_impl.h"

enum { MAX_FILE_BYTES = 64 << 20 };

/* Words as added: spellings back to back in one buffer, each NUL-terminated. */
struct gw_words_builder {
    char *bytes;
    size_t bytes_len, bytes_cap;
    uint32_t *offsets; /* where each word starts in bytes */
    uint16_t *lens;
    size_t count, offsets_cap, lens_cap;
};

static void set_err(char *err, size_t err_size, const char *fmt, ...) {
    if (!err || !err_size) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, err_size, fmt, ap);
    va_end(ap);
}

/* Returns the offset of the first byte that does not belong to a well-formed UTF-8 sequence
 * (RFC 3629: no overlong forms, no surrogates, nothing past U+10FFFF), or len. NUL is refused
 * too: a word with one comes from a binary file, not from a word list. */
static size_t utf8_invalid_at(const unsigned char *p, size_t len) {
    size_t i = 0;
    while (i < len) {
        unsigned char c = p[i];
        size_t n;
        unsigned char lo = 0x80, hi = 0xBF; /* the range of the second byte */
        if (c == 0) return i;
        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xC2 && c <= 0xDF)
            n = 2;
        else if (c >= 0xE0 && c <= 0xEF) {
            n = 3;
            if (c == 0xE0) lo = 0xA0; /* overlong */
            if (c == 0xED) hi = 0x9F; /* surrogates */
        } else if (c >= 0xF0 && c <= 0xF4) {
            n = 4;
            if (c == 0xF0) lo = 0x90; /* overlong */
            if (c == 0xF4) hi = 0x8F; /* past U+10FFFF */
        } else
            return i;
        if (len - i < n) return i;
        if (p[i + 1] < lo || p[i + 1] > hi) return i;
        for (size_t k = 2; k < n; k++)
            if (p[i + k] < 0x80 || p[i + k] > 0xBF) return i;
        i += n;
    }
    return len;
}

/* ASCII whitespace, and U+3000: Chinese word lists are often typed with the ideographic
 * space, which is as invisible there as a space is here. */
static size_t blank_at(const unsigned char *p, size_t len) {
    if (len >= 1 && (p[0] == ' ' || p[0] == '\t' || p[0] == '\r' || p[0] == '\v' || p[0] == '\f'))
        return 1;
    if (len >= 3 && p[0] == 0xE3 && p[1] == 0x80 && p[2] == 0x80) return 3;
    return 0;
}

static size_t blank_before(const unsigned char *p, size_t len) {
    if (len >= 1 && (p[len - 1] == ' ' || p[len - 1] == '\t' || p[len - 1] == '\r' ||
                     p[len - 1] == '\v' || p[len - 1] == '\f'))
        return 1;
    if (len >= 3 && p[len - 3] == 0xE3 && p[len - 2] == 0x80 && p[len - 1] == 0x80) return 3;
    return 0;
}

static void trim(const unsigned char **p, size_t *len) {
    size_t n;
    while ((n = blank_at(*p, *len))) {
        *p += n;
        *len -= n;
    }
    while ((n = blank_before(*p, *len)))
        *len -= n;
}

gw_words_builder *gw_words_builder_new(void) {
    return calloc(1, sizeof(gw_words_builder));
}

void gw_words_builder_free(gw_words_builder *b) {
    if (!b) return;
    free(b->bytes);
    free(b->offsets);
    free(b->lens);
    free(b);
}

static int grow(void **p, size_t *cap, size_t need, size_t size) {
    if (need <= *cap) return 0;
    size_t n = *cap ? *cap : 64;
    while (n < need)
        n *= 2;
    void *q = realloc(*p, n * size);
    if (!q) return -1;
    *p = q;
    *cap = n;
    return 0;
}

/* Checks and appends one word; `where` prefixes errors ("path:line: " or ""), `column0` is
 * where the trimmed word starts in what the user wrote, so an error can point at the byte. */
static int add_checked(gw_words_builder *b, const unsigned char *p, size_t len, const char *where,
                       size_t column0, char *err, size_t err_size) {
    if (len == 0) {
        set_err(err, err_size, "%sempty word", where);
        return -1;
    }
    if (len > GW_WORDS_MAX_LEN) {
        set_err(err, err_size, "%sword of %zu bytes, longer than %d", where, len, GW_WORDS_MAX_LEN);
        return -1;
    }
    size_t bad = utf8_invalid_at(p, len);
    if (bad < len) {
        set_err(err, err_size, "%s%s at byte %zu", where, p[bad] ? "invalid UTF-8" : "NUL byte",
                column0 + bad + 1);
        return -1;
    }
    if (b->count >= GW_WORDS_MAX_COUNT) {
        set_err(err, err_size, "%smore than %d words", where, GW_WORDS_MAX_COUNT);
        return -1;
    }
    if (grow((void **)&b->offsets, &b->offsets_cap, b->count + 1, sizeof *b->offsets) ||
        grow((void **)&b->lens, &b->lens_cap, b->count + 1, sizeof *b->lens) ||
        grow((void **)&b->bytes, &b->bytes_cap, b->bytes_len + len + 1, 1)) {
        set_err(err, err_size, "%sout of memory", where);
        return -1;
    }
    b->offsets[b->count] = (uint32_t)b->bytes_len;
    b->lens[b->count] = (uint16_t)len;
    memcpy(b->bytes + b->bytes_len, p, len);
    b->bytes[b->bytes_len + len] = '\0';
    b->bytes_len += len + 1;
    b->count++;
    return 0;
}

int gw_words_builder_add(gw_words_builder *b, const char *word, size_t len, char *err,
                         size_t err_size) {
    const unsigned char *p = (const unsigned char *)word;
    size_t n = len;
    trim(&p, &n);
    return add_checked(b, p, n, "", (size_t)(p - (const unsigned char *)word), err, err_size);
}

int gw_words_builder_add_text(gw_words_builder *b, const char *text, size_t len, const char *name,
                              char *err, size_t err_size) {
    const unsigned char *p = (const unsigned char *)text, *end = p + len;
    if (len >= 3 && p[0] == 0xEF && p[1] == 0xBB && p[2] == 0xBF) p += 3;
    for (size_t line = 1; p < end; line++) {
        const unsigned char *nl = memchr(p, '\n', (size_t)(end - p));
        const unsigned char *line_end = nl ? nl : end;
        const unsigned char *w = p;
        size_t n = (size_t)(line_end - p);
        trim(&w, &n); /* takes the '\r' of CRLF too */
        if (n > 0 && w[0] != '#') {
            char where[320];
            snprintf(where, sizeof where, "%s:%zu: ", name, line);
            if (add_checked(b, w, n, where, (size_t)(w - p), err, err_size)) return -1;
        }
        p = nl ? nl + 1 : end;
    }
    return 0;
}

int gw_words_builder_add_file(gw_words_builder *b, const char *path, char *err, size_t err_size) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        set_err(err, err_size, "%s: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        set_err(err, err_size, "%s: not a regular file", path);
        fclose(f);
        return -1;
    }
    if (st.st_size > MAX_FILE_BYTES) {
        set_err(err, err_size, "%s: larger than %d MiB", path, MAX_FILE_BYTES >> 20);
        fclose(f);
        return -1;
    }
    size_t size = (size_t)st.st_size;
    char *text = malloc(size ? size : 1);
    if (!text) {
        set_err(err, err_size, "%s: out of memory", path);
        fclose(f);
        return -1;
    }
    size_t got = fread(text, 1, size, f);
    int failed = ferror(f);
    fclose(f);
    if (failed || got != size) {
        set_err(err, err_size, "%s: read error", path);
        free(text);
        return -1;
    }
    int rc = gw_words_builder_add_text(b, text, size, path, err, err_size);
    free(text);
    return rc;
}

/* ---- Compiling ---- */

typedef struct sort_item {
    const unsigned char *folded;
    uint16_t len;
    uint32_t added; /* the order added: among equal words the first spelling wins */
} sort_item;

static int compare_items(const void *pa, const void *pb) {
    const sort_item *a = pa, *b = pb;
    int c = gw_words_compare(a->folded, a->len, b->folded, b->len);
    if (c) return c;
    return a->added < b->added ? -1 : a->added > b->added;
}

gw_words *gw_words_build(const gw_words_builder *b, char *err, size_t err_size) {
    gw_words *m = calloc(1, sizeof *m);
    if (!m) {
        set_err(err, err_size, "out of memory");
        return NULL;
    }
    if (b->count == 0) return m;
    /* The library is opened here, by the first config with words (see hyperscan.h). */
    const gw_hyperscan *hs = gw_hyperscan_open(err, err_size);
    if (!hs) {
        free(m);
        return NULL;
    }
    if (hs->valid_platform() != HS_SUCCESS) {
        set_err(err, err_size, "Hyperscan needs a CPU with SSSE3");
        free(m);
        return NULL;
    }

    size_t n = b->count;
    sort_item *items = malloc(n * sizeof *items);
    /* The pool holds each spelling and its folded form: twice what the builder holds. */
    m->pool = malloc(2 * b->bytes_len);
    m->entries = malloc(n * sizeof *m->entries);
    const char **exprs = malloc(n * sizeof *exprs);
    unsigned *flags = malloc(n * sizeof *flags), *ids = malloc(n * sizeof *ids);
    size_t *lens = malloc(n * sizeof *lens);
    int ok = items && m->pool && m->entries && exprs && flags && ids && lens;
    if (!ok) {
        set_err(err, err_size, "out of memory");
        goto done;
    }

    memcpy(m->pool, b->bytes, b->bytes_len);
    for (size_t i = 0; i < n; i++) {
        unsigned char *f = (unsigned char *)m->pool + b->bytes_len + b->offsets[i];
        const unsigned char *o = (const unsigned char *)b->bytes + b->offsets[i];
        for (size_t k = 0; k < b->lens[i]; k++)
            f[k] = gw_words_fold(o[k]);
        items[i] = (sort_item){f, b->lens[i], (uint32_t)i};
    }
    qsort(items, n, sizeof *items, compare_items);

    size_t count = 0;
    for (size_t i = 0; i < n; i++) {
        if (count > 0 &&
            !gw_words_compare(items[i].folded, items[i].len,
                              (const unsigned char *)m->pool + m->entries[count - 1].folded,
                              m->entries[count - 1].len))
            continue; /* the same word again: the first spelling stays */
        uint32_t folded = (uint32_t)((const char *)items[i].folded - m->pool);
        m->entries[count] = (gw_words_entry){folded, b->offsets[items[i].added], items[i].len};
        exprs[count] = m->pool + folded;
        lens[count] = items[i].len;
        flags[count] = HS_FLAG_CASELESS;
        ids[count] = (unsigned)count;
        if (items[i].len > m->max_len) m->max_len = items[i].len;
        count++;
    }
    m->count = count;

    for (size_t i = 0; i < count; i++) {
        unsigned char c = (unsigned char)m->pool[m->entries[i].folded];
        if (m->first_hi[c] == 0) m->first_lo[c] = (uint32_t)i;
        m->first_hi[c] = (uint32_t)i + 1;
        if (m->entries[i].len > m->first_max_len[c]) m->first_max_len[c] = m->entries[i].len;
    }

    /* Pure literals: hs_compile_lit_multi takes the bytes as they are (no regex escaping to
     * get wrong) and builds the literal matchers only. HS_FLAG_UTF8 is not accepted here and
     * not needed: UTF-8 words match only on character boundaries (see words.h). Caseless
     * folds ASCII letters alone, which leaves every byte of a multi-byte character exact. */
    hs_compile_error_t *ce = NULL;
    if (hs->compile_lit_multi(exprs, flags, ids, lens, (unsigned)count, HS_MODE_BLOCK, NULL, &m->db,
                              &ce) != HS_SUCCESS) {
        set_err(err, err_size, "Hyperscan: %s", ce && ce->message ? ce->message : "compile failed");
        if (ce) hs->free_compile_error(ce);
        ok = 0;
    } else {
        m->hs = hs;
    }

done:
    free(items);
    free(exprs);
    free(flags);
    free(ids);
    free(lens);
    if (!ok) {
        gw_words_free(m);
        return NULL;
    }
    return m;
}

void gw_words_free(gw_words *m) {
    if (!m) return;
    if (m->db) m->hs->free_database(m->db);
    free(m->entries);
    free(m->pool);
    free(m);
}

size_t gw_words_count(const gw_words *m) {
    return m->count;
}

size_t gw_words_max_len(const gw_words *m) {
    return m->max_len;
}

const char *gw_words_word(const gw_words *m, size_t index, size_t *len) {
    if (index >= m->count) return NULL;
    if (len) *len = m->entries[index].len;
    return m->pool + m->entries[index].original;
}

/* ---- Scratch ---- */

gw_words_scratch *gw_words_scratch_new(const gw_words *m) {
    gw_words_scratch *s = malloc(sizeof *s);
    if (!s) return NULL;
    s->hs = NULL;
    if (gw_words_scratch_fit(s, m)) {
        free(s);
        return NULL;
    }
    return s;
}

int gw_words_scratch_fit(gw_words_scratch *s, const gw_words *m) {
    if (!m->db) return 0;
    /* hs_alloc_scratch grows an existing scratch so it serves every database it was fitted
     * to, and leaves it untouched when it already does. */
    return m->hs->alloc_scratch(m->db, &s->hs) == HS_SUCCESS ? 0 : -1;
}

void gw_words_scratch_free(gw_words_scratch *s) {
    if (!s) return;
    /* A scratch was only ever allocated by the opened library. */
    if (s->hs) gw_hyperscan_loaded()->free_scratch(s->hs);
    free(s);
}
