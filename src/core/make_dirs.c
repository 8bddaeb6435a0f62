#include "core/make_dirs.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

int gw_make_parent_dirs(const char *file, char *err, size_t cap) {
    char path[4096];
    size_t len = strlen(file);
    if (len >= sizeof path) {
        snprintf(err, cap, "the path is longer than %zu bytes", sizeof path - 1);
        return -1;
    }
    memcpy(path, file, len + 1);
    char *slash = strrchr(path, '/');
    if (!slash || slash == path) return 0; /* in the current or the root directory */
    *slash = '\0';
    for (char *p = path + 1; *p; p++) { /* each level, shallowest first */
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(path, 0750) < 0 && errno != EEXIST) goto fail;
        *p = '/';
    }
    if (mkdir(path, 0750) < 0 && errno != EEXIST) goto fail;
    return 0;
fail:
    snprintf(err, cap, "cannot make the directory %s: %s", path, strerror(errno));
    return -1;
}
