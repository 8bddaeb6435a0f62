#ifndef AIGW_CORE_PORT_OWNER_H
#define AIGW_CORE_PORT_OWNER_H

#include <stddef.h>
#include <sys/types.h>

/* The process with a TCP socket listening on `port` (any address, IPv4 or IPv6), found through
 * /proc/net/tcp{,6} and the /proc/[pid]/fd links. Returns 1 and fills pid and comm (the process
 * name) when found, 0 when no visible process holds it (another user's, without privileges). */
int gw_port_owner_find(int port, pid_t *pid, char *comm, size_t comm_len);

/* For "cannot listen on ...: Address already in use (...)": writes "held by nginx, pid 1234",
 * "held by another aigw, pid 1234", "held by a process this user cannot see", or, when nothing
 * listens on it, that it is the local port of connections (an outgoing connection's, which the
 * kernel takes from net.ipv4.ip_local_port_range, or one in TIME_WAIT). */
void gw_port_owner_describe(int port, char *out, size_t out_len);

#endif
