/* The metering store's WAL checkpoints, on a thread and a connection of their own.
 *
 * SQLite checkpoints a WAL file from the connection that commits past 1,000 frames: the
 * writer's, which then copied the frames into the database and synced it in the middle of
 * its work. On a loaded box one such sync took 24-67 ms, the queue filled behind it, and
 * records were dropped. The writer's connection reports each commit's WAL size instead
 * (sqlite3_wal_hook, which also turns its own checkpoints off); past CHECKPOINT_FRAMES it wakes
 * this thread, which runs PASSIVE checkpoints: they copy what no reader still needs and wait
 * for no one, while the writer goes on appending. Should the WAL still reach 64 MB (the
 * checkpoints never caught up), the writer checkpoints it whole itself, as SQLite would have.
 * Internal to src/meter/. */
#ifndef AIGW_METER_DB_CHECKPOINT_H
#define AIGW_METER_DB_CHECKPOINT_H

#include <stddef.h>

struct sqlite3;
typedef struct gw_meter_db_checkpointer gw_meter_db_checkpointer;

/* Opens its connection to path, starts the thread and hooks the writer's connection. NULL with
 * err when it cannot (the writer's connection is left as it was). */
gw_meter_db_checkpointer *gw_meter_db_checkpointer_start(const char *path, struct sqlite3 *writer,
                                                         char *err, size_t cap);

/* Stops the thread and closes its connection (before the writer's closes, which checkpoints
 * what is left). */
void gw_meter_db_checkpointer_stop(gw_meter_db_checkpointer *c);

#endif
