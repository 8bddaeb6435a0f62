/* The SQLite backend as the store's ops table (meter/store.h): the one built today. */
#include "meter/db.h"

static gw_meter_store *open_store(const char *locator, int busy_ms, char *err, size_t cap) {
    gw_meter_db *db = gw_meter_db_open(locator, busy_ms, err, cap);
    return db ? (gw_meter_store *)db : NULL;
}
static int write_batch(gw_meter_store *st, const gw_request_record *recs, size_t n, char *err,
                       size_t cap) {
    return gw_meter_db_write((gw_meter_db *)st, recs, n, err, cap);
}
static int64_t log_bytes(const gw_meter_store *st) {
    return gw_meter_db_log_bytes((const gw_meter_db *)st);
}
static int retain(gw_meter_store *st, int64_t before_ms, int64_t max_bytes, int64_t minute_before_s,
                  uint64_t *deleted, char *err, size_t cap) {
    return gw_meter_db_retain((gw_meter_db *)st, before_ms, max_bytes, minute_before_s, deleted,
                              err, cap);
}
static void close_store(gw_meter_store *st) {
    gw_meter_db_close((gw_meter_db *)st);
}

const gw_meter_store_ops gw_meter_store_sqlite = {
    .name = "sqlite",
    .open = open_store,
    .write = write_batch,
    .log_bytes = log_bytes,
    .retain = retain,
    .close = close_store,
    .reads_open = gw_meter_db_reads_open,
    .reads_close = gw_meter_db_reads_close,
    .usage_totals = gw_meter_db_usage_totals,
    .usage_top = gw_meter_db_usage_top,
    .usage_timeline = gw_meter_db_usage_timeline,
    .requests_search = gw_meter_db_requests_search,
    .request_detail = gw_meter_db_request_detail,
    .replay_load = gw_meter_db_replay_load,
};
