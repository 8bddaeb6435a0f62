#include "core/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

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

/* One write(2) per line: lines from several threads never interleave (O_APPEND, or a pipe
 * under PIPE_BUF for typical lines). */
void gw_log_write_line(const char *line, size_t len) {
    while (len > 0) {
        ssize_t n = write(log_fd, line, len);
        if (n < 0) {
            if (errno == EINTR) continue;
            return;
        }
        line += n;
        len -= (size_t)n;
    }
}

static size_t format_time(char *out, size_t outlen) {
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    size_t n = strftime(out, outlen, "%Y-%m-%dT%H:%M:%S", &tm);
    n += (size_t)snprintf(out + n, outlen - n, ".%03dZ", (int)(tv.tv_usec / 1000));
    return n;
}

size_t gw_log_prefix(char *out, size_t outlen, gw_log_level level, const char *event) {
    char ts[40];
    format_time(ts, sizeof ts);
    int n = snprintf(out, outlen, "{\"time\":\"%s\",\"level\":\"%s\",\"event\":\"%s\"", ts,
                     level_names[level], event);
    return n < 0 ? 0 : (size_t)n < outlen ? (size_t)n : outlen - 1;
}

void gw_log(gw_log_level level, const char *event, const char *fields, ...) {
    if ((int)level < atomic_load(&log_level)) return;
    char line[4096];
    int n = (int)gw_log_prefix(line, sizeof line, level, event);
    if (fields && *fields && n > 0 && (size_t)n < sizeof line - 3) {
        line[n++] = ',';
        va_list ap;
        va_start(ap, fields);
        int m = vsnprintf(line + n, sizeof line - (size_t)n - 2, fields, ap);
        va_end(ap);
        if (m > 0) n += m;
        if ((size_t)n > sizeof line - 3) n = sizeof line - 3; /* truncated: still one line */
    }
    line[n++] = '}';
    line[n++] = '\n';
    gw_log_write_line(line, (size_t)n);
}

size_t gw_json_escape(char *out, size_t outlen, const char *s, size_t len) {
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    if (outlen == 0) return 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[7];
        size_t elen = 1;
        esc[0] = (char)c;
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            elen = 2;
        } else if (c < 0x20) {
            memcpy(esc, "\\u00", 4);
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            elen = 6;
        }
        if (o + elen >= outlen) break;
        memcpy(out + o, esc, elen);
        o += elen;
    }
    out[o] = '\0';
    return o;
}
