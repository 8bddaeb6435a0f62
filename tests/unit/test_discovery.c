/* DNS discovery against a real DNS server: a dnsmasq of the test's own on a free loopback port,
 * answering from a hosts file and srv-host lines with a TTL of 1 s. Nothing here asks any other
 * resolver: every discovery is given the test's resolver explicitly. Waits are on conditions
 * (the event loop runs until the callback reports what is expected, 10 s at most). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "upstream/discovery.h"

enum { WAIT_MS = 10000, DNSMASQ_READY_MS = 5000, MANY_ADDRESSES = 300 };

static const char DNSMASQ[] = "/usr/sbin/dnsmasq";

/* The group's DNS server. */
static struct {
    char dir[64];
    char hosts_path[128];
    char srv_path[128];
    char log_path[128];
    char resolver[32]; /* "127.0.0.1:port" */
    int port;
    pid_t pid;
} dns = {.pid = -1};

static const char default_hosts[] = "127.0.0.2 vllm.internal\n"
                                    "127.0.0.3 vllm.internal\n"
                                    "127.0.0.2 dual.internal\n"
                                    "fd00::2 dual.internal\n"
                                    "127.0.0.5 gpu1.pool.internal\n"
                                    "127.0.0.6 gpu2.pool.internal\n"
                                    "fd00::6 gpu2.pool.internal\n"
                                    "127.0.0.7 gpu3.pool.internal\n";

/* gpu1:8001 twice: the set keeps one endpoint, from the preferred record (priority 0). */
static const char default_srv[] =
    "srv-host=_vllm._tcp.pool.internal,gpu1.pool.internal,8001,0,10\n"
    "srv-host=_vllm._tcp.pool.internal,gpu1.pool.internal,8001,1,5\n"
    "srv-host=_vllm._tcp.pool.internal,gpu2.pool.internal,8002,0,20\n";

/* ---- files and the dnsmasq process ----------------------------------------------------- */

/* Written whole under another name, then renamed: dnsmasq never reads half a file. */
static int write_file(const char *path, const char *text) {
    char tmp[160];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f) return -1;
    int ok = fputs(text, f) >= 0;
    ok = (fclose(f) == 0) && ok;
    return ok && rename(tmp, path) == 0 ? 0 : -1;
}

/* The default hosts plus `extra` lines, and many.internal with more addresses than a set keeps. */
static int write_hosts(const char *base_lines, const char *extra) {
    size_t cap = strlen(base_lines) + strlen(extra) + MANY_ADDRESSES * 32 + 1;
    char *text = malloc(cap);
    if (!text) return -1;
    size_t used = (size_t)snprintf(text, cap, "%s%s", base_lines, extra);
    for (int i = 0; i < MANY_ADDRESSES; i++)
        used += (size_t)snprintf(text + used, cap - used, "127.1.%d.%d many.internal\n", i / 250,
                                 i % 250 + 1);
    int rc = write_file(dns.hosts_path, text);
    free(text);
    return rc;
}

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
    }
}

static long now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* A loopback port free for both UDP and TCP right now (dnsmasq needs both). */
static int free_port(void) {
    for (int attempt = 0; attempt < 20; attempt++) {
        int udp = socket(AF_INET, SOCK_DGRAM, 0), tcp = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in addr = {.sin_family = AF_INET};
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof addr;
        int port = 0;
        if (udp >= 0 && tcp >= 0 && bind(udp, (struct sockaddr *)&addr, sizeof addr) == 0 &&
            getsockname(udp, (struct sockaddr *)&addr, &len) == 0 &&
            bind(tcp, (struct sockaddr *)&addr, sizeof addr) == 0)
            port = ntohs(addr.sin_port);
        if (udp >= 0) close(udp);
        if (tcp >= 0) close(tcp);
        if (port) return port;
    }
    return 0;
}

/* Ready when it accepts a TCP connection on its port; 0 when it exited or took too long. */
static int wait_dnsmasq_ready(void) {
    long deadline = now_ms() + DNSMASQ_READY_MS;
    while (now_ms() < deadline) {
        int status;
        if (waitpid(dns.pid, &status, WNOHANG) == dns.pid) {
            dns.pid = -1;
            return 0;
        }
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)dns.port)};
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        int connected = fd >= 0 && connect(fd, (struct sockaddr *)&addr, sizeof addr) == 0;
        if (fd >= 0) close(fd);
        if (connected) return 1;
        sleep_ms(10);
    }
    return 0;
}

static void stop_dnsmasq(void) {
    if (dns.pid <= 0) return;
    kill(dns.pid, SIGKILL); /* also ends one the test left stopped with SIGSTOP */
    while (waitpid(dns.pid, NULL, 0) == -1 && errno == EINTR) {
    }
    dns.pid = -1;
}

static int start_dnsmasq(void) {
    char port_arg[32], hosts_arg[160], conf_arg[160];
    snprintf(port_arg, sizeof port_arg, "--port=%d", dns.port);
    snprintf(hosts_arg, sizeof hosts_arg, "--addn-hosts=%s", dns.hosts_path);
    snprintf(conf_arg, sizeof conf_arg, "--conf-file=%s", dns.srv_path);
    char *const argv[] = {
        (char *)DNSMASQ, "--no-daemon", "--no-resolv", "--no-hosts", "--conf-file=/dev/null",
        conf_arg, hosts_arg, port_arg, "--listen-address=127.0.0.1", "--bind-interfaces",
        /* answers carry a 1 s TTL, so the discovery re-resolves every second */
        "--local-ttl=1",
        /* .internal is answered from local data only: a name not there is NXDOMAIN */
        "--local=/internal/", "--pid-file", NULL};
    pid_t pid = fork();
    if (pid < 0) return 0;
    if (pid == 0) {
        /* dies with the test process, even one that crashes before its teardown */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int log_fd = open(dns.log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (log_fd >= 0) {
            dup2(log_fd, STDOUT_FILENO);
            dup2(log_fd, STDERR_FILENO);
            close(log_fd);
        }
        execv(DNSMASQ, argv);
        _exit(127);
    }
    dns.pid = pid;
    return wait_dnsmasq_ready();
}

/* The same port again: the discoveries under test keep their resolver. */
static int restart_dnsmasq(void) {
    stop_dnsmasq();
    return start_dnsmasq();
}

static int dns_server_up(void **state) {
    (void)state;
    snprintf(dns.dir, sizeof dns.dir, "/tmp/aigw-dns-XXXXXX");
    if (!mkdtemp(dns.dir)) return -1;
    chmod(dns.dir, 0755);
    snprintf(dns.hosts_path, sizeof dns.hosts_path, "%s/hosts", dns.dir);
    snprintf(dns.srv_path, sizeof dns.srv_path, "%s/srv.conf", dns.dir);
    snprintf(dns.log_path, sizeof dns.log_path, "%s/dnsmasq.log", dns.dir);
    if (write_hosts(default_hosts, "") || write_file(dns.srv_path, default_srv)) return -1;
    /* another process may take the free port before dnsmasq binds it: try another */
    for (int attempt = 0; attempt < 5; attempt++) {
        dns.port = free_port();
        if (dns.port && start_dnsmasq()) {
            snprintf(dns.resolver, sizeof dns.resolver, "127.0.0.1:%d", dns.port);
            return 0;
        }
        stop_dnsmasq();
    }
    fprintf(stderr, "dnsmasq did not start; see %s\n", dns.log_path);
    return -1;
}

static int dns_server_down(void **state) {
    (void)state;
    stop_dnsmasq();
    const char *files[] = {dns.hosts_path, dns.srv_path, dns.log_path};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
        if (files[i][0]) unlink(files[i]);
    if (dns.dir[0]) rmdir(dns.dir);
    return 0;
}

/* ---- one test's loop and what its callback saw ----------------------------------------- */

typedef struct observer {
    int calls;
    size_t count;
    char set[8192]; /* the addresses, comma-separated */
    gw_discovered_endpoint first[4];
    int has_error;
    char error[512];
    gw_discovery **stop_in_callback; /* when set, the callback stops this discovery */
} observer;

typedef struct test_ctx {
    struct event_base *base;
    gw_discovery *d;
    observer seen;
} test_ctx;

static void record(void *ud, const gw_discovered_endpoint *eps, size_t count, const char *error) {
    observer *seen = ud;
    seen->calls++;
    seen->count = count;
    size_t used = 0;
    seen->set[0] = '\0';
    for (size_t i = 0; i < count && used < sizeof seen->set; i++)
        used += (size_t)snprintf(seen->set + used, sizeof seen->set - used, "%s%s", i ? "," : "",
                                 eps[i].address);
    for (size_t i = 0; i < count && i < 4; i++)
        seen->first[i] = eps[i];
    seen->has_error = error != NULL;
    snprintf(seen->error, sizeof seen->error, "%s", error ? error : "");
    if (seen->stop_in_callback && *seen->stop_in_callback) {
        gw_discovery_stop(*seen->stop_in_callback);
        *seen->stop_in_callback = NULL;
    }
}

static int each_test_setup(void **state) {
    /* every test starts from the default records and a running server */
    if (write_hosts(default_hosts, "") || write_file(dns.srv_path, default_srv) ||
        !restart_dnsmasq())
        return -1;
    test_ctx *t = calloc(1, sizeof *t);
    if (!t) return -1;
    t->base = event_base_new();
    if (!t->base) {
        free(t);
        return -1;
    }
    *state = t;
    return 0;
}

static int each_test_teardown(void **state) {
    test_ctx *t = *state;
    gw_discovery_stop(t->d);
    event_base_free(t->base);
    free(t);
    return 0;
}

static void start_with(test_ctx *t, const char *name, int use_srv, const char *resolver) {
    const char *resolvers[] = {resolver};
    gw_discovery_spec spec = {.name = name,
                              .port = 8000,
                              .use_srv = use_srv,
                              .resolvers = resolvers,
                              .resolver_count = 1};
    char err[256];
    t->d = gw_discovery_start(t->base, &spec, record, &t->seen, err, sizeof err);
    if (!t->d) fail_msg("gw_discovery_start: %s", err);
}

static void start(test_ctx *t, const char *name, int use_srv) {
    start_with(t, name, use_srv, dns.resolver);
}

typedef int (*condition)(const observer *seen, const void *arg);

static void on_deadline(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    *(int *)arg = 1;
}

/* Runs the loop until the condition holds or WAIT_MS pass; returns whether it holds. */
static int wait_until(test_ctx *t, condition met, const void *arg) {
    int expired = 0;
    struct event *deadline = evtimer_new(t->base, on_deadline, &expired);
    struct timeval tv = {WAIT_MS / 1000, (WAIT_MS % 1000) * 1000};
    evtimer_add(deadline, &tv);
    while (!met(&t->seen, arg) && !expired)
        event_base_loop(t->base, EVLOOP_ONCE);
    event_free(deadline);
    return met(&t->seen, arg);
}

static int set_is(const observer *seen, const void *expected) {
    return seen->calls > 0 && !strcmp(seen->set, expected);
}

static int error_reported(const observer *seen, const void *unused) {
    (void)unused;
    return seen->has_error;
}

static int error_cleared(const observer *seen, const void *unused) {
    (void)unused;
    return seen->calls > 0 && !seen->has_error;
}

static int empty_with_error(const observer *seen, const void *unused) {
    (void)unused;
    return seen->calls > 0 && seen->count == 0 && seen->has_error;
}

static int some_endpoints(const observer *seen, const void *unused) {
    (void)unused;
    return seen->count > 0;
}

static void wait_for_set(test_ctx *t, const char *expected) {
    if (!wait_until(t, set_is, expected))
        fail_msg("expected [%s], last reported [%s] (error: %s) after %d calls", expected,
                 t->seen.set, t->seen.has_error ? t->seen.error : "none", t->seen.calls);
}

/* ---- tests ----------------------------------------------------------------------------- */

static void resolves_a_records_of_a_name(void **state) {
    test_ctx *t = *state;
    start(t, "vllm.internal", 0);
    wait_for_set(t, "127.0.0.2:8000,127.0.0.3:8000");
    assert_false(t->seen.has_error);
    const gw_discovered_endpoint *ep = &t->seen.first[0];
    assert_string_equal(ep->ip, "127.0.0.2");
    assert_int_equal(ep->family, AF_INET);
    assert_int_equal(ep->port, 8000);
    assert_string_equal(ep->target, "vllm.internal");
    assert_int_equal(ep->priority, 0);
    assert_int_equal(ep->weight, 0);
}

static void resolves_both_families(void **state) {
    test_ctx *t = *state;
    start(t, "dual.internal", 0);
    wait_for_set(t, "127.0.0.2:8000,[fd00::2]:8000");
    assert_int_equal(t->seen.first[1].family, AF_INET6);
    assert_string_equal(t->seen.first[1].ip, "fd00::2");
}

static void follows_changed_records_on_their_ttl(void **state) {
    test_ctx *t = *state;
    start(t, "vllm.internal", 0);
    wait_for_set(t, "127.0.0.2:8000,127.0.0.3:8000");
    const char moved[] = "127.0.0.3 vllm.internal\n"
                         "127.0.0.4 vllm.internal\n";
    assert_int_equal(write_hosts(moved, ""), 0);
    assert_int_equal(kill(dns.pid, SIGHUP), 0); /* dnsmasq re-reads its hosts files */
    /* no refresh_now: the 1 s TTL alone must bring the change */
    wait_for_set(t, "127.0.0.3:8000,127.0.0.4:8000");
    assert_false(t->seen.has_error);
}

static void removed_name_empties_the_set(void **state) {
    test_ctx *t = *state;
    start(t, "vllm.internal", 0);
    wait_for_set(t, "127.0.0.2:8000,127.0.0.3:8000");
    assert_int_equal(write_hosts("127.0.0.9 other.internal\n", ""), 0);
    assert_int_equal(kill(dns.pid, SIGHUP), 0);
    /* NXDOMAIN is the server's answer that the records are gone, not a failure to ride out */
    assert_true(wait_until(t, empty_with_error, NULL));
    assert_non_null(strstr(t->seen.error, "NXDOMAIN"));
}

static void resolves_srv_targets_to_addresses(void **state) {
    test_ctx *t = *state;
    start(t, "_vllm._tcp.pool.internal", 1);
    wait_for_set(t, "127.0.0.5:8001,127.0.0.6:8002,[fd00::6]:8002");
    assert_false(t->seen.has_error);
    const gw_discovered_endpoint *gpu1 = &t->seen.first[0], *gpu2 = &t->seen.first[1];
    assert_string_equal(gpu1->target, "gpu1.pool.internal");
    assert_int_equal(gpu1->port, 8001);
    assert_int_equal(gpu1->priority, 0); /* of the two gpu1 records, the preferred one */
    assert_int_equal(gpu1->weight, 10);
    assert_string_equal(gpu2->target, "gpu2.pool.internal");
    assert_int_equal(gpu2->weight, 20);
    assert_string_equal(t->seen.first[2].target, "gpu2.pool.internal");
}

static void follows_srv_changes_after_restart(void **state) {
    test_ctx *t = *state;
    start(t, "_vllm._tcp.pool.internal", 1);
    wait_for_set(t, "127.0.0.5:8001,127.0.0.6:8002,[fd00::6]:8002");
    const char changed[] = "srv-host=_vllm._tcp.pool.internal,gpu1.pool.internal,8001,0,10\n"
                           "srv-host=_vllm._tcp.pool.internal,gpu3.pool.internal,8003,0,10\n";
    assert_int_equal(write_file(dns.srv_path, changed), 0);
    /* dnsmasq reads srv-host only at start */
    assert_true(restart_dnsmasq());
    gw_discovery_refresh_now(t->d);
    wait_for_set(t, "127.0.0.5:8001,127.0.0.7:8003");
}

static void silent_resolver_keeps_the_last_set(void **state) {
    test_ctx *t = *state;
    start(t, "vllm.internal", 0);
    wait_for_set(t, "127.0.0.2:8000,127.0.0.3:8000");
    assert_int_equal(kill(dns.pid, SIGSTOP), 0); /* up, bound, and answering nothing */
    gw_discovery_refresh_now(t->d);
    assert_true(wait_until(t, error_reported, NULL));
    assert_non_null(strstr(t->seen.error, "vllm.internal"));
    assert_int_equal(t->seen.count, 2);
    assert_string_equal(t->seen.set, "127.0.0.2:8000,127.0.0.3:8000");

    assert_int_equal(kill(dns.pid, SIGCONT), 0);
    /* the back-off retry finds it again and reports the recovery */
    assert_true(wait_until(t, error_cleared, NULL));
    assert_string_equal(t->seen.set, "127.0.0.2:8000,127.0.0.3:8000");
}

static void unanswered_first_resolution_reports_an_empty_set(void **state) {
    test_ctx *t = *state;
    char nobody[32];
    snprintf(nobody, sizeof nobody, "127.0.0.1:%d", free_port());
    start_with(t, "vllm.internal", 0, nobody);
    assert_true(wait_until(t, error_reported, NULL));
    assert_int_equal(t->seen.count, 0);
    assert_int_equal(t->seen.calls, 1);
}

static void keeps_at_most_256_endpoints(void **state) {
    test_ctx *t = *state;
    start(t, "many.internal", 0); /* 300 addresses: the answer needs TCP */
    assert_true(wait_until(t, some_endpoints, NULL));
    assert_int_equal(t->seen.count, GW_DISCOVERY_MAX_ENDPOINTS);
    assert_string_equal(t->seen.first[0].address, "127.1.0.1:8000");
    assert_false(t->seen.has_error);
}

static void callback_may_stop_the_discovery(void **state) {
    test_ctx *t = *state;
    start(t, "vllm.internal", 0);
    t->seen.stop_in_callback = &t->d;
    wait_for_set(t, "127.0.0.2:8000,127.0.0.3:8000");
    assert_null(t->d);
    assert_int_equal(t->seen.calls, 1);
}

static void stop_with_queries_in_flight(void **state) {
    test_ctx *t = *state;
    assert_int_equal(kill(dns.pid, SIGSTOP), 0);
    start(t, "_vllm._tcp.pool.internal", 1);
    /* the first round starts and its query goes out; nothing can answer it */
    event_base_loop(t->base, EVLOOP_NONBLOCK);
    event_base_loop(t->base, EVLOOP_NONBLOCK);
    gw_discovery_stop(t->d);
    t->d = NULL;
    event_base_loop(t->base, EVLOOP_NONBLOCK);
    assert_int_equal(t->seen.calls, 0);
}

static void start_rejects_bad_specs(void **state) {
    test_ctx *t = *state;
    char long_name[300];
    memset(long_name, 'a', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';
    const char *good[] = {dns.resolver}, *bad[] = {"resolver.example:53"};
    struct {
        gw_discovery_spec spec;
        const char *says;
    } cases[] = {
        {{.name = NULL, .port = 8000, .resolvers = good, .resolver_count = 1}, "name"},
        {{.name = long_name, .port = 8000, .resolvers = good, .resolver_count = 1}, "name"},
        {{.name = "vllm.internal", .port = 0, .resolvers = good, .resolver_count = 1}, "port"},
        {{.name = "vllm.internal", .port = 8000, .resolvers = bad, .resolver_count = 1},
         "resolver.example:53"},
        {{.name = "vllm.internal",
          .port = 8000,
          .resolvers = good,
          .resolver_count = 1,
          .min_ttl_ms = 5000,
          .max_ttl_ms = 2000},
         "min_ttl_ms"},
        {{.name = "vllm.internal",
          .port = 8000,
          .resolvers = good,
          .resolver_count = 1,
          .interval_ms = 5},
         "interval_ms"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char err[256] = "";
        gw_discovery *d =
            gw_discovery_start(t->base, &cases[i].spec, record, &t->seen, err, sizeof err);
        assert_null(d);
        if (!strstr(err, cases[i].says)) fail_msg("case %zu: \"%s\"", i, err);
    }
}

int main(void) {
    if (access(DNSMASQ, X_OK) != 0) {
        fprintf(stderr, "%s is missing (scripts/install-deps.sh installs dnsmasq-base)\n", DNSMASQ);
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(resolves_a_records_of_a_name, each_test_setup,
                                        each_test_teardown),
        cmocka_unit_test_setup_teardown(resolves_both_families, each_test_setup,
                                        each_test_teardown),
        cmocka_unit_test_setup_teardown(follows_changed_records_on_their_ttl, each_test_setup,
                                        each_test_teardown),
        cmocka_unit_test_setup_teardown(removed_name_empties_the_set, each_test_setup,
                                        each_test_teardown),
        cmocka_unit_test_setup_teardown(resolves_srv_targets_to_addresses, each_test_setup,
                                        each_test_teardown),
        cmocka_unit_test_setup_teardown(follows_srv_changes_after_restart, each_test_setup,
                                        each_test_teardown),
        cmocka_unit_test_setup_teardown(silent_resolver_keeps_the_last_set, each_test_setup,
                                        each_test_teardown),
        cmocka_unit_test_setup_teardown(unanswered_first_resolution_reports_an_empty_set,
                                        each_test_setup, each_test_teardown),
        cmocka_unit_test_setup_teardown(keeps_at_most_256_endpoints, each_test_setup,
                                        each_test_teardown),
        cmocka_unit_test_setup_teardown(callback_may_stop_the_discovery, each_test_setup,
                                        each_test_teardown),
        cmocka_unit_test_setup_teardown(stop_with_queries_in_flight, each_test_setup,
                                        each_test_teardown),
        cmocka_unit_test_setup_teardown(start_rejects_bad_specs, each_test_setup,
                                        each_test_teardown),
    };
    return cmocka_run_group_tests(tests, dns_server_up, dns_server_down);
}
