/* File descriptors: the soft RLIMIT_NOFILE raised to the hard limit at startup (as nginx and
 * haproxy do), and the client connection cap that leaves descriptors for everything else. */
#ifndef AIGW_CORE_FD_LIMIT_H
#define AIGW_CORE_FD_LIMIT_H

/* Raises the soft limit to the hard one, once per process (later calls only return it), and logs
 * the result at info as fd_limit. Returns the soft limit in force. */
long gw_fd_limit_raise(void);

/* The client connection cap that fits in soft_limit descriptors: configured, or lower when
 * (soft_limit - reserve) / 2 is, since every proxied client may hold an upstream socket too. The
 * reserve covers the admin listener's connections and, per process and per worker, listening
 * sockets, event loops, curl's wakeup pairs, the log and the simulator. At least 1. */
int gw_fd_limit_client_cap(int configured, long soft_limit, int workers);

/* Grows the kernel's descriptor table of this process, once at startup, to the descriptors
 * max_connections clients may need (with their upstream sockets and the reserve above; never past
 * the soft limit). The kernel grows the table by doubling as descriptors reach a new high, and in a
 * process with several threads each growth waits for an RCU grace period while holding up the
 * thread that opened the descriptor: under a burst of new streams that was a worker stalled for
 * milliseconds at each doubling. The table is kernel memory (8 bytes a descriptor), not RSS;
 * /proc/PID/status shows its size as FDSize. A failure is logged (fd_table). */
void gw_fd_table_reserve(int max_connections, int workers);

#endif
