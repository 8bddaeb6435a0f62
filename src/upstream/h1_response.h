/* An engine's HTTP/1.x answer, read by the own client (upstream/h1_client.h). It replaced
 * http-parser there, whose byte-at-a-time state machine over every chunk-size line and body byte
 * was the largest single cost per stream event (docs/benchmarks.md): here a body is handed out
 * as slices of the input, a whole chunk's data at once where the read holds it, and only the
 * framing bytes (a chunk's size line and CRLF) are looked at one by one.
 *
 * The parser is pulled: each call consumes input up to the next thing the caller acts on (the
 * head, a piece of the body, the end) and says which. It keeps nothing of the input, so an
 * answer cut anywhere across reads parses the same. It reads what the client needs of the head
 * (status, Content-Type, Content-Length, Transfer-Encoding, Connection) and skips the rest;
 * 1xx interim heads are passed over. It is strict where a lax reading could be abused: the head
 * is bounded in bytes and lines, sizes are checked for overflow, chunk framing must be exact,
 * and Content-Length with Transfer-Encoding (or twice) fails the answer. */
#ifndef AIGW_UPSTREAM_H1_RESPONSE_H
#define AIGW_UPSTREAM_H1_RESPONSE_H

#include <stddef.h>
#include <stdint.h>

enum {
    GW_H1R_HEAD_MAX = 64 * 1024, /* bytes of all heads (interim ones too), and of the trailers */
    GW_H1R_LINES_MAX = 128,      /* header lines, likewise */
    GW_H1R_CONTENT_TYPE_MAX = 128,
    GW_H1R_VALUE_MAX = 256, /* a Content-Length, Transfer-Encoding or Connection value */
    GW_H1R_CHUNK_EXT_MAX = 4096,
};

typedef enum {
    GW_H1R_MORE,  /* all the input is used: the answer goes on in the next read */
    GW_H1R_HEAD,  /* the final head was read: status, content_type, content_length, keep_alive */
    GW_H1R_BODY,  /* a piece of the body (decoded), a slice of the input */
    GW_H1R_END,   /* the answer is whole; what follows it in the input is left unread */
    GW_H1R_ERROR, /* not a readable answer: `error` says why; the connection is unusable */
} gw_h1r_event;

typedef struct gw_h1_response {
    /* the head, once GW_H1R_HEAD was returned */
    int status;
    int keep_alive;         /* the engine keeps the connection open after this answer */
    int64_t content_length; /* -1 when not given */
    char content_type[GW_H1R_CONTENT_TYPE_MAX]; /* "" when none; cut to fit */
    const char *error;                          /* with GW_H1R_ERROR: a static text */

    /* the parser's own */
    uint8_t state, framing, field, minor;
    uint8_t no_body; /* the request was a HEAD */
    uint8_t seen_length, seen_te, seen_type, te_chunked, conn_close, conn_keep_alive, cut;
    uint32_t head_bytes, lines;
    uint64_t left;              /* body bytes left: of the Content-Length, or of the chunk */
    size_t len;                 /* bytes in buf */
    char buf[GW_H1R_VALUE_MAX]; /* the status line's start, a header's name, then its value */
} gw_h1_response;

/* Ready for an answer; `head_request`: it answers a HEAD, so it has no body. */
void gw_h1_response_init(gw_h1_response *r, int head_request);

/* Reads from *at (up to end) to the next event and moves *at past what it used. A BODY's bytes
 * are *data, *len (within what was read). MORE means *at == end. After HEAD, BODY or END it is
 * called again to go on (even with nothing left: a bodiless answer ends there). END and ERROR
 * repeat once reached. */
gw_h1r_event gw_h1_response_parse(gw_h1_response *r, const char **at, const char *end,
                                  const char **data, size_t *len);

/* The answer has been read to its end (the next parse says END). After a BODY that used all the
 * input, a caller may skip the call that would only say MORE when this is 0. */
int gw_h1_response_whole(const gw_h1_response *r);

/* The engine closed the connection: END when that ends the answer (a body read to the close),
 * END when it had already ended, else ERROR. */
gw_h1r_event gw_h1_response_eof(gw_h1_response *r);

#endif
