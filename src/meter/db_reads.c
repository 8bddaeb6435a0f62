/* The SQLite backend's read connection: read-only, its own, on the reader thread. Readers of a
 * WAL database never wait for the writer; a query past the reader's deadline is interrupted by
 * the progress handler. */
#include <stdio.h>
#include <stdlib.h>

#include "core/clock.h"
#include "meter/db_impl.h"

/* SQLite calls this every few thousand steps: nonzero interrupts the query. */
static int over_time(void *arg) {
    gw_meter_db_reads *r = arg;
    return gw_now_ns() > atomic_load(r->deadline_ns);
}

int gw_meter_db_read_error(gw_meter_db_reads *r, char *err, size_t cap) {
    if ((sqlite3_errcode(r->db) & 0xff) == SQLITE_INTERRUPT) return GW_METER_READ_TIMEOUT;
    snprintf(err, cap, "metering store: %s", sqlite3_errmsg(r->db));
    return GW_METER_READ_ERROR;
}

gw_meter_reads *gw_meter_db_reads_open(const char *path, const _Atomic int64_t *deadline_ns,
                                       char *err, size_t cap) {
    gw_meter_db_reads *r = calloc(1, sizeof *r);
    if (!r) {
        snprintf(err, cap, "metering reader: out of memory");
        return NULL;
    }
    r->base.ops = &gw_meter_store_sqlite;
    r->deadline_ns = deadline_ns;
    int rc = sqlite3_open_v2(path, &r->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        snprintf(err, cap, "metering store %s: %s", path,
                 r->db ? sqlite3_errmsg(r->db) : sqlite3_errstr(rc));
        goto bad;
    }
    sqlite3_busy_timeout(r->db, 2000);
    sqlite3_progress_handler(r->db, 10000, over_time, r);
    int version = gw_meter_schema_version_of(r->db);
    if (version != gw_meter_schema_version()) {
        snprintf(err, cap, "metering store %s: schema version %d, expected %d", path, version,
                 gw_meter_schema_version());
        goto bad;
    }
    return &r->base;
bad:
    gw_meter_db_reads_close(&r->base);
    return NULL;
}

void gw_meter_db_reads_close(gw_meter_reads *rd) {
    if (!rd) return;
    gw_meter_db_reads *r = (gw_meter_db_reads *)rd;
    sqlite3_close(r->db);
    free(r);
}
