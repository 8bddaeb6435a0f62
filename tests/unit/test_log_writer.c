/* The log writer thread: lines from many threads arrive whole and in each thread's order; a
 * writer stuck on a full pipe makes pushes drop (counted), never block; stopping writes every
 * queued line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "core/log_writer.h"

enum { THREADS = 4, LINES = 5000 };

typedef struct reader {
    int fd;
    char *data;
    size_t len, cap;
} reader;

static void *read_all(void *arg) {
    reader *rd = arg;
    for (;;) {
        if (rd->len + 65536 > rd->cap) {
            rd->cap = rd->cap ? rd->cap * 2 : 1 << 20;
            rd->data = realloc(rd->data, rd->cap);
        }
        ssize_t n = read(rd->fd, rd->data + rd->len, 65536);
        if (n <= 0) break;
        rd->len += (size_t)n;
    }
    return NULL;
}

static void *push_lines(void *arg) {
    int id = (int)(intptr_t)arg;
    char line[128];
    for (int i = 0; i < LINES; i++) {
        int n =
            snprintf(line, sizeof line, "{\"thread\":%d,\"seq\":%d,\"pad\":\"%040d\"}\n", id, i, i);
        assert_int_equal(gw_log_writer_push(line, (size_t)n), 1);
    }
    return NULL;
}

/* Every line is whole, each thread's lines come in the order it wrote them, and what was not
 * written was counted as dropped (threads pushing as fast as they can may outrun the writer). */
static void lines_arrive_whole_and_in_order(void **state) {
    (void)state;
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    reader rd = {.fd = fds[0]};
    pthread_t reader_thread, threads[THREADS];
    pthread_create(&reader_thread, NULL, read_all, &rd);
    assert_int_equal(gw_log_writer_start(fds[1]), 0);
    uint64_t dropped_before = gw_log_dropped();
    for (int t = 0; t < THREADS; t++)
        pthread_create(&threads[t], NULL, push_lines, (void *)(intptr_t)t);
    for (int t = 0; t < THREADS; t++)
        pthread_join(threads[t], NULL);
    gw_log_writer_stop();
    close(fds[1]);
    pthread_join(reader_thread, NULL);
    int last[THREADS] = {-1, -1, -1, -1};
    size_t lines = 0;
    for (char *p = rd.data, *end = rd.data + rd.len; p < end;) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        assert_non_null(nl);
        int id, seq, pad;
        char *own = strstr(p, "\"event\":\"log_lines_dropped\"");
        if (own && own < nl) { /* the writer's own word on the drops */
            p = nl + 1;
            continue;
        }
        assert_int_equal(sscanf(p, "{\"thread\":%d,\"seq\":%d,\"pad\":\"%d\"}", &id, &seq, &pad),
                         3);
        assert_true(id >= 0 && id < THREADS);
        assert_true(seq > last[id]);
        last[id] = seq;
        assert_int_equal(pad, seq);
        assert_memory_equal(nl - 2, "\"}", 2); /* whole */
        lines++;
        p = nl + 1;
    }
    assert_int_equal(lines + (gw_log_dropped() - dropped_before), THREADS * LINES);
    assert_true(lines > 1000);
    free(rd.data);
    close(fds[0]);
}

/* Nobody reads the pipe: the writer blocks in writev, the ring fills, and further lines are
 * dropped and counted while the pushing thread goes on. Once the pipe is read, stopping writes
 * what was queued: written + dropped = pushed. */
static void a_stuck_log_drops_and_counts(void **state) {
    (void)state;
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    fcntl(fds[1], F_SETPIPE_SZ, 4096);
    assert_int_equal(gw_log_writer_start(fds[1]), 0);
    uint64_t dropped_before = gw_log_dropped();
    char line[200];
    memset(line, 'x', sizeof line);
    line[0] = '{';
    line[sizeof line - 2] = '}';
    line[sizeof line - 1] = '\n';
    int pushed = 0;
    while (gw_log_dropped() - dropped_before < 100) { /* ends: the pipe holds a few KB */
        assert_int_equal(gw_log_writer_push(line, sizeof line), 1);
        pushed++;
        assert_true(pushed < 10000000);
    }
    reader rd = {.fd = fds[0]};
    pthread_t reader_thread;
    pthread_create(&reader_thread, NULL, read_all, &rd);
    gw_log_writer_stop();
    close(fds[1]);
    pthread_join(reader_thread, NULL);
    uint64_t dropped = gw_log_dropped() - dropped_before;
    size_t written = 0, warnings = 0;
    for (char *p = rd.data, *end = rd.data + rd.len; p < end;) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        assert_non_null(nl);
        if ((size_t)(nl + 1 - p) == sizeof line && !memcmp(p, line, sizeof line))
            written++;
        else /* the writer's own word on it */
            assert_non_null(strstr(p, "\"event\":\"log_lines_dropped\"")), warnings++;
        p = nl + 1;
    }
    assert_true(warnings <= 1);
    assert_int_equal(written + dropped, (size_t)pushed);
    assert_true(written > 1000); /* the ring held the lines before the drops */
    free(rd.data);
    close(fds[0]);
}

/* Without a running writer a push is refused: the caller writes the line itself. */
static void no_writer_no_queue(void **state) {
    (void)state;
    assert_int_equal(gw_log_writer_push("{}\n", 3), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(no_writer_no_queue),
        cmocka_unit_test(lines_arrive_whole_and_in_order),
        cmocka_unit_test(a_stuck_log_drops_and_counts),
        cmocka_unit_test(no_writer_no_queue),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
