/* Server lifecycle: configuration, one listener + event_base + thread per worker (and worker 0
 * serves the optional control port and MindIE's management port), and a stop that frees
 * everything. All listeners are bound
 * before any thread starts, so sim_start can report a bind error synchronously and the port
 * accepts connections when it returns. */
#include <errno.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/listener.h>
#include <event2/thread.h>

#include "sim/sim_internal.h"

static void *worker_main(void *arg) {
    sim_worker *w = arg;
    event_base_loop(w->base, EVLOOP_NO_EXIT_ON_EMPTY);
    /* In-flight states first: evhttp_free then frees their connections and requests. */
    sim_inflight_abandon_all(w);
    evhttp_free(w->http);
    w->http = NULL;
    if (w->control_http != NULL) evhttp_free(w->control_http);
    w->control_http = NULL;
    if (w->management_http != NULL) evhttp_free(w->management_http);
    w->management_http = NULL;
    return NULL;
}

static void worker_free(sim_worker *w) {
    if (w == NULL) return;
    if (w->http != NULL || w->control_http != NULL || w->management_http != NULL)
        sim_inflight_abandon_all(w);
    if (w->http != NULL) evhttp_free(w->http);
    if (w->control_http != NULL) evhttp_free(w->control_http);
    if (w->management_http != NULL) evhttp_free(w->management_http);
    /* Another worker may have woken it after this one's loop ended. */
    if (w->base != NULL) event_del(&w->listen_control);
    if (w->scratch != NULL) evbuffer_free(w->scratch);
    if (w->tokener != NULL) json_tokener_free(w->tokener);
    if (w->base != NULL) event_base_free(w->base);
    sim_last_request_free(&w->last);
    free(w);
}

static struct event_base *new_base(void) {
    struct event_config *cfg = event_config_new();
    if (cfg == NULL) return NULL;
    event_config_set_flag(cfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
    struct event_base *base = event_base_new_with_config(cfg);
    event_config_free(cfg);
    return base;
}

/* Resolves host (an IP literal or a name; "[::1]" accepted) into *out. */
static bool resolve(const char *host, int port, struct sockaddr_storage *out, socklen_t *outlen,
                    char *err, size_t errlen) {
    char name[256];
    size_t len = strlen(host);
    if (len >= 2 && host[0] == '[' && host[len - 1] == ']') {
        host++;
        len -= 2;
    }
    if (len == 0 || len >= sizeof(name)) {
        snprintf(err, errlen, "invalid host");
        return false;
    }
    memcpy(name, host, len);
    name[len] = '\0';

    char service[16];
    snprintf(service, sizeof(service), "%d", port);
    struct addrinfo hints = {0};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(name, service, &hints, &res);
    if (rc != 0 || res == NULL) {
        snprintf(err, errlen, "cannot resolve %s: %s", name, gai_strerror(rc));
        return false;
    }
    memcpy(out, res->ai_addr, res->ai_addrlen);
    *outlen = res->ai_addrlen;
    freeaddrinfo(res);
    return true;
}

static void set_port(struct sockaddr_storage *sa, int port) {
    if (sa->ss_family == AF_INET6)
        ((struct sockaddr_in6 *)sa)->sin6_port = htons((uint16_t)port);
    else
        ((struct sockaddr_in *)sa)->sin_port = htons((uint16_t)port);
}

static int bound_port(evutil_socket_t fd) {
    struct sockaddr_storage sa;
    socklen_t len = sizeof(sa);
    if (getsockname(fd, (struct sockaddr *)&sa, &len) != 0) return -1;
    if (sa.ss_family == AF_INET6) return ntohs(((struct sockaddr_in6 *)&sa)->sin6_port);
    return ntohs(((struct sockaddr_in *)&sa)->sin_port);
}

static void configure_http(struct evhttp *http, void (*cb)(struct evhttp_request *, void *),
                           sim_worker *w) {
    evhttp_set_max_body_size(http, SIM_MAX_BODY_BYTES);
    evhttp_set_max_headers_size(http, SIM_MAX_HEADERS_BYTES);
    /* Every method reaches our callback, so a wrong one gets a JSON 405 rather than evhttp's. */
    evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
                                         EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS |
                                         EVHTTP_REQ_PATCH);
    /* Each answer sets its own type; an empty body (/health) carries none, as vLLM's. */
    evhttp_set_default_content_type(http, NULL);
    evhttp_set_gencb(http, cb, w);
}

int sim_worker_listen(sim_worker *w) {
    sim_server *s = w->server;
    struct evconnlistener *listener = evconnlistener_new_bind(
        w->base, NULL, NULL,
        LEV_OPT_REUSEABLE | LEV_OPT_REUSEABLE_PORT | LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC,
        1024, (const struct sockaddr *)&s->addr, (int)s->addr_len);
    if (listener == NULL) return errno != 0 ? errno : EADDRNOTAVAIL;
    struct evhttp_bound_socket *bound = evhttp_bind_listener(w->http, listener);
    if (bound == NULL) {
        evconnlistener_free(listener);
        return ENOMEM;
    }
    evutil_socket_t fd = evconnlistener_get_fd(listener);
    /* Accepted sockets inherit it (Linux): without it, a stream's first chunk waits for the ACK
     * of its headers (Nagle), which a client's delayed ACK holds for 40 ms. */
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (s->port == 0) {
        /* Worker 0 picked an ephemeral port: the others (and any reopening) bind to it. */
        s->port = bound_port(fd);
        set_port(&s->addr, s->port);
    }
    w->bound = bound;
    return 0;
}

/* One more evhttp on worker 0, on its own port, which the refuse fault leaves open: the /sim/
 * hooks on the control port, MindIE's health on the management port. Returns the bound port, or
 * -1 with a message in err. */
static int side_listen(sim_worker *w, struct evhttp **http, const char *what, int port,
                       void (*cb)(struct evhttp_request *, void *), char *err, size_t errlen) {
    sim_server *s = w->server;
    *http = evhttp_new(w->base);
    if (*http == NULL) {
        snprintf(err, errlen, "out of memory creating the %s listener", what);
        return -1;
    }
    configure_http(*http, cb, w);
    struct sockaddr_storage sa = s->addr;
    set_port(&sa, port);
    struct evconnlistener *listener = evconnlistener_new_bind(
        w->base, NULL, NULL, LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 64,
        (const struct sockaddr *)&sa, (int)s->addr_len);
    if (listener == NULL) {
        snprintf(err, errlen, "cannot listen on %s:%d (%s): %s", s->host, port, what,
                 strerror(errno));
        return -1;
    }
    if (evhttp_bind_listener(*http, listener) == NULL) {
        evconnlistener_free(listener);
        snprintf(err, errlen, "out of memory binding the %s listener", what);
        return -1;
    }
    return bound_port(evconnlistener_get_fd(listener));
}

static sim_worker *worker_new(sim_server *s, int index, char *err, size_t errlen) {
    sim_worker *w = NULL;
    /* Cache-line aligned: workers count on their own lines, other threads only read them. */
    if (posix_memalign((void **)&w, 64, sizeof(*w)) != 0) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    memset(w, 0, sizeof(*w));
    w->server = s;
    w->index = index;
    w->id_state = ((uint64_t)time(NULL) << 20) ^ ((uint64_t)(uintptr_t)w) ^
                  (0x9E3779B97F4A7C15ULL * (uint64_t)(index + 1));
    if (w->id_state == 0) w->id_state = 1;
    sim_last_request_init(&w->last);

    w->base = new_base();
    if (w->base != NULL)
        event_assign(&w->listen_control, w->base, -1, 0, sim_control_listen_apply, w);
    w->http = w->base ? evhttp_new(w->base) : NULL;
    w->tokener = json_tokener_new_ex(SIM_JSON_DEPTH);
    w->scratch = evbuffer_new();
    if (w->http == NULL || w->tokener == NULL || w->scratch == NULL) {
        snprintf(err, errlen, "out of memory creating worker %d", index);
        worker_free(w);
        return NULL;
    }
    json_tokener_set_flags(w->tokener, JSON_TOKENER_STRICT);
    configure_http(w->http, sim_handle_request, w);

    int error = sim_worker_listen(w);
    if (error != 0) {
        snprintf(err, errlen, "cannot listen on %s:%d: %s", s->host, s->port, strerror(error));
        worker_free(w);
        return NULL;
    }
    return w;
}

static void server_free(sim_server *s) {
    if (s->workers != NULL) {
        for (int i = 0; i < s->worker_count; i++)
            worker_free(s->workers[i]);
        free(s->workers);
    }
    if (s->port_hold_fd >= 0) close(s->port_hold_fd);
    if (s->control_lock_ready) pthread_mutex_destroy(&s->control_lock);
    sim_models_free(s);
    free(s->host);
    free(s);
}

static int clamp_delay(int ms) {
    if (ms < 0) return 0;
    return ms > SIM_MAX_DELAY_MS ? SIM_MAX_DELAY_MS : ms;
}

sim_server *sim_start(const sim_config *cfg, char *err, size_t errlen) {
    static const sim_config defaults = {0};
    if (cfg == NULL) cfg = &defaults;
    if (cfg->port < 0 || cfg->port > 65535) {
        snprintf(err, errlen, "invalid port %d", cfg->port);
        return NULL;
    }
    if (cfg->control_listener && (cfg->control_port < 0 || cfg->control_port > 65535)) {
        snprintf(err, errlen, "invalid control port %d", cfg->control_port);
        return NULL;
    }
    sim_engine engine;
    if (!sim_engine_parse(cfg->engine, &engine)) {
        snprintf(err, errlen,
                 "unknown engine '%.64s' (expected openai, vllm, sglang, mindie, tgi, anthropic "
                 "or azure)",
                 cfg->engine);
        return NULL;
    }
    if (cfg->management_listener && engine != SIM_ENGINE_MINDIE) {
        snprintf(err, errlen, "a management port is MindIE's: it needs the mindie engine");
        return NULL;
    }
    if (cfg->management_listener && (cfg->management_port < 0 || cfg->management_port > 65535)) {
        snprintf(err, errlen, "invalid management port %d", cfg->management_port);
        return NULL;
    }
    /* Threads share nothing on the request path, but stopping them crosses threads. */
    if (evthread_use_pthreads() != 0) {
        snprintf(err, errlen, "evthread_use_pthreads failed");
        return NULL;
    }
    /* A client that leaves mid-write must not kill the process; only when nobody chose. */
    struct sigaction old;
    if (sigaction(SIGPIPE, NULL, &old) == 0 && old.sa_handler == SIG_DFL) signal(SIGPIPE, SIG_IGN);

    sim_server *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->port_hold_fd = -1;
    s->control_port = -1;
    s->management_port = -1;
    s->engine = engine;
    s->shape = sim_engine_shape(engine);
    s->control_lock_ready = pthread_mutex_init(&s->control_lock, NULL) == 0;
    sim_instance_setting cleared;
    sim_instance_clear(&cleared);
    sim_instance_store(s, &cleared);
    s->host = strdup(cfg->host ? cfg->host : "127.0.0.1");
    s->port = cfg->port;
    s->first_token_ms = clamp_delay(cfg->first_token_delay_ms);
    s->inter_token_ms = clamp_delay(cfg->inter_token_delay_ms);
    s->output_tokens = cfg->output_tokens > 0 ? cfg->output_tokens : SIM_DEFAULT_OUTPUT_TOKENS;
    if (s->output_tokens > SIM_MAX_OUTPUT_TOKENS) s->output_tokens = SIM_MAX_OUTPUT_TOKENS;
    s->created = (long)time(NULL);
    s->worker_count = cfg->threads <= 0 ? 1 : cfg->threads;
    if (s->worker_count > SIM_MAX_THREADS) s->worker_count = SIM_MAX_THREADS;
    if (s->host == NULL || !s->control_lock_ready) {
        snprintf(err, errlen, "out of memory");
        server_free(s);
        return NULL;
    }
    if (!sim_models_parse(s, cfg->models ? cfg->models : "sim-model", err, errlen)) {
        server_free(s);
        return NULL;
    }

    if (!resolve(s->host, s->port, &s->addr, &s->addr_len, err, errlen)) {
        server_free(s);
        return NULL;
    }
    int count = s->worker_count;
    s->workers = calloc((size_t)count, sizeof(*s->workers));
    if (s->workers == NULL) {
        snprintf(err, errlen, "out of memory");
        server_free(s);
        return NULL;
    }
    for (int i = 0; i < count; i++) {
        s->workers[i] = worker_new(s, i, err, errlen);
        if (s->workers[i] == NULL) {
            server_free(s);
            return NULL;
        }
    }
    if (cfg->control_listener) {
        s->control_port = side_listen(s->workers[0], &s->workers[0]->control_http, "control",
                                      cfg->control_port, sim_handle_control_request, err, errlen);
        if (s->control_port < 0) {
            server_free(s);
            return NULL;
        }
    }
    if (engine == SIM_ENGINE_MINDIE) {
        int port = cfg->management_listener ? cfg->management_port : 0;
        s->management_port =
            side_listen(s->workers[0], &s->workers[0]->management_http, "management", port,
                        sim_handle_management_request, err, errlen);
        if (s->management_port < 0) {
            server_free(s);
            return NULL;
        }
    }
    for (int i = 0; i < count; i++) {
        sim_worker *w = s->workers[i];
        if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
            snprintf(err, errlen, "cannot start thread %d", i);
            sim_stop(s);
            return NULL;
        }
        w->thread_started = true;
    }
    return s;
}

int sim_port(const sim_server *s) {
    return s ? s->port : -1;
}

int sim_control_port(const sim_server *s) {
    return s ? s->control_port : -1;
}

int sim_management_port(const sim_server *s) {
    return s ? s->management_port : -1;
}

void sim_stop(sim_server *s) {
    if (s == NULL) return;
    for (int i = 0; i < s->worker_count; i++) {
        sim_worker *w = s->workers[i];
        if (w != NULL && w->thread_started) event_base_loopexit(w->base, NULL);
    }
    for (int i = 0; i < s->worker_count; i++) {
        sim_worker *w = s->workers[i];
        if (w != NULL && w->thread_started) pthread_join(w->thread, NULL);
    }
    server_free(s);
}
