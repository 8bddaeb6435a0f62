/* GET /sim/last-request: what the engine received last, so gateway tests can check what was
 * forwarded (the path and query called, headers added or stripped, the body rewritten). Each
 * worker keeps a bounded copy of its own latest engine request (any route but the /sim/ hooks
 * and the health and metrics probes) under its own mutex, in buffers it reuses; the reader picks
 * the newest across workers by timestamp and only then builds JSON. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/keyvalq_struct.h>

#include "sim/sim_internal.h"

enum { SIM_LAST_BODY_MAX = 1024 * 1024, SIM_LAST_PATH_MAX = 8192 };

void sim_last_request_init(sim_last_request *last) {
    memset(last, 0, sizeof(*last));
    pthread_mutex_init(&last->lock, NULL);
}

void sim_last_request_free(sim_last_request *last) {
    pthread_mutex_destroy(&last->lock);
    free(last->path);
    free(last->headers);
    free(last->body);
}

/* Makes room for len more bytes in a buffer bounded by max; false when it would pass max. */
static bool reserve(char **buf, size_t *cap, size_t used, size_t len, size_t max) {
    if (used + len > max) return false;
    if (used + len <= *cap) return true;
    size_t want = *cap ? *cap : 256;
    while (want < used + len)
        want *= 2;
    if (want > max) want = max;
    char *grown = realloc(*buf, want);
    if (grown == NULL) return false;
    *buf = grown;
    *cap = want;
    return true;
}

static const char *method_name(enum evhttp_cmd_type cmd) {
    switch (cmd) {
    case EVHTTP_REQ_GET:
        return "GET";
    case EVHTTP_REQ_POST:
        return "POST";
    case EVHTTP_REQ_HEAD:
        return "HEAD";
    case EVHTTP_REQ_PUT:
        return "PUT";
    case EVHTTP_REQ_DELETE:
        return "DELETE";
    case EVHTTP_REQ_OPTIONS:
        return "OPTIONS";
    case EVHTTP_REQ_TRACE:
        return "TRACE";
    case EVHTTP_REQ_CONNECT:
        return "CONNECT";
    case EVHTTP_REQ_PATCH:
        return "PATCH";
    default:
        return "UNKNOWN";
    }
}

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* Path and query as received (still percent-encoded), joined by '?', within SIM_LAST_PATH_MAX. */
static void record_path(sim_last_request *last, struct evhttp_request *req) {
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
    const char *query = uri ? evhttp_uri_get_query(uri) : NULL;
    if (path == NULL || path[0] == '\0') path = "/";
    size_t path_len = strlen(path);
    size_t query_len = query ? strlen(query) : 0;
    if (path_len > SIM_LAST_PATH_MAX) path_len = SIM_LAST_PATH_MAX;
    bool with_query = query != NULL && path_len < SIM_LAST_PATH_MAX;
    if (with_query && path_len + 1 + query_len > SIM_LAST_PATH_MAX)
        query_len = SIM_LAST_PATH_MAX - path_len - 1;
    size_t total = path_len + (with_query ? 1 + query_len : 0);
    last->path_len = 0;
    last->query_at = 0;
    if (!reserve(&last->path, &last->path_cap, 0, total, SIM_LAST_PATH_MAX)) return;
    memcpy(last->path, path, path_len);
    if (with_query) {
        last->path[path_len] = '?';
        memcpy(last->path + path_len + 1, query, query_len);
        last->query_at = path_len + 1;
    }
    last->path_len = total;
}

void sim_last_request_record(sim_worker *w, struct evhttp_request *req, const char *body,
                             size_t body_len) {
    sim_last_request *last = &w->last;
    pthread_mutex_lock(&last->lock);
    last->stamp_ns = now_ns();
    strncpy(last->method, method_name(evhttp_request_get_command(req)), sizeof(last->method) - 1);
    record_path(last, req);

    last->headers_len = 0;
    const struct evkeyvalq *headers = evhttp_request_get_input_headers(req);
    for (const struct evkeyval *kv = headers->tqh_first; kv != NULL; kv = kv->next.tqe_next) {
        size_t klen = strlen(kv->key) + 1, vlen = strlen(kv->value) + 1;
        if (!reserve(&last->headers, &last->headers_cap, last->headers_len, klen + vlen,
                     SIM_MAX_HEADERS_BYTES))
            break; /* evhttp bounds headers to the same size: only an allocation failure */
        memcpy(last->headers + last->headers_len, kv->key, klen);
        memcpy(last->headers + last->headers_len + klen, kv->value, vlen);
        last->headers_len += klen + vlen;
    }

    last->body_len = 0;
    last->body_too_big = body_len > SIM_LAST_BODY_MAX;
    if (body_len > 0 && !last->body_too_big &&
        reserve(&last->body, &last->body_cap, 0, body_len, SIM_LAST_BODY_MAX)) {
        memcpy(last->body, body, body_len);
        last->body_len = body_len;
    }
    pthread_mutex_unlock(&last->lock);
}

static json_object *parse_body(const char *text, size_t len) {
    if (len == 0) return NULL;
    json_tokener *tok = json_tokener_new_ex(SIM_JSON_DEPTH);
    if (tok == NULL) return NULL;
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
    json_object *obj = json_tokener_parse_ex(tok, text, (int)len);
    if (json_tokener_get_error(tok) != json_tokener_success) {
        json_object_put(obj);
        obj = NULL;
    }
    json_tokener_free(tok);
    return obj;
}

/* Builds the JSON of one worker's copy; called with its lock held. */
static json_object *last_request_json(const sim_last_request *last) {
    json_object *root = json_object_new_object();
    json_object_object_add(root, "method", json_object_new_string(last->method));
    json_object_object_add(
        root, "path",
        json_object_new_string_len(last->path ? last->path : "", (int)last->path_len));
    /* The query alone too (null without one), so a test need not split the path. */
    json_object_object_add(root, "query",
                           last->query_at > 0
                               ? json_object_new_string_len(last->path + last->query_at,
                                                            (int)(last->path_len - last->query_at))
                               : NULL);
    json_object *headers = json_object_new_object();
    char name[256];
    for (size_t at = 0; at < last->headers_len;) {
        const char *key = last->headers + at;
        size_t klen = strlen(key);
        const char *value = key + klen + 1;
        size_t vlen = strlen(value);
        at += klen + vlen + 2;
        if (klen >= sizeof(name)) continue;
        for (size_t i = 0; i <= klen; i++)
            name[i] = (char)tolower((unsigned char)key[i]);
        json_object *seen = NULL;
        if (json_object_object_get_ex(headers, name, &seen)) {
            /* A repeated header reads as one, joined by ", " (RFC 9110). */
            size_t old = (size_t)json_object_get_string_len(seen);
            char *joined = malloc(old + 2 + vlen + 1);
            if (joined == NULL) continue;
            memcpy(joined, json_object_get_string(seen), old);
            memcpy(joined + old, ", ", 2);
            memcpy(joined + old + 2, value, vlen + 1);
            json_object_object_add(headers, name, json_object_new_string(joined));
            free(joined);
        } else {
            json_object_object_add(headers, name, json_object_new_string_len(value, (int)vlen));
        }
    }
    json_object_object_add(root, "headers", headers);
    json_object_object_add(root, "body", parse_body(last->body, last->body_len));
    if (last->body_too_big)
        json_object_object_add(root, "body_truncated", json_object_new_boolean(1));
    return root;
}

void sim_last_request_body(const sim_server *s, struct evbuffer *out) {
    sim_worker *newest = NULL;
    uint64_t newest_stamp = 0;
    for (int i = 0; i < s->worker_count; i++) {
        sim_worker *w = s->workers[i];
        pthread_mutex_lock(&w->last.lock);
        uint64_t stamp = w->last.stamp_ns;
        pthread_mutex_unlock(&w->last.lock);
        if (stamp > newest_stamp) {
            newest_stamp = stamp;
            newest = w;
        }
    }
    if (newest == NULL) {
        evbuffer_add(out, "null", 4);
        return;
    }
    pthread_mutex_lock(&newest->last.lock);
    json_object *root = last_request_json(&newest->last);
    pthread_mutex_unlock(&newest->last.lock);
    size_t len = 0;
    const char *text = json_object_to_json_string_length(
        root, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
    evbuffer_add(out, text, len);
    json_object_put(root);
}
