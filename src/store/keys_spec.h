/* What a key is made of, checked against the bounds, and its JSON forms: the store keeps models,
 * limits and quota as JSON text, and the admin API reads and writes the same shapes:
 *   models  ["chat", "embed*"]
 *   limits  {"requests": {"second": 5, "minute": 60}, "tokens": {"day": 2000000}}
 *   quota   {"tokens": 1000000, "period": "day" | "week" | "month", "tz": "Asia/Shanghai"}
 * Every failure writes a message naming the field into err. */
#ifndef AIGW_STORE_KEYS_SPEC_H
#define AIGW_STORE_KEYS_SPEC_H

#include <stddef.h>

#include "store/key-t.h"

struct json_object;

/* Amounts (limits, quota tokens) are at most 2^53, JSON's exact integers. */
#define GW_KEY_AMOUNT_MAX ((uint64_t)1 << 53)

/* A name, tenant or project: at most GW_KEY_NAME_MAX bytes, no control characters; a required
 * one is not empty. */
int gw_key_check_text(const char *field, const char *s, int required, char *err, size_t errlen);
int gw_key_check_models(const char *const *models, size_t n, char *err, size_t errlen);
int gw_key_check_limits(const gw_key_limits *l, char *err, size_t errlen);
/* A time zone name as the tz database spells it ("Asia/Shanghai", "UTC"); "" is UTC. Only its
 * shape is checked here; the quota module opens the zone. */
int gw_key_check_quota(const gw_key_quota *q, char *err, size_t errlen);
/* Every field of a spec, static keys' included. */
int gw_key_spec_check(const gw_key_spec *spec, char *err, size_t errlen);

/* JSON forms: new objects (the caller puts them), and parsers. */
struct json_object *gw_key_models_json(const char *const *models, size_t n);
struct json_object *gw_key_limits_json(const gw_key_limits *l);
struct json_object *gw_key_quota_json(const gw_key_quota *q); /* NULL (JSON null) when none */
/* models: an array of strings; out gets heap copies (free each), *n their count. */
int gw_key_models_parse(struct json_object *v, char **out, size_t *n, char *err, size_t errlen);
int gw_key_limits_parse(struct json_object *v, gw_key_limits *out, char *err, size_t errlen);
/* NULL or JSON null: no quota. */
int gw_key_quota_parse(struct json_object *v, gw_key_quota *out, char *err, size_t errlen);

/* A record as the admin API shows it; never with a secret (there is none to show). */
struct json_object *gw_key_record_json(const gw_key_record *r);
/* Frees what a record owns (its model strings) and zeroes it. */
void gw_key_record_clear(gw_key_record *r);

const char *gw_key_window_name(gw_key_window w); /* "second", "minute", "hour", "day" */
const char *gw_key_period_name(gw_key_period p); /* "day", "week", "month"; NULL for none */

#endif
