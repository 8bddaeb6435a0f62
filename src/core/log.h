/* One JSON object per line, for startup, errors and the access log alike, so one parser reads all.
 */
#ifndef AIGW_CORE_LOG_H
#define AIGW_CORE_LOG_H

#include <stddef.h>
#include <stdint.h>

typedef enum { GW_LOG_DEBUG, GW_LOG_INFO, GW_LOG_WARN, GW_LOG_ERROR } gw_log_level;

/* Where lines go: "stdout", "stderr" or a file path (appended). Returns -1 and sets errno. */
int gw_log_open(const char *target);
void gw_log_set_level(gw_log_level level);
void gw_log_close(void);

/* `fields` is a printf format producing zero or more extra JSON members, e.g. "\"port\":%d".
 * Strings from outside must go through gw_json_escape first. */
void gw_log(gw_log_level level, const char *event, const char *fields, ...)
    __attribute__((format(printf, 3, 4)));

/* Writes the common start of a line, {"time":...,"level":...,"event":..., into out (no closing
 * brace); returns its length. For lines built elsewhere, like the access log. */
size_t gw_log_prefix(char *out, size_t outlen, gw_log_level level, const char *event);

/* Writes a whole pre-built line (the access log builds its own). */
void gw_log_write_line(const char *line, size_t len);

/* The writer thread (core/log_writer.c): while it runs, a line is copied into a ring of the
 * calling thread and written from there with others in one writev, so no request waits on the
 * log. A full ring drops the line and counts it. Before it starts and after it stops, lines
 * are written at once by their threads; stopping writes every queued line first. Fatal lines
 * are always written at once. */
int gw_log_start_writer(void);
void gw_log_stop_writer(void);
/* Lines dropped because a thread's ring was full (or the log could not be written). */
uint64_t gw_log_dropped(void);

/* Escapes `s` as the inside of a JSON string into out (always NUL-terminated, truncated to fit). */
size_t gw_json_escape(char *out, size_t outlen, const char *s, size_t len);

/* Whether a line of this level would be written: callers skip formatting when not. */
int gw_log_enabled(gw_log_level level);

/* A fatal error before or while starting: to stderr always (whatever log.access says), and to
 * the log file too when log.access names one. */
void gw_log_fatal(const char *event, const char *fields, ...) __attribute__((format(printf, 2, 3)));

#define gw_log_debug(ev, ...)                                                                      \
    do {                                                                                           \
        if (gw_log_enabled(GW_LOG_DEBUG)) gw_log(GW_LOG_DEBUG, ev, __VA_ARGS__);                   \
    } while (0)
#define gw_log_info(ev, ...) gw_log(GW_LOG_INFO, ev, __VA_ARGS__)
#define gw_log_warn(ev, ...) gw_log(GW_LOG_WARN, ev, __VA_ARGS__)
#define gw_log_error(ev, ...) gw_log(GW_LOG_ERROR, ev, __VA_ARGS__)

#endif
