/* The texts a request carries for the model, which the request guards read and may rewrite:
 * every message's content (a string, or the text of its parts) and the prompt (a string, or an
 * array of strings). Tool definitions, names and other fields are not prose and are left out. */
#ifndef AIGW_FILTERS_REQUEST_TEXT_H
#define AIGW_FILTERS_REQUEST_TEXT_H

#include <stddef.h>

struct json_object;

/* Where one text sits, so it can be replaced. */
typedef struct gw_req_text {
    struct json_object *parent;
    const char *key; /* the member's name, or NULL for an array element */
    size_t index;
    int replaced;
} gw_req_text;

/* Calls fn for each text in order; fn returns 0 to go on, anything else stops the walk and is
 * returned. */
int gw_req_texts(struct json_object *root,
                 int (*fn)(void *ctx, gw_req_text *at, const char *text, size_t len), void *ctx);

/* Puts text in place of the one at `at` (the old one is freed: read it no more). -1 when out
 * of memory. */
int gw_req_text_replace(gw_req_text *at, const char *text, size_t len);

#endif
