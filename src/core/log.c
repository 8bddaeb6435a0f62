#include "core/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/log_writer.h"

static int log_fd = STDOUT_FILENO;
static atomic_int log_level = GW_LOG_INFO;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

int gw_log_open(const char *target) {
    if (!target || !strcmp(target, "stdout")) {
        log_fd = STDOUT_FILENO;
        return 0;
    }
    if (!strcmp(target, "stderr")) {
        log_fd = STDERR_FILENO;
        return 0;
    }
    int fd = open(target, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) return -1;
    log_fd = fd;
    return 0;
}

void gw_log_close(void) {
    if (log_fd > STDERR_FILENO) close(log_fd);
    log_fd = STDOUT_FILENO;
}

void gw_log_set_level(gw_log_level level) {
    atomic_store(&log_level, level);
}

/* Without the writer thread, one write(2) per line: lines from several threads never interleave
 * (O_APPEND, or a pipe under PIPE_BUF for typical lines). */
static void write_all(int fd, const char *line, size_t len) {
    while (len > 0) {
        ssize_t n = write(fd, line, len);
        if (n < 0) {
            if (errno == EINTR) continue;
            return;
        }
        line += n;
        len -= (size_t)n;
    }
}

/* A line for the log target: the writer thread's when it runs, else written here. */
static void emit(const char *line, size_t len) {
    if (!gw_log_writer_push(line, len)) write_all(log_fd, line, len);
}

void gw_log_write_line(const char *line, size_t len) {
    emit(line, len);
}

int gw_log_start_writer(void) {
    return gw_log_writer_start(log_fd);
}

void gw_log_stop_writer(void) {
    gw_log_writer_stop();
}

/* "2026-11-24T00:06:31.898Z" into out (at least 32 bytes). The date and time of the current
 * second are formatted once per second and thread: gmtime_r and strftime cost more than the
 * rest of a line's start. */
static size_t format_time(char *out) {
    static _Thread_local time_t cached_second = (time_t)-1;
    static _Thread_local char cached[24];
    static _Thread_local size_t cached_len;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (ts.tv_sec != cached_second) {
        struct tm tm;
        gmtime_r(&ts.tv_sec, &tm);
        cached_len = strftime(cached, sizeof cached, "%Y-%m-%dT%H:%M:%S", &tm);
        cached_second = ts.tv_sec;
    }
    memcpy(out, cached, cached_len);
    size_t n = cached_len;
    int ms = (int)(ts.tv_nsec / 1000000);
    out[n++] = '.';
    out[n++] = (char)('0' + ms / 100);
    out[n++] = (char)('0' + ms / 10 % 10);
    out[n++] = (char)('0' + ms % 10);
    out[n++] = 'Z';
    return n;
}

static size_t append(char *out, size_t at, const char *s, size_t len) {
    memcpy(out + at, s, len);
    return at + len;
}

size_t gw_log_prefix(char *out, size_t outlen, gw_log_level level, const char *event) {
    char ts[32];
    size_t ts_len = format_time(ts);
    const char *lv = level_names[level];
    size_t lv_len = strlen(lv), ev_len = strlen(event);
    size_t total = 9 + ts_len + 11 + lv_len + 11 + ev_len + 1;
    if (total >= outlen) { /* does not fit: cut, as snprintf would */
        ts[ts_len] = '\0';
        int n = snprintf(out, outlen, "{\"time\":\"%s\",\"level\":\"%s\",\"event\":\"%s\"", ts, lv,
                         event);
        return n < 0 ? 0 : (size_t)n < outlen ? (size_t)n : outlen - 1;
    }
    size_t n = append(out, 0, "{\"time\":\"", 9);
    n = append(out, n, ts, ts_len);
    n = append(out, n, "\",\"level\":\"", 11);
    n = append(out, n, lv, lv_len);
    n = append(out, n, "\",\"event\":\"", 11);
    n = append(out, n, event, ev_len);
    out[n++] = '"';
    out[n] = '\0';
    return n;
}

int gw_log_enabled(gw_log_level level) {
    return (int)level >= atomic_load_explicit(&log_level, memory_order_relaxed);
}

/* Formats one line; a line longer than the stack buffer is built on the heap, never cut (a cut
 * line could end inside a JSON string). */
static void write_formatted(int fd, int queued, gw_log_level level, const char *event,
                            const char *fields, va_list ap) {
    char small[4096], *line = small;
    size_t n = gw_log_prefix(small, sizeof small, level, event);
    size_t cap = sizeof small;
    if (fields && *fields) {
        va_list copy;
        va_copy(copy, ap);
        int m = vsnprintf(NULL, 0, fields, copy);
        va_end(copy);
        if (m < 0) m = 0;
        if (n + 1 + (size_t)m + 3 > cap) {
            cap = n + 1 + (size_t)m + 3;
            line = malloc(cap);
            if (!line) return;
            memcpy(line, small, n);
        }
        line[n++] = ',';
        vsnprintf(line + n, cap - n, fields, ap);
        n += (size_t)m;
    }
    line[n++] = '}';
    line[n++] = '\n';
    if (queued)
        emit(line, n);
    else
        write_all(fd, line, n);
    if (line != small) free(line);
}

void gw_log(gw_log_level level, const char *event, const char *fields, ...) {
    if (!gw_log_enabled(level)) return;
    va_list ap;
    va_start(ap, fields);
    write_formatted(log_fd, 1, level, event, fields, ap);
    va_end(ap);
}

void gw_log_fatal(const char *event, const char *fields, ...) {
    va_list ap;
    va_start(ap, fields);
    write_formatted(STDERR_FILENO, 0, GW_LOG_ERROR, event, fields, ap);
    va_end(ap);
    if (log_fd > STDERR_FILENO) {
        va_start(ap, fields);
        write_formatted(log_fd, 0, GW_LOG_ERROR, event, fields, ap);
        va_end(ap);
    }
}

size_t gw_json_escape(char *out, size_t outlen, const char *s, size_t len) {
    static const char hex[] = "0123456789abcdef";
    size_t o = 0, i = 0;
    if (outlen == 0) return 0;
    while (i < len) {
        /* the plain bytes, nearly all of a name, copied as they are up to the end of s or of the
         * room, whichever comes first: one bound a byte */
        size_t plain_end = len - i < outlen - 1 - o ? len : i + (outlen - 1 - o);
        while (i < plain_end) {
            unsigned char c = (unsigned char)s[i];
            if (c < 0x20 || c == '"' || c == '\\') break;
            out[o++] = (char)c;
            i++;
        }
        if (i == len || o + 1 >= outlen) break;
        unsigned char c = (unsigned char)s[i];
        char esc[6] = {'\\', (char)c};
        size_t elen = 2;
        if (c < 0x20) {
            memcpy(esc, "\\u00", 4);
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            elen = 6;
        }
        if (o + elen >= outlen) break;
        memcpy(out + o, esc, elen);
        o += elen;
        i++;
    }
    out[o] = '\0';
    return o;
}
