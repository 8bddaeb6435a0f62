/* A thread's scheduling policy and nice value as the kernel has them, found by the thread's
 * name: for the unit tests of a writer that gives way to the workers (test_meter_store.c;
 * src/core/background_priority.h). Header-only: each test includes it once. */
#ifndef AIGW_TESTS_THREAD_POLICY_H
#define AIGW_TESTS_THREAD_POLICY_H

#include <dirent.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

/* The policy of this process's thread named `name` (-1 when there is none), its nice value in
 * *nice. */
static inline int thread_policy_nice(const char *name, int *nice) {
    DIR *d = opendir("/proc/self/task");
    if (!d) return -1;
    int policy = -1;
    struct dirent *e;
    size_t name_len = strlen(name);
    while (policy < 0 && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char path[300], comm[32] = "";
        snprintf(path, sizeof path, "/proc/self/task/%s/comm", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f) continue;
        if (fgets(comm, sizeof comm, f) && !strncmp(comm, name, name_len) &&
            comm[name_len] == '\n') {
            policy = sched_getscheduler((pid_t)atoi(e->d_name));
            *nice = getpriority(PRIO_PROCESS, (id_t)atoi(e->d_name));
        }
        fclose(f);
    }
    closedir(d);
    return policy;
}

/* Waits (bounded, 5 s) until the thread has the policy, and the nice value unless the policy is
 * SCHED_IDLE (which has no use for one and keeps the last): 1 when it came, 0 if not. */
static inline int wait_thread_policy(const char *name, int want, int want_nice) {
    for (int i = 0; i < 1000; i++) {
        int nice = 0;
        if (thread_policy_nice(name, &nice) == want && (want == SCHED_IDLE || nice == want_nice))
            return 1;
        usleep(5000);
    }
    return 0;
}

/* Whether this process may raise a thread out of SCHED_IDLE to nice -10, as the kernel judges
 * it (CAP_SYS_NICE, or RLIMIT_NICE of 30 or more): where it may not, the writers run at
 * SCHED_BATCH throughout. Read here from /proc, apart from the code under test. */
static inline int process_may_raise(void) {
    FILE *f = fopen("/proc/self/limits", "r");
    char line[256];
    int may = 0;
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "Max nice priority", 17)) {
            char soft[32] = "";
            sscanf(line + 17, "%31s", soft);
            may = !strcmp(soft, "unlimited") || atoi(soft) >= 30;
        }
    if (f) fclose(f);
    f = fopen("/proc/self/status", "r");
    while (!may && f && fgets(line, sizeof line, f))
        if (!strncmp(line, "CapEff:", 7)) may = (strtoull(line + 7, NULL, 16) >> 23) & 1;
    if (f) fclose(f);
    return may;
}

#endif
