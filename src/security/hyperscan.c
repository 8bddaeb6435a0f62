/* The Hyperscan library, opened the first time a word list needs it (see hyperscan.h). */
#include "security/hyperscan.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_LIBRARY "libhs.so.5"

static pthread_once_t open_once = PTHREAD_ONCE_INIT;
static gw_hyperscan table;
static _Atomic(const gw_hyperscan *) loaded;
static char open_error[512];

/* dlsym gives an object pointer; POSIX guarantees it converts to a function pointer of the
 * same size, which a copy does without the cast ISO C leaves undefined. */
_Static_assert(sizeof(void *) == sizeof(void (*)(void)), "function pointers fit a void *");

static int resolve(void *handle, const char *library, const char *name, void *field) {
    void *symbol = dlsym(handle, name);
    if (!symbol) {
        snprintf(open_error, sizeof open_error, "%s has no %s (Hyperscan 5.2 or later is needed)",
                 library, name);
        return -1;
    }
    memcpy(field, &symbol, sizeof symbol);
    return 0;
}

static void open_library(void) {
    const char *library = getenv("AIGW_HYPERSCAN_LIBRARY");
    if (!library || !*library) library = DEFAULT_LIBRARY;
    /* RTLD_LOCAL: its symbols (and the C++ runtime's) stay out of the global namespace. */
    void *handle = dlopen(library, RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
        const char *why = dlerror(); /* names the file */
        snprintf(open_error, sizeof open_error,
                 "cannot load Hyperscan: %s; sensitive words need it (Debian: apt-get install "
                 "libhyperscan5)",
                 why ? why : library);
        return;
    }
    gw_hyperscan t;
    if (resolve(handle, library, "hs_valid_platform", &t.valid_platform) < 0 ||
        resolve(handle, library, "hs_compile_lit_multi", &t.compile_lit_multi) < 0 ||
        resolve(handle, library, "hs_free_compile_error", &t.free_compile_error) < 0 ||
        resolve(handle, library, "hs_free_database", &t.free_database) < 0 ||
        resolve(handle, library, "hs_alloc_scratch", &t.alloc_scratch) < 0 ||
        resolve(handle, library, "hs_free_scratch", &t.free_scratch) < 0 ||
        resolve(handle, library, "hs_scan", &t.scan) < 0) {
        dlclose(handle);
        return;
    }
    /* The handle stays open for the life of the process: databases and scratches made by the
     * library may live as long as any config. */
    table = t;
    atomic_store_explicit(&loaded, &table, memory_order_release);
}

const gw_hyperscan *gw_hyperscan_open(char *err, size_t err_size) {
    pthread_once(&open_once, open_library);
    const gw_hyperscan *hs = gw_hyperscan_loaded();
    if (!hs && err && err_size) snprintf(err, err_size, "%s", open_error);
    return hs;
}

const gw_hyperscan *gw_hyperscan_loaded(void) {
    return atomic_load_explicit(&loaded, memory_order_acquire);
}
