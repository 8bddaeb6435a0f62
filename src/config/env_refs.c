#include "config/env_refs.h"

#include <stdlib.h>
#include <string.h>

/* The end of a ${...} reference starting at s[i] (the index after its '}'), or 0. */
static size_t ref_end(const char *s, size_t len, size_t i) {
    if (i + 3 >= len || s[i] != '$' || s[i + 1] != '{') return 0;
    for (size_t k = i + 2; k < len; k++) {
        if (s[k] == '}') return k > i + 2 ? k + 1 : 0;
        if (s[k] == '\n' || s[k] == '{' || s[k] == '"' || s[k] == '\'') return 0;
    }
    return 0;
}

char *gw_config_quote_env_refs(const char *s, size_t len, size_t *out_len) {
    char *out = NULL;
    size_t o = 0, cap = 0;
    int depth = 0;         /* flow collections open at this point */
    char quote = 0;        /* inside '...' or "..." */
    int line_start = 1;    /* only spaces since the line began */
    int block_indent = -1; /* inside a block scalar: its indicator's line's indent */
    int indent = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == '\n') {
            line_start = 1;
            indent = 0;
        } else if (line_start && c == ' ') {
            indent++;
        } else if (line_start) {
            line_start = 0;
            if (block_indent >= 0 && indent <= block_indent) block_indent = -1;
        }
        size_t end = 0;
        if (block_indent < 0 && !quote && depth > 0 && c == '$' && i > 0 &&
            strchr(" \t,[{:", s[i - 1]) && (end = ref_end(s, len, i)) &&
            (end == len || strchr(" \t,]}\r\n#", s[end]))) {
            if (!out) {
                cap = len + len / 4 + 64;
                out = malloc(cap);
                if (!out) return NULL;
                memcpy(out, s, i);
                o = i;
            }
            if (o + (end - i) + 2 + (len - end) >= cap) {
                cap = (o + (end - i) + 2 + (len - end)) * 2;
                char *p = realloc(out, cap);
                if (!p) {
                    free(out);
                    return NULL;
                }
                out = p;
            }
            out[o++] = '\'';
            memcpy(out + o, s + i, end - i);
            o += end - i;
            out[o++] = '\'';
            i = end - 1;
            continue;
        }
        if (block_indent < 0) {
            if (quote) {
                if (c == quote && !(quote == '"' && i > 0 && s[i - 1] == '\\')) quote = 0;
            } else if (c == '#' && (i == 0 || s[i - 1] == ' ' || s[i - 1] == '\t')) {
                while (i + 1 < len && s[i + 1] != '\n') { /* a comment, copied as it is */
                    if (out) out[o++] = s[i];
                    i++;
                }
            } else if ((c == '\'' || c == '"') && (i == 0 || strchr(" \t,[{:", s[i - 1]))) {
                quote = c;
            } else if (c == '{' || c == '[') {
                depth++;
            } else if ((c == '}' || c == ']') && depth > 0) {
                depth--;
            } else if (depth == 0 && (c == '|' || c == '>') && i > 0 && s[i - 1] == ' ') {
                block_indent = indent; /* what follows, indented deeper, is text */
            }
        }
        if (out) out[o++] = c;
    }
    if (out) *out_len = o;
    return out;
}
