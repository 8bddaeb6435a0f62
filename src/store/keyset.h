/* The keys a worker checks requests against: an immutable, reference-counted snapshot of every
 * live key (the store's, less the revoked ones, and the config file's static ones), indexed by
 * the SHA-256 of the secret in an open-addressing table. A lookup hashes the presented secret
 * and probes: no lock, no allocation, no SQLite.
 *
 * The control thread builds a new snapshot after each change (gw_keyset_builder_*) and posts it
 * to every worker's inbox; a worker picks it up at its next request, so a change (a revocation,
 * a rotation, a new model list) holds on every worker at once, without a reload. A request keeps
 * a reference to the snapshot it started with. */
#ifndef AIGW_STORE_KEYSET_H
#define AIGW_STORE_KEYSET_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "store/key-t.h"

typedef struct gw_keyset gw_keyset;
typedef struct gw_keyset_builder gw_keyset_builder;
struct gw_key_store;

/* Building (control thread). Every add copies what it is given. Each returns 0, or -1 with err
 * when a field is out of bounds or GW_KEY_MAX_KEYS keys were added already. */
gw_keyset_builder *gw_keyset_builder_new(void);
/* A record of the store; revoked ones are skipped. */
int gw_keyset_builder_add_record(gw_keyset_builder *b, const gw_key_record *rec, char *err,
                                 size_t errlen);
/* Every live key of the store. */
int gw_keyset_builder_add_store(gw_keyset_builder *b, struct gw_key_store *st, char *err,
                                size_t errlen);
/* A key declared in the config file: its id (letters, digits, '_', '-', '.'; up to
 * GW_KEY_ID_MAX), its fields, and the SHA-256 of its secret (gw_key_secret_hash of a secret
 * written in the file, or gw_key_hash_parse_hex of a hash written there instead). */
int gw_keyset_builder_add_static(gw_keyset_builder *b, const char *id, const gw_key_spec *spec,
                                 const uint8_t hash[GW_KEY_HASH_LEN], char *err, size_t errlen);
/* The snapshot (one reference, the caller's), and the builder freed. NULL and err when two keys
 * share a secret or an id (a static key copied from the store, say): the old snapshot stays. */
gw_keyset *gw_keyset_builder_finish(gw_keyset_builder *b, char *err, size_t errlen);
void gw_keyset_builder_free(gw_keyset_builder *b); /* one never finished */

gw_keyset *gw_keyset_ref(gw_keyset *set);
void gw_keyset_unref(gw_keyset *set);
size_t gw_keyset_count(const gw_keyset *set);

/* The key whose secret this is, disabled and expired ones included (revoked ones are not in a
 * snapshot); NULL when none. Secrets longer than GW_KEY_SECRET_MAX are refused unhashed. */
const gw_key *gw_keyset_lookup(const gw_keyset *set, const char *secret, size_t len);
const gw_key *gw_keyset_lookup_hash(const gw_keyset *set, const uint8_t hash[GW_KEY_HASH_LEN]);

/* Whether a presented secret may call at all at now (Unix seconds): the lookup, then disabled
 * and expired refused. *out gets the key when one matched (for logs), even a refused one. */
gw_key_verdict gw_keyset_check(const gw_keyset *set, const char *secret, size_t len, int64_t now,
                               const gw_key **out);

/* Whether the key may call this model: one of its globs matches the whole name (403 if not). */
int gw_key_allows_model(const gw_key *key, const char *model, size_t len);

/* A worker's inbox for new snapshots. The control thread posts; the worker takes at the start
 * of each request. A single global pointer would not do: a worker could load it, and before it
 * counted its reference the control thread could swap it out and drop the last one. Here each
 * posted snapshot carries a reference of its own, which the exchange hands over whole. */
typedef struct gw_keyset_inbox {
    _Atomic(gw_keyset *) pending;
} gw_keyset_inbox;

/* Posts set (taking a reference of its own); a snapshot posted earlier and not yet taken is
 * dropped. */
void gw_keyset_inbox_post(gw_keyset_inbox *in, gw_keyset *set);
/* The snapshot the worker should use now: current, or a newer one posted since, in which case
 * the worker's reference to current is dropped. One relaxed load when nothing is new. */
gw_keyset *gw_keyset_inbox_take(gw_keyset_inbox *in, gw_keyset *current);
/* Drops what is pending (at shutdown). */
void gw_keyset_inbox_clear(gw_keyset_inbox *in);

#endif
