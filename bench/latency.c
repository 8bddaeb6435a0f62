/* Latency at one connection, for bench/compare.sh: sends REQUESTS chat completions one after
 * another on one kept-alive HTTP/1.1 connection (the body bench/chat.lua sends without
 * streaming), times each from the first byte written to the last byte of the answer read, and
 * prints one JSON line with the percentiles in microseconds. WARMUP requests go first on the same
 * connection and are not counted, so a round measures a connection in its steady state (its
 * pooled upstream connection made, its caches warm), not its first requests.
 * A fixed count, not a duration: every round of every target has the same number of samples,
 * so its p99 is the same rank. Blocking sockets, one request in flight, everything bounded (the
 * answer's head, its body, a 5 s receive timeout).
 * Build: cc -O2 -o latency bench/latency.c
 * Usage: latency --port P [--host 127.0.0.1] [--path /v1/chat/completions] [--model M]
 *                [--requests 2000] [--warmup 200] */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

enum { MAX_REQUESTS = 1000000, BUF_MAX = 1 << 20, RECV_TIMEOUT_S = 5 };

static struct {
    const char *host, *path, *model, *bearer;
    int port, requests, warmup;
} opt = {"127.0.0.1", "/v1/chat/completions", "sim-model", NULL, 0, 2000, 200};

static struct sockaddr_in addr;
static char request[4096];
static size_t request_len;
static char buf[BUF_MAX];
static size_t buf_len;
static int reconnects;

static double now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int connect_once(void) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct timeval tv = {RECV_TIMEOUT_S, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (connect(fd, (const struct sockaddr *)&addr, sizeof addr) < 0) {
        close(fd);
        return -1;
    }
    buf_len = 0;
    return fd;
}

/* Reads more of the answer into buf; 0 on end of stream, timeout or error, or a full buffer. */
static int read_more(int fd) {
    if (buf_len == BUF_MAX) return 0;
    for (;;) {
        ssize_t n = read(fd, buf + buf_len, BUF_MAX - buf_len);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return 0;
        buf_len += (size_t)n;
        return 1;
    }
}

static const char *find(const char *from, const char *to, const char *needle) {
    return memmem(from, (size_t)(to - from), needle, strlen(needle));
}

/* One answer: 1 with its status and whether the server keeps the connection, 0 if it broke.
 * The body is Content-Length long or chunked; whatever follows it stays in buf (none is
 * expected: one request at a time). */
static int read_answer(int fd, int *status, int *keep) {
    const char *end;
    while (!(end = find(buf, buf + buf_len, "\r\n\r\n")))
        if (!read_more(fd)) return 0;
    size_t head_len = (size_t)(end + 4 - buf);
    *status = buf_len > 12 ? atoi(buf + 9) : 0;
    long content_length = -1;
    int chunked = 0;
    *keep = 1;
    for (const char *h = find(buf, end, "\r\n"); h && h < end; h = find(h + 2, end + 2, "\r\n")) {
        const char *line = h + 2;
        if (!strncasecmp(line, "content-length:", 15)) content_length = atol(line + 15);
        if (!strncasecmp(line, "transfer-encoding:", 18) && find(line, end, "chunked")) chunked = 1;
        if (!strncasecmp(line, "connection:", 11) && !strncasecmp(line + 11, " close", 6))
            *keep = 0;
    }
    size_t at = head_len; /* where the body, or the next chunk's size line, starts */
    if (chunked) {
        for (;;) {
            const char *eol;
            while (!(eol = find(buf + at, buf + buf_len, "\r\n")))
                if (!read_more(fd)) return 0;
            long size = strtol(buf + at, NULL, 16);
            if (size < 0 || size > BUF_MAX) return 0;
            at = (size_t)(eol + 2 - buf) + (size_t)size + 2; /* data and its CRLF */
            while (buf_len < at)
                if (!read_more(fd)) return 0;
            if (size == 0) break; /* no trailers from these servers: "0\r\n\r\n" */
        }
    } else if (content_length >= 0) {
        if (content_length > BUF_MAX) return 0;
        at += (size_t)content_length;
        while (buf_len < at)
            if (!read_more(fd)) return 0;
    } else {
        return 0; /* a close-delimited body: not what these servers send to a keep-alive request */
    }
    memmove(buf, buf + at, buf_len - at);
    buf_len -= at;
    return 1;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double pct(const double *v, int n, double p) {
    if (!n) return -1;
    return v[(int)(p * (double)(n - 1) + 0.5)];
}

static int parse_args(int argc, char **argv) {
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *k = argv[i], *v = argv[i + 1];
        if (!strcmp(k, "--host"))
            opt.host = v;
        else if (!strcmp(k, "--port"))
            opt.port = atoi(v);
        else if (!strcmp(k, "--path"))
            opt.path = v;
        else if (!strcmp(k, "--model"))
            opt.model = v;
        else if (!strcmp(k, "--requests"))
            opt.requests = atoi(v);
        else if (!strcmp(k, "--warmup"))
            opt.warmup = atoi(v);
        else if (!strcmp(k, "--bearer"))
            opt.bearer = v;
        else
            return -1;
    }
    if (argc % 2 == 0) return -1;
    return opt.port > 0 && opt.requests > 0 && opt.requests <= MAX_REQUESTS && opt.warmup >= 0 &&
                   opt.warmup <= MAX_REQUESTS && strlen(opt.model) < 200 &&
                   strlen(opt.path) < 500 && (!opt.bearer || strlen(opt.bearer) < 200)
               ? 0
               : -1;
}

int main(int argc, char **argv) {
    if (parse_args(argc, argv) < 0) {
        fprintf(stderr,
                "usage: latency --port P [--host H] [--path P] [--model M] "
                "[--requests 2000 (1..%d)] [--warmup 200] [--bearer API_KEY]\n",
                MAX_REQUESTS);
        return 2;
    }
    addr.sin_family = AF_INET;
    addr.sin_port = htons((unsigned short)opt.port);
    if (inet_pton(AF_INET, opt.host, &addr.sin_addr) != 1) {
        fprintf(stderr, "latency: --host must be an IPv4 address\n");
        return 2;
    }
    /* bench/chat.lua's body with STREAM unset: about 1 KB, 16 tokens */
    char words[34 * 27 + 1] = "";
    for (int i = 0; i < 34; i++)
        strcat(words, "lorem ipsum dolor sit amet ");
    char body[2048];
    int body_len =
        snprintf(body, sizeof body,
                 "{\"model\":\"%s\",\"max_tokens\":16,\"messages\":[{\"role\":\"system\","
                 "\"content\":\"You are a helpful assistant that answers briefly.\"},"
                 "{\"role\":\"user\",\"content\":\"%s\"}]}",
                 opt.model, words);
    request_len = (size_t)snprintf(request, sizeof request,
                                   "POST %s HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: "
                                   "application/json\r\nContent-Length: %d\r\n%s%s%s\r\n%s",
                                   opt.path, opt.host, opt.port, body_len,
                                   opt.bearer ? "Authorization: Bearer " : "",
                                   opt.bearer ? opt.bearer : "", opt.bearer ? "\r\n" : "", body);
    double *lat_us = malloc((size_t)opt.requests * sizeof *lat_us);
    if (!lat_us) {
        fprintf(stderr, "latency: out of memory\n");
        return 1;
    }
    int fd = connect_once(), errors = 0, not_ok = 0, counted = 0;
    for (int i = 0; i < opt.warmup + opt.requests; i++) {
        if (fd < 0) {
            fprintf(stderr, "latency: cannot connect to %s:%d\n", opt.host, opt.port);
            free(lat_us);
            return 1;
        }
        double t0 = now_us();
        int status = 0, keep = 0;
        int ok = write(fd, request, request_len) == (ssize_t)request_len &&
                 read_answer(fd, &status, &keep);
        double t = now_us() - t0;
        if (!ok) errors++;
        if (ok && status != 200) not_ok++;
        if (ok && i >= opt.warmup) lat_us[counted++] = t;
        if (!ok || !keep) {
            close(fd);
            fd = connect_once();
            reconnects++;
        }
        if (errors > 10) break; /* the target is broken, not slow: say so rather than spin */
    }
    if (fd >= 0) close(fd);
    qsort(lat_us, (size_t)counted, sizeof *lat_us, cmp_double);
    double sum = 0;
    for (int i = 0; i < counted; i++)
        sum += lat_us[i];
    printf("{\"requests\":%d,\"errors\":%d,\"not_ok_status\":%d,\"reconnects\":%d,"
           "\"mean_us\":%.1f,\"p50_us\":%.1f,\"p90_us\":%.1f,\"p99_us\":%.1f,\"max_us\":%.1f}\n",
           counted, errors, not_ok, reconnects, counted ? sum / counted : -1,
           pct(lat_us, counted, 0.5), pct(lat_us, counted, 0.9), pct(lat_us, counted, 0.99),
           counted ? lat_us[counted - 1] : -1);
    free(lat_us);
    return errors ? 1 : 0;
}
