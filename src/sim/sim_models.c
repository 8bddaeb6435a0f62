/* The served model names: parsed once at start, escaped once for JSON and for Prometheus labels
 * so the request path never escapes them again, and listed by GET /v1/models. The name "*"
 * serves any model (the gateway's built-in channel answers whatever its config maps to it); its
 * requests are counted under the label "*". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/sim_internal.h"

static char *prom_escape_dup(const char *s) {
    size_t len = strlen(s);
    char *out = malloc(len * 2 + 1);
    if (out == NULL) return NULL;
    char *p = out;
    for (; *s; s++) {
        if (*s == '\\' || *s == '"') {
            *p++ = '\\';
            *p++ = *s;
        } else if (*s == '\n') {
            *p++ = '\\';
            *p++ = 'n';
        } else {
            *p++ = *s;
        }
    }
    *p = '\0';
    return out;
}

static bool is_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

bool sim_models_parse(sim_server *s, const char *list, char *err, size_t errlen) {
    const char *p = list;
    s->wildcard_model = -1;
    while (*p) {
        const char *start = p;
        while (*p && *p != ',')
            p++;
        const char *end = p;
        if (*p == ',') p++;
        while (start < end && is_space(*start))
            start++;
        while (end > start && is_space(end[-1]))
            end--;
        if (start == end) continue;
        size_t len = (size_t)(end - start);
        if (len > SIM_MAX_MODEL_NAME) {
            snprintf(err, errlen, "model name longer than %d bytes", SIM_MAX_MODEL_NAME);
            return false;
        }
        if (s->model_count == SIM_MAX_MODELS) {
            snprintf(err, errlen, "more than %d models", SIM_MAX_MODELS);
            return false;
        }
        sim_model *m = &s->models[s->model_count++];
        m->name = strndup(start, len);
        m->json_name = m->name ? sim_json_escape_dup(m->name) : NULL;
        m->prom_name = m->name ? prom_escape_dup(m->name) : NULL;
        if (m->json_name == NULL || m->prom_name == NULL) {
            snprintf(err, errlen, "out of memory");
            return false;
        }
        if (strcmp(m->name, "*") == 0 && s->wildcard_model < 0)
            s->wildcard_model = s->model_count - 1;
    }
    if (s->model_count == 0) {
        snprintf(err, errlen, "no model name given");
        return false;
    }
    return true;
}

void sim_models_free(sim_server *s) {
    for (int i = 0; i < s->model_count; i++) {
        free(s->models[i].name);
        free(s->models[i].json_name);
        free(s->models[i].prom_name);
    }
    s->model_count = 0;
}

int sim_model_find(const sim_server *s, const char *name, size_t len) {
    for (int i = 0; i < s->model_count; i++) {
        if (strlen(s->models[i].name) == len && memcmp(s->models[i].name, name, len) == 0) return i;
    }
    return len <= SIM_MAX_MODEL_NAME ? s->wildcard_model : -1;
}

int sim_model_default(const sim_server *s) {
    for (int i = 0; i < s->model_count; i++)
        if (i != s->wildcard_model) return i;
    return s->wildcard_model;
}

/* Who each engine says owns its models (TGI: the model itself). */
static const char *owned_by(const sim_server *s, const char *name) {
    switch (s->engine) {
    case SIM_ENGINE_SGLANG:
        return "sglang";
    case SIM_ENGINE_MINDIE:
        return "MindIE Server";
    case SIM_ENGINE_TGI:
        return name;
    default:
        return "vllm";
    }
}

void sim_models_body(const sim_server *s, struct evbuffer *out) {
    evbuffer_add_printf(out, "{\"object\":\"list\",\"data\":[");
    bool first = true;
    for (int i = 0; i < s->model_count; i++) {
        if (i == s->wildcard_model) continue; /* not a name a client could pick from a list */
        const char *name = s->models[i].json_name;
        evbuffer_add_printf(out,
                            "%s{\"id\":\"%s\",\"object\":\"model\",\"created\":%ld,"
                            "\"owned_by\":\"%s\",\"root\":\"%s\",\"parent\":null,"
                            "\"max_model_len\":%d,\"permission\":[]}",
                            first ? "" : ",", name, s->created, owned_by(s, name), name,
                            SIM_MAX_MODEL_LEN);
        first = false;
    }
    evbuffer_add_printf(out, "]}");
}
