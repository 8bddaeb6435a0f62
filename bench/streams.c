/* Many concurrent SSE streams from one thread (epoll), for bench/compare.sh: opens N chat
 * streams of EVENTS tokens each (the simulator's x-sim-inter-token-ms spaces them), at most RAMP
 * new connections every 10 ms, and reports as one JSON line how many completed, how many stalled
 * (the first event, or a gap between two events, later than --stall-ms), and the first-event
 * time and inter-event gap percentiles. Everything is bounded: N, the header and event buffers,
 * and the run's deadline.
 * One process holds one descriptor per stream, so past its RLIMIT_NOFILE the caller runs several
 * (each with --dump FILE, a binary record of its counts and samples) and merges them with
 * --merge FILE...: the same JSON line as one process would print for all the streams.
 * Build: cc -O2 -o streams bench/streams.c
 * Usage: streams --port P [--host 127.0.0.1] [--path /v1/chat/completions] [--model M]
 *                --streams N [--events 32] [--interval-ms 100] [--ramp 100] [--stall-ms 1000]
 *                [--timeout-s 60] [--dump FILE]
 *        streams --merge FILE... */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum {
    MAX_STREAMS = 100000,
    MAX_EVENTS = 10000,
    HEAD_MAX = 8192,
    EVENT_MAX = 4096,
    MAX_PARTS = 64 /* --merge: files of one run */
};

typedef enum { S_IDLE, S_CONNECTING, S_HEAD, S_BODY, S_DONE } state;
typedef enum { C_SIZE, C_SIZE_EXT, C_SIZE_LF, C_DATA, C_DATA_CR, C_DATA_LF, C_END } chunk_state;

typedef struct stream {
    int fd;
    state st;
    double t_start, t_first, t_last;
    int events, status, chunked, saw_done, saw_error, stalled_first, stalled_gap;
    int no_fd; /* socket() failed for want of a descriptor: the client's limit, not the target's */
    double max_gap;
    char head[HEAD_MAX];
    size_t head_len;
    chunk_state cs;
    size_t chunk_left;
    char last; /* the previous body byte that was not '\r' */
    char event[EVENT_MAX];
    size_t event_len;
} stream;

static struct {
    const char *host, *path, *model, *dump, *bearer;
    int port, streams, events, interval_ms, ramp, stall_ms, timeout_s;
} opt = {"127.0.0.1", "/v1/chat/completions", "sim-model", NULL, NULL, 0, 0, 32, 100, 100, 1000,
         60};

/* A run's outcome: what one process measured, or the sum of several (--merge). */
typedef struct {
    int64_t streams, completed, failed, timed_out, stalled, stalled_first, stalled_gap, events;
    int64_t not_ok_status; /* an answer other than 200 (a proxy's 503 over its connection cap) */
    int64_t no_answer;     /* connect refused or reset, closed before a response head */
    int64_t client_no_fd;  /* socket() ran out of descriptors in the client */
    int64_t first_count, gap_count;
    double wall_ms;
} outcome;

static stream *streams;
static double *gaps, *firsts;
static size_t gap_count, gap_cap, first_count;
static int open_count, done_count;
static char request[2048];
static size_t request_len;
static int ep;

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void finish(stream *s) {
    if (s->st == S_DONE) return;
    if (s->fd >= 0) close(s->fd);
    s->fd = -1;
    s->st = S_DONE;
    open_count--;
    done_count++;
}

static void on_event(stream *s) {
    double t = now_ms();
    if (s->events == 0) {
        s->t_first = t - s->t_start;
        firsts[first_count++] = s->t_first;
        if (s->t_first > opt.stall_ms) s->stalled_first = 1;
    } else {
        double gap = t - s->t_last;
        if (gap_count < gap_cap) gaps[gap_count++] = gap;
        if (gap > s->max_gap) s->max_gap = gap;
        if (gap > opt.stall_ms) s->stalled_gap = 1;
    }
    s->t_last = t;
    s->events++;
    if (memmem(s->event, s->event_len, "[DONE]", 6)) s->saw_done = 1;
    if (memmem(s->event, s->event_len, "\"error\"", 7)) s->saw_error = 1;
    s->event_len = 0;
}

/* SSE bytes: an event ends at an empty line */
static void body_bytes(stream *s, const char *p, size_t n) {
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (s->event_len < EVENT_MAX) s->event[s->event_len++] = c;
        if (c == '\r') continue;
        if (c == '\n' && s->last == '\n') {
            on_event(s);
            s->last = 0;
            continue;
        }
        s->last = c;
    }
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    c = (char)(c | 0x20);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Chunked transfer coding, decoded as it comes; 1 at the last chunk. */
static int chunked_bytes(stream *s, const char *p, size_t n) {
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        switch (s->cs) {
        case C_SIZE:
            if (hexval(c) >= 0) {
                s->chunk_left = s->chunk_left * 16 + (size_t)hexval(c);
            } else if (c == '\r' || c == ';') {
                s->cs = c == ';' ? C_SIZE_EXT : C_SIZE_LF;
            } else if (c == '\n') {
                if (s->chunk_left == 0) return 1;
                s->cs = C_DATA;
            }
            break;
        case C_SIZE_EXT:
            if (c == '\n') {
                if (s->chunk_left == 0) return 1;
                s->cs = C_DATA;
            }
            break;
        case C_SIZE_LF:
            if (s->chunk_left == 0) return 1;
            s->cs = C_DATA;
            break;
        case C_DATA: {
            size_t take = n - i < s->chunk_left ? n - i : s->chunk_left;
            body_bytes(s, p + i, take);
            s->chunk_left -= take;
            i += take - 1;
            if (s->chunk_left == 0) s->cs = C_DATA_CR;
            break;
        }
        case C_DATA_CR:
            s->cs = C_DATA_LF;
            break;
        case C_DATA_LF:
            s->cs = C_SIZE;
            s->chunk_left = 0;
            break;
        case C_END:
            return 1;
        }
    }
    return 0;
}

static void on_readable(stream *s) {
    char buf[65536];
    for (;;) {
        ssize_t n = read(s->fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) return;
        if (n <= 0) { /* closed: the end of a close-delimited body, or a cut stream */
            finish(s);
            return;
        }
        const char *p = buf;
        size_t len = (size_t)n;
        if (s->st == S_HEAD) {
            size_t room = HEAD_MAX - 1 - s->head_len, take = len < room ? len : room;
            memcpy(s->head + s->head_len, p, take);
            s->head_len += take;
            s->head[s->head_len] = '\0';
            char *end = strstr(s->head, "\r\n\r\n");
            if (!end) {
                if (s->head_len == HEAD_MAX - 1) finish(s);
                continue;
            }
            s->status = atoi(s->head + 9);
            *end = '\0';
            for (char *h = strstr(s->head, "\r\n"); h; h = strstr(h + 2, "\r\n"))
                if (!strncasecmp(h + 2, "transfer-encoding:", 18) && strcasestr(h + 20, "chunked"))
                    s->chunked = 1;
            size_t used = (size_t)(end + 4 - s->head) - (s->head_len - take);
            p += used;
            len -= used;
            s->st = S_BODY;
        }
        if (s->chunked) {
            if (chunked_bytes(s, p, len)) {
                finish(s);
                return;
            }
        } else {
            body_bytes(s, p, len);
        }
    }
}

static void start_one(stream *s, const struct sockaddr_in *addr) {
    s->t_start = now_ms();
    s->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    open_count++;
    if (s->fd < 0) {
        s->no_fd = errno == EMFILE || errno == ENFILE;
        finish(s);
        return;
    }
    int one = 1;
    setsockopt(s->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(s->fd, (const struct sockaddr *)addr, sizeof *addr) < 0 && errno != EINPROGRESS) {
        finish(s);
        return;
    }
    s->st = S_CONNECTING;
    struct epoll_event ev = {.events = EPOLLOUT | EPOLLIN, .data.ptr = s};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, s->fd, &ev) < 0) finish(s);
}

static void on_writable(stream *s) {
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err || write(s->fd, request, request_len) != (ssize_t)request_len) {
        finish(s);
        return;
    }
    s->st = S_HEAD;
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = s};
    epoll_ctl(ep, EPOLL_CTL_MOD, s->fd, &ev);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double pct(const double *v, int64_t n, double p) {
    if (!n) return -1;
    int64_t i = (int64_t)(p * (double)(n - 1) + 0.5);
    return v[i];
}

/* Sorts the samples and prints the run's JSON line. */
static void print_outcome(const outcome *o, double *first_ms, double *gap_ms) {
    qsort(gap_ms, (size_t)o->gap_count, sizeof *gap_ms, cmp_double);
    qsort(first_ms, (size_t)o->first_count, sizeof *first_ms, cmp_double);
    printf("{\"streams\":%lld,\"completed\":%lld,\"failed\":%lld,\"timed_out\":%lld,"
           "\"not_ok_status\":%lld,\"no_answer\":%lld,\"client_no_fd\":%lld,\"stalled\":%lld,"
           "\"stalled_first\":%lld,\"stalled_gap\":%lld,\"events\":%lld,"
           "\"first_event_ms\":{\"p50\":%.1f,\"p99\":%.1f,\"max\":%.1f},"
           "\"gap_ms\":{\"p50\":%.1f,\"p99\":%.1f,\"max\":%.1f},\"wall_ms\":%.0f}\n",
           (long long)o->streams, (long long)o->completed, (long long)o->failed,
           (long long)o->timed_out, (long long)o->not_ok_status, (long long)o->no_answer,
           (long long)o->client_no_fd, (long long)o->stalled, (long long)o->stalled_first,
           (long long)o->stalled_gap, (long long)o->events, pct(first_ms, o->first_count, 0.5),
           pct(first_ms, o->first_count, 0.99), o->first_count ? first_ms[o->first_count - 1] : -1,
           pct(gap_ms, o->gap_count, 0.5), pct(gap_ms, o->gap_count, 0.99),
           o->gap_count ? gap_ms[o->gap_count - 1] : -1, o->wall_ms);
}

static const char DUMP_MAGIC[8] = "aigwst01";

/* --dump: the outcome, then its first-event times and its gaps, as this machine stores them
 * (the file never leaves the run that wrote it). */
static int dump_outcome(const char *path, const outcome *o, const double *first_ms,
                        const double *gap_ms) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    int ok =
        fwrite(DUMP_MAGIC, sizeof DUMP_MAGIC, 1, f) == 1 && fwrite(o, sizeof *o, 1, f) == 1 &&
        fwrite(first_ms, sizeof *first_ms, (size_t)o->first_count, f) == (size_t)o->first_count &&
        fwrite(gap_ms, sizeof *gap_ms, (size_t)o->gap_count, f) == (size_t)o->gap_count;
    return fclose(f) == 0 && ok ? 0 : -1;
}

/* --merge: sums the parts' counts and pools their samples, so the percentiles are those of
 * every stream of the run. Each part's counts are checked against the bounds one process has. */
static int merge(int count, char **paths) {
    if (count < 1 || count > MAX_PARTS) {
        fprintf(stderr, "streams: --merge takes 1 to %d files\n", MAX_PARTS);
        return 2;
    }
    const int64_t max_gaps = (int64_t)MAX_STREAMS * (MAX_EVENTS + 8);
    outcome total = {0};
    double *first_ms = NULL, *gap_ms = NULL;
    for (int pass = 0; pass < 2; pass++) { /* counts first, then the samples into one array */
        int64_t firsts_at = 0, gaps_at = 0;
        for (int i = 0; i < count; i++) {
            FILE *f = fopen(paths[i], "rb");
            char magic[sizeof DUMP_MAGIC];
            outcome o;
            int ok = f && fread(magic, sizeof magic, 1, f) == 1 &&
                     !memcmp(magic, DUMP_MAGIC, sizeof magic) && fread(&o, sizeof o, 1, f) == 1 &&
                     o.streams > 0 && o.streams <= MAX_STREAMS && o.first_count >= 0 &&
                     o.first_count <= o.streams && o.gap_count >= 0 && o.gap_count <= max_gaps;
            if (ok && pass == 1)
                ok = fread(first_ms + firsts_at, sizeof *first_ms, (size_t)o.first_count, f) ==
                         (size_t)o.first_count &&
                     fread(gap_ms + gaps_at, sizeof *gap_ms, (size_t)o.gap_count, f) ==
                         (size_t)o.gap_count;
            if (f) fclose(f);
            if (!ok) {
                fprintf(stderr, "streams: %s is not a complete --dump file\n", paths[i]);
                free(first_ms);
                free(gap_ms);
                return 1;
            }
            firsts_at += o.first_count;
            gaps_at += o.gap_count;
            if (pass == 1) continue;
            total.streams += o.streams;
            total.completed += o.completed;
            total.failed += o.failed;
            total.timed_out += o.timed_out;
            total.not_ok_status += o.not_ok_status;
            total.no_answer += o.no_answer;
            total.client_no_fd += o.client_no_fd;
            total.stalled += o.stalled;
            total.stalled_first += o.stalled_first;
            total.stalled_gap += o.stalled_gap;
            total.events += o.events;
            total.first_count += o.first_count;
            total.gap_count += o.gap_count;
            if (o.wall_ms > total.wall_ms) total.wall_ms = o.wall_ms;
        }
        if (pass == 0) {
            first_ms = malloc((size_t)(total.first_count + 1) * sizeof *first_ms);
            gap_ms = malloc((size_t)(total.gap_count + 1) * sizeof *gap_ms);
            if (!first_ms || !gap_ms) {
                fprintf(stderr, "streams: out of memory\n");
                free(first_ms);
                free(gap_ms);
                return 1;
            }
        }
    }
    print_outcome(&total, first_ms, gap_ms);
    free(first_ms);
    free(gap_ms);
    return 0;
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
        else if (!strcmp(k, "--streams"))
            opt.streams = atoi(v);
        else if (!strcmp(k, "--events"))
            opt.events = atoi(v);
        else if (!strcmp(k, "--interval-ms"))
            opt.interval_ms = atoi(v);
        else if (!strcmp(k, "--ramp"))
            opt.ramp = atoi(v);
        else if (!strcmp(k, "--stall-ms"))
            opt.stall_ms = atoi(v);
        else if (!strcmp(k, "--timeout-s"))
            opt.timeout_s = atoi(v);
        else if (!strcmp(k, "--dump"))
            opt.dump = v;
        else if (!strcmp(k, "--bearer"))
            opt.bearer = v;
        else
            return -1;
    }
    if (argc % 2 == 0) return -1;
    return opt.port > 0 && opt.streams > 0 && opt.streams <= MAX_STREAMS && opt.events > 0 &&
                   opt.events <= MAX_EVENTS && opt.ramp > 0 && strlen(opt.model) < 200 &&
                   strlen(opt.path) < 500 && (!opt.bearer || strlen(opt.bearer) < 200)
               ? 0
               : -1;
}

int main(int argc, char **argv) {
    if (argc >= 2 && !strcmp(argv[1], "--merge")) return merge(argc - 2, argv + 2);
    if (parse_args(argc, argv) < 0) {
        fprintf(stderr,
                "usage: streams --port P --streams N (1..%d) [--host H] [--path P] "
                "[--model M] [--events 32] [--interval-ms 100] [--ramp 100] "
                "[--stall-ms 1000] [--timeout-s 60] [--dump FILE] [--bearer API_KEY]\n"
                "       streams --merge FILE...\n",
                MAX_STREAMS);
        return 2;
    }
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    char body[512];
    int body_len = snprintf(body, sizeof body,
                            "{\"model\":\"%s\",\"stream\":true,\"max_tokens\":%d,\"messages\":"
                            "[{\"role\":\"user\",\"content\":\"stream please\"}]}",
                            opt.model, opt.events);
    request_len = (size_t)snprintf(request, sizeof request,
                                   "POST %s HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: "
                                   "application/json\r\nContent-Length: %d\r\n"
                                   "x-sim-inter-token-ms: %d\r\nConnection: close\r\n%s%s%s\r\n%s",
                                   opt.path, opt.host, opt.port, body_len, opt.interval_ms,
                                   opt.bearer ? "Authorization: Bearer " : "",
                                   opt.bearer ? opt.bearer : "", opt.bearer ? "\r\n" : "", body);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)opt.port)};
    if (inet_pton(AF_INET, opt.host, &addr.sin_addr) != 1) {
        fprintf(stderr, "streams: --host must be an IPv4 address\n");
        return 2;
    }
    streams = calloc((size_t)opt.streams, sizeof *streams);
    gap_cap = (size_t)opt.streams * (size_t)(opt.events + 8);
    gaps = malloc(gap_cap * sizeof *gaps);
    firsts = malloc((size_t)opt.streams * sizeof *firsts);
    ep = epoll_create1(EPOLL_CLOEXEC);
    if (!streams || !gaps || !firsts || ep < 0) {
        fprintf(stderr, "streams: out of memory\n");
        return 1;
    }
    for (int i = 0; i < opt.streams; i++)
        streams[i].fd = -1;
    double t0 = now_ms(), next_tick = t0;
    double deadline = t0 + (double)opt.streams / opt.ramp * 10 +
                      (double)opt.events * opt.interval_ms + opt.timeout_s * 1000.0;
    int started = 0;
    struct epoll_event evs[512];
    while (done_count < opt.streams && now_ms() < deadline) {
        double t = now_ms();
        if (started < opt.streams && t >= next_tick) {
            for (int k = 0; k < opt.ramp && started < opt.streams; k++)
                start_one(&streams[started++], &addr);
            next_tick += 10;
        }
        int wait = started < opt.streams ? (int)(next_tick - now_ms()) : 100;
        int n = epoll_wait(ep, evs, 512, wait < 0 ? 0 : wait);
        for (int i = 0; i < n; i++) {
            stream *s = evs[i].data.ptr;
            if (s->st == S_CONNECTING && (evs[i].events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
                on_writable(s);
            else if (s->st == S_HEAD || s->st == S_BODY)
                on_readable(s);
        }
    }
    outcome o = {.streams = opt.streams};
    for (int i = 0; i < opt.streams; i++) {
        stream *s = &streams[i];
        if (s->st != S_DONE) {
            o.timed_out++;
            if (s->fd >= 0) close(s->fd);
        }
        o.events += s->events;
        int ok = s->st == S_DONE && s->status == 200 && s->saw_done && !s->saw_error;
        if (ok)
            o.completed++;
        else
            o.failed++;
        if (s->no_fd)
            o.client_no_fd++;
        else if (s->status == 0 && s->st == S_DONE)
            o.no_answer++;
        else if (s->status != 0 && s->status != 200)
            o.not_ok_status++;
        if (s->stalled_first || s->stalled_gap) o.stalled++;
        o.stalled_first += s->stalled_first;
        o.stalled_gap += s->stalled_gap;
    }
    o.first_count = (int64_t)first_count;
    o.gap_count = (int64_t)gap_count;
    o.wall_ms = now_ms() - t0;
    int rc = 0;
    if (opt.dump) {
        if (dump_outcome(opt.dump, &o, firsts, gaps) < 0) {
            fprintf(stderr, "streams: cannot write %s\n", opt.dump);
            rc = 1;
        }
    } else {
        print_outcome(&o, firsts, gaps);
    }
    free(streams);
    free(gaps);
    free(firsts);
    close(ep);
    return rc;
}
