/* JSON string escaping for what the gateway writes itself (answers, chunks, engine bodies,
 * errors), in json-c's own style: \" \\ \b \f \n \r \t, \u00xx for the other control bytes,
 * and '/' and bytes >= 0x80 as they are (the text came from a JSON parser or the config, so it
 * is UTF-8 already). Text written here thus reads byte for byte like text json-c serialized
 * with JSON_C_TO_STRING_NOSLASHESCAPE. Log lines use gw_json_escape (log.h), which writes into
 * a bounded buffer. */
#ifndef AIGW_CORE_JSON_STRING_H
#define AIGW_CORE_JSON_STRING_H

#include <stddef.h>

struct evbuffer;

/* Where escaped text goes, a run at a time. */
typedef void gw_json_sink(void *ctx, const char *s, size_t len);

/* s[0..len) escaped as the inside of a JSON string (no quotes) into sink. Runs of bytes that
 * need no escape go out in one call each: streamed text is mostly plain, and this runs once
 * per token. */
void gw_json_string_escape(const char *s, size_t len, gw_json_sink *sink, void *ctx);

/* The inside of a JSON string literal (no quotes, escapes as JSON writes them) decoded into
 * UTF-8 text appended to out; \u escapes with surrogate pairs become one character, a lone
 * surrogate U+FFFD. -1 when the text is not a valid literal's inside. */
struct gw_strbuf;
int gw_json_string_decode(const char *s, size_t len, struct gw_strbuf *out);

/* s[0..len) as a quoted JSON string. */
void gw_evbuffer_add_json_string(struct evbuffer *out, const char *s, size_t len);

#endif
