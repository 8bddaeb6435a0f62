#include "core/http_date.h"

#include <time.h>

const char *gw_http_date(void) {
    static _Thread_local char cached[40];
    static _Thread_local time_t cached_sec = -1;
    time_t now = time(NULL);
    if (now != cached_sec) {
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(cached, sizeof cached, "%a, %d %b %Y %H:%M:%S GMT", &tm);
        cached_sec = now;
    }
    return cached;
}
