/* The process metrics Prometheus' client libraries export under the same names, read from
 * /proc at scrape time; and the build. */
#include <dirent.h>
#include <event2/buffer.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "meter/metrics_internal.h"
#include "meter/metrics_text.h"

/* Fields of /proc/self/stat after the command (which may hold spaces and parentheses): utime
 * (14), stime (15), starttime (22), vsize (23), rss (24), numbered as proc(5) does. */
typedef struct proc_stat {
    unsigned long long utime, stime, starttime, vsize;
    long long rss;
} proc_stat;

static int read_stat(proc_stat *ps) {
    char buf[1024];
    FILE *f = fopen("/proc/self/stat", "r");
    if (!f) return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    if (!p) return -1;
    /* after ")": state (3) ppid pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt
     * utime (14) stime cutime cstime priority nice num_threads itrealvalue starttime (22) vsize
     * rss */
    int got = sscanf(p + 1,
                     " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d %*d "
                     "%*d %llu %llu %lld",
                     &ps->utime, &ps->stime, &ps->starttime, &ps->vsize, &ps->rss);
    return got == 5 ? 0 : -1;
}

/* The boot time in Unix seconds (btime in /proc/stat): starttime counts from it. */
static long long boot_time(void) {
    FILE *f = fopen("/proc/stat", "r");
    if (!f) return -1;
    char line[256];
    long long btime = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "btime %lld", &btime) == 1) break;
    fclose(f);
    return btime;
}

static long open_fds(void) {
    DIR *d = opendir("/proc/self/fd");
    if (!d) return -1;
    long n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.') n++;
    closedir(d);
    return n - 1; /* the directory's own descriptor */
}

static void gauge(struct evbuffer *out, const char *name, const char *type, const char *help,
                  double v) {
    gw_prom_family(out, name, type, help);
    gw_prom_sample(out, name, NULL, 0, v);
}

void gw_metrics_write_process(struct evbuffer *out) {
    gw_prom_family(out, "aigw_build_info", "gauge", "The running build (always 1).");
    gw_prom_label version = {"version", AIGW_VERSION};
    gw_prom_sample(out, "aigw_build_info", &version, 1, 1);
    proc_stat ps;
    long ticks = sysconf(_SC_CLK_TCK);
    if (read_stat(&ps) == 0 && ticks > 0) {
        gauge(out, "process_cpu_seconds_total", "counter",
              "Total user and system CPU time spent in seconds.",
              (double)(ps.utime + ps.stime) / (double)ticks);
        long long btime = boot_time();
        if (btime > 0)
            gauge(out, "process_start_time_seconds", "gauge",
                  "Start time of the process since unix epoch in seconds.",
                  (double)btime + (double)ps.starttime / (double)ticks);
        gauge(out, "process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.",
              (double)ps.vsize);
        gauge(out, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.",
              (double)ps.rss * (double)sysconf(_SC_PAGESIZE));
    }
    long fds = open_fds();
    if (fds >= 0)
        gauge(out, "process_open_fds", "gauge", "Number of open file descriptors.", (double)fds);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
        gauge(out, "process_max_fds", "gauge", "Maximum number of open file descriptors.",
              (double)rl.rlim_cur);
}
