#include "engines/openai_wire.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json_scan.h"
#include "core/token_estimate.h"

/* One byte-level change to the caller's body: [start, end) becomes `with`. */
typedef struct body_edit {
    size_t start, end;
    const char *with;
    size_t with_len;
} body_edit;

static int is_space(char c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Where the member whose value begins at value_start has its key, when the key is written
 * plainly (no escapes); -1 otherwise. */
static int plain_key_start(const char *body, size_t value_start, const char *key,
                           size_t *key_start) {
    size_t i = value_start, klen = strlen(key);
    while (i > 0 && is_space(body[i - 1]))
        i--;
    if (i == 0 || body[i - 1] != ':') return -1;
    i--;
    while (i > 0 && is_space(body[i - 1]))
        i--;
    if (i < klen + 2 || body[i - 1] != '"' || body[i - klen - 2] != '"' ||
        memcmp(body + i - klen - 1, key, klen))
        return -1;
    *key_start = i - klen - 2;
    return 0;
}

/* The span of a body's model value when the body opens with it as a plain string (clients write
 * model first): {"model":"name" up to the name's closing quote. 0 with the span, -1 for any other
 * body, which the whole scan reads. A second "model" member cannot follow: the request parser
 * refuses a body that repeats it, and a body the gateway wrote has none. */
static int leading_model(const char *body, size_t len, size_t *start, size_t *end) {
    size_t i = 0;
    while (i < len && is_space(body[i]))
        i++;
    if (i == len || body[i++] != '{') return -1;
    while (i < len && is_space(body[i]))
        i++;
    if (len - i < 7 || memcmp(body + i, "\"model\"", 7)) return -1;
    i += 7;
    while (i < len && is_space(body[i]))
        i++;
    if (i == len || body[i++] != ':') return -1;
    while (i < len && is_space(body[i]))
        i++;
    if (i == len || body[i] != '"') return -1;
    size_t open = i++;
    for (; i < len; i++) {
        unsigned char c = (unsigned char)body[i];
        if (c == '"') {
            *start = open;
            *end = i + 1;
            return 0;
        }
        if (c == '\\' || c < 0x20) return -1; /* an escape, or a string to judge whole */
    }
    return -1;
}

static const char *not_served(gw_api_kind api) {
    switch (api) {
    case GW_API_CHAT:
        return "this model's engine does not serve /v1/chat/completions";
    case GW_API_COMPLETIONS:
        return "this model's engine does not serve /v1/completions";
    default:
        return "this model's engine does not serve /v1/embeddings";
    }
}

int gw_openai_wire_prepare(const gw_openai_wire *w, gw_req *r, const gw_target *t,
                           gw_engine_call *call, int *status, const char **err) {
    call->path = w->paths[r->api];
    call->owned_body = NULL;
    if (!call->path) {
        *status = 400;
        *err = not_served(r->api);
        return -1;
    }
    body_edit edits[3];
    size_t n = 0;
    gw_json_scan_result scan;
    if (t->rewrite) {
        size_t start, end;
        if (leading_model(r->body, r->body_len, &start, &end) < 0) {
            if (gw_json_scan(r->body, r->body_len, "model", &scan) < 0 || scan.key_count != 1) {
                *status = 500;
                *err = "cannot locate the model member in the request body";
                return -1;
            }
            start = scan.value_start;
            end = scan.value_end;
        }
        edits[n++] = (body_edit){start, end, t->upstream_model_json, t->upstream_model_json_len};
    }
    size_t key_start;
    if (w->rename_max_completion_tokens && (r->body_members & GW_BODY_HAS_MAX_COMPLETION_TOKENS) &&
        !(r->body_members & GW_BODY_HAS_MAX_TOKENS) &&
        gw_json_scan(r->body, r->body_len, "max_completion_tokens", &scan) == 0 &&
        scan.key_count == 1 &&
        plain_key_start(r->body, scan.value_start, "max_completion_tokens", &key_start) == 0)
        edits[n++] = (body_edit){key_start, key_start + 23, "\"max_tokens\"", 12};
    /* metering needs every stream's usage; a caller that set stream_options decided itself */
    if (r->stream && w->request_usage && !r->include_usage &&
        !(r->body_members & GW_BODY_HAS_STREAM_OPTIONS)) {
        size_t open = 0;
        while (open < r->body_len && r->body[open] != '{')
            open++;
        static const char ask[] = "\"stream_options\":{\"include_usage\":true},";
        edits[n++] = (body_edit){open + 1, open + 1, ask, sizeof ask - 1};
    }
    if (!n) {
        call->body = r->body;
        call->body_len = r->body_len;
        return 0;
    }
    for (size_t i = 1; i < n; i++) /* in body order */
        for (size_t j = i; j > 0 && edits[j].start < edits[j - 1].start; j--) {
            body_edit tmp = edits[j];
            edits[j] = edits[j - 1];
            edits[j - 1] = tmp;
        }
    size_t len = r->body_len;
    for (size_t i = 0; i < n; i++)
        len = len - (edits[i].end - edits[i].start) + edits[i].with_len;
    char *buf = malloc(len ? len : 1);
    if (!buf) {
        *status = 503;
        *err = "out of memory";
        return -1;
    }
    size_t from = 0, at = 0;
    for (size_t i = 0; i < n; i++) {
        memcpy(buf + at, r->body + from, edits[i].start - from);
        at += edits[i].start - from;
        memcpy(buf + at, edits[i].with, edits[i].with_len);
        at += edits[i].with_len;
        from = edits[i].end;
    }
    memcpy(buf + at, r->body + from, r->body_len - from);
    call->body = call->owned_body = buf;
    call->body_len = len;
    return 0;
}

static int64_t int_member(json_object *obj, const char *key) {
    json_object *v;
    return obj && json_object_object_get_ex(obj, key, &v) ? json_object_get_int64(v) : 0;
}

/* The usage object parsed with json-c: the reference, for what the fast path declines. */
static int usage_json_c(const char *q, const char *end, gw_usage *u) {
    json_tokener *tok = json_tokener_new();
    if (!tok) return 0;
    json_object *usage = json_tokener_parse_ex(tok, q, (int)(end - q));
    json_tokener_free(tok);
    if (!usage) return 0;
    json_object *details;
    u->prompt_tokens = int_member(usage, "prompt_tokens");
    u->completion_tokens = int_member(usage, "completion_tokens");
    u->cached_tokens = json_object_object_get_ex(usage, "prompt_tokens_details", &details)
                           ? int_member(details, "cached_tokens")
                           : 0;
    u->reasoning_tokens = json_object_object_get_ex(usage, "completion_tokens_details", &details)
                              ? int_member(details, "reasoning_tokens")
                              : 0;
    u->known = 1;
    json_object_put(usage);
    return 1;
}

/* The fast path reads the usage object in one pass with no allocation (it is on every
 * non-streamed answer and the last stream event; json-c cost ~15k instructions and ~20
 * allocations there). It takes only what it reads exactly as json-c would: keys without
 * escapes, the four counts as plain integers (or null), plain JSON elsewhere. Anything else
 * (an escape, a float, a string count, a deep or odd value) declines, and json-c decides. */
typedef struct usage_cursor {
    const char *p, *end;
} usage_cursor;

enum { USAGE_DECLINE = -1, USAGE_MAX_DEPTH = 16 }; /* deeper: json-c decides */

static void usage_ws(usage_cursor *c) {
    while (c->p < c->end && is_space(*c->p))
        c->p++;
}

/* A string without escapes; returns its body's span. */
static int usage_string(usage_cursor *c, const char **s, size_t *len) {
    if (c->p >= c->end || *c->p != '"') return USAGE_DECLINE;
    const char *start = c->p + 1;
    const char *close = memchr(start, '"', (size_t)(c->end - start));
    if (!close || memchr(start, '\\', (size_t)(close - start))) return USAGE_DECLINE;
    *s = start;
    *len = (size_t)(close - start);
    c->p = close + 1;
    return 0;
}

static int usage_digits(usage_cursor *c) {
    const char *start = c->p;
    while (c->p < c->end && *c->p >= '0' && *c->p <= '9')
        c->p++;
    return c->p > start ? 0 : USAGE_DECLINE;
}

static int usage_literal(usage_cursor *c, const char *word, size_t len) {
    if ((size_t)(c->end - c->p) < len || memcmp(c->p, word, len)) return USAGE_DECLINE;
    c->p += len;
    return 0;
}

static int usage_skip_value(usage_cursor *c, int depth);

static int usage_skip_container(usage_cursor *c, int depth, char close) {
    if (depth >= USAGE_MAX_DEPTH) return USAGE_DECLINE;
    c->p++;
    usage_ws(c);
    if (c->p < c->end && *c->p == close) {
        c->p++;
        return 0;
    }
    for (;;) {
        if (close == '}') {
            const char *k;
            size_t klen;
            if (usage_string(c, &k, &klen) < 0) return USAGE_DECLINE;
            usage_ws(c);
            if (c->p >= c->end || *c->p++ != ':') return USAGE_DECLINE;
            usage_ws(c);
        }
        if (usage_skip_value(c, depth + 1) < 0) return USAGE_DECLINE;
        usage_ws(c);
        if (c->p >= c->end) return USAGE_DECLINE;
        char sep = *c->p++;
        if (sep == close) return 0;
        if (sep != ',') return USAGE_DECLINE;
        usage_ws(c);
    }
}

static int usage_skip_value(usage_cursor *c, int depth) {
    if (c->p >= c->end) return USAGE_DECLINE;
    const char *s;
    size_t len;
    switch (*c->p) {
    case '{':
        return usage_skip_container(c, depth, '}');
    case '[':
        return usage_skip_container(c, depth, ']');
    case '"':
        return usage_string(c, &s, &len);
    case 't':
        return usage_literal(c, "true", 4);
    case 'f':
        return usage_literal(c, "false", 5);
    case 'n':
        return usage_literal(c, "null", 4);
    default:
        break;
    }
    if (*c->p == '-') c->p++;
    if (c->p < c->end && *c->p == '0' && c->p + 1 < c->end && c->p[1] >= '0' && c->p[1] <= '9')
        return USAGE_DECLINE; /* a leading zero: json-c's business */
    if (usage_digits(c) < 0) return USAGE_DECLINE;
    if (c->p < c->end && *c->p == '.') {
        c->p++;
        if (usage_digits(c) < 0) return USAGE_DECLINE;
    }
    if (c->p < c->end && (*c->p == 'e' || *c->p == 'E')) {
        c->p++;
        if (c->p < c->end && (*c->p == '+' || *c->p == '-')) c->p++;
        if (usage_digits(c) < 0) return USAGE_DECLINE;
    }
    return 0;
}

/* A count: a plain integer of at most 18 digits (no overflow), or null (0, as json-c reads it). */
static int usage_count(usage_cursor *c, int64_t *out) {
    if (c->p < c->end && *c->p == 'n') {
        *out = 0;
        return usage_literal(c, "null", 4);
    }
    int negative = c->p < c->end && *c->p == '-';
    if (negative) c->p++;
    const char *start = c->p;
    int64_t v = 0;
    while (c->p < c->end && *c->p >= '0' && *c->p <= '9' && c->p - start < 18)
        v = v * 10 + (*c->p++ - '0');
    if (c->p == start || (*start == '0' && c->p - start > 1)) return USAGE_DECLINE;
    if (c->p < c->end &&
        ((*c->p >= '0' && *c->p <= '9') || *c->p == '.' || *c->p == 'e' || *c->p == 'E'))
        return USAGE_DECLINE;
    *out = negative ? -v : v;
    return 0;
}

static int key_is(const char *k, size_t klen, const char *name) {
    size_t n = strlen(name);
    return klen == n && !memcmp(k, name, n);
}

/* An object whose members are read by `member` (0 after reading or skipping one's value). */
typedef int (*usage_member_fn)(usage_cursor *c, const char *k, size_t klen, gw_usage *u);

static int usage_object(usage_cursor *c, gw_usage *u, usage_member_fn member) {
    if (c->p >= c->end || *c->p != '{') return USAGE_DECLINE;
    c->p++;
    usage_ws(c);
    if (c->p < c->end && *c->p == '}') {
        c->p++;
        return 0;
    }
    for (;;) {
        const char *k;
        size_t klen;
        if (usage_string(c, &k, &klen) < 0) return USAGE_DECLINE;
        usage_ws(c);
        if (c->p >= c->end || *c->p++ != ':') return USAGE_DECLINE;
        usage_ws(c);
        if (member(c, k, klen, u) < 0) return USAGE_DECLINE;
        usage_ws(c);
        if (c->p >= c->end) return USAGE_DECLINE;
        char sep = *c->p++;
        if (sep == '}') return 0;
        if (sep != ',') return USAGE_DECLINE;
        usage_ws(c);
    }
}

static int cached_member(usage_cursor *c, const char *k, size_t klen, gw_usage *u) {
    return key_is(k, klen, "cached_tokens") ? usage_count(c, &u->cached_tokens)
                                            : usage_skip_value(c, 2);
}

static int reasoning_member(usage_cursor *c, const char *k, size_t klen, gw_usage *u) {
    return key_is(k, klen, "reasoning_tokens") ? usage_count(c, &u->reasoning_tokens)
                                               : usage_skip_value(c, 2);
}

/* A details member: its count when it is an object, 0 when it is anything else (json-c finds no
 * member in a non-object); the last of duplicate keys wins, as json-c keeps it. */
static int details_member(usage_cursor *c, int64_t *count, gw_usage *u, usage_member_fn member) {
    *count = 0;
    if (c->p < c->end && *c->p == '{') return usage_object(c, u, member);
    return usage_skip_value(c, 1);
}

static int top_member(usage_cursor *c, const char *k, size_t klen, gw_usage *u) {
    if (key_is(k, klen, "prompt_tokens")) return usage_count(c, &u->prompt_tokens);
    if (key_is(k, klen, "completion_tokens")) return usage_count(c, &u->completion_tokens);
    if (key_is(k, klen, "prompt_tokens_details"))
        return details_member(c, &u->cached_tokens, u, cached_member);
    if (key_is(k, klen, "completion_tokens_details"))
        return details_member(c, &u->reasoning_tokens, u, reasoning_member);
    return usage_skip_value(c, 1);
}

static int usage_fast(const char *q, const char *end, gw_usage *u) {
    gw_usage got = *u;
    got.prompt_tokens = got.completion_tokens = got.cached_tokens = got.reasoning_tokens = 0;
    usage_cursor c = {q, end};
    if (usage_object(&c, &got, top_member) < 0) return 0;
    got.known = 1;
    *u = got;
    return 1;
}

int gw_usage_scan(const char *json, size_t len, gw_usage *u) {
    const char *p = json, *end = json + len;
    while (p < end && (p = memmem(p, (size_t)(end - p), "\"usage\"", 7))) {
        const char *q = p + 7;
        while (q < end && is_space(*q))
            q++;
        if (q >= end || *q != ':') {
            p += 7;
            continue;
        }
        q++;
        while (q < end && is_space(*q))
            q++;
        if (q >= end || *q != '{') {
            p = q;
            continue;
        }
        return usage_fast(q, end, u) || usage_json_c(q, end, u);
    }
    return 0;
}

/* What one scan of an answer or event finds: the top-level model and usage members and, for
 * metering's estimate while the engine has not reported usage, the texts the model generated
 * (the keys estimate_generated in engine.c looks for). */
enum { MEMBER_MODEL, MEMBER_USAGE, MEMBER_COUNT };

static const gw_json_text_key chat_texts[] = {
    {"content", 7}, {"reasoning_content", 17}, {"arguments", 9}};
static const gw_json_text_key completion_texts[] = {{"text", 4}};

typedef struct wire_scan {
    gw_json_member members[MEMBER_COUNT];
    gw_json_scan_result result;
    int estimating;         /* the texts found are estimated */
    int64_t estimate;       /* tokens of the generated texts, when asked for */
    const char *first_text; /* where the first of them began; NULL: none */
    size_t first_text_len;
    size_t text_count;
} wire_scan;

static void add_text(void *ud, size_t which, const char *raw, size_t len) {
    wire_scan *ws = ud;
    (void)which;
    if (!ws->first_text) {
        ws->first_text = raw;
        ws->first_text_len = len;
    }
    ws->text_count++;
    if (ws->estimating) ws->estimate += (int64_t)gw_estimate_prompt_tokens(raw, len);
}

/* The generated texts are estimated only when the caller's output will not pass the response
 * guards (which estimate what they release) and the usage is not known yet. */
static int texts_wanted(const gw_engine_io *io) {
    return !io->r->text_hook && !io->r->usage.known;
}

static void wire_scan_init(wire_scan *ws) {
    ws->members[MEMBER_MODEL] = (gw_json_member){.name = "model", .name_len = 5};
    ws->members[MEMBER_USAGE] = (gw_json_member){.name = "usage", .name_len = 5};
    ws->estimate = 0;
    ws->first_text = NULL;
    ws->first_text_len = ws->text_count = 0;
}

/* What a scan does with the generated texts: nothing; find and estimate them when texts_wanted;
 * find them in any case (a stream's shape is built around one), estimate them when wanted. */
enum { TEXTS_NONE, TEXTS_WANTED, TEXTS_ALWAYS };

/* Validates json and fills ws; -1 with io->err when it is not a JSON object. The texts are
 * estimated only when the caller's output will not pass the response guards (which estimate
 * what they release) and the usage is not known yet. With a stream's prefix (s, which json
 * begins with), the scan starts after it, with the model member it holds. */
static int wire_scan_run(gw_engine_io *io, const char *json, size_t len, wire_scan *ws,
                         const gw_openai_stream *s, int find_texts) {
    const gw_req *r = io->r;
    wire_scan_init(ws);
    ws->estimating = find_texts != TEXTS_NONE && texts_wanted(io);
    int texts = find_texts == TEXTS_ALWAYS || ws->estimating;
    int completions = r->api == GW_API_COMPLETIONS;
    gw_json_find find = {
        .members = ws->members,
        .member_count = MEMBER_COUNT,
        .text_keys = !texts        ? NULL
                     : completions ? completion_texts
                                   : chat_texts,
        .text_key_count = !texts        ? 0
                          : completions ? 1
                                        : 3,
        .on_text = add_text,
        .ud = ws,
    };
    int rc;
    if (s) {
        ws->members[MEMBER_MODEL].count = 1;
        ws->members[MEMBER_MODEL].value_start = s->prefix_model_start;
        ws->members[MEMBER_MODEL].value_end = s->prefix_len;
        rc = gw_json_scan_find_from(json, len, s->prefix_len, &find, &ws->result);
    } else {
        rc = gw_json_scan_find(json, len, &find, &ws->result);
    }
    if (rc < 0) {
        io->err = ws->result.error;
        ws->estimate = 0;
        return -1;
    }
    if (!ws->result.is_object) {
        io->err = "a JSON object";
        return -1;
    }
    return 0;
}

/* The usage member the scan found, read into u: 1 when it is an object that reads. */
static int wire_usage(const wire_scan *ws, const char *json, gw_usage *u) {
    const gw_json_member *m = &ws->members[MEMBER_USAGE];
    if (!m->count || json[m->value_start] != '{') return 0;
    const char *q = json + m->value_start, *end = json + m->value_end;
    return usage_fast(q, end, u) || usage_json_c(q, end, u);
}

/* The model value's span, as model_span below, from a wire scan. */
static void wire_model_span(const gw_engine_io *io, const char *json, const wire_scan *ws,
                            size_t *start, size_t *end) {
    const gw_json_member *m = &ws->members[MEMBER_MODEL];
    *start = *end = 0;
    if (io->target->rewrite && m->count && json[m->value_start] == '"') {
        *start = m->value_start;
        *end = m->value_end;
    }
}

/* The model value's span when the caller's name must replace the engine's. */
static void model_span(const gw_engine_io *io, const char *json, const gw_json_scan_result *scan,
                       size_t *start, size_t *end) {
    *start = *end = 0;
    if (io->target->rewrite && scan->key_count && json[scan->value_start] == '"') {
        *start = scan->value_start;
        *end = scan->value_end;
    }
}

int gw_openai_wire_response(const gw_openai_wire *w, gw_engine_io *io, const char *body,
                            size_t len) {
    (void)w;
    wire_scan ws;
    if (wire_scan_run(io, body, len, &ws, NULL, TEXTS_NONE) < 0) return -1;
    /* an answer nearly always reports its usage: its texts are estimated only when it did not */
    if (!wire_usage(&ws, body, &io->r->usage))
        wire_scan_run(io, body, len, &ws, NULL, TEXTS_WANTED);
    size_t ms, me;
    wire_model_span(io, body, &ws, &ms, &me);
    return gw_emit_response_counted(io, body, len, ms, me, ws.estimate) < 0 ? -1 : 0;
}

/* An engine error sent as a stream event (vLLM: data: {"error": {...}}): its numeric code, when
 * it is an HTTP status, says what kind. */
static int stream_error(gw_engine_io *io, const char *data, size_t len) {
    gw_engine_fail(io, 500, data, len);
    if (io->error.code_json) {
        long code = strtol(io->error.code_json, NULL, 10);
        if (code >= 400 && code <= 599) io->error.status = (int)code;
    }
    return GW_EVENT_ERROR;
}

/* MindIE: usage inside the finish chunk. The chunk goes on with "usage":null, and the usage
 * follows in a chunk of its own, as OpenAI sends it, when the caller asked for it. */
static int split_usage(gw_engine_io *io, const char *data, size_t len) {
    gw_json_scan_result scan;
    if (gw_json_scan(data, len, "usage", &scan) < 0 || !scan.key_count) return -1;
    size_t us = scan.value_start, ue = scan.value_end, out_len = len - (ue - us) + 4;
    char *chunk = malloc(out_len);
    if (!chunk) {
        io->err = "out of memory";
        return -1;
    }
    memcpy(chunk, data, us);
    memcpy(chunk + us, "null", 4);
    memcpy(chunk + us + 4, data + ue, len - ue);
    int rc = gw_json_scan(chunk, out_len, "model", &scan);
    size_t ms = 0, me = 0;
    if (rc == 0) model_span(io, chunk, &scan, &ms, &me);
    rc = rc < 0 ? -1 : gw_emit_chunk(io, chunk, out_len, ms, me);
    free(chunk);
    if (rc < 0 || !io->r->include_usage) return rc;
    const gw_usage *u = &io->r->usage;
    char usage_chunk[512];
    int n = snprintf(usage_chunk, sizeof usage_chunk,
                     "{\"id\":\"chatcmpl-%s\",\"object\":\"chat.completion.chunk\",\"created\":0,"
                     "\"model\":\"\",\"choices\":[],\"usage\":{\"prompt_tokens\":%lld,"
                     "\"completion_tokens\":%lld,\"total_tokens\":%lld}}",
                     io->r->id, (long long)u->prompt_tokens, (long long)u->completion_tokens,
                     (long long)(u->prompt_tokens + u->completion_tokens));
    const char *model_at = strstr(usage_chunk, "\"model\":\"\"") + 8;
    return gw_emit_chunk(io, usage_chunk, (size_t)n, (size_t)(model_at - usage_chunk),
                         (size_t)(model_at - usage_chunk) + 2);
}

enum { ERROR_WINDOW = 24 };

/* "error", quoted, within the first ERROR_WINDOW bytes (memmem costs more than the search, this
 * short). */
static int error_near_start(const char *data, size_t len) {
    size_t n = len < ERROR_WINDOW ? len : ERROR_WINDOW;
    for (size_t i = 0; i + 7 <= n; i++)
        if (data[i] == '"' && !memcmp(data + i + 1, "error\"", 6)) return 1;
    return 0;
}

/* The event's bytes up to the end of its model value become the stream's prefix, when they are
 * a prefix the scan can resume after: the model a string (a number could go on in the next
 * event's bytes), nothing else looked for inside them. The shape that followed the last prefix
 * goes. */
static void remember_prefix(gw_openai_stream *s, const char *data, const wire_scan *ws) {
    const gw_json_member *model = &ws->members[MEMBER_MODEL], *usage = &ws->members[MEMBER_USAGE];
    s->prefix_len = s->head_len = s->tail_len = 0;
    if (!model->count || data[model->value_start] != '"' ||
        model->value_end > GW_OPENAI_PREFIX_MAX ||
        (usage->count && usage->value_start < model->value_end) ||
        (ws->first_text && ws->first_text < data + model->value_end))
        return;
    memcpy(s->head, data, model->value_end);
    s->prefix_len = model->value_end;
    s->prefix_model_start = model->value_start;
}

/* What a stream learns after its prefix holds for every stream of the same API that an engine
 * writes alike, so the last shape and the last event without a text are kept per worker thread
 * too, as their bytes after the prefix: a stream checks its first token and its finish against
 * them before it scans. A scan from the end of any prefix starts at the same point (after a
 * top-level member's value, the model behind it and no usage), so what it found after one
 * prefix it finds after another; the API decides which keys are texts. tail_len, len 0: none. */
static _Thread_local struct {
    gw_api_kind api;
    size_t before_len, tail_len;
    char before[GW_OPENAI_HEAD_MAX];
    char tail[GW_OPENAI_TAIL_MAX];
} worker_shape;

static _Thread_local struct {
    gw_api_kind api;
    size_t len;
    char rest[GW_OPENAI_TAIL_MAX];
} worker_textless;

/* After a scan from the prefix on, with the texts looked for: an event with one text and no
 * usage object to read becomes the stream's shape (the others leave the shape as it was). */
static void remember_shape(gw_api_kind api, gw_openai_stream *s, const char *data, size_t len,
                           const wire_scan *ws) {
    const gw_json_member *usage = &ws->members[MEMBER_USAGE];
    if (ws->text_count != 1 || (usage->count && data[usage->value_start] == '{')) return;
    size_t at = (size_t)(ws->first_text - 1 - data), end = at + ws->first_text_len + 2;
    if (at < s->prefix_len || at > sizeof s->head || end >= len || len - end > sizeof s->tail)
        return;
    memcpy(s->head + s->prefix_len, data + s->prefix_len, at - s->prefix_len);
    memcpy(s->tail, data + end, len - end);
    s->head_len = at;
    s->tail_len = len - end;
    worker_shape.api = api;
    worker_shape.before_len = at - s->prefix_len;
    worker_shape.tail_len = len - end;
    memcpy(worker_shape.before, data + s->prefix_len, at - s->prefix_len);
    memcpy(worker_shape.tail, data + end, len - end);
}

/* After a scan from the prefix on: an event with no text and no usage object (a finish) is
 * kept as the worker's event without a text. */
static void remember_textless(gw_api_kind api, const gw_openai_stream *s, const char *data,
                              size_t len, const wire_scan *ws) {
    const gw_json_member *usage = &ws->members[MEMBER_USAGE];
    size_t rest = len - s->prefix_len;
    if (ws->text_count || (usage->count && data[usage->value_start] == '{') ||
        rest > sizeof worker_textless.rest)
        return;
    worker_textless.api = api;
    worker_textless.len = rest;
    memcpy(worker_textless.rest, data + s->prefix_len, rest);
}

/* An event that repeats the stream's prefix and, after it, the worker's shape around a valid
 * string: the shape becomes the stream's. */
static int adopt_worker_shape(gw_api_kind api, gw_openai_stream *s, const char *data, size_t len,
                              size_t *close) {
    size_t before = worker_shape.before_len, tail = worker_shape.tail_len;
    size_t head = s->prefix_len + before;
    if (!tail || worker_shape.api != api || head > sizeof s->head || len < head + 2 + tail ||
        memcmp(data + s->prefix_len, worker_shape.before, before) ||
        memcmp(data + len - tail, worker_shape.tail, tail) ||
        gw_json_scan_string_to(data, head, len - tail - 1) < 0)
        return 0;
    memcpy(s->head + s->prefix_len, worker_shape.before, before);
    memcpy(s->tail, worker_shape.tail, tail);
    s->head_len = head;
    s->tail_len = tail;
    *close = len - tail - 1;
    return 1;
}

/* An event that repeats the stream's prefix and, after it, the worker's event without a text. */
static int is_worker_textless(gw_api_kind api, const gw_openai_stream *s, const char *data,
                              size_t len) {
    return worker_textless.len && worker_textless.api == api &&
           len - s->prefix_len == worker_textless.len &&
           !memcmp(data + s->prefix_len, worker_textless.rest, worker_textless.len);
}

/* An event with the stream's shape around a valid string (its closing quote at *close): what a
 * scan would find is known (a valid object, the prefix's model, no usage to read, one text), so
 * only that string is read. The window error_near_start reads is the shape's when the head
 * covers it; an event that repeats a prefix had no error there. */
static int shape_fits(const gw_openai_stream *s, const char *data, size_t len, size_t *close) {
    size_t head = s->head_len, tail = s->tail_len;
    if (!tail || len < head + 2 + tail) return 0;
    *close = len - tail - 1;
    return !memcmp(data, s->head, head) && !memcmp(data + len - tail, s->tail, tail) &&
           gw_json_scan_string_to(data, head, *close) == 0 &&
           (head >= ERROR_WINDOW || !error_near_start(data, len));
}

/* An event found to be what an earlier one was but for its one text (text_len 0 and NULL: no
 * text): the model's span is the prefix's, no usage is to be read; only the text is estimated. */
static inline int emit_known(gw_engine_io *io, const gw_openai_stream *s, const char *data,
                             size_t len, const char *text, size_t text_len) {
    int64_t estimate =
        text && texts_wanted(io) ? (int64_t)gw_estimate_prompt_tokens(text, text_len) : 0;
    size_t ms = 0, me = 0;
    if (io->target->rewrite) {
        ms = s->prefix_model_start;
        me = s->prefix_len;
    }
    return gw_emit_chunk_counted(io, data, len, ms, me, estimate) < 0 ? GW_EVENT_MALFORMED
                                                                      : GW_EVENT_CONTINUE;
}

/* An event that did not fit the shape: scanned, from the end of the stream's prefix when it
 * repeats it. Out of line, so the shape's path keeps a small frame. */
static __attribute__((noinline)) int stream_event_scanned(const gw_openai_wire *w, gw_engine_io *io,
                                                          const char *data, size_t len) {
    gw_openai_stream *s = io->state;
    /* a chunk begins with its id; "error" near the start is an error object (an event that
     * repeats a prefix of ERROR_WINDOW bytes or more has that prefix's start, which had none) */
    int repeats = s->prefix_len && len > s->prefix_len && !memcmp(data, s->head, s->prefix_len);
    if (!(repeats && s->prefix_len >= ERROR_WINDOW) && error_near_start(data, len))
        return stream_error(io, data, len);
    gw_api_kind api = io->r->api;
    if (repeats) { /* what another stream through this worker taught */
        size_t close;
        if (adopt_worker_shape(api, s, data, len, &close))
            return emit_known(io, s, data, len, data + s->head_len + 1, close - s->head_len - 1);
        if (is_worker_textless(api, s, data, len)) return emit_known(io, s, data, len, NULL, 0);
    }
    /* one pass: valid JSON, the model's span, the usage, the generated texts */
    wire_scan ws;
    if (repeats) {
        if (wire_scan_run(io, data, len, &ws, s, TEXTS_ALWAYS) < 0) return GW_EVENT_MALFORMED;
        remember_shape(api, s, data, len, &ws);
        remember_textless(api, s, data, len, &ws);
    } else {
        if (wire_scan_run(io, data, len, &ws, NULL, TEXTS_WANTED) < 0) return GW_EVENT_MALFORMED;
        remember_prefix(s, data, &ws);
    }
    if (wire_usage(&ws, data, &io->r->usage)) {
        int usage_only = memmem(data, len, "\"choices\":[]", 12) != NULL;
        if (usage_only && !io->r->include_usage) return GW_EVENT_CONTINUE; /* asked for us */
        if (!usage_only && w->usage_in_finish_chunk)
            return split_usage(io, data, len) < 0 ? GW_EVENT_MALFORMED : GW_EVENT_CONTINUE;
    }
    size_t ms, me;
    wire_model_span(io, data, &ws, &ms, &me);
    return gw_emit_chunk_counted(io, data, len, ms, me, ws.estimate) < 0 ? GW_EVENT_MALFORMED
                                                                         : GW_EVENT_CONTINUE;
}

int gw_openai_wire_stream_event(const gw_openai_wire *w, gw_engine_io *io, const char *data,
                                size_t len) {
    gw_openai_stream *s = io->state;
    if (s->done) return GW_EVENT_CONTINUE; /* nothing counts after [DONE] */
    if (len == 6 && !memcmp(data, "[DONE]", 6)) {
        s->done = 1;
        gw_emit_end(io);
        return GW_EVENT_END;
    }
    /* nearly every event: a token's delta, the bytes around it as in the one before */
    size_t close;
    if (!shape_fits(s, data, len, &close)) return stream_event_scanned(w, io, data, len);
    return emit_known(io, s, data, len, data + s->head_len + 1, close - s->head_len - 1);
}

int gw_openai_wire_stream_end(gw_engine_io *io) {
    const gw_openai_stream *s = io->state;
    return s->done ? 0 : -1;
}
