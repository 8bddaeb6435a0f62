/* A route table: {method, path or prefix, handler}. The API listener (server/api_routes.c) and
 * MCP's per-config routes use it, and the admin listener can: a listener keeps its routes as
 * data, matches a request against one or more tables, and answers 405 with the Allow list of
 * every route that took the path, so a new endpoint is one line, not another branch. */
#ifndef AIGW_CORE_HTTP_ROUTES_H
#define AIGW_CORE_HTTP_ROUTES_H

#include <stddef.h>

typedef struct gw_http_req gw_http_req;
typedef struct gw_http_route gw_http_route;

/* ctx: the listener's own (the worker for the API ports). rest: what follows a prefix route's
 * prefix (empty for an exact path). */
typedef void (*gw_http_route_handler)(void *ctx, gw_http_req *req, const gw_http_route *route,
                                      const char *rest, size_t rest_len);

enum {
    GW_ROUTE_ANY_METHOD = -1,
    GW_ROUTE_GET_HEAD = -2, /* GET, and HEAD answered the same without a body */
};

struct gw_http_route {
    int method;       /* http_parser's enum http_method, or GW_ROUTE_ANY_METHOD/GET_HEAD */
    const char *path; /* the whole path, or with prefix set the start of it */
    size_t path_len;  /* 0: strlen(path) */
    int prefix;       /* the path starts with `path` (and is longer) */
    gw_http_route_handler handler;
    const void *data; /* the handler's own, e.g. the MCP server the route serves */
    int kind;         /* the handler's own tag */
};

/* The first route of table[0..n) that takes the request's method and path (n 0: up to a route
 * whose path is NULL). NULL when none; then *path_taken says whether a route took the path for
 * another method (405, not 404). */
const gw_http_route *gw_http_route_find(const gw_http_route *table, size_t n,
                                        const gw_http_req *req, int *path_taken);

/* The methods the routes of table[0..n) taking this path accept, comma-separated ("GET, POST"),
 * into out; its length. */
size_t gw_http_route_allow(const gw_http_route *table, size_t n, const gw_http_req *req, char *out,
                           size_t outlen);

#endif
