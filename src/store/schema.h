/* The store's schema: every table of the SQLite database, created and migrated in one place so
 * the gateway and `aigw keys` (which open the same file) always agree on it. */
#ifndef AIGW_STORE_SCHEMA_H
#define AIGW_STORE_SCHEMA_H

#include <stddef.h>

struct sqlite3;

/* What PRAGMA user_version says once a database is migrated. */
int gw_store_schema_version(void);

/* Brings db to the current schema, each missing step in order, in one IMMEDIATE transaction
 * (two processes opening a new file at once do not both create a table). 0, or -1 and err when
 * a step fails or the file was made by a newer aigw (never downgraded). */
int gw_store_migrate(struct sqlite3 *db, char *err, size_t errlen);

#endif
