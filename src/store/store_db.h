/* Inside the store: the SQLite connection under a store handle, for the modules that keep the
 * gateway's state beside the keys (quota_rows, switch_rows, audit_rows). Not for outside store/:
 * everything else goes through those modules' functions. */
#ifndef AIGW_STORE_STORE_DB_H
#define AIGW_STORE_STORE_DB_H

#include "store/keys.h"

struct sqlite3;

struct sqlite3 *gw_key_store_db(gw_key_store *st);

#endif
