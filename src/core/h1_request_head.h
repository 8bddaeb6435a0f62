/* A client's request read at once when it arrived whole and plain: the fast path in front of
 * http-parser (core/http_server.c). http-parser reads a head a byte at a time through a state
 * machine and a callback per piece; for an SDK's ~400-byte head and 1 KB body that was about
 * 6,000 instructions of a request's 44,000 (docs/benchmarks.md).
 *
 * Only the plain kind is read here, and anything else is declined, untouched, for http-parser
 * to read (and to refuse, with its own errors): one of GET, POST, PUT, DELETE, HEAD, OPTIONS or
 * PATCH; an origin-form URL of visible ASCII; HTTP/1.1 or HTTP/1.0; lines ending in CRLF;
 * header names of token characters right before their colon; values without control characters
 * (but tab) nor trailing blanks; at most one Content-Length, of digits; no Transfer-Encoding,
 * Upgrade or Proxy-Connection; Connection, at most once, "close" or "keep-alive"; the head under
 * GW_H1Q_HEAD_MAX bytes; and the whole body, as Content-Length gives it, in the same buffer.
 * What is read agrees with what http-parser makes of the same bytes (tests/unit). */
#ifndef AIGW_CORE_H1_REQUEST_HEAD_H
#define AIGW_CORE_H1_REQUEST_HEAD_H

#include <stddef.h>
#include <stdint.h>

enum { GW_H1Q_HEAD_MAX = 16 * 1024 };

/* bytes of the buffer that was read: [off, off + len) */
typedef struct gw_h1q_span {
    uint32_t off, len;
} gw_h1q_span;

typedef struct gw_h1q_header {
    gw_h1q_span name, value;
} gw_h1q_header;

typedef struct gw_h1_request_head {
    int method;     /* http-parser's enum http_method */
    int http_minor; /* 0 or 1 */
    int keep_alive; /* what http_should_keep_alive says of it */
    gw_h1q_span url;
    size_t header_count;
    uint64_t content_length; /* 0 without the header */
    size_t head_len;         /* through the blank line; the body follows */
} gw_h1_request_head;

/* 1 when buf holds a whole request of the plain kind from its first byte, head and body (its
 * length is head_len + content_length; bytes after it are the next request's), with its headers
 * in headers[0..header_count); 0 when it does not (or has more than max_headers headers), and
 * nothing of it was used. */
int gw_h1_request_head_read(const char *buf, size_t len, gw_h1_request_head *out,
                            gw_h1q_header *headers, size_t max_headers);

#endif
