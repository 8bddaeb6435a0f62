/* The log's writer thread, for core/log.c: threads hand it whole lines through rings of their own
 * and it writes what is queued with one writev. Its public side (start, stop, the drop count) is
 * declared in core/log.h. */
#ifndef AIGW_CORE_LOG_WRITER_H
#define AIGW_CORE_LOG_WRITER_H

#include <stddef.h>

/* 1: the line is the writer's (queued, or dropped and counted because this thread's ring is
 * full); 0: no writer runs (or the line is too long for a ring): the caller writes it itself. */
int gw_log_writer_push(const char *line, size_t len);

/* Starts the thread writing to fd; stops it once everything queued is written. */
int gw_log_writer_start(int fd);
void gw_log_writer_stop(void);

#endif
