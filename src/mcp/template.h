/* Templates of REST tools: "{name}" holes in a URL, a header value or a result text, filled from
 * a call's arguments (or, for a result, from the REST answer's fields). Compiled once when the
 * config loads; rendered into a bounded buffer. "{{" and "}}" are literal braces. */
#ifndef AIGW_MCP_TEMPLATE_H
#define AIGW_MCP_TEMPLATE_H

#include <stddef.h>

#include "core/arena.h"
#include "core/strbuf.h"
#include "mcp/mcp-t.h"

struct json_object;

/* Parses text into t (parts in the arena). -1 and err on an unclosed or empty hole. */
int gw_mcp_template_compile(gw_arena *arena, const char *text, gw_mcp_template *t, char *err,
                            size_t errlen);
/* Whether the template has a hole named name. */
int gw_mcp_template_uses(const gw_mcp_template *t, const char *name);

typedef enum {
    GW_MCP_FILL_URL,    /* values percent-encoded as a path segment; a missing one is an error */
    GW_MCP_FILL_HEADER, /* values as text; CR, LF or NUL refused; a missing one is an error */
    GW_MCP_FILL_TEXT,   /* holes are paths into the JSON given ("a.b", "/a/b"); missing: "" */
} gw_mcp_fill;

/* Renders t with values from args (an object) into out. 0, or -1 and err naming the argument. */
int gw_mcp_template_render(const gw_mcp_template *t, struct json_object *args, gw_mcp_fill how,
                           gw_strbuf *out, char *err, size_t errlen);

/* A value as the text a URL, query, form or header carries: strings as they are, numbers and
 * booleans as JSON writes them, arrays and objects as JSON text. */
void gw_mcp_value_text(struct json_object *v, gw_strbuf *out);
/* Percent-encodes s (RFC 3986 unreserved characters are kept) onto out. */
void gw_mcp_percent_encode(const char *s, size_t len, gw_strbuf *out);

/* The value at a path of root: a JSON pointer ("/a/0/b") or dotted ("a.0.b"); NULL if none. */
struct json_object *gw_mcp_json_at(struct json_object *root, const char *path, size_t len);

#endif
