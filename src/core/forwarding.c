#include "core/forwarding.h"

#include <strings.h>

/* Asked for every client header of every attempt: the length picks the one or two names it can
 * be, and a first letter rules out most headers before any compare. */
int gw_header_never_forwarded(const char *name, size_t len) {
    const char *a = NULL, *b = NULL;
    switch (len) {
    case 2:
        a = "te";
        break;
    case 4:
        a = "host";
        break;
    case 6:
        a = "expect";
        break;
    case 7:
        a = "trailer", b = "upgrade";
        break;
    case 9:
        a = "x-api-key";
        break;
    case 10:
        a = "connection", b = "keep-alive";
        break;
    case 12:
        a = "content-type";
        break;
    case 13:
        a = "authorization";
        break;
    case 14:
        a = "content-length", b = "http2-settings";
        break;
    case 15:
        a = "accept-encoding";
        break;
    case 16:
        a = "proxy-connection", b = "content-encoding";
        break;
    case 17:
        a = "transfer-encoding";
        break;
    case 18:
        a = "proxy-authenticate";
        break;
    case 19:
        a = "proxy-authorization";
        break;
    default:
        return 0;
    }
    int first = name[0] | 0x20; /* the names start with letters */
    if (first == a[0] && !strncasecmp(name, a, len)) return 1;
    return b && first == b[0] && !strncasecmp(name, b, len);
}
