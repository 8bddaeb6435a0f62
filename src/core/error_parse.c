#include "core/error_parse.h"

#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

typedef struct packer {
    char *buf;
    size_t cap, used;
} packer;

/* Copies s into the buffer; NULL when it does not fit (that part is then left out). */
static const char *pack(packer *p, const char *s, size_t len) {
    if (!s || p->used + len + 1 > p->cap) return NULL;
    char *at = p->buf + p->used;
    memcpy(at, s, len);
    at[len] = '\0';
    p->used += len + 1;
    return at;
}

static const char *pack_member(packer *p, json_object *obj, const char *key) {
    json_object *v;
    if (!obj || !json_object_object_get_ex(obj, key, &v) || json_object_is_type(v, json_type_null))
        return NULL;
    if (json_object_is_type(v, json_type_string))
        return pack(p, json_object_get_string(v), (size_t)json_object_get_string_len(v));
    const char *text = json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN);
    return pack(p, text, strlen(text));
}

/* A code an engine typed as a number stays a number for the caller. */
static void pack_code(packer *p, json_object *obj, gw_error_info *e) {
    json_object *code;
    if (!obj || !json_object_object_get_ex(obj, "code", &code)) return;
    if (json_object_is_type(code, json_type_string)) {
        e->code = pack(p, json_object_get_string(code), (size_t)json_object_get_string_len(code));
    } else if (json_object_is_type(code, json_type_int) ||
               json_object_is_type(code, json_type_double) ||
               json_object_is_type(code, json_type_boolean)) {
        const char *text = json_object_to_json_string_ext(code, JSON_C_TO_STRING_PLAIN);
        e->code_json = pack(p, text, strlen(text));
    }
}

void gw_error_parse(int status, const char *body, size_t len, gw_error_info *e, char *buf,
                    size_t cap) {
    *e = (gw_error_info){.status = status};
    packer p = {buf, cap, 0};
    json_object *root = NULL;
    if (len) {
        json_tokener *tok = json_tokener_new();
        if (tok) {
            root = json_tokener_parse_ex(tok, body, (int)(len > 1 << 20 ? 1 << 20 : len));
            json_tokener_free(tok);
        }
    }
    const char *message = NULL;
    json_object *err = NULL;
    if (root && json_object_is_type(root, json_type_object) &&
        json_object_object_get_ex(root, "error", &err)) {
        if (json_object_is_type(err, json_type_object)) { /* OpenAI, vLLM, Azure, Anthropic */
            message = pack_member(&p, err, "message");
            e->type = pack_member(&p, err, "type");
            pack_code(&p, err, e);
            e->param = pack_member(&p, err, "param");
        } else { /* TGI and MindIE: {"error":"...","error_type":"..."} */
            message = pack_member(&p, root, "error");
            e->type = pack_member(&p, root, "error_type");
        }
    } else if (root && json_object_is_type(root, json_type_object)) {
        /* SGLang and vLLM < 0.10.1: flat; anything else: take what is there */
        message = pack_member(&p, root, "message");
        if (!message) message = pack_member(&p, root, "detail");
        e->type = pack_member(&p, root, "type");
        pack_code(&p, root, e);
        e->param = pack_member(&p, root, "param");
    }
    if (e->type && !strcmp(e->type, "error")) e->type = NULL; /* SGLang's "object":"error" */
    if (!message) {
        char fallback[400];
        int n;
        if (len && !root) /* a text body: its start is often the only clue */
            n = snprintf(fallback, sizeof fallback, "upstream returned HTTP %d: %.*s", status,
                         (int)(len < 300 ? len : 300), body);
        else
            n = snprintf(fallback, sizeof fallback,
                         "upstream returned HTTP %d with no error message", status);
        size_t flen = n < 0 ? 0 : (size_t)n < sizeof fallback ? (size_t)n : sizeof fallback - 1;
        /* the message goes first, so it fits even when the buffer is nearly full */
        if (p.used + flen + 1 > cap) flen = cap > p.used + 1 ? cap - p.used - 1 : 0;
        message = pack(&p, fallback, flen);
    }
    e->message = message ? message : "";
    e->message_len = strlen(e->message);
    if (root) json_object_put(root);
}
