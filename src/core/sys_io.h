/* recv and writev without libc's cancellation-point wrappers. In a threaded process every
 * recv() and writev() turns asynchronous cancellation on and off around its system call, about
 * 40 instructions each, paid once or twice per stream event (docs/benchmarks.md); no thread of
 * the gateway is ever cancelled. Same results and errno as the libc calls. */
#ifndef AIGW_CORE_SYS_IO_H
#define AIGW_CORE_SYS_IO_H

#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

static inline ssize_t gw_sys_recv(int fd, void *buf, size_t len) {
#ifdef SYS_recvfrom
    return syscall(SYS_recvfrom, fd, buf, len, 0, NULL, NULL);
#else
    return recv(fd, buf, len, 0);
#endif
}

static inline ssize_t gw_sys_writev(int fd, const struct iovec *iov, int count) {
#ifdef SYS_writev
    return syscall(SYS_writev, fd, iov, count);
#else
    return writev(fd, iov, count);
#endif
}

#endif
