#include "meter/reader.h"

#include <event2/event.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "meter/store.h"

struct gw_meter_reader {
    pthread_t thread;
    int thread_started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    gw_reader_job *queue, *queue_tail; /* posted, not yet run */
    size_t queued;
    gw_reader_job *done, *done_tail; /* run, not yet delivered to the loop */
    int stopping;
    struct event *deliver;       /* activated by the thread: runs the done callbacks on the loop */
    gw_meter_reads *reads;       /* the backend's read connection */
    _Atomic int64_t deadline_ns; /* of the query running now; read by the backend */
};

static void append(gw_reader_job **head, gw_reader_job **tail, gw_reader_job *job) {
    job->next = NULL;
    if (*tail)
        (*tail)->next = job;
    else
        *head = job;
    *tail = job;
}

static void *reader_main(void *arg) {
    gw_meter_reader *r = arg;
    pthread_mutex_lock(&r->mu);
    for (;;) {
        while (!r->queue && !r->stopping)
            pthread_cond_wait(&r->cv, &r->mu);
        if (r->stopping) break;
        gw_reader_job *job = r->queue;
        r->queue = job->next;
        if (!r->queue) r->queue_tail = NULL;
        r->queued--;
        pthread_mutex_unlock(&r->mu);
        atomic_store(&r->deadline_ns, gw_now_ns() + (int64_t)GW_READER_QUERY_LIMIT_MS * 1000000);
        job->run(job, r->reads);
        pthread_mutex_lock(&r->mu);
        append(&r->done, &r->done_tail, job);
        event_active(r->deliver, EV_READ, 0);
    }
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

/* On the loop: the done callbacks of every finished job. */
static void deliver(evutil_socket_t fd, short what, void *arg) {
    gw_meter_reader *r = arg;
    (void)fd;
    (void)what;
    pthread_mutex_lock(&r->mu);
    gw_reader_job *list = r->done;
    r->done = r->done_tail = NULL;
    pthread_mutex_unlock(&r->mu);
    while (list) {
        gw_reader_job *next = list->next;
        list->done(list);
        list = next;
    }
}

gw_meter_reader *gw_meter_reader_start(const char *locator, struct event_base *loop, char *err,
                                       size_t cap) {
    gw_meter_reader *r = calloc(1, sizeof *r);
    if (!r) {
        snprintf(err, cap, "metering reader: out of memory");
        return NULL;
    }
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    const gw_meter_store_ops *ops = gw_meter_store_backend(locator, err, cap);
    atomic_store(&r->deadline_ns, gw_now_ns() + (int64_t)GW_READER_QUERY_LIMIT_MS * 1000000);
    if (!ops || !(r->reads = ops->reads_open(locator, &r->deadline_ns, err, cap))) goto bad;
    r->deliver = event_new(loop, -1, 0, deliver, r);
    if (!r->deliver || pthread_create(&r->thread, NULL, reader_main, r) != 0) {
        snprintf(err, cap, "metering reader: cannot start its thread");
        goto bad;
    }
    r->thread_started = 1;
    pthread_setname_np(r->thread, "aigw-reader");
    return r;
bad:
    gw_meter_reader_stop(r);
    return NULL;
}

int gw_meter_reader_post(gw_meter_reader *r, gw_reader_job *job) {
    pthread_mutex_lock(&r->mu);
    if (r->queued >= GW_READER_MAX_QUEUED || r->stopping) {
        pthread_mutex_unlock(&r->mu);
        return -1;
    }
    job->cancelled = 0;
    append(&r->queue, &r->queue_tail, job);
    r->queued++;
    pthread_cond_signal(&r->cv);
    pthread_mutex_unlock(&r->mu);
    return 0;
}

void gw_meter_reader_stop(gw_meter_reader *r) {
    if (!r) return;
    if (r->thread_started) {
        pthread_mutex_lock(&r->mu);
        r->stopping = 1;
        atomic_store(&r->deadline_ns,
                     0); /* a query still running is interrupted at its next check */
        pthread_cond_signal(&r->cv);
        pthread_mutex_unlock(&r->mu);
        pthread_join(r->thread, NULL);
    }
    /* the thread is gone: what it finished, then what it never ran */
    if (r->deliver) deliver(-1, 0, r);
    while (r->queue) {
        gw_reader_job *job = r->queue;
        r->queue = job->next;
        job->cancelled = 1;
        job->done(job);
    }
    if (r->deliver) event_free(r->deliver);
    if (r->reads) r->reads->ops->reads_close(r->reads);
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->cv);
    free(r);
}
