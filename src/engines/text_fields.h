/* Where the texts for the caller sit in a canonical answer or stream chunk, found without
 * building a tree: for each choice its content (or a completion's text, or a refusal), its
 * reasoning (reasoning_content, or reasoning as some engines name it), each tool call's arguments,
 * and whether it finishes. The response guards read and rewrite exactly these string literals, in
 * every choice, wherever the engine put them and in whatever key order. */
#ifndef AIGW_ENGINES_TEXT_FIELDS_H
#define AIGW_ENGINES_TEXT_FIELDS_H

#include <stddef.h>
#include <stdint.h>

enum {
    GW_TEXT_SPANS_MAX = 64, /* texts and finishes in one answer or chunk */
    GW_TEXT_SPAN_FINISH = 255,
};

typedef struct gw_text_span {
    size_t start, end;     /* the string literal's inside (escapes as written); 0, 0 for a finish */
    int64_t choice;        /* choices[].index, else the choice's position in the array */
    int64_t tool_index;    /* tool_calls[].index when has_tool_index */
    uint8_t kind;          /* a gw_text_kind, or GW_TEXT_SPAN_FINISH (a string finish_reason) */
    uint8_t reasoning_key; /* written as "reasoning" rather than "reasoning_content" */
    uint8_t has_tool_index; /* the tool call has a numeric index */
} gw_text_span;

/* Fills spans in document order. A member of another type than expected (a null content, a
 * number for an index) is passed over. Returns 0, -1 when the text is not well-formed JSON
 * (canonical text always is), or -2 when it holds more than cap spans. Reads json[0, len)
 * only, allocates nothing. */
int gw_text_spans(const char *json, size_t len, gw_text_span *spans, size_t cap, size_t *count);

#endif
