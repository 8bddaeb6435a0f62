/* Routing rules: building a rule set from the loader's descriptions, and evaluating it on the
 * request path. Everything that can be decided or allocated is done at build time: header names
 * lowercased, field paths split, literals measured, regexes compiled and JIT-compiled. */
#define PCRE2_CODE_UNIT_WIDTH 8

#include "route/rules.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <pcre2.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "core/token_estimate.h"

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#endif
#endif
#ifndef RUNNING_ON_VALGRIND
#define RUNNING_ON_VALGRIND 0
#endif

/* A regex runs on request data the client chose, with a pattern the operator wrote: bound what
 * one match may cost. The match limit counts backtracking steps from one start position: 10^6
 * is about 10 ms interpreted, 2 ms with the JIT, for "(a+)+$" on 40 a's and a "!" (an error,
 * counted as no match), and still lets a greedy "(?s)^.*x" cross a megabyte. The scan over
 * start positions is not bounded: a simple pattern crosses megabytes in milliseconds. Depth and
 * heap bound the interpreter's backtracking frames, which it keeps in the scratch. */
enum {
    REGEX_MATCH_LIMIT = 1000000,
    REGEX_DEPTH_LIMIT = 10000,
    REGEX_HEAP_LIMIT_KIB = 1024,
};

typedef struct compiled_condition {
    gw_rule_subject subject;
    gw_rule_test test;
    int has_over, has_under;
    size_t over, under;
    char *name; /* the header name lowercased, or the field path with a NUL after each segment */
    size_t path_segments;
    char *value;
    size_t value_len;
    pcre2_code *regex;
    /* `equals` on a number field compares values, so "0.7" matches 0.70 as well */
    int value_is_number, value_is_integer;
    double number;
    int64_t integer;
} compiled_condition;

typedef struct compiled_rule {
    size_t first_condition, condition_count;
    size_t targets_index;
} compiled_rule;

struct gw_rule_set {
    compiled_rule *rules;
    size_t rule_count, rule_cap;
    compiled_condition *conditions; /* each rule's conditions are contiguous, cheapest first */
    size_t condition_count, condition_cap;
};

struct gw_rules_scratch {
    pcre2_match_data *match;
    pcre2_match_context *limits;
};

gw_rule_set *gw_rules_new(void) {
    return calloc(1, sizeof(gw_rule_set));
}

static void condition_free(compiled_condition *c) {
    free(c->name);
    free(c->value);
    pcre2_code_free(c->regex);
}

void gw_rules_free(gw_rule_set *rules) {
    if (!rules) return;
    for (size_t i = 0; i < rules->condition_count; i++)
        condition_free(&rules->conditions[i]);
    free(rules->conditions);
    free(rules->rules);
    free(rules);
}

int gw_rules_add_rule(gw_rule_set *rules, size_t targets_index) {
    if (rules->rule_count >= INT_MAX) return -1;
    if (rules->rule_count == rules->rule_cap) {
        size_t cap = rules->rule_cap ? rules->rule_cap * 2 : 8;
        compiled_rule *grown = realloc(rules->rules, cap * sizeof(*grown));
        if (!grown) return -1;
        rules->rules = grown;
        rules->rule_cap = cap;
    }
    rules->rules[rules->rule_count] = (compiled_rule){
        .first_condition = rules->condition_count,
        .targets_index = targets_index,
    };
    return (int)rules->rule_count++;
}

size_t gw_rules_count(const gw_rule_set *rules) {
    return rules ? rules->rule_count : 0;
}

size_t gw_rules_targets_index(const gw_rule_set *rules, size_t rule) {
    return rules->rules[rule].targets_index;
}

/* Evaluation order inside a rule, which cannot change its outcome: headers are a lookup, fields
 * a short walk, the last user message a scan of one message, the token estimate a scan of all
 * of them; a regex costs more than a literal on the same subject. */
static int condition_cost(const compiled_condition *c) {
    static const int subject_cost[] = {
        [GW_RULE_HEADER] = 0,
        [GW_RULE_FIELD] = 1,
        [GW_RULE_LAST_USER_MESSAGE] = 2,
        [GW_RULE_PROMPT_TOKENS] = 3,
    };
    return subject_cost[c->subject] * 2 + (c->regex != NULL);
}

/* A JSON number, strictly: what `equals` compares by value on a number field. */
static void parse_number(compiled_condition *c) {
    const char *s = c->value;
    if (*s == '-') s++;
    if (!isdigit((unsigned char)*s) || (s[0] == '0' && isdigit((unsigned char)s[1]))) return;
    while (isdigit((unsigned char)*s))
        s++;
    int integral = 1;
    if (*s == '.') {
        integral = 0;
        if (!isdigit((unsigned char)*++s)) return;
        while (isdigit((unsigned char)*s))
            s++;
    }
    if (*s == 'e' || *s == 'E') {
        integral = 0;
        s++;
        if (*s == '+' || *s == '-') s++;
        if (!isdigit((unsigned char)*s)) return;
        while (isdigit((unsigned char)*s))
            s++;
    }
    if (*s) return;
    c->value_is_number = 1;
    c->number = strtod(c->value, NULL);
    if (integral) {
        errno = 0;
        long long v = strtoll(c->value, NULL, 10);
        c->value_is_integer = errno != ERANGE;
        c->integer = v;
    }
}

static int fail(char *err, size_t err_size, const char *message) {
    if (err_size) snprintf(err, err_size, "%s", message);
    return -1;
}

static int compile_regex(compiled_condition *c, char *err, size_t err_size) {
    int code;
    PCRE2_SIZE offset;
    /* MATCH_INVALID_UTF: header values and JSON strings may hold any bytes; an invalid sequence
     * matches nothing instead of failing the match. \C could split a character: refused. */
    c->regex = pcre2_compile((PCRE2_SPTR)c->value, c->value_len,
                             PCRE2_UTF | PCRE2_MATCH_INVALID_UTF | PCRE2_NEVER_BACKSLASH_C, &code,
                             &offset, NULL);
    if (!c->regex) {
        PCRE2_UCHAR message[256];
        if (pcre2_get_error_message(code, message, sizeof(message)) < 0)
            snprintf((char *)message, sizeof(message), "error %d", code);
        if (err_size)
            snprintf(err, err_size, "PCRE2 error at offset %zu: %s", (size_t)offset,
                     (const char *)message);
        return -1;
    }
    /* Without a JIT for this CPU pcre2_match interprets the pattern. Under valgrind too: the
     * JIT's SIMD scans load 16 bytes at a time past a subject's end (harmless, within the
     * aligned word), which memcheck reports as invalid reads. */
    if (!RUNNING_ON_VALGRIND) (void)pcre2_jit_compile(c->regex, PCRE2_JIT_COMPLETE);
    return 0;
}

static int fill_condition(compiled_condition *c, const gw_rule_condition_desc *d, char *err,
                          size_t err_size) {
    c->subject = d->subject;
    if (d->subject == GW_RULE_PROMPT_TOKENS) {
        if (!d->has_over && !d->has_under)
            return fail(err, err_size, "prompt_tokens needs over or under");
        if (d->has_over && d->has_under && (d->under <= d->over || d->under - d->over < 2)) {
            if (err_size)
                snprintf(err, err_size, "prompt_tokens: no count is over %zu and under %zu",
                         d->over, d->under);
            return -1;
        }
        c->has_over = d->has_over;
        c->has_under = d->has_under;
        c->over = d->over;
        c->under = d->under;
        return 0;
    }
    if (d->subject != GW_RULE_HEADER && d->subject != GW_RULE_FIELD &&
        d->subject != GW_RULE_LAST_USER_MESSAGE)
        return fail(err, err_size, "unknown condition");
    if (d->test != GW_RULE_EQUALS && d->test != GW_RULE_PREFIX && d->test != GW_RULE_CONTAINS &&
        d->test != GW_RULE_MATCHES)
        return fail(err, err_size, "unknown test (expected equals, prefix, contains or matches)");
    if (!d->value) return fail(err, err_size, "missing the value to compare with");
    c->test = d->test;
    if (d->subject == GW_RULE_HEADER || d->subject == GW_RULE_FIELD) {
        if (!d->name || !*d->name)
            return fail(err, err_size,
                        d->subject == GW_RULE_HEADER ? "header needs a name"
                                                     : "field needs a path");
        if (!(c->name = strdup(d->name))) return fail(err, err_size, "out of memory");
    }
    if (d->subject == GW_RULE_HEADER) {
        for (char *p = c->name; *p; p++)
            *p = (char)tolower((unsigned char)*p);
    } else if (d->subject == GW_RULE_FIELD) {
        /* "a.b.c" -> "a\0b\0c\0": each segment is a key json-c can look up as it is */
        c->path_segments = 1;
        for (char *p = c->name; *p; p++)
            if (*p == '.') *p = '\0', c->path_segments++;
        const char *seg = c->name;
        for (size_t i = 0; i < c->path_segments; i++, seg += strlen(seg) + 1)
            if (!*seg) return fail(err, err_size, "field path has an empty segment");
    }
    if (!(c->value = strdup(d->value))) return fail(err, err_size, "out of memory");
    c->value_len = strlen(c->value);
    if (c->test == GW_RULE_MATCHES) return compile_regex(c, err, err_size);
    if (c->test == GW_RULE_EQUALS) parse_number(c);
    return 0;
}

int gw_rules_add_condition(gw_rule_set *rules, const gw_rule_condition_desc *cond, char *err,
                           size_t err_size) {
    if (!rules->rule_count) return fail(err, err_size, "a condition needs a rule to belong to");
    if (rules->condition_count == rules->condition_cap) {
        size_t cap = rules->condition_cap ? rules->condition_cap * 2 : 8;
        compiled_condition *grown = realloc(rules->conditions, cap * sizeof(*grown));
        if (!grown) return fail(err, err_size, "out of memory");
        rules->conditions = grown;
        rules->condition_cap = cap;
    }
    compiled_condition c = {0};
    if (fill_condition(&c, cond, err, err_size) < 0) {
        condition_free(&c);
        return -1;
    }
    /* the last rule's conditions are the tail of the array: insert by cost, stable */
    compiled_rule *r = &rules->rules[rules->rule_count - 1];
    size_t at = rules->condition_count;
    while (at > r->first_condition &&
           condition_cost(&rules->conditions[at - 1]) > condition_cost(&c))
        at--;
    memmove(&rules->conditions[at + 1], &rules->conditions[at],
            (rules->condition_count - at) * sizeof(compiled_condition));
    rules->conditions[at] = c;
    rules->condition_count++;
    r->condition_count++;
    return 0;
}

gw_rules_scratch *gw_rules_scratch_new(void) {
    gw_rules_scratch *s = calloc(1, sizeof(*s));
    if (!s) return NULL;
    /* one pair of offsets: a rule asks whether a regex matches, never what it captured */
    s->match = pcre2_match_data_create(1, NULL);
    s->limits = pcre2_match_context_create(NULL);
    if (!s->match || !s->limits) {
        gw_rules_scratch_free(s);
        return NULL;
    }
    pcre2_set_match_limit(s->limits, REGEX_MATCH_LIMIT);
    pcre2_set_depth_limit(s->limits, REGEX_DEPTH_LIMIT);
    pcre2_set_heap_limit(s->limits, REGEX_HEAP_LIMIT_KIB);
    return s;
}

void gw_rules_scratch_free(gw_rules_scratch *scratch) {
    if (!scratch) return;
    pcre2_match_data_free(scratch->match);
    pcre2_match_context_free(scratch->limits);
    free(scratch);
}

static int text_holds(const compiled_condition *c, const char *text, size_t len, gw_rule_input *in,
                      gw_rules_scratch *scratch) {
    switch (c->test) {
    case GW_RULE_EQUALS:
        return len == c->value_len && !memcmp(text, c->value, len);
    case GW_RULE_PREFIX:
        return len >= c->value_len && !memcmp(text, c->value, c->value_len);
    case GW_RULE_CONTAINS:
        return memmem(text, len, c->value, c->value_len) != NULL;
    case GW_RULE_MATCHES:
        break;
    }
    if (!scratch) {
        in->regex_errors++;
        return 0;
    }
    int rc = pcre2_match(c->regex, (PCRE2_SPTR)text, len, 0, 0, scratch->match, scratch->limits);
    if (rc >= 0) return 1; /* 0: a match with more captures than the one pair kept */
    if (rc != PCRE2_ERROR_NOMATCH) in->regex_errors++;
    return 0;
}

static int string_holds(const compiled_condition *c, json_object *s, gw_rule_input *in,
                        gw_rules_scratch *scratch) {
    return json_object_is_type(s, json_type_string) &&
           text_holds(c, json_object_get_string(s), (size_t)json_object_get_string_len(s), in,
                      scratch);
}

/* `equals` on a field that is no string: booleans and null by their JSON text, numbers by
 * value. Objects and arrays never equal anything. */
static int scalar_equals(const compiled_condition *c, json_object *v) {
    switch (json_object_get_type(v)) {
    case json_type_null:
        return !strcmp(c->value, "null");
    case json_type_boolean:
        return !strcmp(c->value, json_object_get_boolean(v) ? "true" : "false");
    case json_type_int:
        if (c->value_is_integer) {
            int64_t i = json_object_get_int64(v);
            /* json-c clamps an unsigned value above INT64_MAX to it */
            if (i == INT64_MAX && json_object_get_uint64(v) != (uint64_t)INT64_MAX) return 0;
            return i == c->integer;
        }
        return c->value_is_number && json_object_get_double(v) == c->number;
    case json_type_double:
        return c->value_is_number && json_object_get_double(v) == c->number;
    default:
        return 0;
    }
}

/* An array index in a path: decimal digits, no sign, no leading zero. */
static int parse_index(const char *seg, size_t *index) {
    if (!*seg || (seg[0] == '0' && seg[1])) return 0;
    size_t v = 0;
    for (; *seg; seg++) {
        if (*seg < '0' || *seg > '9' || v > (SIZE_MAX - 9) / 10) return 0;
        v = v * 10 + (size_t)(*seg - '0');
    }
    *index = v;
    return 1;
}

/* Walks the dotted path: object members by key, array elements by index ("tags.0"). */
static int find_field(json_object *body, const compiled_condition *c, json_object **out) {
    json_object *cur = body;
    const char *seg = c->name;
    for (size_t i = 0; i < c->path_segments; i++, seg += strlen(seg) + 1) {
        size_t index;
        if (json_object_is_type(cur, json_type_object)) {
            if (!json_object_object_get_ex(cur, seg, &cur)) return 0;
        } else if (json_object_is_type(cur, json_type_array) && parse_index(seg, &index) &&
                   index < json_object_array_length(cur)) {
            cur = json_object_array_get_idx(cur, index);
        } else {
            return 0;
        }
    }
    *out = cur;
    return 1;
}

static int field_holds(const compiled_condition *c, gw_rule_input *in, gw_rules_scratch *scratch) {
    json_object *v;
    if (!find_field(in->body, c, &v)) return 0;
    if (json_object_is_type(v, json_type_string)) return string_holds(c, v, in, scratch);
    return c->test == GW_RULE_EQUALS && scalar_equals(c, v);
}

static int is_user_message(json_object *message) {
    json_object *role;
    return json_object_object_get_ex(message, "role", &role) &&
           json_object_is_type(role, json_type_string) &&
           !strcmp(json_object_get_string(role), "user");
}

static int last_user_message_holds(const compiled_condition *c, gw_rule_input *in,
                                   gw_rules_scratch *scratch) {
    json_object *messages, *content = NULL;
    if (!in->api_is_chat || !json_object_object_get_ex(in->body, "messages", &messages) ||
        !json_object_is_type(messages, json_type_array))
        return 0;
    for (size_t i = json_object_array_length(messages); i-- > 0;) {
        json_object *message = json_object_array_get_idx(messages, i);
        if (is_user_message(message)) {
            json_object_object_get_ex(message, "content", &content);
            break;
        }
    }
    if (json_object_is_type(content, json_type_string))
        return string_holds(c, content, in, scratch);
    if (!json_object_is_type(content, json_type_array)) return 0;
    /* each text part on its own: no joined copy to allocate; a pattern spanning two parts
     * does not match */
    size_t parts = json_object_array_length(content);
    for (size_t i = 0; i < parts; i++) {
        json_object *part = json_object_array_get_idx(content, i), *type, *text;
        if (json_object_object_get_ex(part, "type", &type) &&
            json_object_is_type(type, json_type_string) &&
            !strcmp(json_object_get_string(type), "text") &&
            json_object_object_get_ex(part, "text", &text) && string_holds(c, text, in, scratch))
            return 1;
    }
    return 0;
}

static size_t prompt_tokens(gw_rule_input *in) {
    if (!in->prompt_tokens_known) {
        in->prompt_tokens = gw_estimate_request_tokens(in->body, in->api_is_chat);
        in->prompt_tokens_known = 1;
    }
    return in->prompt_tokens;
}

static int condition_holds(const compiled_condition *c, gw_rule_input *in,
                           gw_rules_scratch *scratch) {
    switch (c->subject) {
    case GW_RULE_PROMPT_TOKENS: {
        size_t tokens = prompt_tokens(in);
        return (!c->has_over || tokens > c->over) && (!c->has_under || tokens < c->under);
    }
    case GW_RULE_HEADER: {
        size_t len = 0;
        const char *value = in->header ? in->header(in->header_ud, c->name, &len) : NULL;
        return value && text_holds(c, value, len, in, scratch);
    }
    case GW_RULE_FIELD:
        return field_holds(c, in, scratch);
    case GW_RULE_LAST_USER_MESSAGE:
        return last_user_message_holds(c, in, scratch);
    }
    return 0;
}

int gw_rules_first_match(const gw_rule_set *rules, gw_rule_input *in, gw_rules_scratch *scratch) {
    if (!rules) return -1;
    for (size_t i = 0; i < rules->rule_count; i++) {
        const compiled_rule *r = &rules->rules[i];
        size_t k = 0;
        while (k < r->condition_count &&
               condition_holds(&rules->conditions[r->first_condition + k], in, scratch))
            k++;
        if (k == r->condition_count) return (int)i;
    }
    return -1;
}
