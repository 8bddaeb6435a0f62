#include "mcp/schema.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <json-c/json.h>
#include <math.h>
#include <pcre2.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_DEPTH = 64 };

enum {
    T_NULL = 1,
    T_BOOLEAN = 2,
    T_INTEGER = 4,
    T_NUMBER = 8, /* integers are numbers too */
    T_STRING = 16,
    T_ARRAY = 32,
    T_OBJECT = 64,
};

typedef struct prop {
    char *name;
    gw_schema *schema;
} prop;

struct gw_schema {
    int always_false; /* the schema `false` */
    unsigned types;   /* 0: any */
    prop *props;
    size_t prop_count;
    char **required;
    size_t required_count;
    int additional_forbidden;
    gw_schema *additional;
    gw_schema *items;
    json_object *enum_values; /* an array (owned) */
    json_object *const_value;
    int has_min, has_max, min_exclusive, max_exclusive, has_multiple;
    double minimum, maximum, multiple_of;
    long min_length, max_length, min_items, max_items, min_props, max_props; /* -1: none */
    int unique_items;
    pcre2_code *pattern;
    pcre2_match_context *match_limits; /* read-only while matching: shared by every thread */
    char *pattern_text;
    gw_schema **all_of, **any_of, **one_of;
    size_t all_count, any_count, one_count;
    gw_schema *not_schema;
};

/* ---------- compiling ---------- */

typedef struct compiler {
    char *err;
    size_t errlen;
    char where[256];
    int failed;
} compiler;

static void cfail(compiler *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void cfail(compiler *c, const char *fmt, ...) {
    if (c->failed) return;
    c->failed = 1;
    int n = snprintf(c->err, c->errlen, "at %s: ", c->where[0] ? c->where : "/");
    if (n < 0 || (size_t)n >= c->errlen) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err + n, c->errlen - (size_t)n, fmt, ap);
    va_end(ap);
}

static gw_schema *compile_node(compiler *c, json_object *js, int depth);

static unsigned type_bit(const char *name) {
    static const char *const names[] = {"null",   "boolean", "integer", "number",
                                        "string", "array",   "object"};
    for (unsigned i = 0; i < 7; i++)
        if (!strcmp(names[i], name)) return 1u << i;
    return 0;
}

static long nonneg(compiler *c, json_object *v, const char *key) {
    if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 0) {
        cfail(c, "%s: expected a non-negative integer", key);
        return -1;
    }
    return (long)json_object_get_int64(v);
}

static int number_of(json_object *v, double *out) {
    if (json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_double)) {
        *out = json_object_get_double(v);
        return 0;
    }
    return -1;
}

static gw_schema **compile_list(compiler *c, json_object *v, const char *key, size_t *count,
                                int depth) {
    if (!json_object_is_type(v, json_type_array) || json_object_array_length(v) == 0) {
        cfail(c, "%s: expected a non-empty list of schemas", key);
        return NULL;
    }
    size_t n = json_object_array_length(v);
    gw_schema **list = calloc(n, sizeof *list);
    if (!list) {
        cfail(c, "out of memory");
        return NULL;
    }
    size_t saved = strlen(c->where);
    for (size_t i = 0; i < n && !c->failed; i++) {
        snprintf(c->where + saved, sizeof c->where - saved, "/%s/%zu", key, i);
        list[i] = compile_node(c, json_object_array_get_idx(v, i), depth + 1);
        c->where[saved] = '\0';
    }
    *count = n;
    return list;
}

static void compile_keyword(compiler *c, gw_schema *s, const char *key, json_object *v, int depth) {
    size_t saved = strlen(c->where);
    if (!strcmp(key, "type")) {
        if (json_object_is_type(v, json_type_string)) {
            s->types = type_bit(json_object_get_string(v));
            if (!s->types) cfail(c, "type: unknown type '%s'", json_object_get_string(v));
        } else if (json_object_is_type(v, json_type_array)) {
            for (size_t i = 0; i < json_object_array_length(v); i++) {
                json_object *t = json_object_array_get_idx(v, i);
                unsigned bit = json_object_is_type(t, json_type_string)
                                   ? type_bit(json_object_get_string(t))
                                   : 0;
                if (!bit) cfail(c, "type: expected type names");
                s->types |= bit;
            }
        } else {
            cfail(c, "type: expected a type name or a list of them");
        }
    } else if (!strcmp(key, "properties")) {
        if (!json_object_is_type(v, json_type_object)) {
            cfail(c, "properties: expected a mapping");
            return;
        }
        size_t n = (size_t)json_object_object_length(v);
        s->props = calloc(n ? n : 1, sizeof *s->props);
        if (!s->props) {
            cfail(c, "out of memory");
            return;
        }
        json_object_object_foreach(v, name, sub) {
            if (c->failed) break;
            snprintf(c->where + saved, sizeof c->where - saved, "/properties/%s", name);
            prop *p = &s->props[s->prop_count++];
            p->name = strdup(name);
            p->schema = compile_node(c, sub, depth + 1);
            if (!p->name) cfail(c, "out of memory");
            c->where[saved] = '\0';
        }
    } else if (!strcmp(key, "required")) {
        if (!json_object_is_type(v, json_type_array)) {
            cfail(c, "required: expected a list of property names");
            return;
        }
        size_t n = json_object_array_length(v);
        s->required = calloc(n ? n : 1, sizeof *s->required);
        if (!s->required) {
            cfail(c, "out of memory");
            return;
        }
        for (size_t i = 0; i < n; i++) {
            json_object *r = json_object_array_get_idx(v, i);
            if (!json_object_is_type(r, json_type_string)) {
                cfail(c, "required: expected a list of property names");
                return;
            }
            s->required[s->required_count++] = strdup(json_object_get_string(r));
        }
    } else if (!strcmp(key, "additionalProperties")) {
        if (json_object_is_type(v, json_type_boolean)) {
            s->additional_forbidden = !json_object_get_boolean(v);
        } else {
            snprintf(c->where + saved, sizeof c->where - saved, "/additionalProperties");
            s->additional = compile_node(c, v, depth + 1);
            c->where[saved] = '\0';
        }
    } else if (!strcmp(key, "items")) {
        snprintf(c->where + saved, sizeof c->where - saved, "/items");
        s->items = compile_node(c, v, depth + 1);
        c->where[saved] = '\0';
    } else if (!strcmp(key, "enum")) {
        if (!json_object_is_type(v, json_type_array)) {
            cfail(c, "enum: expected a list");
            return;
        }
        s->enum_values = json_object_get(v);
    } else if (!strcmp(key, "const")) {
        s->const_value = json_object_get(v);
    } else if (!strcmp(key, "minimum") || !strcmp(key, "maximum") ||
               !strcmp(key, "exclusiveMinimum") || !strcmp(key, "exclusiveMaximum")) {
        int is_min = strstr(key, "inimum") != NULL;
        int exclusive = key[0] == 'e';
        if (exclusive && json_object_is_type(v, json_type_boolean)) { /* OpenAPI 3.0's form */
            if (is_min)
                s->min_exclusive = json_object_get_boolean(v);
            else
                s->max_exclusive = json_object_get_boolean(v);
            return;
        }
        double d;
        if (number_of(v, &d) < 0) {
            cfail(c, "%s: expected a number", key);
            return;
        }
        if (is_min) {
            s->has_min = 1;
            s->minimum = d;
            if (exclusive) s->min_exclusive = 1;
        } else {
            s->has_max = 1;
            s->maximum = d;
            if (exclusive) s->max_exclusive = 1;
        }
    } else if (!strcmp(key, "multipleOf")) {
        if (number_of(v, &s->multiple_of) < 0 || s->multiple_of <= 0)
            cfail(c, "multipleOf: expected a number over 0");
        s->has_multiple = 1;
    } else if (!strcmp(key, "minLength")) {
        s->min_length = nonneg(c, v, key);
    } else if (!strcmp(key, "maxLength")) {
        s->max_length = nonneg(c, v, key);
    } else if (!strcmp(key, "minItems")) {
        s->min_items = nonneg(c, v, key);
    } else if (!strcmp(key, "maxItems")) {
        s->max_items = nonneg(c, v, key);
    } else if (!strcmp(key, "minProperties")) {
        s->min_props = nonneg(c, v, key);
    } else if (!strcmp(key, "maxProperties")) {
        s->max_props = nonneg(c, v, key);
    } else if (!strcmp(key, "uniqueItems")) {
        s->unique_items = json_object_get_boolean(v);
    } else if (!strcmp(key, "nullable")) {
        if (json_object_get_boolean(v) && s->types) s->types |= T_NULL;
    } else if (!strcmp(key, "pattern")) {
        if (!json_object_is_type(v, json_type_string)) {
            cfail(c, "pattern: expected a regular expression");
            return;
        }
        int code;
        PCRE2_SIZE off;
        const char *text = json_object_get_string(v);
        /* ECMA-262 patterns are unanchored, and UTF-8 aware */
        s->pattern =
            pcre2_compile((PCRE2_SPTR)text, PCRE2_ZERO_TERMINATED, PCRE2_UTF, &code, &off, NULL);
        if (!s->pattern) {
            PCRE2_UCHAR msg[120];
            pcre2_get_error_message(code, msg, sizeof msg);
            cfail(c, "pattern: %s at offset %zu", (const char *)msg, (size_t)off);
            return;
        }
        pcre2_jit_compile(s->pattern, PCRE2_JIT_COMPLETE); /* when JIT is there */
        s->pattern_text = strdup(text);
        s->match_limits = pcre2_match_context_create(NULL);
        if (!s->pattern_text || !s->match_limits) {
            cfail(c, "pattern: out of memory");
            return;
        }
        pcre2_set_match_limit(s->match_limits, 100000); /* a caller's text cannot make it spin */
    } else if (!strcmp(key, "allOf")) {
        s->all_of = compile_list(c, v, key, &s->all_count, depth);
    } else if (!strcmp(key, "anyOf")) {
        s->any_of = compile_list(c, v, key, &s->any_count, depth);
    } else if (!strcmp(key, "oneOf")) {
        s->one_of = compile_list(c, v, key, &s->one_count, depth);
    } else if (!strcmp(key, "not")) {
        snprintf(c->where + saved, sizeof c->where - saved, "/not");
        s->not_schema = compile_node(c, v, depth + 1);
        c->where[saved] = '\0';
    } else if (!strcmp(key, "$ref")) {
        cfail(c, "$ref: references are resolved before compiling; this one was not");
    }
    /* anything else is an annotation (description, format, default, examples, ...) */
}

static gw_schema *compile_node(compiler *c, json_object *js, int depth) {
    if (c->failed) return NULL;
    if (depth > MAX_DEPTH) {
        cfail(c, "nested deeper than %d levels", MAX_DEPTH);
        return NULL;
    }
    gw_schema *s = calloc(1, sizeof *s);
    if (!s) {
        cfail(c, "out of memory");
        return NULL;
    }
    s->min_length = s->max_length = s->min_items = s->max_items = s->min_props = s->max_props = -1;
    if (json_object_is_type(js, json_type_boolean)) {
        s->always_false = !json_object_get_boolean(js);
        return s;
    }
    if (!json_object_is_type(js, json_type_object)) {
        cfail(c, "expected a schema (a mapping), found %s",
              json_type_to_name(json_object_get_type(js)));
        return s;
    }
    json_object *nullable = NULL;
    json_object_object_foreach(js, key, v) {
        if (!strcmp(key, "nullable"))
            nullable = v; /* after type, whatever the order */
        else
            compile_keyword(c, s, key, v, depth);
    }
    if (nullable) compile_keyword(c, s, "nullable", nullable, depth);
    return s;
}

gw_schema *gw_schema_compile(json_object *schema, char *err, size_t errlen) {
    compiler c = {.err = err, .errlen = errlen};
    gw_schema *s = compile_node(&c, schema, 0);
    if (c.failed) {
        gw_schema_free(s);
        return NULL;
    }
    return s;
}

static void free_list(gw_schema **list, size_t n) {
    for (size_t i = 0; list && i < n; i++)
        gw_schema_free(list[i]);
    free(list);
}

void gw_schema_free(gw_schema *s) {
    if (!s) return;
    for (size_t i = 0; i < s->prop_count; i++) {
        free(s->props[i].name);
        gw_schema_free(s->props[i].schema);
    }
    free(s->props);
    for (size_t i = 0; i < s->required_count; i++)
        free(s->required[i]);
    free(s->required);
    gw_schema_free(s->additional);
    gw_schema_free(s->items);
    json_object_put(s->enum_values);
    json_object_put(s->const_value);
    if (s->pattern) pcre2_code_free(s->pattern);
    if (s->match_limits) pcre2_match_context_free(s->match_limits);
    free(s->pattern_text);
    free_list(s->all_of, s->all_count);
    free_list(s->any_of, s->any_count);
    free_list(s->one_of, s->one_count);
    gw_schema_free(s->not_schema);
    free(s);
}

/* ---------- validating ---------- */

typedef struct checker {
    char *err;
    size_t errlen;
    char where[512];
    int quiet;            /* inside anyOf/oneOf/not: failures are tried, not reported */
    pcre2_match_data *md; /* the caller's, or made at the first pattern and freed at the end */
    int own_md;
} checker;

static int vfail(checker *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int vfail(checker *c, const char *fmt, ...) {
    if (c->quiet) return -1;
    int n = snprintf(c->err, c->errlen, "%s%s", c->where[0] ? c->where : "arguments",
                     c->where[0] ? ": " : ": ");
    if (n < 0 || (size_t)n >= c->errlen) return -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err + n, c->errlen - (size_t)n, fmt, ap);
    va_end(ap);
    return -1;
}

static unsigned value_type(json_object *v) {
    switch (json_object_get_type(v)) {
    case json_type_null:
        return T_NULL;
    case json_type_boolean:
        return T_BOOLEAN;
    case json_type_int:
        return T_INTEGER | T_NUMBER;
    case json_type_double: {
        double d = json_object_get_double(v);
        return (isfinite(d) && d == floor(d) && fabs(d) < 9e15) ? (T_INTEGER | T_NUMBER) : T_NUMBER;
    }
    case json_type_string:
        return T_STRING;
    case json_type_array:
        return T_ARRAY;
    case json_type_object:
        return T_OBJECT;
    }
    return 0;
}

static const char *type_name(json_object *v) {
    switch (json_object_get_type(v)) {
    case json_type_null:
        return "null";
    case json_type_boolean:
        return "a boolean";
    case json_type_int:
    case json_type_double:
        return "a number";
    case json_type_string:
        return "a string";
    case json_type_array:
        return "an array";
    default:
        return "an object";
    }
}

static void expected_types(unsigned types, char *out, size_t outlen) {
    static const char *const names[] = {"null",     "a boolean", "an integer", "a number",
                                        "a string", "an array",  "an object"};
    size_t used = 0;
    out[0] = '\0';
    for (unsigned i = 0; i < 7; i++) {
        if (!(types & (1u << i))) continue;
        int n = snprintf(out + used, outlen - used, "%s%s", used ? " or " : "", names[i]);
        if (n < 0 || (size_t)n >= outlen - used) return;
        used += (size_t)n;
    }
}

/* UTF-8 characters, which JSON Schema's lengths count (not bytes). */
static size_t utf8_length(const char *s, size_t len) {
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        n += ((unsigned char)s[i] & 0xC0) != 0x80;
    return n;
}

static int check(checker *c, const gw_schema *s, json_object *v, int depth);

static int check_in(checker *c, const gw_schema *s, json_object *v, int depth, const char *seg,
                    size_t index, int is_index) {
    size_t saved = strlen(c->where);
    if (is_index)
        snprintf(c->where + saved, sizeof c->where - saved, "%s/%zu", saved ? "" : "", index);
    else
        snprintf(c->where + saved, sizeof c->where - saved, "/%s", seg);
    int rc = check(c, s, v, depth + 1);
    c->where[saved] = '\0';
    return rc;
}

static int check_quiet(checker *c, const gw_schema *s, json_object *v, int depth) {
    int saved = c->quiet;
    c->quiet = 1;
    int rc = check(c, s, v, depth);
    c->quiet = saved;
    return rc;
}

static int check(checker *c, const gw_schema *s, json_object *v, int depth) {
    if (depth > MAX_DEPTH) return vfail(c, "nested deeper than %d levels", MAX_DEPTH);
    if (s->always_false) return vfail(c, "no value is allowed here");
    unsigned vt = value_type(v);
    if (s->types && !(s->types & vt)) {
        char want[120];
        expected_types(s->types, want, sizeof want);
        return vfail(c, "expected %s, found %s", want, type_name(v));
    }
    if (s->enum_values) {
        int found = 0;
        for (size_t i = 0; !found && i < json_object_array_length(s->enum_values); i++)
            found = json_object_equal(json_object_array_get_idx(s->enum_values, i), v);
        if (!found)
            return vfail(c, "expected one of %s",
                         json_object_to_json_string_ext(s->enum_values, JSON_C_TO_STRING_PLAIN));
    }
    if (s->const_value && !json_object_equal(s->const_value, v))
        return vfail(c, "expected %s",
                     json_object_to_json_string_ext(s->const_value, JSON_C_TO_STRING_PLAIN));
    if (vt & T_NUMBER) {
        double d = json_object_get_double(v);
        if (s->has_min && (s->min_exclusive ? d <= s->minimum : d < s->minimum))
            return vfail(c, "must be %s %g", s->min_exclusive ? "over" : "at least", s->minimum);
        if (s->has_max && (s->max_exclusive ? d >= s->maximum : d > s->maximum))
            return vfail(c, "must be %s %g", s->max_exclusive ? "under" : "at most", s->maximum);
        if (s->has_multiple) {
            double q = d / s->multiple_of;
            if (fabs(q - round(q)) > 1e-9)
                return vfail(c, "must be a multiple of %g", s->multiple_of);
        }
    }
    if (vt == T_STRING) {
        const char *str = json_object_get_string(v);
        size_t len = (size_t)json_object_get_string_len(v);
        size_t chars = (s->min_length >= 0 || s->max_length >= 0) ? utf8_length(str, len) : 0;
        if (s->min_length >= 0 && chars < (size_t)s->min_length)
            return vfail(c, "must be at least %ld characters long", s->min_length);
        if (s->max_length >= 0 && chars > (size_t)s->max_length)
            return vfail(c, "must be at most %ld characters long", s->max_length);
        if (s->pattern) {
            /* only whether it matched is asked: one pair of offsets does for any pattern */
            if (!c->md && (c->md = pcre2_match_data_create(1, NULL))) c->own_md = 1;
            int rc =
                c->md ? pcre2_match(s->pattern, (PCRE2_SPTR)str, len, 0, 0, c->md, s->match_limits)
                      : PCRE2_ERROR_NOMEMORY;
            if (rc < 0 && rc != PCRE2_ERROR_NOMATCH)
                return vfail(c, "could not be matched against the pattern %s", s->pattern_text);
            if (rc < 0) return vfail(c, "must match the pattern %s", s->pattern_text);
        }
    }
    if (vt == T_ARRAY) {
        size_t n = json_object_array_length(v);
        if (s->min_items >= 0 && n < (size_t)s->min_items)
            return vfail(c, "must have at least %ld items", s->min_items);
        if (s->max_items >= 0 && n > (size_t)s->max_items)
            return vfail(c, "must have at most %ld items", s->max_items);
        for (size_t i = 0; s->items && i < n; i++)
            if (check_in(c, s->items, json_object_array_get_idx(v, i), depth, NULL, i, 1) < 0)
                return -1;
        if (s->unique_items && n <= 1000)
            for (size_t i = 0; i < n; i++)
                for (size_t k = i + 1; k < n; k++)
                    if (json_object_equal(json_object_array_get_idx(v, i),
                                          json_object_array_get_idx(v, k)))
                        return vfail(c, "items %zu and %zu are equal; they must be unique", i, k);
    }
    if (vt == T_OBJECT) {
        size_t n = (size_t)json_object_object_length(v);
        if (s->min_props >= 0 && n < (size_t)s->min_props)
            return vfail(c, "must have at least %ld properties", s->min_props);
        if (s->max_props >= 0 && n > (size_t)s->max_props)
            return vfail(c, "must have at most %ld properties", s->max_props);
        for (size_t i = 0; i < s->required_count; i++)
            if (!json_object_object_get_ex(v, s->required[i], NULL))
                return vfail(c, "missing required property '%s'", s->required[i]);
        json_object_object_foreach(v, key, val) {
            const gw_schema *ps = NULL;
            for (size_t i = 0; i < s->prop_count && !ps; i++)
                if (!strcmp(s->props[i].name, key)) ps = s->props[i].schema;
            if (!ps) {
                if (s->additional_forbidden) return vfail(c, "unexpected property '%s'", key);
                ps = s->additional;
            }
            if (ps && check_in(c, ps, val, depth, key, 0, 0) < 0) return -1;
        }
    }
    for (size_t i = 0; i < s->all_count; i++)
        if (check(c, s->all_of[i], v, depth + 1) < 0) return -1;
    if (s->any_count) {
        int ok = 0;
        for (size_t i = 0; i < s->any_count && !ok; i++)
            ok = check_quiet(c, s->any_of[i], v, depth + 1) == 0;
        if (!ok) return vfail(c, "matches none of the schemas of anyOf");
    }
    if (s->one_count) {
        size_t ok = 0;
        for (size_t i = 0; i < s->one_count; i++)
            ok += check_quiet(c, s->one_of[i], v, depth + 1) == 0;
        if (ok != 1) return vfail(c, "must match exactly one schema of oneOf (matches %zu)", ok);
    }
    if (s->not_schema && check_quiet(c, s->not_schema, v, depth + 1) == 0)
        return vfail(c, "matches the schema of not");
    return 0;
}

int gw_schema_validate(const gw_schema *s, json_object *value, char *err, size_t errlen) {
    return gw_schema_validate_with(s, NULL, value, err, errlen);
}

void *gw_schema_match_data_new(void) {
    return pcre2_match_data_create(1, NULL);
}

void gw_schema_match_data_free(void *md) {
    pcre2_match_data_free(md);
}

int gw_schema_validate_with(const gw_schema *s, void *match_data, json_object *value, char *err,
                            size_t errlen) {
    checker c = {.err = err, .errlen = errlen, .md = match_data};
    if (errlen) err[0] = '\0';
    int rc = check(&c, s, value, 0);
    if (c.own_md) pcre2_match_data_free(c.md);
    return rc;
}
