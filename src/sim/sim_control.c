/* Instance-wide faults: GET/POST /sim/fault and POST /sim/reset, which also clears them.
 *
 * Most settings are only stored (sim_instance_store) and read by every later request. "refuse"
 * also closes the listeners, so connects are refused as by an engine that was killed, and
 * clearing it reopens them on the same port. Each worker's listener belongs to its event_base
 * and evhttp is not thread-safe, so the request that changes the state only bumps a generation
 * and wakes every worker (event_active is thread-safe); each worker then closes or reopens its
 * own listener and acknowledges the generation. The request answers once all have, so when
 * the answer arrives the port refuses or accepts for certain. While refusing, a bound socket
 * that never listens holds the port, so no outgoing connection can take it meanwhile. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/socket.h>
#include <unistd.h>

#include "sim/sim_internal.h"

typedef enum { REPLY_FAULT, REPLY_STATS } control_reply;

/* A /sim request waiting for every worker to carry out a listening change. */
typedef struct control_wait {
    sim_inflight base;
    unsigned generation;
    control_reply reply;
} control_wait;

void sim_control_listen_apply(evutil_socket_t fd, short what, void *arg) {
    sim_worker *w = arg;
    sim_server *s = w->server;
    /* The generation first: the state read after it is at least as new as that generation. */
    unsigned generation = atomic_load_explicit(&s->listen_generation, memory_order_acquire);
    bool refuse = atomic_load_explicit(&s->refusing, memory_order_relaxed);
    int error = 0;
    if (refuse && w->bound != NULL) {
        /* Closes the listening socket: connections waiting in its backlog are reset too. */
        evhttp_del_accept_socket(w->http, w->bound);
        w->bound = NULL;
    } else if (!refuse && w->bound == NULL) {
        error = sim_worker_listen(w);
    }
    atomic_store_explicit(&w->listen_error, error, memory_order_relaxed);
    atomic_store_explicit(&w->listen_applied, generation, memory_order_release);
}

/* True once every worker has carried out `generation`; *error is then the errno of a listener
 * that could not be reopened, or 0. */
static bool listeners_settled(const sim_server *s, unsigned generation, int *error) {
    *error = 0;
    for (int i = 0; i < s->worker_count; i++) {
        const sim_worker *w = s->workers[i];
        unsigned applied = atomic_load_explicit(&w->listen_applied, memory_order_acquire);
        if ((int)(applied - generation) < 0) return false; /* wraps like the counter */
        int failed = atomic_load_explicit(&w->listen_error, memory_order_relaxed);
        if (failed != 0 && *error == 0) *error = failed;
    }
    return true;
}

/* Keeps the port bound while no listener is, so that the kernel does not hand it to an
 * outgoing connection before the listeners come back (SO_REUSEADDR lets them bind beside a
 * socket that is not listening). Best effort: without it a reopen could only fail, and says
 * so. Kept until sim_stop. */
static void hold_port(sim_server *s) {
    if (s->port_hold_fd >= 0) return;
    int fd = socket(s->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
    if (bind(fd, (const struct sockaddr *)&s->addr, s->addr_len) != 0) {
        close(fd);
        return;
    }
    s->port_hold_fd = fd;
}

/* Stores the setting and starts any listening change; returns the generation to wait for. */
static unsigned control_set(sim_server *s, const sim_instance_setting *setting) {
    pthread_mutex_lock(&s->control_lock);
    sim_instance_store(s, setting);
    bool refuse = setting->fault == SIM_FAULT_REFUSE;
    if (refuse) hold_port(s);
    int error = 0;
    unsigned generation = atomic_load_explicit(&s->listen_generation, memory_order_relaxed);
    bool settled = listeners_settled(s, generation, &error);
    /* Also after a reopen that failed: asking again retries it. */
    bool change = refuse != atomic_load_explicit(&s->refusing, memory_order_relaxed) ||
                  (settled && error != 0);
    if (change) {
        atomic_store_explicit(&s->refusing, refuse, memory_order_relaxed);
        generation = atomic_fetch_add_explicit(&s->listen_generation, 1, memory_order_release) + 1;
    }
    pthread_mutex_unlock(&s->control_lock);
    if (change)
        for (int i = 0; i < s->worker_count; i++)
            event_active(&s->workers[i]->listen_control, EV_TIMEOUT, 1);
    return generation;
}

static void send_reply(sim_worker *w, struct evhttp_request *req, control_reply reply,
                       int listen_error) {
    const sim_server *s = w->server;
    if (listen_error != 0) {
        char message[256];
        snprintf(message, sizeof(message), "Cannot listen on %s:%d again: %s", s->host, s->port,
                 strerror(listen_error));
        sim_reply_error(w, req, SIM_SHAPE_OPENAI, 500, NULL, message);
        return;
    }
    if (reply == REPLY_STATS) {
        sim_stats_body(s, w->scratch);
    } else {
        sim_instance_setting setting;
        sim_instance_load(s, &setting);
        sim_instance_body(&setting, w->scratch);
    }
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
    evhttp_send_reply(req, 200, NULL, w->scratch);
}

static void wait_poll(sim_inflight *fl) {
    control_wait *cw = (control_wait *)fl;
    int error;
    if (!listeners_settled(fl->worker->server, cw->generation, &error)) {
        /* Other workers act within their next loop turn; this is a test hook, so polling is
         * simpler than a cross-thread completion. */
        sim_inflight_arm(fl, 1);
        return;
    }
    sim_worker *w = fl->worker;
    struct evhttp_request *req = fl->req;
    control_reply reply = cw->reply;
    sim_inflight_end(fl);
    evbuffer_drain(w->scratch, evbuffer_get_length(w->scratch));
    send_reply(w, req, reply, error);
}

static void wait_destroy(sim_inflight *fl) {
    free(fl);
}

static const sim_inflight_ops wait_ops = {
    .on_timer = wait_poll, .destroy = wait_destroy, .uncounted = true};

/* Answers once the workers have carried out `generation` (at once when they have). */
static void reply_when_settled(sim_worker *w, struct evhttp_request *req, unsigned generation,
                               control_reply reply) {
    int error;
    if (listeners_settled(w->server, generation, &error)) {
        send_reply(w, req, reply, error);
        return;
    }
    control_wait *cw = calloc(1, sizeof(*cw));
    if (cw == NULL) {
        sim_reply_error(w, req, SIM_SHAPE_OPENAI, 500, NULL, "out of memory");
        return;
    }
    cw->generation = generation;
    cw->reply = reply;
    sim_inflight_begin(&cw->base, &wait_ops, w, req, -1, true);
    sim_inflight_arm(&cw->base, 1);
}

void sim_control_fault(sim_worker *w, struct evhttp_request *req, enum evhttp_cmd_type cmd) {
    sim_server *s = w->server;
    if (cmd != EVHTTP_REQ_POST) {
        /* GET: the setting now, and no wait for a change another request may have started. */
        sim_instance_setting setting;
        sim_instance_load(s, &setting);
        sim_instance_body(&setting, w->scratch);
        evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                          "application/json");
        evhttp_send_reply(req, 200, NULL, w->scratch);
        return;
    }
    struct evbuffer *input = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(input);
    const char *text = len ? (const char *)evbuffer_pullup(input, -1) : "";
    if (text == NULL) {
        sim_reply_error(w, req, SIM_SHAPE_OPENAI, 500, NULL, "out of memory");
        return;
    }
    sim_problem problem;
    json_object *body = sim_json_parse(w, text, len, &problem);
    if (body != NULL && !json_object_is_type(body, json_type_object))
        sim_problem_set(&problem, 400, NULL, "The request body must be a JSON object.");
    sim_instance_setting setting;
    bool valid = body != NULL && json_object_is_type(body, json_type_object) &&
                 sim_instance_from_json(body, &setting, &problem);
    json_object_put(body);
    if (!valid) {
        sim_reply_problem(w, req, SIM_SHAPE_OPENAI, &problem);
        return;
    }
    reply_when_settled(w, req, control_set(s, &setting), REPLY_FAULT);
}

void sim_control_reset(sim_worker *w, struct evhttp_request *req) {
    sim_server *s = w->server;
    sim_stats_reset(s);
    sim_instance_setting cleared;
    sim_instance_clear(&cleared);
    reply_when_settled(w, req, control_set(s, &cleared), REPLY_STATS);
}
