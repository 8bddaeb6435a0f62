/* JSON in and out. In: json-c's strict tokener, reused per worker, plus the trailing-bytes check
 * json-c leaves to its caller. Out: responses are printed directly (their shape is fixed), so
 * only strings that come from outside need escaping here. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/sim_internal.h"

json_object *sim_json_parse(sim_worker *w, const char *text, size_t len, sim_problem *problem) {
    if (len == 0) {
        sim_problem_set(problem, 400, NULL,
                        "The request body is empty; a JSON object is expected.");
        return NULL;
    }
    if (len > (size_t)SIM_MAX_BODY_BYTES) {
        sim_problem_set(problem, 400, NULL, "The request body is too large.");
        return NULL;
    }
    json_tokener *tok = w->tokener;
    json_tokener_reset(tok);
    json_object *obj = json_tokener_parse_ex(tok, text, (int)len);
    enum json_tokener_error jerr = json_tokener_get_error(tok);
    if (obj == NULL || jerr != json_tokener_success) {
        /* json_tokener_continue: the text ended inside a value. */
        const char *why = jerr == json_tokener_continue ? "unexpected end of input"
                                                        : json_tokener_error_desc(jerr);
        sim_problem_set(problem, 400, NULL, "Invalid JSON in the request body at offset %zu: %s",
                        json_tokener_get_parse_end(tok), why);
        json_object_put(obj);
        return NULL;
    }
    for (size_t i = json_tokener_get_parse_end(tok); i < len; i++) {
        char c = text[i];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
            sim_problem_set(problem, 400, NULL,
                            "Invalid JSON in the request body: extra data at offset %zu", i);
            json_object_put(obj);
            return NULL;
        }
    }
    return obj;
}

size_t sim_json_escape(char *out, const char *s, size_t len) {
    static const char hex[] = "0123456789abcdef";
    char *p = out;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '"':
            *p++ = '\\';
            *p++ = '"';
            break;
        case '\\':
            *p++ = '\\';
            *p++ = '\\';
            break;
        case '\n':
            *p++ = '\\';
            *p++ = 'n';
            break;
        case '\r':
            *p++ = '\\';
            *p++ = 'r';
            break;
        case '\t':
            *p++ = '\\';
            *p++ = 't';
            break;
        default:
            if (c < 0x20) {
                *p++ = '\\';
                *p++ = 'u';
                *p++ = '0';
                *p++ = '0';
                *p++ = hex[c >> 4];
                *p++ = hex[c & 15];
            } else {
                *p++ = (char)c;
            }
        }
    }
    *p = '\0';
    return (size_t)(p - out);
}

void sim_json_add_escaped(struct evbuffer *out, const char *s, size_t len) {
    char buf[6 * 256 + 2];
    while (len > 0) {
        size_t n = len > 256 ? 256 : len;
        evbuffer_add(out, buf, sim_json_escape(buf, s, n));
        s += n;
        len -= n;
    }
}

void sim_json_add_string(struct evbuffer *out, const char *s, size_t len) {
    evbuffer_add(out, "\"", 1);
    sim_json_add_escaped(out, s, len);
    evbuffer_add(out, "\"", 1);
}

json_object *sim_json_member(json_object *obj, const char *key) {
    json_object *v = NULL;
    if (obj == NULL || !json_object_is_type(obj, json_type_object)) return NULL;
    return json_object_object_get_ex(obj, key, &v) ? v : NULL;
}

char *sim_json_escape_dup(const char *s) {
    size_t len = strlen(s);
    char *out = malloc(len * 6 + 1);
    if (out == NULL) return NULL;
    sim_json_escape(out, s, len);
    return out;
}
