/* The types of API keys, shared by the store (src/store/keys.c), the snapshot the workers read
 * (src/store/keyset.c) and, later, the admin API. Types only, so headers need not include each
 * other's functions. */
#ifndef AIGW_STORE_KEY_T_H
#define AIGW_STORE_KEY_T_H

#include <stddef.h>
#include <stdint.h>

/* Bounds. A snapshot holds every live key in memory, so the count is capped; names are bounded
 * so a record has a fixed size; 64 globs is far more than a key needs and keeps a model check
 * short. */
enum {
    GW_KEY_MAX_KEYS = 1000000,
    GW_KEY_NAME_MAX = 128, /* name, tenant, project: bytes */
    GW_KEY_MODELS_MAX = 64,
    GW_KEY_GLOB_MAX = 256, /* one model glob: bytes */
    GW_KEY_ID_MAX = 64,    /* "key_" + 16 hex from the store; static keys name their own */
    GW_KEY_TZ_MAX = 63,
    GW_KEY_SECRET_MAX = 256, /* a presented secret longer than this is refused unhashed */
};

/* "sk-aigw-" and 40 base62 characters: 40 * log2(62) = 238 bits of entropy. */
#define GW_KEY_SECRET_PREFIX "sk-aigw-"
enum {
    GW_KEY_SECRET_PREFIX_LEN = 8,
    GW_KEY_SECRET_RANDOM_LEN = 40,
    GW_KEY_SECRET_LEN = GW_KEY_SECRET_PREFIX_LEN + GW_KEY_SECRET_RANDOM_LEN,
    /* What is kept for display: "sk-aigw-" and the first 4 random characters (24 of the 238
     * bits), enough to tell keys apart in a list, far too little to help a guess. */
    GW_KEY_DISPLAY_LEN = GW_KEY_SECRET_PREFIX_LEN + 4,
    GW_KEY_HASH_LEN = 32, /* SHA-256 */
};

/* Windows of a per-key rate limit; the same order as gw_limit_window (src/security). */
typedef enum {
    GW_KEY_WIN_SECOND,
    GW_KEY_WIN_MINUTE,
    GW_KEY_WIN_HOUR,
    GW_KEY_WIN_DAY,
    GW_KEY_WINDOWS
} gw_key_window;

/* Per-key rate limits, amounts per window; 0: no limit for that window.
 * JSON: {"requests": {"minute": 60}, "tokens": {"minute": 100000, "day": 2000000}} */
typedef struct gw_key_limits {
    uint64_t requests[GW_KEY_WINDOWS];
    uint64_t tokens[GW_KEY_WINDOWS];
} gw_key_limits;

typedef enum {
    GW_KEY_PERIOD_NONE, /* no quota */
    GW_KEY_PERIOD_DAY,
    GW_KEY_PERIOD_WEEK, /* from Monday 00:00 */
    GW_KEY_PERIOD_MONTH,
} gw_key_period;

/* A token budget per period, which starts at local midnight in tz ("" is UTC).
 * JSON: {"tokens": 1000000, "period": "month", "tz": "Asia/Shanghai"} */
typedef struct gw_key_quota {
    uint64_t tokens;
    gw_key_period period;
    char tz[GW_KEY_TZ_MAX + 1];
} gw_key_quota;

/* What a caller gives to create a key (and what the config file declares of a static key).
 * Times are Unix seconds; expires 0 is never. models are globs with * and ?; none allows no
 * model at all (["*"] allows every one). */
typedef struct gw_key_spec {
    const char *name, *tenant, *project; /* tenant, project: NULL is "" */
    const char *const *models;
    size_t model_count;
    int64_t expires;
    int disabled;
    gw_key_limits limits;
    gw_key_quota quota;
} gw_key_spec;

/* A key as the store keeps it (create, get, list, update answer with it). No secret: only its
 * hash and the display prefix exist after creation. */
typedef struct gw_key_record {
    char id[GW_KEY_ID_MAX + 1];
    char name[GW_KEY_NAME_MAX + 1];
    char tenant[GW_KEY_NAME_MAX + 1];
    char project[GW_KEY_NAME_MAX + 1];
    char display[GW_KEY_DISPLAY_LEN + 1]; /* "sk-aigw-ab12" */
    char *models[GW_KEY_MODELS_MAX];      /* owned: gw_key_record_clear frees them */
    size_t model_count;
    int64_t created, updated, expires; /* Unix seconds; expires 0: never */
    int64_t revoked;                   /* when it was revoked; 0: it is not */
    int disabled;
    gw_key_limits limits;
    gw_key_quota quota;
    uint8_t hash[GW_KEY_HASH_LEN];
} gw_key_record;

/* One model glob of a snapshot record. */
typedef struct gw_key_glob {
    const char *s;
    uint32_t len;
} gw_key_glob;

/* A key as the workers see it: one record of an immutable snapshot (gw_keyset). Strings are
 * NUL-terminated and live as long as the snapshot. Revoked keys are never in a snapshot. */
typedef struct gw_key {
    uint8_t hash[GW_KEY_HASH_LEN];
    const char *id, *name, *tenant, *project;
    uint32_t id_len, name_len, tenant_len, project_len;
    const gw_key_glob *models;
    uint32_t model_count;
    uint8_t disabled;
    uint8_t is_static;           /* declared in the config file, not in the store */
    int64_t expires;             /* Unix seconds; 0: never */
    const gw_key_limits *limits; /* NULL: no per-key limit */
    const gw_key_quota *quota;   /* NULL: no per-key quota */
} gw_key;

/* Why a presented secret was refused, or that it was not. */
typedef enum {
    GW_KEY_OK,
    GW_KEY_UNKNOWN, /* no such secret (or revoked, or rotated away) */
    GW_KEY_DISABLED,
    GW_KEY_EXPIRED,
} gw_key_verdict;

#endif
