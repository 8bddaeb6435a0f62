/* Who holds a port: "Address already in use" alone sends a new user guessing (often at another
 * aigw) when the culprit is nginx or a forgotten dev server. Linux only, read from /proc; any
 * failure just means "not found". */
#include "core/port_owner.h"

#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum {
    TCP_STATE_LISTEN = 0x0A,
    MAX_LISTEN_INODES = 64, /* a port has one socket per SO_REUSEPORT worker and family */
};

/* Collects the inodes of the sockets listening on `port` from one /proc/net/tcp{,6} table, and
 * counts in *connections the sockets of other states (a connection, or one in TIME_WAIT, which
 * no process holds) whose local port it is. */
static size_t listen_inodes(const char *table, int port, unsigned long *inodes, size_t count,
                            size_t cap, int *connections) {
    FILE *f = fopen(table, "r");
    if (!f) return count;
    char line[512];
    if (!fgets(line, sizeof line, f)) { /* the column header */
        fclose(f);
        return count;
    }
    while (count < cap && fgets(line, sizeof line, f)) {
        unsigned int local_port, state;
        unsigned long inode;
        /* sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode */
        if (sscanf(line,
                   " %*u: %*[0-9A-Fa-f]:%x %*[0-9A-Fa-f]:%*x %x %*x:%*x %*x:%*x %*x %*u %*d %lu",
                   &local_port, &state, &inode) != 3)
            continue;
        if ((int)local_port != port) continue;
        if (state == TCP_STATE_LISTEN && inode != 0)
            inodes[count++] = inode;
        else if (state != TCP_STATE_LISTEN)
            (*connections)++;
    }
    fclose(f);
    return count;
}

static int is_pid_name(const char *name) {
    if (!*name) return 0;
    for (; *name; name++)
        if (!isdigit((unsigned char)*name)) return 0;
    return 1;
}

/* Whether process `pid` has one of the sockets open. Another user's fds are unreadable without
 * privileges: that reads as "no". */
static int holds_socket(long pid, const unsigned long *inodes, size_t count) {
    char fd_dir[64];
    snprintf(fd_dir, sizeof fd_dir, "/proc/%ld/fd", pid);
    DIR *dir = opendir(fd_dir);
    if (!dir) return 0;
    int found = 0;
    for (struct dirent *fd; !found && (fd = readdir(dir));) {
        if (fd->d_name[0] == '.') continue;
        char link_path[320], target[64];
        snprintf(link_path, sizeof link_path, "%s/%s", fd_dir, fd->d_name);
        ssize_t n = readlink(link_path, target, sizeof target - 1);
        if (n <= 0) continue;
        target[n] = '\0';
        unsigned long inode;
        if (sscanf(target, "socket:[%lu]", &inode) != 1) continue;
        for (size_t i = 0; i < count && !found; i++)
            found = inodes[i] == inode;
    }
    closedir(dir);
    return found;
}

static void read_comm(long pid, char *comm, size_t comm_len) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%ld/comm", pid);
    snprintf(comm, comm_len, "?");
    FILE *f = fopen(path, "r");
    if (!f) return;
    if (fgets(comm, (int)comm_len, f)) comm[strcspn(comm, "\n")] = '\0';
    fclose(f);
}

/* 1: some process listens on the port and *pid, comm say which (0 when it is not visible);
 * 0: nothing listens, and *connections counts the connections whose local port it is. */
static int find_owner(int port, pid_t *pid, char *comm, size_t comm_len, int *connections) {
    unsigned long inodes[MAX_LISTEN_INODES];
    *connections = 0;
    size_t count = listen_inodes("/proc/net/tcp", port, inodes, 0, MAX_LISTEN_INODES, connections);
    count = listen_inodes("/proc/net/tcp6", port, inodes, count, MAX_LISTEN_INODES, connections);
    *pid = 0;
    if (count == 0) return 0;
    DIR *proc = opendir("/proc");
    if (!proc) return 0;
    for (struct dirent *entry; !*pid && (entry = readdir(proc));) {
        if (!is_pid_name(entry->d_name)) continue;
        long candidate = strtol(entry->d_name, NULL, 10);
        if (!holds_socket(candidate, inodes, count)) continue;
        *pid = (pid_t)candidate;
        read_comm(candidate, comm, comm_len);
    }
    closedir(proc);
    return 1;
}

int gw_port_owner_find(int port, pid_t *pid, char *comm, size_t comm_len) {
    int connections;
    return find_owner(port, pid, comm, comm_len, &connections) && *pid != 0;
}

/* The kernel's range of local ports for outgoing connections, "32768-60999"; "" if unread. */
static void ephemeral_range(char *out, size_t out_len) {
    unsigned low, high;
    FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
    snprintf(out, out_len, "%s", "");
    if (f && fscanf(f, "%u %u", &low, &high) == 2) snprintf(out, out_len, "%u-%u", low, high);
    if (f) fclose(f);
}

void gw_port_owner_describe(int port, char *out, size_t out_len) {
    pid_t pid;
    char comm[64];
    int connections;
    int listening = find_owner(port, &pid, comm, sizeof comm, &connections);
    if (!listening && connections > 0) {
        /* No listener: the local end of a connection, most often an outgoing one that the
         * kernel gave this port from its ephemeral range, or one in TIME_WAIT after it. */
        char range[32];
        ephemeral_range(range, sizeof range);
        snprintf(out, out_len,
                 "the local port of %d connection%s, outgoing or closing (TIME_WAIT); a port "
                 "outside net.ipv4.ip_local_port_range%s%s%s is never given to one",
                 connections, connections == 1 ? "" : "s", *range ? " (" : "", range,
                 *range ? ")" : "");
    } else if (!listening || pid == 0)
        snprintf(out, out_len, "held by a process this user cannot see");
    else if (!strcmp(comm, "aigw"))
        snprintf(out, out_len, "held by another aigw, pid %ld", (long)pid);
    else
        snprintf(out, out_len, "held by %s, pid %ld", comm, (long)pid);
}
