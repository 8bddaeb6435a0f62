#include "meter/capture.h"

#include "meter/record.h"

#include <event2/buffer.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

int gw_capture_request(gw_capture *c, const char *body, size_t len, size_t cap) {
    if (c->request_body || !cap) return 0;
    size_t keep = len < cap ? len : cap;
    c->request_body = malloc(keep ? keep : 1);
    if (!c->request_body) return -1;
    memcpy(c->request_body, body, keep);
    c->request_body_len = keep;
    if (keep < len) c->truncated = 1;
    return 0;
}

int gw_capture_response(gw_capture *c, int64_t t_us, struct evbuffer *buf, size_t cap) {
    size_t len = evbuffer_get_length(buf);
    if (!len || c->truncated) return 0;
    size_t need = gw_capture_chunk_size(len);
    if (c->response_len + need > cap) {
        c->truncated = 1; /* the prefix stays whole events: a replay never shows half of one */
        return 0;
    }
    /* grow by doubling, up to the cap: a stream of small events copies O(n) bytes in all */
    size_t have = c->response_len, want = have + need, size = 4096;
    while (size < want)
        size *= 2;
    if (size > cap) size = cap;
    if (!c->response || size > c->response_cap) {
        char *grown = realloc(c->response, size);
        if (!grown) return -1;
        c->response = grown;
        c->response_cap = size;
    }
    gw_capture_chunk *chunk = (gw_capture_chunk *)(c->response + have);
    chunk->t_us = t_us;
    chunk->len = (uint32_t)len;
    evbuffer_copyout(buf, chunk->data, len);
    memset(chunk->data + len, 0, need - offsetof(gw_capture_chunk, data) - len);
    c->response_len = want;
    c->response_chunks++;
    return 0;
}
