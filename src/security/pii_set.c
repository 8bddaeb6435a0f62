/* Building a detector set from a config, once per load: names checked, labels uppercased,
 * custom patterns compiled and JIT-compiled, so the request path only runs them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "security/pii_internal.h"

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#endif
#endif
#ifndef RUNNING_ON_VALGRIND
#define RUNNING_ON_VALGRIND 0
#endif

enum {
    DEFAULT_MAX_ENTRIES = 256,
    DEFAULT_MAX_BYTES = 64 * 1024,
    MAX_BYTES_LIMIT = 1 << 30, /* table offsets are 32 bits */
};

static const char *const kind_names[GW_PII_BUILTIN_COUNT + 1] = {
    "email", "phone", "china_id", "bank_card", "ip", "secret", "custom",
};

/* Ties between values of the same start and length go to the first: a checksummed id before
 * a Luhn-checked card (1 in 10 ids also pass Luhn), a card before a phone. */
static const struct {
    gw_pii_kind kind;
    pii_find_fn find;
} builtins[] = {
    {GW_PII_SECRET, pii_find_secret},
    {GW_PII_CHINA_ID, pii_find_china_id},
    {GW_PII_BANK_CARD, pii_find_bank_card},
    {GW_PII_PHONE, pii_find_phone},
    {GW_PII_EMAIL, pii_find_email},
    {GW_PII_IP, pii_find_ipv4},
    {GW_PII_IP, pii_find_ipv6},
};

size_t gw_pii_kind_max_length(gw_pii_kind kind) {
    switch (kind) {
    case GW_PII_EMAIL:
        return 254;
    case GW_PII_PHONE:
        return 44; /* "+", 15 digits, and up to two separators between each */
    case GW_PII_CHINA_ID:
        return 18;
    case GW_PII_BANK_CARD:
        return 23; /* 19 digits in groups of 4 */
    case GW_PII_IP:
        return 45; /* INET6_ADDRSTRLEN less its NUL */
    case GW_PII_SECRET:
        /* keys are reported as they grow, once their shape shows: within 72 bytes for every
         * shape (a PEM key's BEGIN line is the longest, a JWT takes 16) */
        return 72;
    default:
        return 0;
    }
}

const char *gw_pii_kind_name(gw_pii_kind kind) {
    return (unsigned)kind <= GW_PII_BUILTIN_COUNT ? kind_names[kind] : "unknown";
}

int gw_pii_kind_parse(const char *name, gw_pii_kind *kind) {
    for (int k = 0; k < GW_PII_BUILTIN_COUNT; k++)
        if (name && !strcmp(name, kind_names[k])) {
            *kind = (gw_pii_kind)k;
            return 0;
        }
    return -1;
}

int gw_pii_action_parse(const char *name, gw_pii_action *action) {
    static const char *const names[] = {"off", "block", "mask", "restore"};
    for (int a = 0; a < 4; a++)
        if (name && !strcmp(name, names[a])) {
            *action = (gw_pii_action)a;
            return 0;
        }
    return -1;
}

static int fail(char *err, size_t err_size, const char *message, const char *name) {
    if (err_size) snprintf(err, err_size, "%s%s%s", name ? name : "", name ? ": " : "", message);
    return -1;
}

static void set_names(pii_detector *d, const char *name) {
    snprintf(d->name, sizeof(d->name), "%s", name);
    size_t n = strlen(d->name);
    for (size_t i = 0; i < n; i++)
        d->label[i] = d->name[i] >= 'a' && d->name[i] <= 'z' ? (char)(d->name[i] - 32) : d->name[i];
    d->label[n] = '\0';
    d->label_len = n;
}

static int name_ok(const gw_pii_set *set, const char *name, char *err, size_t err_size) {
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > GW_PII_NAME_MAX)
        return fail(err, err_size, "a custom pattern needs a name of 1-32 characters", NULL);
    for (size_t i = 0; i < n; i++)
        if (!pii_word((unsigned char)name[i]))
            return fail(err, err_size, "a name takes only letters, digits and '_'", name);
    /* names become labels in capitals, and a 400 names them: one spelling per name */
    for (int k = 0; k <= GW_PII_BUILTIN_COUNT; k++)
        if (!strcasecmp(name, kind_names[k]))
            return fail(err, err_size, "is a built-in detector's name", name);
    for (unsigned d = 0; d < set->count; d++)
        if (set->det[d].kind == GW_PII_CUSTOM && !strcasecmp(set->det[d].name, name))
            return fail(err, err_size, "named twice", name);
    return 0;
}

static int compile(pii_detector *d, const char *pattern, char *err, size_t err_size) {
    int code;
    PCRE2_SIZE offset;
    if (!pattern) return fail(err, err_size, "needs a pattern", d->name);
    /* Text may hold any bytes: an invalid UTF-8 sequence matches nothing instead of failing
     * the match. \C could split a character: refused. */
    d->regex = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED,
                             PCRE2_UTF | PCRE2_MATCH_INVALID_UTF | PCRE2_NEVER_BACKSLASH_C |
                                 PCRE2_USE_OFFSET_LIMIT,
                             &code, &offset, NULL);
    if (!d->regex) {
        PCRE2_UCHAR message[256];
        if (pcre2_get_error_message(code, message, sizeof(message)) < 0)
            snprintf((char *)message, sizeof(message), "error %d", code);
        if (err_size)
            snprintf(err, err_size, "custom %s: PCRE2 error at offset %zu: %s", d->name,
                     (size_t)offset, (const char *)message);
        return -1;
    }
    /* Without a JIT for this CPU pcre2_match interprets. Under valgrind too: the JIT's SIMD
     * scans read whole words past a subject's end, which memcheck reports. */
    if (!RUNNING_ON_VALGRIND) (void)pcre2_jit_compile(d->regex, PCRE2_JIT_COMPLETE);
    return 0;
}

static gw_pii_set *refuse(gw_pii_set *set, char *err, size_t err_size, const char *message,
                          const char *name) {
    if (message) fail(err, err_size, message, name);
    gw_pii_set_free(set);
    return NULL;
}

gw_pii_set *gw_pii_set_new(const gw_pii_config *config, char *err, size_t err_size) {
    if (err_size) err[0] = '\0';
    if (!config) return refuse(NULL, err, err_size, "no config", NULL);
    if (config->custom_count > GW_PII_MAX_CUSTOM || (config->custom_count && !config->custom))
        return refuse(NULL, err, err_size, "at most 32 custom patterns", NULL);
    if (config->restore_max_entries > GW_PII_TABLE_MAX_ENTRIES)
        return refuse(NULL, err, err_size, "restore_max_entries is at most 65535", NULL);
    if (config->restore_max_bytes > MAX_BYTES_LIMIT)
        return refuse(NULL, err, err_size, "restore_max_bytes is at most 1 GiB", NULL);
    gw_pii_set *set = calloc(1, sizeof(*set));
    if (!set) return refuse(NULL, err, err_size, "out of memory", NULL);
    set->max_entries =
        config->restore_max_entries ? config->restore_max_entries : DEFAULT_MAX_ENTRIES;
    set->max_bytes = config->restore_max_bytes ? config->restore_max_bytes : DEFAULT_MAX_BYTES;

    for (size_t b = 0; b < sizeof(builtins) / sizeof(builtins[0]); b++) {
        gw_pii_action a = config->builtin[builtins[b].kind];
        if ((unsigned)a > GW_PII_RESTORE)
            return refuse(set, err, err_size, "unknown action", kind_names[builtins[b].kind]);
        if (a == GW_PII_OFF) continue;
        pii_detector *d = &set->det[set->count++];
        d->kind = builtins[b].kind;
        d->action = a;
        d->find = builtins[b].find;
        d->max_len = gw_pii_kind_max_length(d->kind);
        set_names(d, kind_names[d->kind]);
    }
    for (size_t c = 0; c < config->custom_count; c++) {
        const gw_pii_custom_desc *desc = &config->custom[c];
        if (name_ok(set, desc->name, err, err_size) < 0) return refuse(set, err, 0, NULL, NULL);
        if ((unsigned)desc->action > GW_PII_RESTORE)
            return refuse(set, err, err_size, "unknown action", desc->name);
        if (desc->max_length > GW_PII_CUSTOM_MAX_LENGTH)
            return refuse(set, err, err_size, "max_length is at most 4096", desc->name);
        if (desc->action == GW_PII_OFF) continue;
        pii_detector *d = &set->det[set->count++];
        d->kind = GW_PII_CUSTOM;
        d->action = desc->action;
        d->max_len = desc->max_length ? desc->max_length : (size_t)GW_PII_CUSTOM_MAX_LENGTH_DEFAULT;
        set_names(d, desc->name);
        if (compile(d, desc->pattern, err, err_size) < 0) return refuse(set, err, 0, NULL, NULL);
    }
    for (unsigned d = 0; d < set->count; d++) {
        if (set->det[d].action == GW_PII_RESTORE) set->has_restore = 1;
        if (set->det[d].max_len + 1 > set->window) set->window = set->det[d].max_len + 1;
    }
    return set;
}

void gw_pii_set_free(gw_pii_set *set) {
    if (!set) return;
    for (unsigned d = 0; d < set->count; d++)
        pcre2_code_free(set->det[d].regex);
    free(set);
}

int gw_pii_set_has_restore(const gw_pii_set *set) {
    return set && set->has_restore;
}

size_t gw_pii_set_window(const gw_pii_set *set) {
    return set ? set->window : 0;
}

const char *gw_pii_detector_name(const gw_pii_set *set, unsigned detector) {
    return set && detector < set->count ? set->det[detector].name : "unknown";
}
