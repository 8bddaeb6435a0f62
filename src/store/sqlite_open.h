/* A read-write SQLite connection as every store of the gateway opens one (keys, metering,
 * alerts): the parent directories made, extended result codes, a busy timeout, the WAL journal
 * checked (a file system without shared memory refuses it) and the synchronous level set. */
#ifndef AIGW_STORE_SQLITE_OPEN_H
#define AIGW_STORE_SQLITE_OPEN_H

#include <sqlite3.h>
#include <stddef.h>

/* NOMUTEX: a connection serves one thread at a time. `synchronous` is "FULL" or "NORMAL".
 * NULL with err ("<what> <path>: why", or "<path>: why" when what is NULL) on failure. */
sqlite3 *gw_sqlite_open_wal(const char *path, const char *what, int busy_ms,
                            const char *synchronous, char *err, size_t cap);

/* Process-wide settings, before the first connection: SQLite's memory statistics off (with them
 * every allocation it made took a global mutex; nothing here reads them), and no bulk
 * page-cache block per connection (idle memory). */
void gw_sqlite_configure(void);

#endif
