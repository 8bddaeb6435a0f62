/* Requests answered later (delayed answers, hangs, stalls, streams, /sim requests waiting on
 * the workers) and the one hard part they share: noticing a client that leaves, freeing
 * everything exactly once, and counting it.
 *
 * How a departure is seen. Once evhttp has written anything of the answer, it reads the socket
 * (with no read callback) to notice a close; EOF or a write error then detaches the unanswered
 * request from the connection, frees the connection and calls its close callback, which is
 * ours: we count the cancel and free the request evhttp left behind. Before the answer starts,
 * evhttp reads nothing, so a client that leaves would go unnoticed until we wrote; we turn on
 * the same read-for-close mode ourselves (sim_inflight_begin with watch_client), bounded by a
 * read watermark, and restore evhttp's state before answering. */
#include <stdio.h>
#include <stdlib.h>

#include <event2/bufferevent.h>

#include "sim/sim_internal.h"

/* Bytes a waiting client may pipeline before we stop reading (and watching) its socket. */
enum { SIM_PIPELINE_LIMIT = 64 * 1024 };

static void unlink_inflight(sim_inflight *fl) {
    sim_worker *w = fl->worker;
    if (fl->prev != NULL)
        fl->prev->next = fl->next;
    else
        w->inflight = fl->next;
    if (fl->next != NULL) fl->next->prev = fl->prev;
    fl->prev = fl->next = NULL;
}

/* Frees fl and everything it holds except the request and the connection. */
static void release(sim_inflight *fl) {
    sim_worker *w = fl->worker;
    /* Unconditionally: the timer may also be queued by event_active, not only pending. */
    evtimer_del(&fl->timer);
    fl->timer_pending = false;
    unlink_inflight(fl);
    if (!fl->ops->uncounted) sim_count(&w->stats.active, -1);
    if (fl->model >= 0) sim_count(&w->model_stats[fl->model].running, -1);
    fl->ops->destroy(fl);
}

static void on_client_gone(struct evhttp_connection *conn, void *arg) {
    sim_inflight *fl = arg;
    struct evhttp_request *req = fl->req;
    if (!fl->ops->uncounted) sim_count(&fl->worker->stats.streams_cancelled, 1);
    /* On EOF or a write error evhttp unlinks an unfinished request from the connection it is
     * freeing (evhttp_connection_incoming_fail) and leaves it to us. If instead the connection
     * is freed with the request still on it, evhttp frees both. */
    bool detached = evhttp_request_get_connection(req) == NULL;
    release(fl);
    if (detached) evhttp_request_free(req);
}

static void on_timer(evutil_socket_t fd, short what, void *arg) {
    sim_inflight *fl = arg;
    fl->timer_pending = false;
    fl->ops->on_timer(fl);
}

static void watch_client(sim_inflight *fl) {
    struct bufferevent *bev = evhttp_connection_get_bufferevent(fl->conn);
    bufferevent_data_cb readcb, writecb;
    bufferevent_event_cb eventcb;
    void *cbarg;
    bufferevent_getcb(bev, &readcb, &writecb, &eventcb, &cbarg);
    /* As evhttp_write_buffer does: no read callback (the bytes wait for the next request), but
     * EOF and errors reach evhttp's event callback, which ends in on_client_gone. */
    bufferevent_setcb(bev, NULL, writecb, eventcb, cbarg);
    bufferevent_setwatermark(bev, EV_READ, 0, SIM_PIPELINE_LIMIT);
    bufferevent_enable(bev, EV_READ);
    fl->watching = true;
}

static void unwatch_client(sim_inflight *fl) {
    struct bufferevent *bev = evhttp_connection_get_bufferevent(fl->conn);
    bufferevent_disable(bev, EV_READ);
    bufferevent_setwatermark(bev, EV_READ, 0, 0);
    fl->watching = false;
}

void sim_inflight_begin(sim_inflight *fl, const sim_inflight_ops *ops, sim_worker *w,
                        struct evhttp_request *req, int model, bool watch) {
    fl->ops = ops;
    fl->worker = w;
    fl->req = req;
    fl->conn = evhttp_request_get_connection(req);
    fl->model = model;
    fl->watching = false;
    fl->timer_pending = false;
    evtimer_assign(&fl->timer, w->base, on_timer, fl);
    fl->prev = NULL;
    fl->next = w->inflight;
    if (w->inflight != NULL) w->inflight->prev = fl;
    w->inflight = fl;
    if (!ops->uncounted) sim_count(&w->stats.active, 1);
    if (model >= 0) sim_count(&w->model_stats[model].running, 1);
    evhttp_connection_set_closecb(fl->conn, on_client_gone, fl);
    if (watch) watch_client(fl);
}

void sim_inflight_arm(sim_inflight *fl, int delay_ms) {
    struct timeval tv = {.tv_sec = delay_ms / 1000, .tv_usec = (delay_ms % 1000) * 1000};
    evtimer_add(&fl->timer, &tv);
    fl->timer_pending = true;
}

void sim_inflight_end(sim_inflight *fl) {
    if (fl->watching) unwatch_client(fl);
    evhttp_connection_set_closecb(fl->conn, NULL, NULL);
    release(fl);
}

void sim_inflight_close(sim_inflight *fl) {
    struct evhttp_connection *conn = fl->conn;
    evhttp_connection_set_closecb(conn, NULL, NULL);
    release(fl);
    /* The request is still on the connection: evhttp frees both. */
    evhttp_connection_free(conn);
}

void sim_inflight_reset(sim_inflight *fl) {
    struct evhttp_connection *conn = fl->conn;
    evhttp_connection_set_closecb(conn, NULL, NULL);
    release(fl);
    sim_connection_reset(conn);
}

void sim_inflight_forget(sim_inflight *fl) {
    release(fl);
}

void sim_inflight_abandon_all(sim_worker *w) {
    while (w->inflight != NULL) {
        sim_inflight *fl = w->inflight;
        evhttp_connection_set_closecb(fl->conn, NULL, NULL);
        release(fl);
    }
}

/* A whole answer held back for first_token_delay_ms. */
typedef struct delayed_reply {
    sim_inflight base;
    struct evbuffer *body;
    sim_options opt;
    long prompt_tokens, completion_tokens;
    bool length_limited;
} delayed_reply;

static void delayed_reply_send(sim_inflight *fl) {
    delayed_reply *d = (delayed_reply *)fl;
    sim_worker *w = fl->worker;
    struct evhttp_request *req = fl->req;
    struct evbuffer *body = d->body;
    sim_options opt = d->opt;
    int model = fl->model;
    long prompt = d->prompt_tokens, completion = d->completion_tokens;
    bool length = d->length_limited;
    d->body = NULL;
    sim_inflight_end(fl);
    if (model >= 0) sim_stats_success(w, model, prompt, completion, length);
    sim_reply_json(req, &opt, 200, body);
    evbuffer_free(body);
}

static void delayed_reply_destroy(sim_inflight *fl) {
    delayed_reply *d = (delayed_reply *)fl;
    if (d->body != NULL) evbuffer_free(d->body);
    free(d);
}

static const sim_inflight_ops delayed_reply_ops = {.on_timer = delayed_reply_send,
                                                   .destroy = delayed_reply_destroy};

void sim_delayed_reply(sim_worker *w, struct evhttp_request *req, const sim_options *opt,
                       int delay_ms, struct evbuffer *body, int model, long prompt_tokens,
                       long completion_tokens, bool length_limited) {
    delayed_reply *d = calloc(1, sizeof(*d));
    struct evbuffer *held = d ? evbuffer_new() : NULL;
    if (held == NULL) {
        free(d);
        evbuffer_drain(body, evbuffer_get_length(body));
        sim_reply_error(w, req, opt->error_shape, 500, NULL, "out of memory");
        return;
    }
    evbuffer_add_buffer(held, body);
    d->body = held;
    d->opt = *opt;
    d->prompt_tokens = prompt_tokens;
    d->completion_tokens = completion_tokens;
    d->length_limited = length_limited;
    sim_inflight_begin(&d->base, &delayed_reply_ops, w, req, model, true);
    sim_inflight_arm(&d->base, delay_ms);
}

/* A request that is never answered (hang), or never finished (stall). */
static void hang_timer(sim_inflight *fl) {}

static void hang_destroy(sim_inflight *fl) {
    free(fl);
}

static const sim_inflight_ops hang_ops = {.on_timer = hang_timer, .destroy = hang_destroy};

void sim_hang(sim_worker *w, struct evhttp_request *req, int model) {
    sim_inflight *fl = calloc(1, sizeof(*fl));
    if (fl == NULL) {
        sim_fault_reset(req);
        return;
    }
    sim_inflight_begin(fl, &hang_ops, w, req, model, true);
}

void sim_stall(sim_worker *w, struct evhttp_request *req, int model, size_t content_length) {
    sim_inflight *fl = calloc(1, sizeof(*fl));
    if (fl == NULL) {
        sim_fault_reset(req);
        return;
    }
    struct evkeyvalq *headers = evhttp_request_get_output_headers(req);
    char length[24];
    snprintf(length, sizeof(length), "%zu", content_length > 0 ? content_length : 1);
    evhttp_add_header(headers, "Content-Type", "application/json");
    /* With a Content-Length evhttp sends the head alone, not chunked, and the client waits for
     * a body that never comes. Once evhttp writes, it watches the socket itself for a close. */
    evhttp_add_header(headers, "Content-Length", length);
    sim_inflight_begin(fl, &hang_ops, w, req, model, false);
    evhttp_send_reply_start(req, 200, NULL);
}
