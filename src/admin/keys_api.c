#include "admin/keys_api.h"

#include <event2/buffer.h>
#include <http_parser.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "admin/audit.h"
#include "core/error_response.h"
#include "core/json_parse.h"
#include "store/keys.h"
#include "store/keys_spec.h"

static void respond_object(gw_http_req *req, int status, json_object *o) {
    size_t len = 0;
    const char *text = o ? json_object_to_json_string_length(
                               o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len)
                         : NULL;
    if (!text)
        gw_http_respond_openai_error(req, 503, "server_error", "out_of_memory", "out of memory");
    else
        gw_http_respond(req, status, "application/json", text, len, NULL, 0);
    json_object_put(o);
}

static void respond_status(gw_http_req *req, gw_keys_status st, const char *err) {
    switch (st) {
    case GW_KEYS_NOT_FOUND:
        gw_http_respond_openai_error(req, 404, "invalid_request_error", "key_not_found",
                                     "no key with that id");
        break;
    case GW_KEYS_REVOKED:
        gw_http_respond_openai_error(req, 409, "invalid_request_error", "key_revoked",
                                     "the key is revoked: it cannot change any more");
        break;
    case GW_KEYS_FULL:
        gw_http_respond_openai_error(req, 409, "invalid_request_error", "too_many_keys", err);
        break;
    case GW_KEYS_INVALID:
        gw_http_respond_openai_error(req, 400, "invalid_request_error", "invalid_value", err);
        break;
    default:
        gw_http_respond_openai_error(req, 500, "server_error", "store_error",
                                     "the key store failed; see the log");
    }
}

/* The record, with the secret when one was just made (shown this once). */
static void respond_record(gw_http_req *req, int status, const gw_key_record *rec,
                           const char *secret) {
    json_object *o = gw_key_record_json(rec);
    if (o && secret) json_object_object_add(o, "key", json_object_new_string(secret));
    respond_object(req, status, o);
}

static json_object *body_object(gw_http_req *req) {
    size_t len = evbuffer_get_length(req->body);
    const char *text = len ? (const char *)evbuffer_pullup(req->body, -1) : NULL;
    json_object *root = text ? gw_json_parse(text, len, 32, JSON_TOKENER_STRICT) : NULL;
    if (root && !json_object_is_type(root, json_type_object)) {
        json_object_put(root);
        root = NULL;
    }
    if (!root)
        gw_http_respond_openai_error(req, 400, "invalid_request_error", "invalid_json",
                                     "expected a JSON object as the body");
    return root;
}

static const char *string_of(json_object *o, const char *key) {
    json_object *v;
    return json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string)
               ? json_object_get_string(v)
               : NULL;
}

typedef struct key_fields {
    char *models[GW_KEY_MODELS_MAX];
    size_t model_count;
    gw_key_update u;
} key_fields;

/* Reads the fields a body names into an update (for create too); -1 with err. */
static int read_fields(json_object *o, key_fields *f, char *err, size_t errlen) {
    json_object *v;
    gw_key_update *u = &f->u;
    if ((u->name = string_of(o, "name"))) u->set |= GW_KEY_SET_NAME;
    if (json_object_object_get_ex(o, "disabled", &v)) {
        if (!json_object_is_type(v, json_type_boolean)) {
            snprintf(err, errlen, "disabled: expected true or false");
            return -1;
        }
        u->disabled = json_object_get_boolean(v);
        u->set |= GW_KEY_SET_DISABLED;
    }
    if (json_object_object_get_ex(o, "models", &v)) {
        if (gw_key_models_parse(v, f->models, &f->model_count, err, errlen) < 0) return -1;
        u->models = (const char *const *)f->models;
        u->model_count = f->model_count;
        u->set |= GW_KEY_SET_MODELS;
    }
    if (json_object_object_get_ex(o, "expires", &v)) {
        if (!json_object_is_type(v, json_type_null) && !json_object_is_type(v, json_type_int)) {
            snprintf(err, errlen, "expires: expected Unix seconds or null");
            return -1;
        }
        u->expires = json_object_is_type(v, json_type_null) ? 0 : json_object_get_int64(v);
        u->set |= GW_KEY_SET_EXPIRES;
    }
    if (json_object_object_get_ex(o, "limits", &v)) {
        if (gw_key_limits_parse(v, &u->limits, err, errlen) < 0) return -1;
        u->set |= GW_KEY_SET_LIMITS;
    }
    if (json_object_object_get_ex(o, "quota", &v)) {
        if (gw_key_quota_parse(v, &u->quota, err, errlen) < 0) return -1;
        u->set |= GW_KEY_SET_QUOTA;
    }
    return 0;
}

static void free_fields(key_fields *f) {
    for (size_t i = 0; i < f->model_count; i++)
        free(f->models[i]);
}

static void create_key(gw_http_req *req, gw_key_store *st, void (*changed)(void *), void *ud) {
    json_object *o = body_object(req);
    if (!o) return;
    key_fields f = {0};
    char err[300] = "";
    if (read_fields(o, &f, err, sizeof err) < 0) {
        respond_status(req, GW_KEYS_INVALID, err);
    } else {
        gw_key_spec spec = {.name = f.u.name,
                            .tenant = string_of(o, "tenant"),
                            .project = string_of(o, "project"),
                            .models = f.u.models,
                            .model_count = f.u.model_count,
                            .expires = f.u.expires,
                            .disabled = f.u.disabled,
                            .limits = f.u.limits,
                            .quota = f.u.quota};
        gw_key_record rec = {0};
        char secret[GW_KEY_SECRET_LEN + 1];
        gw_keys_status rc =
            gw_key_store_create(st, &spec, (int64_t)time(NULL), &rec, secret, err, sizeof err);
        gw_admin_audit(req, "key.create", rc == GW_KEYS_OK ? rec.id : f.u.name,
                       rc == GW_KEYS_OK ? 201 : 400);
        if (rc == GW_KEYS_OK) {
            changed(ud);
            respond_record(req, 201, &rec, secret);
        } else {
            respond_status(req, rc, err);
        }
        memset(secret, 0, sizeof secret);
        gw_key_record_clear(&rec);
    }
    free_fields(&f);
    json_object_put(o);
}

typedef struct list_ctx {
    json_object *data;
} list_ctx;

static int add_to_list(const gw_key_record *rec, void *ctx) {
    json_object *o = gw_key_record_json(rec);
    if (!o) return 1;
    json_object_array_add(((list_ctx *)ctx)->data, o);
    return 0;
}

static void list_keys(gw_http_req *req, gw_key_store *st) {
    list_ctx ctx = {json_object_new_array()};
    char err[300] = "";
    gw_key_list_opts opts = {.limit = 10000};
    gw_keys_status rc =
        ctx.data ? gw_key_store_list(st, &opts, add_to_list, &ctx, err, sizeof err) : GW_KEYS_DB;
    if (rc != GW_KEYS_OK) {
        json_object_put(ctx.data);
        respond_status(req, rc, err);
        return;
    }
    json_object *o = json_object_new_object();
    if (o) {
        json_object_object_add(o, "object", json_object_new_string("list"));
        json_object_object_add(o, "data", ctx.data);
    } else {
        json_object_put(ctx.data);
    }
    respond_object(req, 200, o);
}

void gw_admin_keys(gw_http_req *req, gw_key_store *st, const char *rest, size_t rest_len,
                   void (*changed)(void *), void *ud) {
    if (!st) {
        gw_http_respond_openai_error(req, 409, "invalid_request_error", "key_store_off",
                                     "the key store is off: set auth.mode to api_key or "
                                     "api_key_or_jwt");
        return;
    }
    if (rest_len == 0) {
        if (req->method == HTTP_POST)
            create_key(req, st, changed, ud);
        else if (req->method == HTTP_GET)
            list_keys(req, st);
        else
            gw_http_respond_openai_error(req, 405, "invalid_request_error", "method_not_allowed",
                                         "use POST (create) or GET (list) /admin/keys");
        return;
    }
    /* "/{id}" or "/{id}/rotate" */
    char id[GW_KEY_ID_MAX + 1];
    const char *slash = memchr(rest + 1, '/', rest_len - 1);
    size_t id_len = slash ? (size_t)(slash - rest - 1) : rest_len - 1;
    int rotate = slash && (size_t)(rest + rest_len - slash) == 7 && !memcmp(slash, "/rotate", 7);
    if (rest[0] != '/' || id_len == 0 || id_len > GW_KEY_ID_MAX || (slash && !rotate)) {
        gw_http_respond_openai_error(req, 404, "invalid_request_error", "unknown_url",
                                     "unknown admin URL");
        return;
    }
    memcpy(id, rest + 1, id_len);
    id[id_len] = '\0';
    gw_key_record rec = {0};
    char err[300] = "";
    gw_keys_status rc;
    int64_t now = (int64_t)time(NULL);
    if (rotate && req->method == HTTP_POST) {
        char secret[GW_KEY_SECRET_LEN + 1];
        rc = gw_key_store_rotate(st, id, now, &rec, secret, err, sizeof err);
        if (rc == GW_KEYS_OK) {
            changed(ud);
            respond_record(req, 200, &rec, secret);
        }
        memset(secret, 0, sizeof secret);
    } else if (!rotate && req->method == HTTP_GET) {
        rc = gw_key_store_get(st, id, &rec);
        if (rc == GW_KEYS_OK) respond_record(req, 200, &rec, NULL);
    } else if (!rotate && req->method == HTTP_PATCH) {
        json_object *o = body_object(req);
        if (!o) return;
        key_fields f = {0};
        if (read_fields(o, &f, err, sizeof err) < 0)
            rc = GW_KEYS_INVALID;
        else
            rc = gw_key_store_update(st, id, &f.u, now, &rec, err, sizeof err);
        if (rc == GW_KEYS_OK) {
            changed(ud);
            respond_record(req, 200, &rec, NULL);
        }
        free_fields(&f);
        json_object_put(o);
    } else if (!rotate && req->method == HTTP_DELETE) {
        rc = gw_key_store_revoke(st, id, now, &rec, err, sizeof err);
        if (rc == GW_KEYS_OK) {
            changed(ud);
            respond_record(req, 200, &rec, NULL);
        }
    } else {
        gw_http_respond_openai_error(req, 405, "invalid_request_error", "method_not_allowed",
                                     rotate ? "use POST /admin/keys/{id}/rotate"
                                            : "use GET, PATCH or DELETE /admin/keys/{id}");
        return;
    }
    if (req->method != HTTP_GET)
        gw_admin_audit(req,
                       rotate                       ? "key.rotate"
                       : req->method == HTTP_DELETE ? "key.revoke"
                                                    : "key.update",
                       id, rc == GW_KEYS_OK ? 200 : 400);
    if (rc != GW_KEYS_OK) respond_status(req, rc, err);
    gw_key_record_clear(&rec);
}
