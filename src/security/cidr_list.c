/* CIDR blocks as merged, sorted ranges with binary search (see cidr_list.h). Ranges rather
 * than a trie: a prefix block is a range, overlapping entries merge away, and a sorted array
 * is compact and cache-friendly. */
#include "security/cidr_list.h"

#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

typedef struct range4 {
    uint32_t lo, hi;
} range4;

/* 128 bits as two halves: C11 has no portable 128-bit integer */
typedef struct u128 {
    uint64_t hi, lo;
} u128;

typedef struct range6 {
    u128 lo, hi;
} range6;

struct gw_cidr_list {
    range4 *v4;
    range6 *v6;
    size_t n4, n6, entries;
};

static uint32_t load4(const uint8_t *b) {
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

static u128 load6(const uint8_t *b) {
    u128 v = {0, 0};
    for (int i = 0; i < 8; i++)
        v.hi = v.hi << 8 | b[i];
    for (int i = 8; i < 16; i++)
        v.lo = v.lo << 8 | b[i];
    return v;
}

static int cmp6(u128 a, u128 b) {
    if (a.hi != b.hi) return a.hi < b.hi ? -1 : 1;
    return a.lo < b.lo ? -1 : a.lo > b.lo;
}

/* The low `bits` bits set (0 <= bits <= 64). */
static uint64_t low_mask(unsigned bits) {
    return bits >= 64 ? UINT64_MAX : bits == 0 ? 0 : (UINT64_C(1) << bits) - 1;
}

static range4 block4(const gw_cidr *c) {
    uint32_t lo = load4(c->addr.bytes);
    uint32_t host = c->prefix >= 32 ? 0 : c->prefix == 0 ? UINT32_MAX : UINT32_MAX >> c->prefix;
    return (range4){lo, lo | host};
}

static range6 block6(const gw_cidr *c) {
    u128 lo = load6(c->addr.bytes), hi = lo;
    unsigned host_bits = 128 - c->prefix;
    hi.lo |= low_mask(host_bits > 64 ? 64 : host_bits);
    if (host_bits > 64) hi.hi |= low_mask(host_bits - 64);
    return (range6){lo, hi};
}

static int by_lo4(const void *a, const void *b) {
    uint32_t x = ((const range4 *)a)->lo, y = ((const range4 *)b)->lo;
    return x < y ? -1 : x > y;
}

static int by_lo6(const void *a, const void *b) {
    return cmp6(((const range6 *)a)->lo, ((const range6 *)b)->lo);
}

/* Merges sorted ranges in place (overlapping or adjacent ones become one); the new count. */
static size_t merge4(range4 *r, size_t n) {
    size_t out = 0;
    for (size_t i = 0; i < n; i++) {
        /* adjacent when the next starts right after: hi + 1, unless hi is the last address */
        if (out && (r[out - 1].hi == UINT32_MAX || r[i].lo <= r[out - 1].hi + 1)) {
            if (r[i].hi > r[out - 1].hi) r[out - 1].hi = r[i].hi;
        } else {
            r[out++] = r[i];
        }
    }
    return out;
}

static u128 inc6(u128 v) {
    v.lo++;
    if (v.lo == 0) v.hi++;
    return v;
}

static size_t merge6(range6 *r, size_t n) {
    size_t out = 0;
    for (size_t i = 0; i < n; i++) {
        range6 *last = out ? &r[out - 1] : NULL;
        int at_end = last && last->hi.hi == UINT64_MAX && last->hi.lo == UINT64_MAX;
        if (last && (at_end || cmp6(r[i].lo, inc6(last->hi)) <= 0)) {
            if (cmp6(r[i].hi, last->hi) > 0) last->hi = r[i].hi;
        } else {
            r[out++] = r[i];
        }
    }
    return out;
}

gw_cidr_list *gw_cidr_list_new(const gw_cidr *entries, size_t n) {
    gw_cidr_list *l = calloc(1, sizeof *l);
    if (!l) return NULL;
    size_t n4 = 0, n6 = 0;
    for (size_t i = 0; i < n; i++) {
        if (entries[i].addr.family == AF_INET)
            n4++;
        else if (entries[i].addr.family == AF_INET6)
            n6++;
    }
    if ((n4 && !(l->v4 = malloc(n4 * sizeof *l->v4))) ||
        (n6 && !(l->v6 = malloc(n6 * sizeof *l->v6)))) {
        gw_cidr_list_free(l);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        if (entries[i].addr.family == AF_INET)
            l->v4[l->n4++] = block4(&entries[i]);
        else if (entries[i].addr.family == AF_INET6)
            l->v6[l->n6++] = block6(&entries[i]);
    }
    if (l->n4) qsort(l->v4, l->n4, sizeof *l->v4, by_lo4);
    if (l->n6) qsort(l->v6, l->n6, sizeof *l->v6, by_lo6);
    l->n4 = merge4(l->v4, l->n4);
    l->n6 = merge6(l->v6, l->n6);
    l->entries = n;
    return l;
}

gw_cidr_list *gw_cidr_list_parse(const char *const *texts, size_t n, char *err, size_t errlen) {
    if (errlen) err[0] = '\0';
    gw_cidr *entries = calloc(n ? n : 1, sizeof *entries);
    if (!entries) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        char why[160];
        const char *t = texts[i] ? texts[i] : "";
        if (gw_cidr_parse(t, strlen(t), &entries[i], why, sizeof why) != 0) {
            snprintf(err, errlen, "entry %zu: %s", i, why);
            free(entries);
            return NULL;
        }
    }
    gw_cidr_list *l = gw_cidr_list_new(entries, n);
    if (!l) snprintf(err, errlen, "out of memory");
    free(entries);
    return l;
}

void gw_cidr_list_free(gw_cidr_list *list) {
    if (!list) return;
    free(list->v4);
    free(list->v6);
    free(list);
}

size_t gw_cidr_list_count(const gw_cidr_list *list) {
    return list ? list->entries : 0;
}

/* The last range whose lo is at most a, then whether a is within it. */
static int find4(const range4 *r, size_t n, uint32_t a) {
    size_t lo = 0, hi = n; /* answer in [lo, hi): the count of ranges with r.lo <= a */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (r[mid].lo <= a)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo > 0 && a <= r[lo - 1].hi;
}

static int find6(const range6 *r, size_t n, u128 a) {
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cmp6(r[mid].lo, a) <= 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo > 0 && cmp6(a, r[lo - 1].hi) <= 0;
}

int gw_cidr_match_ip(const gw_cidr_list *list, const gw_ip *ip) {
    if (!list || !ip) return 0;
    if (ip->family == AF_INET) return find4(list->v4, list->n4, load4(ip->bytes));
    if (ip->family == AF_INET6) return find6(list->v6, list->n6, load6(ip->bytes));
    return 0;
}

int gw_cidr_match(const gw_cidr_list *list, const struct sockaddr *sa) {
    gw_ip ip;
    if (gw_ip_from_sockaddr(sa, &ip) != 0) return 0;
    return gw_cidr_match_ip(list, &ip);
}

int gw_cidr_match_text(const gw_cidr_list *list, const char *text, size_t len) {
    gw_ip ip;
    if (gw_ip_parse(text, len, &ip) != 0) return -1;
    return gw_cidr_match_ip(list, &ip);
}

int gw_cidr_allowed(const gw_cidr_list *allow, const gw_cidr_list *deny, const gw_ip *ip) {
    if (gw_cidr_match_ip(deny, ip)) return 0;
    if (!allow || allow->entries == 0) return 1;
    return gw_cidr_match_ip(allow, ip);
}
