#include "security/schedule_tz.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "security/schedule_civil.h"
#include "security/schedule_posix_tz.h"

struct gw_tz {
    char name[64];
    size_t count;    /* transitions */
    int64_t *at;     /* their Unix times, ascending */
    int32_t *offset; /* the offset from each on */
    int32_t initial; /* before the first: time type 0, as RFC 8536 says */
    int has_rule;
    gw_posix_tz rule; /* after the last transition */
};

enum { TZIF_MAX_BYTES = 1 << 20, TZIF_MAX_TRANSITIONS = 1 << 16 };

static int fail(char *err, size_t errlen, const char *fmt, ...) {
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static uint32_t be32(const unsigned char *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const unsigned char *p) {
    return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

typedef struct tzif_header {
    uint32_t isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt;
} tzif_header;

static int read_header(const unsigned char *p, size_t left, tzif_header *h) {
    if (left < 44 || memcmp(p, "TZif", 4)) return -1;
    h->isutcnt = be32(p + 20);
    h->isstdcnt = be32(p + 24);
    h->leapcnt = be32(p + 28);
    h->timecnt = be32(p + 32);
    h->typecnt = be32(p + 36);
    h->charcnt = be32(p + 40);
    if (h->typecnt == 0 || h->typecnt > 256 || h->timecnt > TZIF_MAX_TRANSITIONS ||
        h->charcnt > 65536 || h->leapcnt > 65536 || h->isutcnt > 256 || h->isstdcnt > 256)
        return -1;
    return 0;
}

static size_t block_size(const tzif_header *h, size_t time_size) {
    return h->timecnt * time_size + h->timecnt + h->typecnt * 6 + h->charcnt +
           h->leapcnt * (time_size + 4) + h->isstdcnt + h->isutcnt;
}

gw_tz *gw_tz_from_tzif(const unsigned char *data, size_t len, const char *name, char *err,
                       size_t errlen) {
    tzif_header h;
    if (read_header(data, len, &h)) return fail(err, errlen, "%s: not a TZif file", name), NULL;
    const unsigned char *p = data + 44;
    size_t left = len - 44, time_size = 4;
    if (data[4] >= '2') {
        /* Version 2+: skip the 32-bit block; the 64-bit one follows with its own header. */
        size_t skip = block_size(&h, 4);
        if (skip > left || read_header(p + skip, left - skip, &h))
            return fail(err, errlen, "%s: truncated TZif file", name), NULL;
        p += skip + 44;
        left -= skip + 44;
        time_size = 8;
    }
    if (block_size(&h, time_size) > left)
        return fail(err, errlen, "%s: truncated TZif file", name), NULL;
    if (h.leapcnt) return fail(err, errlen, "%s: leap-second zones are not supported", name), NULL;

    gw_tz *tz = calloc(1, sizeof *tz);
    if (!tz) return fail(err, errlen, "out of memory"), NULL;
    snprintf(tz->name, sizeof tz->name, "%s", name);
    tz->count = h.timecnt;
    if (h.timecnt) {
        tz->at = malloc(h.timecnt * sizeof *tz->at);
        tz->offset = malloc(h.timecnt * sizeof *tz->offset);
        if (!tz->at || !tz->offset) {
            gw_tz_free(tz);
            return fail(err, errlen, "out of memory"), NULL;
        }
    }
    const unsigned char *times = p, *idx = p + h.timecnt * time_size;
    const unsigned char *types = idx + h.timecnt;
    for (uint32_t i = 0; i < h.timecnt; i++) {
        tz->at[i] = time_size == 8 ? be64(times + 8 * i) : (int32_t)be32(times + 4 * i);
        if (idx[i] >= h.typecnt || (i && tz->at[i] <= tz->at[i - 1])) {
            gw_tz_free(tz);
            return fail(err, errlen, "%s: malformed TZif transitions", name), NULL;
        }
        tz->offset[i] = (int32_t)be32(types + 6 * idx[i]);
    }
    tz->initial = (int32_t)be32(types);
    p += block_size(&h, time_size);
    left -= block_size(&h, time_size);
    /* The footer: "\n" rule "\n". An empty rule means none (the last type holds for ever). */
    if (time_size == 8 && left >= 2 && p[0] == '\n') {
        const unsigned char *nl = memchr(p + 1, '\n', left - 1);
        if (nl && nl > p + 1) {
            if (gw_posix_tz_parse((const char *)p + 1, (size_t)(nl - p - 1), &tz->rule)) {
                gw_tz_free(tz);
                return fail(err, errlen, "%s: malformed TZ rule in the footer", name), NULL;
            }
            tz->has_rule = 1;
        }
    }
    return tz;
}

/* Names are joined to a directory: refuse anything that could leave it. */
static int name_ok(const char *name) {
    size_t len = strlen(name);
    if (len == 0 || len >= 64 || name[0] == '/') return 0;
    for (const char *c = name; *c; c++) {
        if (!((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') ||
              *c == '_' || *c == '+' || *c == '-' || *c == '/' || *c == '.'))
            return 0;
        if (*c == '.' && (c == name || c[-1] == '/')) return 0; /* ".", "..", ".hidden" */
    }
    return 1;
}

gw_tz *gw_tz_load(const char *name, char *err, size_t errlen) {
    if (!name || !*name || !strcmp(name, "UTC")) {
        gw_tz *tz = calloc(1, sizeof *tz);
        if (tz) snprintf(tz->name, sizeof tz->name, "UTC");
        return tz;
    }
    if (!name_ok(name)) return fail(err, errlen, "%s: not a time zone name", name), NULL;
    const char *dir = getenv("TZDIR");
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir && *dir ? dir : "/usr/share/zoneinfo", name);
    FILE *fp = fopen(path, "rb");
    if (!fp) return fail(err, errlen, "%s: %s", path, strerror(errno)), NULL;
    unsigned char *buf = malloc(TZIF_MAX_BYTES);
    size_t len = buf ? fread(buf, 1, TZIF_MAX_BYTES, fp) : 0;
    fclose(fp);
    gw_tz *tz = NULL;
    if (!buf)
        fail(err, errlen, "out of memory");
    else if (len == TZIF_MAX_BYTES)
        fail(err, errlen, "%s: too large for a TZif file", path);
    else
        tz = gw_tz_from_tzif(buf, len, name, err, errlen);
    free(buf);
    return tz;
}

void gw_tz_free(gw_tz *tz) {
    if (!tz) return;
    free(tz->at);
    free(tz->offset);
    free(tz);
}

const char *gw_tz_name(const gw_tz *tz) {
    return tz ? tz->name : "UTC";
}

int32_t gw_tz_offset(const gw_tz *tz, int64_t t) {
    if (!tz) return 0;
    if (tz->count == 0 || t >= tz->at[tz->count - 1]) {
        if (tz->has_rule) return gw_posix_tz_offset(&tz->rule, t, NULL);
        return tz->count ? tz->offset[tz->count - 1] : tz->initial;
    }
    if (t < tz->at[0]) return tz->initial;
    size_t lo = 0, hi = tz->count - 1; /* at[lo] <= t < at[hi] */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (tz->at[mid] <= t)
            lo = mid;
        else
            hi = mid;
    }
    return tz->offset[lo];
}

void gw_tz_local(const gw_tz *tz, int64_t t, gw_local_time *out) {
    out->offset = gw_tz_offset(tz, t);
    out->local = t + out->offset;
    out->day = gw_floor_div(out->local, 86400);
    out->second = (int)(out->local - out->day * 86400);
    out->weekday = gw_weekday_from_days(out->day);
    gw_civil_from_days(out->day, &out->year, &out->month, &out->mday);
}

int64_t gw_tz_utc_of_local(const gw_tz *tz, int64_t local) {
    /* Offsets are within a day of UTC, so local - 1 day (taken as a Unix time) is before the
     * instant sought and local + 1 day after it; their offsets are those before and after any
     * transition near it (zones do not change twice within two days). */
    int32_t before = gw_tz_offset(tz, local - 86400), after = gw_tz_offset(tz, local + 86400);
    int64_t a = local - before, b = local - after;
    int a_ok = gw_tz_offset(tz, a) == before, b_ok = gw_tz_offset(tz, b) == after;
    if (a_ok && b_ok) return a < b ? a : b; /* read twice: the first time */
    if (a_ok) return a;
    if (b_ok) return b;
    /* Skipped (b < a): the first instant with the later offset is the transition itself. */
    int64_t lo = b < a ? b : a, hi = b < a ? a : b; /* offset(lo) == before, offset(hi) == after */
    while (hi - lo > 1) {
        int64_t mid = lo + (hi - lo) / 2;
        if (gw_tz_offset(tz, mid) == after)
            hi = mid;
        else
            lo = mid;
    }
    return hi;
}
