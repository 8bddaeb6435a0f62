#include "core/fd_limit.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "core/http_server.h"
#include "core/log.h"

/* Descriptors a process needs besides its clients and their upstream sockets: measured at about
 * 14 plus 8 per worker (epoll, eventfds, notification pipes, two listeners, curl's pair); the
 * rest is margin. */
enum { FD_RESERVE_PROCESS = 32, FD_RESERVE_PER_WORKER = 8 };
/* The kernel refuses a soft limit over fs.nr_open, which an unlimited hard limit would ask for. */
enum { NR_OPEN_FALLBACK = 1048576 };

static pthread_once_t raise_once = PTHREAD_ONCE_INIT;
static long soft_limit_in_force;

static rlim_t kernel_max_open(void) {
    FILE *f = fopen("/proc/sys/fs/nr_open", "re");
    unsigned long long n = 0;
    if (f) {
        if (fscanf(f, "%llu", &n) != 1) n = 0;
        fclose(f);
    }
    return n ? (rlim_t)n : NR_OPEN_FALLBACK;
}

static void raise_soft_limit(void) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
        soft_limit_in_force = 1024; /* the usual default: a guess beats no cap at all */
        gw_log_warn("fd_limit", "\"message\":\"getrlimit: %s\",\"soft\":%ld", strerror(errno),
                    soft_limit_in_force);
        return;
    }
    rlim_t target = rl.rlim_max;
    rlim_t kernel_max = kernel_max_open();
    if (target == RLIM_INFINITY || target > kernel_max) target = kernel_max;
    rlim_t before = rl.rlim_cur;
    if (before != RLIM_INFINITY && before < target) {
        rl.rlim_cur = target;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
            gw_log_warn("fd_limit", "\"message\":\"setrlimit: %s\"", strerror(errno));
            rl.rlim_cur = before;
        }
    }
    soft_limit_in_force = rl.rlim_cur == RLIM_INFINITY ? (long)kernel_max : (long)rl.rlim_cur;
    gw_log_info("fd_limit", "\"soft\":%ld,\"was\":%lld,\"hard\":%lld", soft_limit_in_force,
                before == RLIM_INFINITY ? -1LL : (long long)before,
                rl.rlim_max == RLIM_INFINITY ? -1LL : (long long)rl.rlim_max);
}

long gw_fd_limit_raise(void) {
    pthread_once(&raise_once, raise_soft_limit);
    return soft_limit_in_force;
}

static long fd_reserve(int workers) {
    return GW_HTTP_DEFAULT_MAX_CONNECTIONS + FD_RESERVE_PROCESS +
           (long)FD_RESERVE_PER_WORKER * (workers > 0 ? workers : 1);
}

int gw_fd_limit_client_cap(int configured, long soft_limit, int workers) {
    long fit = (soft_limit - fd_reserve(workers)) / 2;
    if (fit < 1) fit = 1;
    return configured < fit ? configured : (int)fit;
}

void gw_fd_table_reserve(int max_connections, int workers) {
    long soft = gw_fd_limit_raise();
    long want = 2L * gw_fd_limit_client_cap(max_connections, soft, workers) + fd_reserve(workers);
    if (want > soft) want = soft;
    /* a copy at the highest number the process would reach makes the kernel size the table for
     * it; closed at once, the table stays */
    int model = open("/dev/null", O_RDONLY | O_CLOEXEC);
    int high = model >= 0 ? fcntl(model, F_DUPFD_CLOEXEC, (int)(want - 1)) : -1;
    if (high < 0)
        gw_log_warn("fd_table", "\"message\":\"cannot grow the descriptor table to %ld: %s\"", want,
                    strerror(errno));
    if (high >= 0) close(high);
    if (model >= 0) close(model);
}
