#include "admin/audit_api.h"

#include <json-c/json.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "admin/audit.h"
#include "core/error_response.h"
#include "core/log.h"
#include "store/audit_rows.h"

/* The value of name in the query string as a non-negative integer: 1 found, 0 absent, -1 not
 * a plain decimal number. */
static int query_int(const gw_http_req *req, const char *name, int64_t *out) {
    size_t name_len = strlen(name);
    const char *q = req->query, *end = req->query ? req->query + req->query_len : NULL;
    while (q && q < end) {
        const char *amp = memchr(q, '&', (size_t)(end - q));
        const char *stop = amp ? amp : end;
        if ((size_t)(stop - q) > name_len && !memcmp(q, name, name_len) && q[name_len] == '=') {
            const char *v = q + name_len + 1;
            if (v == stop || stop - v > 18) return -1;
            int64_t n = 0;
            for (; v < stop; v++) {
                if (*v < '0' || *v > '9') return -1;
                n = n * 10 + (*v - '0');
            }
            *out = n;
            return 1;
        }
        q = amp ? amp + 1 : NULL;
    }
    return 0;
}

typedef struct page {
    json_object *data;
    size_t count;
} page;

static int add_entry(const gw_store_audit_entry *e, void *ctx) {
    page *p = ctx;
    json_object *o = json_object_new_object();
    json_object_object_add(o, "id", json_object_new_int64(e->id));
    json_object_object_add(o, "time", json_object_new_int64(e->time));
    json_object_object_add(o, "client", json_object_new_string(e->client));
    json_object_object_add(o, "action", json_object_new_string(e->action));
    json_object_object_add(o, "target", json_object_new_string(e->target));
    json_object_object_add(o, "status", json_object_new_int(e->status));
    json_object_array_add(p->data, o);
    p->count++;
    return 0;
}

void gw_admin_audit_list(gw_http_req *req) {
    struct gw_key_store *st = gw_admin_audit_store();
    if (!st) {
        gw_http_respond_openai_error(req, 409, "invalid_request_error", "store_off",
                                     "the store is off, so the audit trail is only in the log "
                                     "(event audit): set store.path");
        return;
    }
    int64_t limit = GW_AUDIT_PAGE_DEFAULT, since = 0, before = 0;
    if (query_int(req, "limit", &limit) < 0 || limit < 1 || limit > GW_AUDIT_PAGE_MAX ||
        query_int(req, "since", &since) < 0 || query_int(req, "before", &before) < 0) {
        gw_http_respond_openai_error(req, 400, "invalid_request_error", "invalid_value",
                                     "expected limit=1..1000, since=Unix seconds, before=an "
                                     "entry id");
        return;
    }
    /* one more than asked, to say whether another page follows */
    gw_store_audit_query q = {.since = since, .before_id = before, .limit = (size_t)limit + 1};
    page p = {.data = json_object_new_array()};
    char err[300];
    if (!p.data || gw_store_audit_list(st, &q, add_entry, &p, err, sizeof err) < 0) {
        json_object_put(p.data);
        char esc[400];
        gw_json_escape(esc, sizeof esc, err, strlen(err));
        gw_log_error("audit_read_failed", "\"reason\":\"%s\"", esc);
        gw_http_respond_openai_error(req, 500, "server_error", "store_error",
                                     "the store failed; see the log");
        return;
    }
    int more = p.count > (size_t)limit;
    if (more) json_object_array_del_idx(p.data, (size_t)limit, 1);
    json_object *o = json_object_new_object();
    json_object_object_add(o, "object", json_object_new_string("list"));
    json_object_object_add(o, "data", p.data);
    json_object_object_add(o, "has_more", json_object_new_boolean(more));
    size_t len = 0;
    const char *text = json_object_to_json_string_length(
        o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
    gw_http_respond(req, 200, "application/json", text, len, NULL, 0);
    json_object_put(o);
}
