#include "meter/record.h"

#include "meter/redact.h"

#include <stddef.h>
#include <stdlib.h>

void gw_record_free_capture(gw_capture *c) {
    free(c->request_body);
    free(c->response);
    c->request_body = NULL;
    c->response = NULL;
    c->request_body_len = c->response_len = c->response_chunks = 0;
    gw_capture_redactor_unref(c->redactor);
    c->redactor = NULL;
}

const gw_capture_chunk *gw_capture_next(const char *response, size_t len, size_t *offset) {
    size_t at = *offset;
    size_t head = offsetof(gw_capture_chunk, data);
    if (!response || at >= len || len - at < head) return NULL;
    const gw_capture_chunk *ch = (const gw_capture_chunk *)(response + at);
    size_t size = gw_capture_chunk_size(ch->len);
    if (ch->len > len - at - head) return NULL;
    *offset = at + size > len ? len : at + size;
    return ch;
}
