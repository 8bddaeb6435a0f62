/* The metering store's WAL checkpoints on a thread of their own (see db_checkpoint.h). */
#include "meter/db_checkpoint.h"

#include <pthread.h>
#include <sched.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "store/sqlite_open.h"

enum {
    /* SQLite's own default (wal_autocheckpoint): about 4 MB of WAL between checkpoints */
    CHECKPOINT_FRAMES = 1000,
    /* A WAL this long (64 MB of 4 KB pages) means the checkpoints never caught up: the writer
     * checkpoints it whole itself, waiting for that as it did before this thread existed. */
    WAL_LIMIT_FRAMES = 16 * CHECKPOINT_FRAMES,
};

struct gw_meter_db_checkpointer {
    sqlite3 *db; /* the checkpointer's own connection */
    sqlite3 *writer;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    atomic_int pending; /* a checkpoint is asked for and not yet begun */
    int stopping;       /* under lock */
};

/* After each of the writer's commits, on the writer's thread: past the mark, a signal unless
 * one is pending. The count is of the whole WAL, copied or not, until a transaction that
 * begins after a complete checkpoint starts it over; asking again at every commit past the mark
 * (as SQLite's own checkpoints did) lets the thread catch up whenever the writer pauses (it
 * lingers for more records once the queue is empty), which is when the WAL can start over. */
static int on_commit(void *arg, sqlite3 *db, const char *name, int frames) {
    (void)name;
    gw_meter_db_checkpointer *c = arg;
    if (frames >= WAL_LIMIT_FRAMES) {
        /* the writer holds no transaction here; FULL waits (its busy timeout) for this thread's
         * pass and for readers on older snapshots, then copies every frame */
        sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_FULL, NULL, NULL);
        return SQLITE_OK;
    }
    if (frames >= CHECKPOINT_FRAMES && !atomic_exchange(&c->pending, 1)) {
        pthread_mutex_lock(&c->lock);
        pthread_cond_signal(&c->wake);
        pthread_mutex_unlock(&c->lock);
    }
    return SQLITE_OK;
}

static void *checkpointer_main(void *arg) {
    gw_meter_db_checkpointer *c = arg;
    for (;;) {
        pthread_mutex_lock(&c->lock);
        while (!atomic_load(&c->pending) && !c->stopping)
            pthread_cond_wait(&c->wake, &c->lock);
        int stop = c->stopping;
        pthread_mutex_unlock(&c->lock);
        if (stop) break;
        atomic_store(&c->pending, 0); /* commits from now on may ask again */
        /* SQLITE_BUSY when another connection checkpoints at the moment: the next commit past
         * the mark asks again */
        sqlite3_wal_checkpoint_v2(c->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    }
    return NULL;
}

gw_meter_db_checkpointer *gw_meter_db_checkpointer_start(const char *path, sqlite3 *writer,
                                                         char *err, size_t cap) {
    gw_meter_db_checkpointer *c = calloc(1, sizeof *c);
    if (!c) {
        snprintf(err, cap, "metering store: out of memory");
        return NULL;
    }
    c->writer = writer;
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->wake, NULL);
    c->db = gw_sqlite_open_wal(path, "metering store checkpoints", 0, "NORMAL", err, cap);
    if (!c->db) goto bad;
    if (pthread_create(&c->thread, NULL, checkpointer_main, c) != 0) {
        snprintf(err, cap, "metering store: cannot start the checkpoint thread");
        goto bad;
    }
    pthread_setname_np(c->thread, "aigw-checkpoint");
    /* its work is the disk's: no preemption of a worker when it wakes */
    pthread_setschedparam(c->thread, SCHED_BATCH, &(struct sched_param){0});
    sqlite3_wal_hook(writer, on_commit, c);
    return c;
bad:
    sqlite3_close(c->db);
    pthread_cond_destroy(&c->wake);
    pthread_mutex_destroy(&c->lock);
    free(c);
    return NULL;
}

void gw_meter_db_checkpointer_stop(gw_meter_db_checkpointer *c) {
    if (!c) return;
    sqlite3_wal_hook(c->writer, NULL, NULL);
    pthread_mutex_lock(&c->lock);
    c->stopping = 1;
    pthread_cond_signal(&c->wake);
    pthread_mutex_unlock(&c->lock);
    pthread_join(c->thread, NULL);
    sqlite3_close(c->db);
    pthread_cond_destroy(&c->wake);
    pthread_mutex_destroy(&c->lock);
    free(c);
}
