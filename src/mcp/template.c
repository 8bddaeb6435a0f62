#include "mcp/template.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int gw_mcp_template_compile(gw_arena *arena, const char *text, gw_mcp_template *t, char *err,
                            size_t errlen) {
    size_t len = strlen(text), max_parts = 1;
    for (size_t i = 0; i < len; i++)
        max_parts += text[i] == '{' || text[i] == '}';
    t->parts = gw_arena_alloc(arena, (max_parts * 2 + 1) * sizeof *t->parts);
    t->count = 0;
    if (!t->parts) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    /* literal runs are copied, unescaping "{{" and "}}" */
    char *lit = gw_arena_alloc(arena, len + 1);
    size_t lit_len = 0, run_start = 0;
    if (!lit) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < len;) {
        if ((text[i] == '{' && i + 1 < len && text[i + 1] == '{') ||
            (text[i] == '}' && i + 1 < len && text[i + 1] == '}')) {
            lit[lit_len++] = text[i];
            i += 2;
            continue;
        }
        if (text[i] == '}') {
            snprintf(err, errlen, "unmatched '}' at offset %zu (write }} for a literal one)", i);
            return -1;
        }
        if (text[i] != '{') {
            lit[lit_len++] = text[i++];
            continue;
        }
        const char *close = memchr(text + i + 1, '}', len - i - 1);
        if (!close) {
            snprintf(err, errlen, "unclosed '{' at offset %zu (write {{ for a literal one)", i);
            return -1;
        }
        size_t name_len = (size_t)(close - text - i - 1);
        if (name_len == 0 || memchr(text + i + 1, '{', name_len)) {
            snprintf(err, errlen, "expected a name inside {} at offset %zu", i);
            return -1;
        }
        if (lit_len > run_start)
            t->parts[t->count++] = (gw_mcp_template_part){lit + run_start, lit_len - run_start, 0};
        run_start = lit_len;
        t->parts[t->count++] =
            (gw_mcp_template_part){gw_arena_strndup(arena, text + i + 1, name_len), name_len, 1};
        i += name_len + 2;
    }
    if (lit_len > run_start)
        t->parts[t->count++] = (gw_mcp_template_part){lit + run_start, lit_len - run_start, 0};
    return 0;
}

int gw_mcp_template_uses(const gw_mcp_template *t, const char *name) {
    size_t len = strlen(name);
    for (size_t i = 0; i < t->count; i++)
        if (t->parts[i].is_arg && t->parts[i].len == len && !memcmp(t->parts[i].text, name, len))
            return 1;
    return 0;
}

void gw_mcp_value_text(json_object *v, gw_strbuf *out) {
    if (json_object_is_type(v, json_type_string)) {
        gw_strbuf_add(out, json_object_get_string(v), (size_t)json_object_get_string_len(v));
    } else if (v == NULL) {
        gw_strbuf_adds(out, "null");
    } else {
        gw_strbuf_add_json(out, v);
    }
}

void gw_mcp_percent_encode(const char *s, size_t len, gw_strbuf *out) {
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
            ch == '-' || ch == '.' || ch == '_' || ch == '~') {
            gw_strbuf_add(out, (const char *)&ch, 1);
        } else {
            char enc[3] = {'%', hex[ch >> 4], hex[ch & 15]};
            gw_strbuf_add(out, enc, 3);
        }
    }
}

json_object *gw_mcp_json_at(json_object *root, const char *path, size_t len) {
    char sep = len && path[0] == '/' ? '/' : '.';
    size_t i = sep == '/' ? 1 : 0;
    if (sep == '/' && len == 1) return root;
    json_object *cur = root;
    while (cur && i <= len) {
        const char *seg = path + i;
        const char *end = memchr(seg, sep, len - i);
        size_t seg_len = end ? (size_t)(end - seg) : len - i;
        char key[256];
        size_t k = 0;
        for (size_t j = 0; j < seg_len && k + 1 < sizeof key; j++) {
            /* JSON pointer escapes: ~1 is '/', ~0 is '~' */
            if (sep == '/' && seg[j] == '~' && j + 1 < seg_len &&
                (seg[j + 1] == '0' || seg[j + 1] == '1')) {
                key[k++] = seg[j + 1] == '1' ? '/' : '~';
                j++;
            } else {
                key[k++] = seg[j];
            }
        }
        key[k] = '\0';
        if (json_object_is_type(cur, json_type_object)) {
            json_object *next = NULL;
            if (!json_object_object_get_ex(cur, key, &next)) return NULL;
            cur = next;
        } else if (json_object_is_type(cur, json_type_array)) {
            char *endp;
            long idx = strtol(key, &endp, 10);
            if (!k || *endp || idx < 0 || (size_t)idx >= json_object_array_length(cur)) return NULL;
            cur = json_object_array_get_idx(cur, (size_t)idx);
        } else {
            return NULL;
        }
        if (!end) break;
        i += seg_len + 1;
    }
    return cur;
}

int gw_mcp_template_render(const gw_mcp_template *t, json_object *args, gw_mcp_fill how,
                           gw_strbuf *out, char *err, size_t errlen) {
    gw_strbuf value = {0};
    int rc = 0;
    for (size_t i = 0; i < t->count && rc == 0; i++) {
        const gw_mcp_template_part *p = &t->parts[i];
        if (!p->is_arg) {
            gw_strbuf_add(out, p->text, p->len);
            continue;
        }
        json_object *v = NULL;
        int present;
        if (how == GW_MCP_FILL_TEXT) {
            v = gw_mcp_json_at(args, p->text, p->len);
            present = v != NULL;
        } else {
            present = json_object_object_get_ex(args, p->text, &v) && v != NULL;
        }
        if (!present) {
            if (how == GW_MCP_FILL_TEXT) continue;
            snprintf(err, errlen, "the argument '%s' is needed and was not given", p->text);
            rc = -1;
            break;
        }
        gw_mcp_value_text(v, gw_strbuf_reset(&value));
        if (how == GW_MCP_FILL_URL) {
            gw_mcp_percent_encode(value.data, value.len, out);
        } else {
            if (how == GW_MCP_FILL_HEADER && value.len &&
                (memchr(value.data, '\r', value.len) || memchr(value.data, '\n', value.len) ||
                 memchr(value.data, '\0', value.len))) {
                snprintf(err, errlen,
                         "the argument '%s' cannot go in a header: it holds a line break", p->text);
                rc = -1;
                break;
            }
            gw_strbuf_add(out, value.data, value.len);
        }
    }
    gw_strbuf_free(&value);
    return rc;
}
