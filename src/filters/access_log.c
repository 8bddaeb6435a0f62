/* One JSON line per request once it ends, whichever filter answered it; and one for each
 * request the HTTP layer or a fixed route answered without the chain (413, 431, 404, 405,
 * /v1/models, ...), so every request that got a status is logged once. Every field is bounded
 * before it is written, so a line is never cut and always parses. */
#include <event2/buffer.h>
#include <stdio.h>
#include <string.h>

#include "core/clock.h"
#include "core/decimal.h"
#include "core/http_server.h"
#include "core/log.h"
#include "filters/access_log.h"
#include "filters/filter.h"

/* Escaped names are capped at 255 bytes each: a caller's model name can be megabytes long. */
enum { NAME_CAP = 256, LINE_CAP = 4096 };

/* The line is written by hand: snprintf with its %.3f floats cost about 12k instructions a
 * request, this about a tenth of it. A field that would not fit marks the line as cut (it
 * cannot happen: every field is bounded far under LINE_CAP). */
typedef struct line_buf {
    char *p, *end;
    int cut;
} line_buf;

static void put(line_buf *b, const char *s, size_t n) {
    if ((size_t)(b->end - b->p) < n) {
        b->cut = 1;
        return;
    }
    memcpy(b->p, s, n);
    b->p += n;
}

#define PUT_LITERAL(b, s) put((b), (s), sizeof(s) - 1)

/* s escaped straight into the line, capped at NAME_CAP - 1 bytes like every name */
static void put_escaped(line_buf *b, const char *s, size_t n) {
    if ((size_t)(b->end - b->p) < NAME_CAP) {
        b->cut = 1;
        return;
    }
    b->p += gw_json_escape(b->p, NAME_CAP, s, n);
}

static void put_string(line_buf *b, const char *s) {
    put(b, s, strlen(s));
}

/* written in place, last digits first: no copy and no call */
static void put_unsigned(line_buf *b, unsigned long long v) {
    size_t n = 1;
    unsigned long long rest = v;
    for (; rest >= 100; rest /= 100)
        n += 2;
    n += rest >= 10;
    if ((size_t)(b->end - b->p) < n) {
        b->cut = 1;
        return;
    }
    char *q = b->p + n;
    while (v >= 100) {
        const char *pair = gw_decimal_pairs + 2 * (v % 100);
        v /= 100;
        q -= 2;
        q[0] = pair[0];
        q[1] = pair[1];
    }
    if (v >= 10) {
        q[-2] = gw_decimal_pairs[2 * v];
        q[-1] = gw_decimal_pairs[2 * v + 1];
    } else {
        q[-1] = (char)('0' + v);
    }
    b->p += n;
}

static void put_signed(line_buf *b, long long v) {
    if (v < 0) {
        PUT_LITERAL(b, "-");
        put_unsigned(b, 0ULL - (unsigned long long)v);
    } else {
        put_unsigned(b, (unsigned long long)v);
    }
}

/* Nanoseconds as milliseconds with three decimals (printf's %.3f of ns / 1e6). */
/* Nanoseconds as milliseconds with three decimals (printf's %.3f of ns / 1e6). */
static void put_ms(line_buf *b, int64_t ns) {
    if (ns < 0) {
        PUT_LITERAL(b, "-");
        ns = -ns;
    }
    unsigned long long us = ((unsigned long long)ns + 500) / 1000;
    put_unsigned(b, us / 1000);
    if (b->end - b->p < 4) {
        b->cut = 1;
        return;
    }
    unsigned frac = (unsigned)(us % 1000);
    b->p[0] = '.';
    b->p[1] = (char)('0' + frac / 100);
    b->p[2] = (char)('0' + frac / 10 % 10);
    b->p[3] = (char)('0' + frac % 10);
    b->p += 4;
}

static void access_log_done(gw_req *r) {
    if (!r->cfg->access_log_on || !gw_log_enabled(GW_LOG_INFO)) return;
    char line[LINE_CAP];
    size_t prefix = gw_log_prefix(line, sizeof line, GW_LOG_INFO, "access");
    line_buf b = {line + prefix, line + sizeof line - 1, 0}; /* room for the newline */
    PUT_LITERAL(&b, ",\"request_id\":\"");
    put_string(&b, r->id);
    PUT_LITERAL(&b, "\",\"trace_id\":\"");
    put_string(&b, r->trace.trace_id);
    PUT_LITERAL(&b, "\",\"client\":\"");
    put_string(&b, r->client);
    if (r->tls)
        PUT_LITERAL(&b, "\",\"scheme\":\"https\",\"method\":\"POST\",\"path\":\"");
    else
        PUT_LITERAL(&b, "\",\"scheme\":\"http\",\"method\":\"POST\",\"path\":\"");
    put_string(&b, r->path);
    PUT_LITERAL(&b, "\",\"model\":\"");
    if (r->model_name) put_escaped(&b, r->model_name, r->model_name_len);
    PUT_LITERAL(&b, "\",\"served_model\":\"");
    if (r->target) put_escaped(&b, r->target->upstream_model, r->target->upstream_model_len);
    PUT_LITERAL(&b, "\",\"channel\":\"");
    if (r->channel) put_escaped(&b, r->channel->name, strlen(r->channel->name));
    PUT_LITERAL(&b, "\",\"attempts\":");
    put_unsigned(&b, r->attempt_count);
    if (r->stream)
        PUT_LITERAL(&b, ",\"stream\":true,\"status\":");
    else
        PUT_LITERAL(&b, ",\"stream\":false,\"status\":");
    put_signed(&b, r->status);
    PUT_LITERAL(&b, ",\"first_byte_ms\":");
    if (r->t_first_byte)
        put_ms(&b, r->t_first_byte - r->t_start);
    else
        PUT_LITERAL(&b, "-1.000");
    PUT_LITERAL(&b, ",\"total_ms\":");
    put_ms(&b, r->t_end - r->t_start);
    PUT_LITERAL(&b, ",\"bytes_in\":");
    put_unsigned(&b, (unsigned long long)r->bytes_in);
    PUT_LITERAL(&b, ",\"bytes_out\":");
    put_unsigned(&b, (unsigned long long)r->bytes_out);
    if (r->usage.known) { /* what metering will bill, as the engine reported it */
        PUT_LITERAL(&b, ",\"usage\":{\"prompt_tokens\":");
        put_signed(&b, (long long)r->usage.prompt_tokens);
        PUT_LITERAL(&b, ",\"completion_tokens\":");
        put_signed(&b, (long long)r->usage.completion_tokens);
        PUT_LITERAL(&b, ",\"cached_tokens\":");
        put_signed(&b, (long long)r->usage.cached_tokens);
        PUT_LITERAL(&b, ",\"reasoning_tokens\":");
        put_signed(&b, (long long)r->usage.reasoning_tokens);
        PUT_LITERAL(&b, "},\"error\":");
    } else {
        PUT_LITERAL(&b, ",\"usage\":null,\"error\":");
    }
    if (r->error_code) {
        PUT_LITERAL(&b, "\"");
        put_string(&b, r->error_code);
        PUT_LITERAL(&b, "\"}");
    } else {
        PUT_LITERAL(&b, "null}");
    }
    if (b.cut) return; /* cannot happen: fields bounded */
    *b.p++ = '\n';
    gw_log_write_line(line, (size_t)(b.p - line));
}

void gw_access_log_plain(const gw_http_req *req, int health_probe) {
    gw_log_level level = health_probe ? GW_LOG_DEBUG : GW_LOG_INFO;
    if (req->access_logged || !gw_log_enabled(level)) return;
    char line[LINE_CAP], path[NAME_CAP] = "";
    if (req->path) gw_json_escape(path, sizeof path, req->path, req->path_len);
    double total_ms = (double)(gw_now_ns() - req->start_ns) / 1e6;
    size_t prefix = gw_log_prefix(line, sizeof line, level, "access");
    int n = snprintf(line + prefix, sizeof line - prefix,
                     ",\"request_id\":null,\"client\":\"%s\",\"scheme\":\"%s\",\"method\":\"%s\","
                     "\"path\":\"%s\",\"status\":%d,\"total_ms\":%.3f,\"bytes_in\":%zu,"
                     "\"bytes_out\":%llu,\"error\":null}\n",
                     req->peer ? req->peer : "", req->is_tls ? "https" : "http",
                     req->method_name ? req->method_name : "-", path, req->status, total_ms,
                     req->body ? evbuffer_get_length(req->body) : 0,
                     (unsigned long long)req->bytes_out);
    if (n <= 0 || prefix + (size_t)n >= sizeof line) return;
    gw_log_write_line(line, prefix + (size_t)n);
}

const gw_filter_ops gw_filter_access_log = {
    .name = "access_log",
    .on_done = access_log_done,
};
