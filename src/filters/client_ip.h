/* The client's address: the peer's, or behind trusted proxies the one X-Forwarded-For names
 * (filters/ip_access.c reads it; limits by ip count it). */
#ifndef AIGW_FILTERS_CLIENT_IP_H
#define AIGW_FILTERS_CLIENT_IP_H

#include "core/request-t.h"
#include "security/cidr.h"

/* 0, or -1 when the client has left or its address is of no IP family. */
int gw_req_client_ip(const gw_req *r, gw_ip *out);

#endif
