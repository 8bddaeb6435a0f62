#include "core/forwarding.h"

#include <string.h>
#include <strings.h>

int gw_header_never_forwarded(const char *name, size_t len) {
    static const char *const names[] = {"host",
                                        "content-length",
                                        "transfer-encoding",
                                        "connection",
                                        "keep-alive",
                                        "te",
                                        "trailer",
                                        "upgrade",
                                        "expect",
                                        "proxy-connection",
                                        "proxy-authorization",
                                        "proxy-authenticate",
                                        "content-type",
                                        "content-encoding",
                                        "accept-encoding",
                                        "authorization",
                                        "x-api-key",
                                        "http2-settings",
                                        NULL};
    for (size_t i = 0; names[i]; i++)
        if (strlen(names[i]) == len && !strncasecmp(names[i], name, len)) return 1;
    return 0;
}
