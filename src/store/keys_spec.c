#include "store/keys_spec.h"

#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(char *err, size_t errlen, const char *fmt, ...) {
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static const char *const window_names[GW_KEY_WINDOWS] = {"second", "minute", "hour", "day"};

const char *gw_key_window_name(gw_key_window w) {
    return (unsigned)w < GW_KEY_WINDOWS ? window_names[w] : NULL;
}

const char *gw_key_period_name(gw_key_period p) {
    switch (p) {
    case GW_KEY_PERIOD_DAY:
        return "day";
    case GW_KEY_PERIOD_WEEK:
        return "week";
    case GW_KEY_PERIOD_MONTH:
        return "month";
    default:
        return NULL;
    }
}

/* Control characters would corrupt logs and headers the values end up in. */
static int has_control(const char *s, size_t len) {
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) return 1;
    return 0;
}

int gw_key_check_text(const char *field, const char *s, int required, char *err, size_t errlen) {
    if (!s || !*s) return required ? fail(err, errlen, "%s: required", field) : 0;
    size_t len = strlen(s);
    if (len > GW_KEY_NAME_MAX)
        return fail(err, errlen, "%s: longer than %d bytes", field, GW_KEY_NAME_MAX);
    if (has_control(s, len)) return fail(err, errlen, "%s: control characters", field);
    return 0;
}

int gw_key_check_models(const char *const *models, size_t n, char *err, size_t errlen) {
    if (n > GW_KEY_MODELS_MAX)
        return fail(err, errlen, "models: more than %d globs", GW_KEY_MODELS_MAX);
    for (size_t i = 0; i < n; i++) {
        size_t len = models[i] ? strlen(models[i]) : 0;
        if (!len) return fail(err, errlen, "models[%zu]: empty", i);
        if (len > GW_KEY_GLOB_MAX)
            return fail(err, errlen, "models[%zu]: longer than %d bytes", i, GW_KEY_GLOB_MAX);
        if (has_control(models[i], len))
            return fail(err, errlen, "models[%zu]: control characters", i);
    }
    return 0;
}

int gw_key_check_limits(const gw_key_limits *l, char *err, size_t errlen) {
    for (int w = 0; w < GW_KEY_WINDOWS; w++) {
        if (l->requests[w] > GW_KEY_AMOUNT_MAX)
            return fail(err, errlen, "limits.requests.%s: above 2^53", window_names[w]);
        if (l->tokens[w] > GW_KEY_AMOUNT_MAX)
            return fail(err, errlen, "limits.tokens.%s: above 2^53", window_names[w]);
    }
    return 0;
}

/* A tz database name: letters, digits, '_', '+', '-' in components joined by '/'; no empty, "."
 * or ".." component, so it can only name a file under the zoneinfo directory. */
static int tz_name_ok(const char *s) {
    size_t len = strlen(s);
    if (len > GW_KEY_TZ_MAX) return 0;
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        char c = s[i];
        if (c == '/' || c == '\0') {
            size_t n = i - start;
            if (n == 0 || (s[start] == '.')) return 0;
            start = i + 1;
            continue;
        }
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '+' || c == '-'))
            return 0;
    }
    return 1;
}

int gw_key_check_quota(const gw_key_quota *q, char *err, size_t errlen) {
    if (q->period == GW_KEY_PERIOD_NONE) return 0;
    if (q->period < GW_KEY_PERIOD_NONE || q->period > GW_KEY_PERIOD_MONTH)
        return fail(err, errlen, "quota.period: day, week or month");
    if (q->tokens > GW_KEY_AMOUNT_MAX) return fail(err, errlen, "quota.tokens: above 2^53");
    if (!memchr(q->tz, '\0', sizeof q->tz) || (q->tz[0] && !tz_name_ok(q->tz)))
        return fail(err, errlen, "quota.tz: not a time zone name");
    return 0;
}

int gw_key_spec_check(const gw_key_spec *spec, char *err, size_t errlen) {
    if (gw_key_check_text("name", spec->name, 1, err, errlen) ||
        gw_key_check_text("tenant", spec->tenant, 0, err, errlen) ||
        gw_key_check_text("project", spec->project, 0, err, errlen) ||
        gw_key_check_models(spec->models, spec->model_count, err, errlen) ||
        gw_key_check_limits(&spec->limits, err, errlen) ||
        gw_key_check_quota(&spec->quota, err, errlen))
        return -1;
    if (spec->expires < 0) return fail(err, errlen, "expires: before 1970");
    return 0;
}

json_object *gw_key_models_json(const char *const *models, size_t n) {
    json_object *a = json_object_new_array_ext((int)n);
    for (size_t i = 0; i < n; i++)
        json_object_array_add(a, json_object_new_string(models[i]));
    return a;
}

static json_object *amounts_json(const uint64_t *v) {
    json_object *o = json_object_new_object();
    for (int w = 0; w < GW_KEY_WINDOWS; w++)
        if (v[w]) json_object_object_add(o, window_names[w], json_object_new_int64((int64_t)v[w]));
    return o;
}

json_object *gw_key_limits_json(const gw_key_limits *l) {
    json_object *o = json_object_new_object();
    json_object *req = amounts_json(l->requests), *tok = amounts_json(l->tokens);
    if (json_object_object_length(req))
        json_object_object_add(o, "requests", req);
    else
        json_object_put(req);
    if (json_object_object_length(tok))
        json_object_object_add(o, "tokens", tok);
    else
        json_object_put(tok);
    return o;
}

json_object *gw_key_quota_json(const gw_key_quota *q) {
    if (q->period == GW_KEY_PERIOD_NONE) return NULL;
    json_object *o = json_object_new_object();
    json_object_object_add(o, "tokens", json_object_new_int64((int64_t)q->tokens));
    json_object_object_add(o, "period", json_object_new_string(gw_key_period_name(q->period)));
    json_object_object_add(o, "tz", json_object_new_string(q->tz[0] ? q->tz : "UTC"));
    return o;
}

/* A JSON integer in [min, GW_KEY_AMOUNT_MAX]. */
static int amount(json_object *v, uint64_t min, uint64_t *out) {
    if (!json_object_is_type(v, json_type_int)) return -1;
    int64_t n = json_object_get_int64(v);
    if (n < 0 || (uint64_t)n < min || (uint64_t)n > GW_KEY_AMOUNT_MAX) return -1;
    *out = (uint64_t)n;
    return 0;
}

int gw_key_models_parse(json_object *v, char **out, size_t *n, char *err, size_t errlen) {
    *n = 0;
    if (!json_object_is_type(v, json_type_array))
        return fail(err, errlen, "models: an array of strings");
    size_t len = json_object_array_length(v);
    if (len > GW_KEY_MODELS_MAX)
        return fail(err, errlen, "models: more than %d globs", GW_KEY_MODELS_MAX);
    for (size_t i = 0; i < len; i++) {
        json_object *s = json_object_array_get_idx(v, i);
        if (!json_object_is_type(s, json_type_string)) {
            fail(err, errlen, "models[%zu]: a string", i);
            goto bad;
        }
        size_t slen = (size_t)json_object_get_string_len(s);
        const char *str = json_object_get_string(s);
        if (memchr(str, '\0', slen)) {
            fail(err, errlen, "models[%zu]: control characters", i);
            goto bad;
        }
        out[i] = strdup(str);
        if (!out[i]) {
            fail(err, errlen, "models: out of memory");
            goto bad;
        }
        *n = i + 1;
    }
    if (gw_key_check_models((const char *const *)out, *n, err, errlen) == 0) return 0;
bad:
    for (size_t i = 0; i < *n; i++)
        free(out[i]);
    *n = 0;
    return -1;
}

static int amounts_parse(json_object *v, const char *what, uint64_t *out, char *err,
                         size_t errlen) {
    if (!json_object_is_type(v, json_type_object))
        return fail(err, errlen, "limits.%s: an object of windows", what);
    json_object_object_foreach(v, k, val) {
        int w = 0;
        while (w < GW_KEY_WINDOWS && strcmp(k, window_names[w]))
            w++;
        if (w == GW_KEY_WINDOWS)
            return fail(err, errlen, "limits.%s.%s: not a window (second, minute, hour, day)", what,
                        k);
        /* 0 would refuse every request: that is what disabling a key is for. */
        if (amount(val, 1, &out[w]))
            return fail(err, errlen, "limits.%s.%s: an integer from 1 to 2^53", what, k);
    }
    return 0;
}

int gw_key_limits_parse(json_object *v, gw_key_limits *out, char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    if (!v || json_object_is_type(v, json_type_null)) return 0;
    if (!json_object_is_type(v, json_type_object)) return fail(err, errlen, "limits: an object");
    json_object_object_foreach(v, k, val) {
        if (!strcmp(k, "requests")) {
            if (amounts_parse(val, "requests", out->requests, err, errlen)) return -1;
        } else if (!strcmp(k, "tokens")) {
            if (amounts_parse(val, "tokens", out->tokens, err, errlen)) return -1;
        } else {
            return fail(err, errlen, "limits.%s: unknown (requests, tokens)", k);
        }
    }
    return 0;
}

int gw_key_quota_parse(json_object *v, gw_key_quota *out, char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    if (!v || json_object_is_type(v, json_type_null)) return 0;
    if (!json_object_is_type(v, json_type_object)) return fail(err, errlen, "quota: an object");
    int have_tokens = 0;
    json_object_object_foreach(v, k, val) {
        if (!strcmp(k, "tokens")) {
            if (amount(val, 0, &out->tokens))
                return fail(err, errlen, "quota.tokens: an integer from 0 to 2^53");
            have_tokens = 1;
        } else if (!strcmp(k, "period")) {
            const char *p = json_object_get_string(val);
            if (!json_object_is_type(val, json_type_string)) p = "";
            if (!strcmp(p, "day"))
                out->period = GW_KEY_PERIOD_DAY;
            else if (!strcmp(p, "week"))
                out->period = GW_KEY_PERIOD_WEEK;
            else if (!strcmp(p, "month"))
                out->period = GW_KEY_PERIOD_MONTH;
            else
                return fail(err, errlen, "quota.period: day, week or month");
        } else if (!strcmp(k, "tz")) {
            const char *tz = json_object_get_string(val);
            if (!json_object_is_type(val, json_type_string) ||
                (size_t)json_object_get_string_len(val) > GW_KEY_TZ_MAX || !tz_name_ok(tz))
                return fail(err, errlen, "quota.tz: not a time zone name");
            snprintf(out->tz, sizeof out->tz, "%s", strcmp(tz, "UTC") ? tz : "");
        } else {
            return fail(err, errlen, "quota.%s: unknown (tokens, period, tz)", k);
        }
    }
    if (!have_tokens) return fail(err, errlen, "quota.tokens: required");
    if (out->period == GW_KEY_PERIOD_NONE) return fail(err, errlen, "quota.period: required");
    return 0;
}

static json_object *time_or_null(int64_t t) {
    return t ? json_object_new_int64(t) : NULL;
}

json_object *gw_key_record_json(const gw_key_record *r) {
    json_object *o = json_object_new_object();
    char display[GW_KEY_DISPLAY_LEN + 4];
    snprintf(display, sizeof display, "%s...", r->display);
    json_object_object_add(o, "id", json_object_new_string(r->id));
    json_object_object_add(o, "name", json_object_new_string(r->name));
    json_object_object_add(o, "tenant", json_object_new_string(r->tenant));
    json_object_object_add(o, "project", json_object_new_string(r->project));
    json_object_object_add(o, "key_prefix", json_object_new_string(display));
    json_object_object_add(o, "models",
                           gw_key_models_json((const char *const *)r->models, r->model_count));
    json_object_object_add(o, "created", json_object_new_int64(r->created));
    json_object_object_add(o, "updated", json_object_new_int64(r->updated));
    json_object_object_add(o, "expires", time_or_null(r->expires));
    json_object_object_add(o, "disabled", json_object_new_boolean(r->disabled));
    json_object_object_add(o, "revoked", json_object_new_boolean(r->revoked != 0));
    json_object_object_add(o, "revoked_at", time_or_null(r->revoked));
    json_object_object_add(o, "limits", gw_key_limits_json(&r->limits));
    json_object_object_add(o, "quota", gw_key_quota_json(&r->quota));
    return o;
}

void gw_key_record_clear(gw_key_record *r) {
    for (size_t i = 0; i < r->model_count; i++)
        free(r->models[i]);
    memset(r, 0, sizeof *r);
}
