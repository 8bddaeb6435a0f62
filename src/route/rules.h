/* Routing rules: ordered rules, each a set of conditions on a request that must all hold; the
 * first rule that holds names a target group. A rule set is built once per config load (regexes
 * compiled and JIT-compiled there, errors reported to the loader) and is then immutable and
 * shared by every worker. Evaluation takes plain inputs, so it knows nothing of the request
 * struct, and allocates nothing: per-worker regex state lives in a gw_rules_scratch. */
#ifndef AIGW_ROUTE_RULES_H
#define AIGW_ROUTE_RULES_H

#include <stddef.h>

struct json_object;

typedef struct gw_rule_set gw_rule_set;
typedef struct gw_rules_scratch gw_rules_scratch;

typedef enum {
    GW_RULE_PROMPT_TOKENS,     /* the estimated prompt tokens against `over` and/or `under` */
    GW_RULE_HEADER,            /* a request header, named by `name` (any case) */
    GW_RULE_FIELD,             /* a body field, `name` a dotted path: "metadata.tier" */
    GW_RULE_LAST_USER_MESSAGE, /* the content of the last chat message with role "user" */
} gw_rule_subject;

typedef enum {
    GW_RULE_EQUALS,   /* the whole value, byte for byte */
    GW_RULE_PREFIX,   /* the value starts with `value` */
    GW_RULE_CONTAINS, /* `value` occurs in the value */
    GW_RULE_MATCHES,  /* the PCRE2 regex `value` matches somewhere in the value */
} gw_rule_test;

/* One condition as the config loader describes it. Strings are copied. */
typedef struct gw_rule_condition_desc {
    gw_rule_subject subject;
    /* GW_RULE_PROMPT_TOKENS: holds when estimate > over and estimate < under (each if set) */
    int has_over, has_under;
    size_t over, under;
    /* the other subjects */
    const char *name;  /* header name or field path; unused for the last user message */
    gw_rule_test test; /* any of the four, on every subject */
    const char *value; /* the literal, or the regex (PCRE2 syntax, UTF-8; "(?i)" works) */
} gw_rule_condition_desc;

gw_rule_set *gw_rules_new(void);
void gw_rules_free(gw_rule_set *rules);

/* Appends a rule that leads to the caller's target group `targets_index`. Returns the rule's
 * index, or -1 when out of memory. A rule without conditions always holds. */
int gw_rules_add_rule(gw_rule_set *rules, size_t targets_index);

/* Adds a condition to the last rule added. Returns 0, or -1 with a message in `err`: for a bad
 * regex "PCRE2 error at offset N: message", N counting bytes of `value`, so the loader can
 * point at the column. */
int gw_rules_add_condition(gw_rule_set *rules, const gw_rule_condition_desc *cond, char *err,
                           size_t err_size);

size_t gw_rules_count(const gw_rule_set *rules);
size_t gw_rules_targets_index(const gw_rule_set *rules, size_t rule);

/* Regex match state for one worker thread: never share one between threads. It does not
 * depend on a rule set, so a worker keeps it across reloads and for every model. */
gw_rules_scratch *gw_rules_scratch_new(void);
void gw_rules_scratch_free(gw_rules_scratch *scratch);

/* Returns a header's value and its length, or NULL when absent. `name` comes lowercased; the
 * lookup must ignore case (gw_http_find_header does). */
typedef const char *(*gw_rule_header_fn)(void *ud, const char *name, size_t *len);

/* What rules see of one request. Zero-initialize it, then set the inputs. */
typedef struct gw_rule_input {
    gw_rule_header_fn header; /* NULL: no header condition holds */
    void *header_ud;
    struct json_object *body; /* the parsed request; NULL: no body condition holds */
    int api_is_chat;          /* chat: `messages`; otherwise completions: `prompt` */

    /* Filled in by evaluation; keep the struct for the request, so the estimate is computed at
     * most once, and only when a rule asks for it. A caller that knows the count may set it. */
    int prompt_tokens_known;
    size_t prompt_tokens;
    /* regex matches cut short by the match limits (counted as not matching); worth a log line */
    unsigned regex_errors;
} gw_rule_input;

/* Returns the index of the first rule whose conditions all hold, or -1. The last user message
 * is matched part by part when its content is an array: a condition holds if it holds for one
 * text part. Regex matching is bounded (match, depth and heap limits) and allocates nothing
 * when PCRE2 has a JIT for this CPU; the interpreter it falls back to keeps its backtracking
 * frames in the scratch, allocated on first use. */
int gw_rules_first_match(const gw_rule_set *rules, gw_rule_input *in, gw_rules_scratch *scratch);

#endif
