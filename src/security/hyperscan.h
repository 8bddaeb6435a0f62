/* The Hyperscan library, opened the first time a word list needs it.
 *
 * Only the sensitive-words guard uses Hyperscan, and Hyperscan is C++ inside: linked into the
 * binary, it and the C++ runtime it needs were loaded and initialised in every process, about
 * 1.3 MB of resident memory, with or without a word list. Opened on demand, a gateway without
 * words never maps them, and one built here runs where the library is not installed until a
 * config asks for words (then the config is refused with the reason).
 *
 * The library is libhs.so.5 (Debian's libhyperscan5, or Vectorscan's libvectorscan5, which
 * installs the same name), or the file that the environment variable AIGW_HYPERSCAN_LIBRARY
 * names. The header (libhyperscan-dev) is needed to build, for the types. */
#ifndef AIGW_SECURITY_HYPERSCAN_H
#define AIGW_SECURITY_HYPERSCAN_H

#include <stddef.h>

#include <hs.h>

/* The functions aigw calls, with Hyperscan's own signatures. */
typedef struct gw_hyperscan {
    hs_error_t (*valid_platform)(void);
    hs_error_t (*compile_lit_multi)(const char *const *expressions, const unsigned *flags,
                                    const unsigned *ids, const size_t *lens, unsigned elements,
                                    unsigned mode, const hs_platform_info_t *platform,
                                    hs_database_t **db, hs_compile_error_t **error);
    hs_error_t (*free_compile_error)(hs_compile_error_t *error);
    hs_error_t (*free_database)(hs_database_t *db);
    hs_error_t (*alloc_scratch)(const hs_database_t *db, hs_scratch_t **scratch);
    hs_error_t (*free_scratch)(hs_scratch_t *scratch);
    hs_error_t (*scan)(const hs_database_t *db, const char *data, unsigned length, unsigned flags,
                       hs_scratch_t *scratch, match_event_handler on_match, void *context);
} gw_hyperscan;

/* Opens the library on the first call (any thread; later calls wait for the first) and
 * returns its functions, or NULL with the reason in err. A library that could not be opened
 * is not tried again: the process answers the same way until it restarts. Blocks on file I/O
 * the first time, so it runs where configs load, never on a worker. */
const gw_hyperscan *gw_hyperscan_open(char *err, size_t err_size);

/* The functions once gw_hyperscan_open has succeeded, else NULL. Whoever holds a database or
 * a scratch got it through them, so it finds them here. */
const gw_hyperscan *gw_hyperscan_loaded(void);

#endif
