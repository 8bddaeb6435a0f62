#include "mcp/mcp_worker.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/config.h"
#include "core/log.h"
#include "core/wake.h"
#include "mcp/mcp_internal.h"
#include "mcp/schema.h"
#include "upstream/curl_multi.h"

enum { SWEEP_MS = 500, MCP_UPSTREAM_CONNECTIONS = 64 };

/* Every worker's MCP state by worker index: where to post. Each entry is written before any
 * worker thread starts (pthread_create orders it before their reads) and cleared after every
 * worker has been joined (server.c stops them all before it frees one), so the plain array
 * needs no atomic: no thread reads an entry while another writes it. */
static gw_mcp_worker *registry[GW_MCP_WORKERS_MAX];

/* ---------- the inbox ---------- */

static void inbox_init(mcp_inbox *in) {
    for (size_t i = 0; i < MCP_INBOX_CAP; i++)
        atomic_init(&in->cells[i].seq, i);
    atomic_init(&in->head, 0);
    atomic_init(&in->tail, 0);
}

static int inbox_push(mcp_inbox *in, const mcp_note *note) {
    size_t pos = atomic_load_explicit(&in->head, memory_order_relaxed);
    for (;;) {
        mcp_cell *c = &in->cells[pos % MCP_INBOX_CAP];
        size_t seq = atomic_load_explicit(&c->seq, memory_order_acquire);
        intptr_t dif = (intptr_t)seq - (intptr_t)pos;
        if (dif == 0) {
            if (atomic_compare_exchange_weak_explicit(&in->head, &pos, pos + 1,
                                                      memory_order_relaxed, memory_order_relaxed)) {
                c->note = *note;
                atomic_store_explicit(&c->seq, pos + 1, memory_order_release);
                return 0;
            }
        } else if (dif < 0) {
            return -1; /* full */
        } else {
            pos = atomic_load_explicit(&in->head, memory_order_relaxed);
        }
    }
}

static int inbox_pop(mcp_inbox *in, mcp_note *note) {
    size_t pos = atomic_load_explicit(&in->tail, memory_order_relaxed);
    mcp_cell *c = &in->cells[pos % MCP_INBOX_CAP];
    size_t seq = atomic_load_explicit(&c->seq, memory_order_acquire);
    if ((intptr_t)seq - (intptr_t)(pos + 1) < 0) return -1; /* empty */
    *note = c->note;
    atomic_store_explicit(&in->tail, pos + 1, memory_order_relaxed);
    atomic_store_explicit(&c->seq, pos + MCP_INBOX_CAP, memory_order_release);
    return 0;
}

int mcp_post(int worker, mcp_note *note) {
    if (worker < 0 || worker >= GW_MCP_WORKERS_MAX || !registry[worker]) return -1;
    gw_mcp_worker *to = registry[worker];
    if (inbox_push(&to->inbox, note) < 0) return -1;
    /* An eventfd write, not event_active: the receiver's base takes no lock, so no libevent
     * call on it may come from here. The push's release store (the cell's seq) comes before
     * the signal, so the receiver's pop after its wake sees the note. */
    gw_wake_signal(to->inbox.wake);
    return 0;
}

/* ---------- exchanges ---------- */

mcp_exchange *mcp_exchange_alloc(gw_mcp_worker *mw) {
    mcp_exchange *x = mw->spare;
    if (!x) return calloc(1, sizeof *x);
    mw->spare = x->next;
    mw->spare_count--;
    memset(x, 0, sizeof *x);
    return x;
}

void mcp_exchange_release(gw_mcp_worker *mw, mcp_exchange *x) {
    if (mw->spare_count >= MCP_SPARE_MAX) {
        free(x);
        return;
    }
    x->next = mw->spare;
    mw->spare = x;
    mw->spare_count++;
}

/* ---------- streams ---------- */

static int stream_write(mcp_stream *st, const char *data, size_t len);
static void on_stream_caught_up(gw_http_req *req, void *ud);

static mcp_stream *find_stream(gw_mcp_worker *mw, gw_mcp_session_ref ref) {
    if (ref.slot >= GW_MCP_SESSIONS_MAX) return NULL;
    mcp_stream *st = mw->stream_of[ref.slot];
    return st && st->ref.gen == ref.gen ? st : NULL;
}

static void stream_unlink(mcp_stream *st) {
    gw_mcp_worker *mw = st->mw;
    if (st->prev)
        st->prev->next = st->next;
    else
        mw->streams = st->next;
    if (st->next) st->next->prev = st->prev;
    if (mw->stream_of[st->ref.slot] == st) mw->stream_of[st->ref.slot] = NULL;
    gw_drain_watch_remove(&mw->w->drain_watches, &st->watch);
    gw_mcp_session_detach_stream(st->ref, mw->w->index);
    /* a legacy session is its stream: it ends with it */
    if (st->kind == GW_MCP_SESSION_SSE) gw_mcp_session_close(st->ref);
}

/* The client left (or the server is going away): the stream is forgotten, its session freed
 * of it. */
static void on_stream_abort(gw_http_req *req, void *ud) {
    mcp_stream *st = ud;
    (void)req;
    stream_unlink(st);
    free(st);
}

void mcp_stream_end(mcp_stream *st) {
    gw_http_req *req = st->http;
    stream_unlink(st);
    req->on_abort = NULL;
    free(st);
    gw_http_stream_end(req);
}

static void on_stream_drain_notice(gw_drain_watch *watch) {
    mcp_stream *st = (mcp_stream *)((char *)watch - offsetof(mcp_stream, watch));
    mcp_stream_end(st);
}

mcp_stream *mcp_stream_open(gw_mcp_worker *mw, gw_http_req *req, gw_mcp_session_ref ref,
                            gw_mcp_session_kind kind, const char *first_event, size_t len) {
    mcp_stream *st = calloc(1, sizeof *st);
    if (!st) return NULL;
    st->mw = mw;
    st->http = req;
    st->ref = ref;
    st->kind = kind;
    st->watch.on_drain = on_stream_drain_notice;
    st->next = mw->streams;
    if (mw->streams) mw->streams->prev = st;
    mw->streams = st;
    mw->stream_of[ref.slot] = st;
    gw_drain_watch_add(&mw->w->drain_watches, &st->watch);
    req->on_abort = on_stream_abort;
    req->on_drain = on_stream_caught_up;
    req->handler_ud = st;
    static const gw_http_header sse_headers[] = {{"Cache-Control", "no-cache", 13, 8},
                                                 {"X-Accel-Buffering", "no", 17, 2}};
    gw_http_stream_begin(req, 200, "text/event-stream", sse_headers, 2);
    if (len) stream_write(st, first_event, len); /* nothing is queued yet: it cannot end */
    return st;
}

static void on_stream_caught_up(gw_http_req *req, void *ud) {
    mcp_stream *st = ud;
    (void)req;
    st->behind = 0;
}

/* data[0..len) and, when given, more[0..more_len) and tail: 0, or -1 when the stream ended
 * here (its client is too far behind). */
static int stream_write_parts(mcp_stream *st, const char *data, size_t len, const char *more,
                              size_t more_len, const char *tail, size_t tail_len) {
    size_t total = len + more_len + tail_len;
    if (gw_http_output_full(st->http)) {
        st->behind += total;
        if (st->behind > MCP_STREAM_BEHIND_MAX) {
            gw_log_warn("mcp_stream_behind", "\"worker\":%d,\"queued_bytes\":%zu", st->mw->w->index,
                        st->behind);
            mcp_stream_end(st);
            return -1;
        }
    }
    struct evbuffer *b = st->mw->scratch;
    evbuffer_drain(b, evbuffer_get_length(b));
    evbuffer_add(b, data, len);
    if (more_len) evbuffer_add(b, more, more_len);
    if (tail_len) evbuffer_add(b, tail, tail_len);
    gw_http_stream_write(st->http, b);
    evbuffer_drain(b, evbuffer_get_length(b));
    return 0;
}

static int stream_write(mcp_stream *st, const char *data, size_t len) {
    return stream_write_parts(st, data, len, NULL, 0, NULL, 0);
}

void mcp_send_to_session(gw_mcp_worker *from, gw_mcp_session_ref ref, const char *json,
                         size_t len) {
    int to = gw_mcp_session_stream_worker(ref);
    if (to < 0) return; /* the stream is gone: the answer has nowhere to go */
    static const char head[] = "event: message\ndata: ", tail[] = "\n\n";
    if (from && to == from->w->index) { /* the stream is here: written at once, no copy */
        mcp_stream *st = find_stream(from, ref);
        if (st) stream_write_parts(st, head, sizeof head - 1, json, len, tail, sizeof tail - 1);
        return;
    }
    char *data = malloc(sizeof head - 1 + len + sizeof tail - 1);
    if (!data) return;
    memcpy(data, head, sizeof head - 1);
    memcpy(data + sizeof head - 1, json, len);
    memcpy(data + sizeof head - 1 + len, tail, sizeof tail - 1);
    mcp_note note = {MCP_NOTE_WRITE, ref, data, sizeof head - 1 + len + sizeof tail - 1};
    if (mcp_post(to, &note) < 0) {
        free(data);
        gw_log_warn("mcp_inbox_full", "\"worker\":%d", to);
    }
}

void mcp_close_session(gw_mcp_session_ref ref) {
    int to = gw_mcp_session_close(ref);
    if (to < 0) return;
    mcp_note note = {MCP_NOTE_CLOSE, ref, NULL, 0};
    if (mcp_post(to, &note) < 0) gw_log_warn("mcp_inbox_full", "\"worker\":%d", to);
}

static void on_inbox(void *arg) {
    gw_mcp_worker *mw = arg;
    mcp_note note;
    /* at most a full inbox per wake-up: a flood from other workers cannot starve this loop */
    for (int i = 0; i < MCP_INBOX_CAP && inbox_pop(&mw->inbox, &note) == 0; i++) {
        mcp_stream *st = find_stream(mw, note.ref);
        if (st && note.kind == MCP_NOTE_WRITE)
            stream_write(st, note.data, note.len);
        else if (st)
            mcp_stream_end(st);
        free(note.data);
    }
    if (atomic_load(&mw->inbox.head) != atomic_load(&mw->inbox.tail))
        gw_wake_again(mw->inbox.wake); /* the rest on the next turn; this is the owner */
}

/* ---------- sessions this worker made ---------- */

void mcp_home_add(gw_mcp_worker *mw, uint32_t slot) {
    if (mw->home_count == mw->home_cap) {
        size_t cap = mw->home_cap ? mw->home_cap * 2 : 16;
        uint32_t *p = realloc(mw->home, cap * sizeof *p);
        if (!p) return; /* it will not be swept for idleness: it still ends with DELETE */
        mw->home = p;
        mw->home_cap = cap;
    }
    mw->home[mw->home_count++] = slot;
}

static void on_sweep(evutil_socket_t fd, short what, void *arg) {
    gw_mcp_worker *mw = arg;
    (void)fd;
    (void)what;
    const gw_mcp_conf *mc = mw->w->cfg->mcp;
    int64_t idle_ns = (int64_t)(mc ? mc->session_idle_ms : 600000) * 1000000;
    int64_t now = gw_wall_ns();
    for (size_t i = 0; i < mw->home_count;) {
        int notify;
        if (gw_mcp_session_sweep(mw->home[i], now, idle_ns, &notify)) {
            mw->home[i] = mw->home[--mw->home_count];
            continue;
        }
        /* an idle session has no stream (a stream keeps it alive): no one to tell */
        (void)notify;
        i++;
    }
    if (mw->upconns) mcp_upconns_sweep(mw, gw_now_ns());
}

/* Every transfer on the MCP multi is a fetch job, which has its own callback (upstream/fetch.c);
 * one without would be a bug: said in the log, and its handle is freed with the multi. */
static void untagged_done(CURL *easy, CURLcode result) {
    (void)easy;
    gw_log_error("mcp_untagged_transfer", "\"result\":%d", (int)result);
}

gw_mcp_worker *gw_mcp_worker_new(gw_worker *w) {
    if (w->index >= GW_MCP_WORKERS_MAX) return NULL;
    gw_mcp_worker *mw = calloc(1, sizeof *mw);
    if (!mw) return NULL;
    mw->w = w;
    inbox_init(&mw->inbox);
    mw->inbox.wake = gw_wake_new(w->base, on_inbox, mw);
    mw->sweep = event_new(w->base, -1, EV_PERSIST, on_sweep, mw);
    mw->curl = gw_curl_multi_new(w->base, MCP_UPSTREAM_CONNECTIONS, untagged_done);
    mw->stream_of = calloc(GW_MCP_SESSIONS_MAX, sizeof *mw->stream_of);
    mw->scratch = evbuffer_new();
    mw->schema_md = gw_schema_match_data_new();
    if (!mw->inbox.wake || !mw->sweep || !mw->curl || !mw->stream_of || !mw->scratch ||
        !mw->schema_md) {
        gw_mcp_worker_free(mw);
        return NULL;
    }
    struct timeval every = {0, SWEEP_MS * 1000};
    event_add(mw->sweep, &every);
    registry[w->index] = mw;
    return mw;
}

void gw_mcp_worker_free(gw_mcp_worker *mw) {
    if (!mw) return;
    if (registry[mw->w->index] == mw) registry[mw->w->index] = NULL;
    while (mw->exchanges)
        mcp_exchange_free(mw->exchanges);
    mcp_upconns_free(mw);
    while (mw->streams) { /* their connections are gone (the servers were freed first) */
        mcp_stream *st = mw->streams;
        stream_unlink(st);
        free(st);
    }
    mcp_note note;
    while (inbox_pop(&mw->inbox, &note) == 0)
        free(note.data);
    gw_wake_free(mw->inbox.wake);
    if (mw->sweep) event_free(mw->sweep);
    gw_curl_multi_free(mw->curl); /* after the exchanges: it cleans up their easy handles */
    while (mw->spare) {
        mcp_exchange *x = mw->spare;
        mw->spare = x->next;
        free(x);
    }
    if (mw->scratch) evbuffer_free(mw->scratch);
    gw_schema_match_data_free(mw->schema_md);
    gw_strbuf_free(&mw->rest_url);
    gw_strbuf_free(&mw->rest_body);
    gw_strbuf_free(&mw->rest_tmp);
    free(mw->stream_of);
    free(mw->home);
    free(mw);
}
