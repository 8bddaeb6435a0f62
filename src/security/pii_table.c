/* The per-request restore table: which placeholder stands for which original. Entries and
 * bytes are bounded (the set's restore_max_entries and restore_max_bytes); memory grows by
 * doubling up to them, so a request with one phone number pays for one. A placeholder's
 * number is its entry's index + 1: the restorer finds an entry without searching. A value
 * seen again is found by comparing hashes first: a scan of at most 65535 integers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "security/pii_internal.h"

enum { FIRST_ENTRIES = 8, FIRST_BYTES = 512 };

gw_pii_table *gw_pii_table_new(const gw_pii_set *set) {
    gw_pii_table *t = calloc(1, sizeof(*t));
    if (!t) return NULL;
    t->max_entries = set ? set->max_entries : 0;
    t->max_bytes = set ? set->max_bytes : 0;
    return t;
}

void gw_pii_table_free(gw_pii_table *t) {
    if (!t) return;
    free(t->entries);
    free(t->pool);
    free(t);
}

size_t gw_pii_table_count(const gw_pii_table *t) {
    return t ? t->count : 0;
}

size_t gw_pii_table_bytes(const gw_pii_table *t) {
    return t ? t->used : 0;
}

size_t gw_pii_table_longest(const gw_pii_table *t) {
    return t ? t->longest : 0;
}

/* FNV-1a over the detector and the value. */
static uint32_t hash(unsigned detector, const char *s, size_t n) {
    uint32_t h = 2166136261u ^ detector;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 16777619u;
    return h;
}

static int reserve(gw_pii_table *t, size_t bytes) {
    if (t->count == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : FIRST_ENTRIES;
        if (cap > t->max_entries) cap = t->max_entries;
        pii_entry *e = realloc(t->entries, cap * sizeof(*e));
        if (!e) return -1;
        t->entries = e;
        t->cap = cap;
    }
    if (t->used + bytes > t->pool_cap) {
        size_t cap = t->pool_cap ? t->pool_cap : FIRST_BYTES;
        while (cap < t->used + bytes)
            cap *= 2;
        if (cap > t->max_bytes) cap = t->max_bytes;
        char *p = realloc(t->pool, cap);
        if (!p) return -1;
        t->pool = p;
        t->pool_cap = cap;
    }
    return 0;
}

int pii_table_put(gw_pii_table *t, const pii_detector *d, unsigned detector, const char *value,
                  size_t len, const char **placeholder, size_t *placeholder_len) {
    uint32_t h = hash(detector, value, len);
    for (size_t i = 0; i < t->count; i++) {
        const pii_entry *e = &t->entries[i];
        if (e->hash == h && e->detector == detector && e->value_len == len &&
            !memcmp(t->pool + e->off + e->placeholder_len, value, len)) {
            *placeholder = t->pool + e->off;
            *placeholder_len = e->placeholder_len;
            return 0;
        }
    }
    char ph[GW_PII_PLACEHOLDER_MAX + 1];
    int n = snprintf(ph, sizeof(ph), "[[PII_%s_%zu]]", d->label, t->count + 1);
    if (n < 0 || (size_t)n >= sizeof(ph)) return -1;
    size_t bytes = (size_t)n + len;
    if (t->count >= t->max_entries || bytes > t->max_bytes - t->used) return -1;
    if (reserve(t, bytes) < 0) return -1;
    pii_entry *e = &t->entries[t->count++];
    e->hash = h;
    e->off = (uint32_t)t->used;
    e->value_len = (uint32_t)len;
    e->placeholder_len = (uint16_t)n;
    e->detector = (uint16_t)detector;
    memcpy(t->pool + t->used, ph, (size_t)n);
    memcpy(t->pool + t->used + n, value, len);
    t->used += bytes;
    if ((size_t)n > t->longest) t->longest = (size_t)n;
    *placeholder = t->pool + e->off;
    *placeholder_len = (size_t)n;
    return 0;
}

int pii_table_find(const gw_pii_table *t, unsigned long n, const char *text, size_t len,
                   const char **value, size_t *value_len) {
    if (n == 0 || n > t->count) return 0;
    const pii_entry *e = &t->entries[n - 1];
    if (e->placeholder_len != len || memcmp(t->pool + e->off, text, len)) return 0;
    *value = t->pool + e->off + e->placeholder_len;
    *value_len = e->value_len;
    return 1;
}
