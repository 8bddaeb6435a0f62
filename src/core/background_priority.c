/* A background thread's CPU priority: SCHED_IDLE while it keeps up, SCHED_BATCH at nice -10
 * while it is behind (see background_priority.h). */
#include "core/background_priority.h"

#include <linux/capability.h>
#include <linux/sched.h>
#include <linux/sched/types.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

enum { RAISED_NICE = -10 };

/* Whether a thread may go from SCHED_IDLE to RAISED_NICE: the kernel allows a nice value n
 * when RLIMIT_NICE is at least 20 - n, or with CAP_SYS_NICE. */
static int may_raise(void) {
    struct rlimit nice_limit;
    if (getrlimit(RLIMIT_NICE, &nice_limit) == 0 &&
        (nice_limit.rlim_cur == RLIM_INFINITY || nice_limit.rlim_cur >= 20 - RAISED_NICE))
        return 1;
    struct __user_cap_header_struct header = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];
    if (syscall(SYS_capget, &header, data) != 0) return 0;
    return (data[CAP_TO_INDEX(CAP_SYS_NICE)].effective & CAP_TO_MASK(CAP_SYS_NICE)) != 0;
}

/* Policy and nice in one call (glibc 2.36 has no sched_setattr wrapper). */
static int set_policy(pid_t tid, int policy, int nice) {
    struct sched_attr attr = {
        .size = sizeof attr, .sched_policy = (unsigned)policy, .sched_nice = nice};
    return (int)syscall(SYS_sched_setattr, tid, &attr, 0);
}

const char *gw_background_priority_init(gw_background_priority *p) {
    p->tid = 0;
    p->can_idle = may_raise();
    atomic_init(&p->raised, 1);
    return p->can_idle ? "idle" : "batch";
}

void gw_background_priority_enter(gw_background_priority *p) {
    p->tid = (pid_t)syscall(SYS_gettid);
    if (p->can_idle && set_policy(p->tid, SCHED_IDLE, 0) == 0) {
        /* after the thread's id is in place: a producer's raise reads it */
        atomic_store(&p->raised, 0);
        return;
    }
    p->can_idle = 0; /* raised for good: no producer tries to raise it */
    set_policy(p->tid, SCHED_BATCH, 0);
}

void gw_background_priority_raise_slow(gw_background_priority *p) {
    int expected = 0;
    /* one producer raises it; the others see the flag and go on */
    if (atomic_compare_exchange_strong(&p->raised, &expected, 1))
        set_policy(p->tid, SCHED_BATCH, RAISED_NICE);
}

void gw_background_priority_lower(gw_background_priority *p) {
    if (!p->can_idle || !atomic_load_explicit(&p->raised, memory_order_relaxed)) return;
    /* The policy first, then the flag: a producer that finds the flag clear raises the thread
     * after this, never before, so the last word on a queue past its mark is the raise. */
    set_policy(p->tid, SCHED_IDLE, 0);
    atomic_store(&p->raised, 0);
}
