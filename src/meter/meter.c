#include "meter/meter.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "core/background_priority.h"
#include "core/clock.h"
#include "core/log.h"
#include "meter/record.h"
#include "meter/redact.h"
#include "meter/ring.h"
#include "meter/store.h"

enum {
    BUSY_WAIT_MS = 100,       /* one wait for a locked store, before the writer looks again */
    IDLE_WAKE_MS = 1000,      /* the longest sleep: retention and stop are checked this often */
    BUSY_LOG_EVERY_MS = 5000, /* a locked store is logged at most this often */
    /* A batch that is not full waits this long for more records before it is written: one
     * transaction costs the writer about as much as a hundred rows (SQLite's commit, its locks,
     * the rollups' upserts), and a writer woken for every record competed with the workers for
     * the cores. Records reach the store this much later at most; a full batch goes at once. */
    LINGER_MS = 10,
    /* After this long without a record the writer gives the memory a burst left behind back to
     * the system: the queue's slots and its own batch (up to 21 MiB and 1.4 MiB as shipped). A
     * queue that keeps busy reaches every slot within capacity records, so releasing sooner
     * would only fault the same pages in again, and a released page costs the push that next
     * reaches it a page fault on the worker: after a release each push faulted 1.5 pages, and
     * requests at one connection took 13-29 us longer at the median. At 1 s every pause in
     * the traffic of a second or more did that; 10 s is jemalloc's default decay for dirty
     * pages, and still brings RSS back well within a minute of a burst. */
    RELEASE_IDLE_MS = 10000,
    /* The writer is raised out of SCHED_IDLE (core/background_priority.h) once the queue holds
     * this share of its capacity: two batches behind, as shipped. */
    RAISE_AT_CAPACITY_DIVISOR = 8,
};

struct gw_meter {
    gw_ring *ring;
    int wake_fd;     /* eventfd the writer sleeps on */
    atomic_int idle; /* the writer is (about to be) asleep: the next producer wakes it */
    atomic_int stopping;
    _Atomic int64_t stop_deadline_ns;
    atomic_uint_fast64_t dropped, written, failed, batches, retained, store_busy;
    /* retention, changed by a reload and read by the writer */
    atomic_int retention_days, minute_rollup_days, retention_interval_ms;
    _Atomic int64_t retention_max_mb;
    pthread_t thread;
    int thread_started;
    gw_background_priority priority; /* the writer's: idle while it keeps up */
    size_t raise_depth;              /* queued records that raise it */
    gw_meter_store *store;           /* the backend's write connection (meter/store.h) */
    gw_request_record *batch; /* the writer's: records taken from the queue, not yet written */
    uint32_t batch_cap;
    size_t batch_bytes; /* mapped on its own, so that its pages can be released */
    /* the writer's scratch for redactors of this kind (one kind is built today) */
    const gw_capture_redactor_ops *scratch_ops;
    void *scratch;
    int64_t redact_failed_logged_ns;
    char *path;
};

static void free_captures(gw_request_record *recs, size_t n) {
    for (size_t i = 0; i < n; i++)
        gw_record_free_capture(&recs[i].capture);
}

int gw_meter_submit(gw_meter *m, const gw_request_record *rec) {
    if (!m) {
        gw_capture c = rec->capture;
        gw_record_free_capture(&c);
        return -1;
    }
    if (gw_ring_push_bytes(m->ring, rec, gw_record_used_bytes(rec)) < 0) {
        gw_capture c = rec->capture;
        gw_record_free_capture(&c);
        atomic_fetch_add_explicit(&m->dropped, 1, memory_order_relaxed);
        return -1;
    }
    /* Dekker with the writer's sleep: the push is visible before idle is read, and the writer
     * sets idle before it looks at the queue a last time, so one of the two sees the other.
     * The same with its priority flag (caught_up). */
    atomic_thread_fence(memory_order_seq_cst);
    /* A writer that has fallen behind is raised to catch up (one producer makes the call,
     * once); until then it runs only where a core has nothing else to do. */
    if (!gw_background_priority_is_raised(&m->priority) && gw_ring_depth(m->ring) >= m->raise_depth)
        gw_background_priority_raise(&m->priority);
    if (atomic_load_explicit(&m->idle, memory_order_relaxed) &&
        atomic_exchange_explicit(&m->idle, 0, memory_order_relaxed)) {
        uint64_t one = 1;
        ssize_t w = write(m->wake_fd, &one, sizeof one); /* nonblocking; cannot overflow */
        (void)w;
    }
    return 0;
}

void gw_meter_get_stats(const gw_meter *m, gw_meter_stats *out) {
    memset(out, 0, sizeof *out);
    if (!m) return;
    out->submitted = gw_ring_pushed(m->ring);
    out->dropped = atomic_load_explicit(&m->dropped, memory_order_relaxed);
    out->written = atomic_load_explicit(&m->written, memory_order_relaxed);
    out->failed = atomic_load_explicit(&m->failed, memory_order_relaxed);
    out->queue_depth = gw_ring_depth(m->ring);
    out->queue_capacity = gw_ring_capacity(m->ring);
    out->batches = atomic_load_explicit(&m->batches, memory_order_relaxed);
    out->retained = atomic_load_explicit(&m->retained, memory_order_relaxed);
    out->store_busy = atomic_load_explicit(&m->store_busy, memory_order_relaxed);
}

const char *gw_meter_store_path(const gw_meter *m) {
    return m ? m->path : NULL;
}

void gw_meter_set_retention(gw_meter *m, const gw_retention_conf *r) {
    if (!m || !r) return;
    atomic_store(&m->retention_days, r->days);
    atomic_store(&m->retention_max_mb, r->max_mb);
    atomic_store(&m->minute_rollup_days, r->minute_rollup_days);
    atomic_store(&m->retention_interval_ms, r->interval_ms > 0 ? r->interval_ms : 60000);
}

static void log_store_error(const char *event, const char *err, size_t records) {
    char esc[400];
    gw_json_escape(esc, sizeof esc, err, strlen(err));
    gw_log_error(event, "\"records\":%zu,\"reason\":\"%s\"", records, esc);
}

/* Masks a record's capture before it is stored, with the redactor its request's config gave
 * it. When that fails (memory), the capture is dropped: it is never stored unmasked. */
static void redact(gw_meter *m, gw_request_record *rec) {
    gw_capture *c = &rec->capture;
    gw_capture_redactor *rd = c->redactor;
    if (!rd) return;
    if (m->scratch_ops != rd->ops) {
        if (m->scratch) m->scratch_ops->scratch_free(m->scratch);
        m->scratch = rd->ops->scratch_new();
        m->scratch_ops = m->scratch ? rd->ops : NULL;
    }
    if (!m->scratch || rd->ops->redact(rd, m->scratch, c) < 0) {
        gw_record_free_capture(c);
        int64_t now = gw_now_ns();
        if (now - m->redact_failed_logged_ns >= (int64_t)BUSY_LOG_EVERY_MS * 1000000) {
            gw_log_error("meter_redact_failed",
                         "\"message\":\"out of memory masking a capture: stored without it\"");
            m->redact_failed_logged_ns = now;
        }
        return;
    }
    c->redactor = NULL;
    gw_capture_redactor_unref(rd);
}

/* Everything still queued when stop ran out of time: freed and counted as failed. */
static size_t discard_queue(gw_meter *m) {
    size_t n = 0;
    while (gw_ring_pop(m->ring, &m->batch[0]) == 0) {
        free_captures(&m->batch[0], 1);
        n++;
    }
    return n;
}

static int past_stop_deadline(gw_meter *m) {
    return atomic_load(&m->stopping) && gw_now_ns() >= atomic_load(&m->stop_deadline_ns);
}

/* One step of retention: 1 when more is left to delete. */
static int retain_step(gw_meter *m) {
    int64_t now_ms = gw_wall_ns() / 1000000;
    int days = atomic_load(&m->retention_days), minute_days = atomic_load(&m->minute_rollup_days);
    int64_t max_mb = atomic_load(&m->retention_max_mb);
    uint64_t deleted = 0;
    char err[300];
    int rc =
        m->store->ops->retain(m->store, days > 0 ? now_ms - (int64_t)days * 86400000 : 0,
                              max_mb > 0 ? max_mb * 1024 * 1024 : 0,
                              minute_days > 0 ? now_ms / 1000 - (int64_t)minute_days * 86400 : 0,
                              &deleted, err, sizeof err);
    if (deleted) {
        atomic_fetch_add_explicit(&m->retained, deleted, memory_order_relaxed);
        gw_log_debug("meter_retention", "\"deleted\":%llu", (unsigned long long)deleted);
    }
    if (rc == GW_METER_STORE_ERROR) log_store_error("meter_retention_failed", err, 0);
    return rc == 1;
}

/* Sleeps until a producer writes the eventfd or timeout_ms pass. */
static void sleep_for_work(gw_meter *m, int timeout_ms) {
    atomic_store_explicit(&m->idle, 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_seq_cst);
    if (gw_ring_depth(m->ring) == 0 && !atomic_load(&m->stopping)) {
        struct pollfd p = {.fd = m->wake_fd, .events = POLLIN};
        poll(&p, 1, timeout_ms);
    }
    atomic_store_explicit(&m->idle, 0, memory_order_relaxed);
    uint64_t v;
    ssize_t r = read(m->wake_fd, &v, sizeof v); /* nonblocking: resets the count */
    (void)r;
}

/* The queue's slots and the batch, once the writer has been idle RELEASE_IDLE_MS: their pages
 * leave RSS (the next records fault a few back in). */
static void release_idle_memory(gw_meter *m) {
    size_t slots = gw_ring_release_free(m->ring);
    madvise(m->batch, m->batch_bytes, MADV_DONTNEED);
    gw_log_debug("meter_memory_released", "\"slots\":%zu", slots);
}

/* The queue is empty: the writer has caught up, and gives way to the workers again. */
static void caught_up(gw_meter *m) {
    if (!gw_background_priority_is_raised(&m->priority) || atomic_load(&m->stopping)) return;
    gw_background_priority_lower(&m->priority);
    /* Records pushed since the pop that found the queue empty: a producer that read the flag
     * before it was cleared did not raise the writer, so it looks again itself (the fence
     * pairs with the producers' in gw_meter_submit). */
    atomic_thread_fence(memory_order_seq_cst);
    if (gw_ring_depth(m->ring) >= m->raise_depth) gw_background_priority_raise(&m->priority);
}

static void *writer_main(void *arg) {
    gw_meter *m = arg;
    gw_background_priority_enter(&m->priority);
    size_t pending = 0; /* records in m->batch: kept while the store is locked */
    int64_t next_retention_ns = 0, busy_logged_ns = 0, last_record_ns = gw_now_ns();
    uint64_t busy_unlogged = 0, released_at_pushed = 0;
    int retention_more = 0, lingered = 0;
    char err[300];
    for (;;) {
        size_t before = pending;
        while (pending < m->batch_cap && gw_ring_pop(m->ring, &m->batch[pending]) == 0)
            redact(m, &m->batch[pending++]);
        if (pending != before) last_record_ns = gw_now_ns();
        if (pending && pending < m->batch_cap && !lingered && !atomic_load(&m->stopping)) {
            caught_up(m);
            struct timespec linger = {0, LINGER_MS * 1000000L};
            nanosleep(&linger, NULL); /* producers see the writer awake: they make no call */
            lingered = 1;
            continue;
        }
        lingered = 0;
        if (pending) {
            int rc = m->store->ops->write(m->store, m->batch, pending, err, sizeof err);
            if (rc == GW_METER_STORE_BUSY) {
                atomic_fetch_add_explicit(&m->store_busy, 1, memory_order_relaxed);
                busy_unlogged++;
                int64_t now = gw_now_ns();
                if (now - busy_logged_ns >= (int64_t)BUSY_LOG_EVERY_MS * 1000000) {
                    gw_log_warn("meter_store_busy",
                                "\"waits\":%llu,\"queued\":%zu,\"message\":\"the metering store "
                                "is locked by another connection; records queue, then drop\"",
                                (unsigned long long)busy_unlogged,
                                gw_ring_depth(m->ring) + pending);
                    busy_logged_ns = now;
                    busy_unlogged = 0;
                }
                if (!past_stop_deadline(m)) continue; /* the busy timeout waited already */
                free_captures(m->batch, pending);     /* before discard_queue reuses the batch */
                size_t lost = pending + discard_queue(m);
                pending = 0;
                atomic_fetch_add_explicit(&m->failed, lost, memory_order_relaxed);
                log_store_error("meter_records_lost",
                                "the store stayed locked past the stop "
                                "deadline",
                                lost);
                break;
            }
            if (rc == GW_METER_STORE_OK) {
                atomic_fetch_add_explicit(&m->written, pending, memory_order_relaxed);
                atomic_fetch_add_explicit(&m->batches, 1, memory_order_relaxed);
                int64_t max_mb = atomic_load(&m->retention_max_mb);
                if (max_mb > 0 && m->store->ops->log_bytes(m->store) > max_mb * 1024 * 1024)
                    retention_more = 1;
            } else {
                atomic_fetch_add_explicit(&m->failed, pending, memory_order_relaxed);
                log_store_error("meter_write_failed", err, pending);
            }
            free_captures(m->batch, pending);
            pending = 0;
            continue;
        }
        if (atomic_load(&m->stopping)) {
            if (gw_ring_depth(m->ring) == 0) break;
            continue; /* a producer's copy is finishing */
        }
        int64_t now = gw_now_ns();
        if (retention_more || now >= next_retention_ns) {
            retention_more = retain_step(m);
            if (!retention_more)
                next_retention_ns = now + (int64_t)atomic_load(&m->retention_interval_ms) * 1000000;
            continue;
        }
        int64_t release_at_ns = last_record_ns + (int64_t)RELEASE_IDLE_MS * 1000000;
        uint64_t pushed = gw_ring_pushed(m->ring);
        if (pushed != released_at_pushed && now >= release_at_ns) {
            release_idle_memory(m);
            released_at_pushed = pushed;
            continue;
        }
        int64_t wake_ns = next_retention_ns;
        if (pushed != released_at_pushed && release_at_ns < wake_ns) wake_ns = release_at_ns;
        int64_t wait_ms = (wake_ns - now) / 1000000 + 1;
        caught_up(m);
        sleep_for_work(m, wait_ms < IDLE_WAKE_MS ? (int)wait_ms : IDLE_WAKE_MS);
    }
    return NULL;
}

gw_meter *gw_meter_start(const gw_metering_conf *conf, char *err, size_t cap) {
    gw_meter *m = calloc(1, sizeof *m);
    if (!m) {
        snprintf(err, cap, "metering: out of memory");
        return NULL;
    }
    m->wake_fd = -1;
    m->path = strdup(conf->store ? conf->store : "aigw.db");
    m->batch_cap = conf->batch ? conf->batch : 256;
    m->ring = gw_ring_new(conf->queue_size ? conf->queue_size : 4096, sizeof(gw_request_record));
    m->batch_bytes = m->batch_cap * sizeof *m->batch;
    m->batch = mmap(NULL, m->batch_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
                    0); /* zeroed, and in RSS only as far as batches have reached */
    if (m->batch == MAP_FAILED) m->batch = NULL;
    if (!m->path || !m->ring || !m->batch) {
        snprintf(err, cap, "metering: out of memory for a queue of %u records", conf->queue_size);
        goto bad;
    }
    gw_meter_set_retention(m, &conf->retention);
    m->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (m->wake_fd < 0) {
        snprintf(err, cap, "metering: eventfd: %s", strerror(errno));
        goto bad;
    }
    const gw_meter_store_ops *ops = gw_meter_store_backend(m->path, err, cap);
    if (!ops || !(m->store = ops->open(m->path, BUSY_WAIT_MS, err, cap))) goto bad;
    m->raise_depth = gw_ring_capacity(m->ring) / RAISE_AT_CAPACITY_DIVISOR;
    if (m->raise_depth == 0) m->raise_depth = 1;
    const char *priority = gw_background_priority_init(&m->priority);
    if (pthread_create(&m->thread, NULL, writer_main, m) != 0) {
        snprintf(err, cap, "metering: cannot start the writer thread");
        goto bad;
    }
    m->thread_started = 1;
    pthread_setname_np(m->thread, "aigw-meter"); /* top -H, perf, and the bench tell it apart */
    char path[300];
    gw_json_escape(path, sizeof path, m->path, strlen(m->path));
    gw_log_info("metering_started",
                "\"store\":\"%s\",\"backend\":\"%s\",\"queue\":%zu,\"queue_bytes\":%zu,"
                "\"batch\":%u,\"writer_priority\":\"%s\"",
                path, ops->name, gw_ring_capacity(m->ring),
                gw_ring_capacity(m->ring) * sizeof(gw_request_record), m->batch_cap, priority);
    return m;
bad:
    gw_meter_stop(m, 0);
    return NULL;
}

void gw_meter_stop(gw_meter *m, int timeout_ms) {
    if (!m) return;
    if (m->thread_started) {
        atomic_store(&m->stop_deadline_ns, gw_now_ns() + (int64_t)timeout_ms * 1000000);
        atomic_store(&m->stopping, 1);
        gw_background_priority_raise(&m->priority); /* the last records are not left to idle time */
        uint64_t one = 1;
        ssize_t w = write(m->wake_fd, &one, sizeof one);
        (void)w;
        pthread_join(m->thread, NULL);
        gw_meter_stats st;
        gw_meter_get_stats(m, &st);
        gw_log_info("metering_stopped",
                    "\"submitted\":%llu,\"written\":%llu,\"dropped\":%llu,\"failed\":%llu",
                    (unsigned long long)st.submitted, (unsigned long long)st.written,
                    (unsigned long long)st.dropped, (unsigned long long)st.failed);
    }
    if (m->ring && m->batch) discard_queue(m); /* nothing, unless the thread never ran */
    if (m->store) m->store->ops->close(m->store);
    if (m->wake_fd >= 0) close(m->wake_fd);
    gw_ring_free(m->ring);
    if (m->scratch) m->scratch_ops->scratch_free(m->scratch);
    if (m->batch) munmap(m->batch, m->batch_bytes);
    free(m->path);
    free(m);
}
