/* Log lines leave the worker threads through lock-free rings to one writer thread, so a request
 * never waits on a disk or a pipe and many lines go out in one system call.
 *
 * Each thread that logs owns a ring (single producer, the writer the single consumer): a line
 * is copied in whole, then the ring's head is published, so the writer only ever sees whole
 * lines and needs no framing. The writer gathers every ring's queued bytes into one writev,
 * then advances the tails. A thread's ring is claimed at its first line (under a mutex, once per
 * thread) and handed to a later thread when it exits. A full ring drops the line and counts it:
 * a slow disk must not block requests or grow memory.
 *
 * The writer polls every FLUSH_MS while lines come, so under load a worker makes no system call
 * for its log at all; after IDLE_POLLS empty polls it sleeps on a futex, and the next line wakes
 * it (one wake per quiet spell). A ring past half full wakes it at once. */
#include "core/log_writer.h"

#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"

enum {
    /* per thread: ~2,400 access lines, 100 ms of a worker at 24,000 requests/s. The writer
     * thread must get a core within that: on a saturated box (wrk, the upstream and both
     * workers on two cores) 256 KB, 28 ms of lines, overflowed and lines were dropped. Touched
     * only as lines pass, so idle it is not resident. */
    RING_BYTES = 1024 * 1024,
    MAX_RINGS = 64, /* threads beyond write their lines themselves */
    MAX_LINE = 64 * 1024,
    FLUSH_MS = 10,
    IDLE_POLLS = 10,
    DROP_REPORT_MS = 1000,
};

typedef struct ring {
    _Alignas(64) atomic_size_t head; /* written by the owner thread */
    _Alignas(64) atomic_size_t tail; /* written by the writer */
    atomic_int owned;                /* a live thread pushes into it */
    char *buf;
} ring;

static _Atomic(ring *) rings[MAX_RINGS];
static atomic_int ring_count;
static pthread_mutex_t claim_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_key_t ring_key;
static pthread_once_t ring_key_once = PTHREAD_ONCE_INIT;

static atomic_int running;  /* pushes are taken */
static atomic_int stopping; /* drain what is queued, then exit */
static atomic_int sleeping; /* futex word: the writer waits for a line */
static atomic_int kicked;   /* futex word: wake before the flush interval ends */
static atomic_uint_fast64_t dropped;
static pthread_t writer_thread;
static int writer_fd = -1;

/* A thread keeps its ring until it exits (rings live as long as the process: a thread may
 * still hold one after a stop) */
static _Thread_local ring *my_ring;
static _Thread_local int my_ring_refused; /* every ring taken: this thread writes for itself */

static void futex_wait(atomic_int *word, int expected, const struct timespec *timeout) {
    syscall(SYS_futex, (int *)word, FUTEX_WAIT_PRIVATE, expected, timeout, NULL, 0);
}

static void futex_wake(atomic_int *word) {
    syscall(SYS_futex, (int *)word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

static void release_ring(void *r) {
    atomic_store_explicit(&((ring *)r)->owned, 0, memory_order_release);
}

static void make_key(void) {
    pthread_key_create(&ring_key, release_ring);
}

/* This thread's ring: an orphan of a thread that exited, or a new one. */
static ring *claim_ring(void) {
    pthread_once(&ring_key_once, make_key);
    ring *r = NULL;
    pthread_mutex_lock(&claim_lock);
    int n = atomic_load(&ring_count);
    for (int i = 0; i < n && !r; i++) {
        ring *candidate = atomic_load(&rings[i]);
        if (candidate && !atomic_load_explicit(&candidate->owned, memory_order_acquire))
            r = candidate;
    }
    if (!r && n < MAX_RINGS && (r = calloc(1, sizeof *r))) {
        if ((r->buf = malloc(RING_BYTES))) {
            atomic_store(&rings[n], r);
            atomic_store(&ring_count, n + 1);
        } else {
            free(r);
            r = NULL;
        }
    }
    if (r) atomic_store(&r->owned, 1);
    pthread_mutex_unlock(&claim_lock);
    if (r) pthread_setspecific(ring_key, r);
    return r;
}

static void wake_writer(void) {
    if (atomic_exchange(&sleeping, 0)) futex_wake(&sleeping);
}

static void kick_writer(void) {
    if (!atomic_exchange(&kicked, 1)) futex_wake(&kicked);
}

int gw_log_writer_push(const char *line, size_t len) {
    if (!atomic_load_explicit(&running, memory_order_acquire) || len > MAX_LINE) return 0;
    if (!my_ring) {
        if (my_ring_refused || !(my_ring = claim_ring())) {
            my_ring_refused = 1;
            return 0;
        }
    }
    ring *r = my_ring;
    size_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
    size_t tail = atomic_load_explicit(&r->tail, memory_order_acquire);
    if (RING_BYTES - (head - tail) < len) {
        atomic_fetch_add_explicit(&dropped, 1, memory_order_relaxed);
        kick_writer();
        return 1;
    }
    size_t at = head % RING_BYTES, first = RING_BYTES - at < len ? RING_BYTES - at : len;
    memcpy(r->buf + at, line, first);
    memcpy(r->buf, line + first, len - first);
    atomic_store_explicit(&r->head, head + len, memory_order_release);
    /* orders the head before the look at `sleeping`: the writer stores `sleeping` and then
     * looks at the heads, so one of the two sides sees the other */
    atomic_thread_fence(memory_order_seq_cst);
    if (atomic_load_explicit(&sleeping, memory_order_relaxed))
        wake_writer();
    else if (head + len - tail > RING_BYTES / 2)
        kick_writer();
    return 1;
}

static void write_all(const char *p, size_t len) {
    while (len > 0) {
        ssize_t n = write(writer_fd, p, len);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return;
        p += n;
        len -= (size_t)n;
    }
}

static size_t count_lines(const struct iovec *iov, int n) {
    size_t lines = 0;
    for (int i = 0; i < n; i++)
        for (const char *p = iov[i].iov_base, *end = p + iov[i].iov_len;
             (p = memchr(p, '\n', (size_t)(end - p))); p++)
            lines++;
    return lines;
}

/* Writes everything queued now, in one writev when the descriptor takes it whole; returns the
 * bytes taken off the rings. */
static size_t drain(void) {
    struct iovec iov[MAX_RINGS * 2];
    size_t heads[MAX_RINGS], total = 0;
    int n = 0, count = atomic_load(&ring_count);
    for (int i = 0; i < count; i++) {
        ring *r = atomic_load(&rings[i]);
        heads[i] = 0;
        if (!r) continue;
        size_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
        size_t head = atomic_load_explicit(&r->head, memory_order_acquire);
        heads[i] = head;
        if (head == tail) continue;
        size_t at = tail % RING_BYTES, len = head - tail;
        size_t first = RING_BYTES - at < len ? RING_BYTES - at : len;
        iov[n++] = (struct iovec){r->buf + at, first};
        if (len > first) iov[n++] = (struct iovec){r->buf, len - first};
        total += len;
    }
    if (total == 0) return 0;
    struct iovec *v = iov;
    int left = n;
    while (left > 0) {
        ssize_t w = writev(writer_fd, v, left);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) { /* the log cannot be written: these lines are lost, and counted */
            atomic_fetch_add_explicit(&dropped, count_lines(v, left), memory_order_relaxed);
            break;
        }
        size_t done = (size_t)w;
        while (left > 0 && done >= v->iov_len) {
            done -= v->iov_len;
            v++;
            left--;
        }
        if (left > 0) {
            v->iov_base = (char *)v->iov_base + done;
            v->iov_len -= done;
        }
    }
    for (int i = 0; i < count; i++) {
        ring *r = atomic_load(&rings[i]);
        if (r && heads[i]) atomic_store_explicit(&r->tail, heads[i], memory_order_release);
    }
    return total;
}

static int rings_empty(void) {
    int count = atomic_load(&ring_count);
    for (int i = 0; i < count; i++) {
        ring *r = atomic_load(&rings[i]);
        if (r && atomic_load(&r->head) != atomic_load(&r->tail)) return 0;
    }
    return 1;
}

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A warning of its own, at most once a second, when lines were dropped since the last one. */
static void report_drops(uint64_t *reported, int64_t *last_ms) {
    uint64_t total = atomic_load_explicit(&dropped, memory_order_relaxed);
    int64_t now = now_ms();
    if (total == *reported || now - *last_ms < DROP_REPORT_MS) return;
    char line[256];
    size_t n = gw_log_prefix(line, sizeof line, GW_LOG_WARN, "log_lines_dropped");
    n += (size_t)snprintf(line + n, sizeof line - n,
                          ",\"dropped\":%llu,\"total\":%llu,\"message\":\"the log could not keep "
                          "up; lines were dropped\"}\n",
                          (unsigned long long)(total - *reported), (unsigned long long)total);
    if (n < sizeof line) write_all(line, n);
    *reported = total;
    *last_ms = now;
}

static void *writer_main(void *arg) {
    (void)arg;
    int idle_polls = 0;
    uint64_t reported = 0;
    int64_t reported_ms = 0;
    for (;;) {
        size_t wrote = drain();
        if (gw_log_enabled(GW_LOG_WARN)) report_drops(&reported, &reported_ms);
        if (atomic_load(&stopping)) {
            if (!wrote) break;
            continue;
        }
        idle_polls = wrote ? 0 : idle_polls + 1;
        if (idle_polls > IDLE_POLLS) { /* quiet: sleep until a line comes */
            atomic_store(&sleeping, 1);
            if (rings_empty() && !atomic_load(&stopping)) futex_wait(&sleeping, 1, NULL);
            atomic_store(&sleeping, 0);
            idle_polls = 0;
            continue;
        }
        atomic_store(&kicked, 0);
        struct timespec pause = {0, FLUSH_MS * 1000000L};
        if (!atomic_load(&stopping)) futex_wait(&kicked, 0, &pause);
    }
    return NULL;
}

int gw_log_writer_start(int fd) {
    if (atomic_load(&running)) return 0;
    writer_fd = fd;
    atomic_store(&stopping, 0);
    if (pthread_create(&writer_thread, NULL, writer_main, NULL) != 0) return -1;
    pthread_setname_np(writer_thread, "aigw-log");
    /* a fair share of the cores, but no preemption of a worker when it wakes */
    pthread_setschedparam(writer_thread, SCHED_BATCH, &(struct sched_param){0});
    atomic_store_explicit(&running, 1, memory_order_release);
    return 0;
}

void gw_log_writer_stop(void) {
    if (!atomic_load(&running)) return;
    atomic_store(&running, 0); /* new lines are written by their threads again */
    atomic_store(&stopping, 1);
    atomic_store(&kicked, 1);
    futex_wake(&kicked);
    wake_writer();
    pthread_join(writer_thread, NULL);
    drain(); /* a line pushed while `running` flipped */
    uint64_t total = atomic_load(&dropped);
    if (total && gw_log_enabled(GW_LOG_WARN))
        gw_log_warn("log_lines_dropped", "\"total\":%llu,\"message\":\"the log could not keep up\"",
                    (unsigned long long)total);
}

uint64_t gw_log_dropped(void) {
    return atomic_load_explicit(&dropped, memory_order_relaxed);
}
