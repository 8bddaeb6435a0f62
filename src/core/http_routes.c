#include "core/http_routes.h"

#include <http_parser.h>
#include <stdio.h>
#include <string.h>

#include "core/http_server.h"

static int path_matches(const gw_http_route *rt, const gw_http_req *req, const char **rest,
                        size_t *rest_len) {
    size_t len = rt->path_len ? rt->path_len : strlen(rt->path);
    if (rt->prefix) {
        if (req->path_len <= len || memcmp(req->path, rt->path, len)) return 0;
    } else if (req->path_len != len || memcmp(req->path, rt->path, len)) {
        return 0;
    }
    if (rest) {
        *rest = req->path + len;
        *rest_len = req->path_len - len;
    }
    return 1;
}

static int method_matches(int method, int req_method) {
    if (method == GW_ROUTE_ANY_METHOD) return 1;
    if (method == GW_ROUTE_GET_HEAD) return req_method == HTTP_GET || req_method == HTTP_HEAD;
    return method == req_method;
}

const gw_http_route *gw_http_route_find(const gw_http_route *table, size_t n,
                                        const gw_http_req *req, int *path_taken) {
    for (size_t i = 0; n ? i < n : table[i].path != NULL; i++) {
        if (!path_matches(&table[i], req, NULL, NULL)) continue;
        if (path_taken) *path_taken = 1;
        if (method_matches(table[i].method, req->method)) return &table[i];
    }
    return NULL;
}

size_t gw_http_route_allow(const gw_http_route *table, size_t n, const gw_http_req *req, char *out,
                           size_t outlen) {
    size_t used = 0;
    if (outlen) out[0] = '\0';
    for (size_t i = 0; n ? i < n : table[i].path != NULL; i++) {
        if (!path_matches(&table[i], req, NULL, NULL)) continue;
        const char *name = table[i].method == GW_ROUTE_GET_HEAD ? "GET, HEAD"
                           : table[i].method == GW_ROUTE_ANY_METHOD
                               ? "*"
                               : http_method_str((enum http_method)table[i].method);
        if (strstr(out, name)) continue;
        int w = snprintf(out + used, outlen - used, "%s%s", used ? ", " : "", name);
        if (w < 0 || (size_t)w >= outlen - used) break;
        used += (size_t)w;
    }
    return used;
}
