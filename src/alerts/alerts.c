#include "alerts/alerts.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "alerts/alert.h"
#include "alerts/alert_checks.h"
#include "alerts/alert_health.h"
#include "alerts/alert_math.h"
#include "alerts/alert_webhook.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/log.h"
#include "core/random.h"

enum {
    /* how often the evaluator looks at the wall clock (which tests move) when nothing wakes it */
    TICK_MS = 250,
    MAX_TESTS = 16,   /* test alerts asked for and not yet raised */
    RESUME_S = 86400, /* pending deliveries younger than this are resumed at start */
    REOPEN_MS = 5000, /* retry opening the database this often */
};

/* How a delivery ended, from the sender's thread to the evaluator's (the one that writes). */
typedef struct result {
    char id[GW_ALERT_ID_LEN];
    int delivered, attempts;
    int64_t time;
    char last_error[300];
    struct result *next;
} result;

struct gw_alerts {
    char *db_path;
    pthread_t thread;
    int started;
    int wake_fd; /* eventfd: anyone wakes the evaluator with a write, without a lock */
    atomic_int stop;

    pthread_mutex_t lock; /* what other threads hand the evaluator: */
    gw_config *next_cfg;
    const gw_alerts_conf *next_conf;
    int config_changed;
    char tests[MAX_TESTS][GW_ALERT_ID_LEN];
    size_t test_count;
    result *results;

    gw_health_ring ring; /* endpoint events, lock-free */

    /* the evaluator thread's own */
    gw_config *cfg;
    const gw_alerts_conf *conf;
    sqlite3 *db;
    int64_t db_retry_ms;
    gw_webhook_sender *sender;
    gw_health_table *table;
    int64_t last_eval_ms, next_eval_ms;
    int checks_failing; /* logged once until they pass again */
    uint64_t ring_dropped_logged;

    sqlite3 *read_db; /* the control thread's, for the history */

    atomic_uint_fast64_t evaluations, raised, dropped, failures;
    _Atomic int64_t last_evaluation;
};

static void wake(gw_alerts *s) {
    uint64_t one = 1;
    ssize_t n = write(s->wake_fd, &one, sizeof one); /* EAGAIN: it is awake already */
    (void)n;
}

static void log_alert(const gw_alert *a) {
    char subject[GW_ALERT_KEY_LEN * 2], message[sizeof a->message * 2];
    gw_json_escape(subject, sizeof subject, a->subject_key, strlen(a->subject_key));
    gw_json_escape(message, sizeof message, a->message, strlen(a->message));
    gw_log_warn("alert",
                "\"id\":\"%s\",\"type\":\"%s\",\"severity\":\"%s\",\"subject\":\"%s\","
                "\"message\":\"%s\"",
                a->id, a->type, a->severity, subject, message);
}

/* The sink of the checks and of everything else raised here: recorded, then sent. */
static int raise_alert(void *ud, gw_alert *a) {
    gw_alerts *s = ud;
    char *body = gw_alert_body(a);
    if (!body) return -1;
    int hooks = s->conf && s->conf->webhook_count;
    int inserted = 0;
    int recorded =
        s->db && gw_alert_db_insert(s->db, a, body, hooks ? "pending" : "none", &inserted) == 0;
    if (!recorded) {
        char esc[300];
        const char *why = s->db ? sqlite3_errmsg(s->db) : "the database is not open";
        gw_json_escape(esc, sizeof esc, why, strlen(why));
        gw_log_error("alert_not_recorded", "\"id\":\"%s\",\"type\":\"%s\",\"reason\":\"%s\"", a->id,
                     a->type, esc);
        /* a once-only alert waits until it can be remembered, or it would fire at every
         * evaluation; the others go out anyway */
        if (a->dedup[0]) {
            free(body);
            return -1;
        }
        inserted = 1;
    }
    if (!inserted) {
        free(body);
        return 0;
    }
    atomic_fetch_add(&s->raised, 1);
    log_alert(a);
    if (hooks && gw_webhook_send(s->sender, s->cfg, s->conf, a->id, body) < 0) {
        atomic_fetch_add(&s->dropped, 1);
        gw_log_warn("alert_dropped", "\"id\":\"%s\",\"reason\":\"delivery queue full\"", a->id);
        if (recorded) gw_alert_db_set_delivery(s->db, a->id, "dropped", 0, "queue full", 0);
    }
    free(body);
    return 1;
}

static int64_t last_alert(void *ud, const char *type, const char *subject_key) {
    gw_alerts *s = ud;
    int64_t t;
    return s->db && gw_alert_db_last_time(s->db, type, subject_key, &t) == 1 ? t : -1;
}

/* Told by the sender thread. */
static void on_delivered(void *ud, const char *id, int delivered, int attempts,
                         const char *last_error) {
    gw_alerts *s = ud;
    result *r = calloc(1, sizeof *r);
    if (!r) return; /* the history keeps it pending */
    snprintf(r->id, sizeof r->id, "%s", id);
    r->delivered = delivered;
    r->attempts = attempts;
    r->time = gw_wall_ns() / 1000000000;
    snprintf(r->last_error, sizeof r->last_error, "%s", last_error ? last_error : "");
    pthread_mutex_lock(&s->lock);
    r->next = s->results;
    s->results = r;
    pthread_mutex_unlock(&s->lock);
    wake(s);
}

static void apply_results(gw_alerts *s) {
    pthread_mutex_lock(&s->lock);
    result *r = s->results;
    s->results = NULL;
    pthread_mutex_unlock(&s->lock);
    while (r) {
        result *next = r->next;
        if (!r->delivered) {
            atomic_fetch_add(&s->failures, 1);
            char esc[600];
            gw_json_escape(esc, sizeof esc, r->last_error, strlen(r->last_error));
            gw_log_warn("alert_delivery_failed", "\"id\":\"%s\",\"attempts\":%d,\"reason\":\"%s\"",
                        r->id, r->attempts, esc);
        }
        if (s->db)
            gw_alert_db_set_delivery(s->db, r->id, r->delivered ? "delivered" : "failed",
                                     r->attempts, r->last_error, r->delivered ? r->time : 0);
        free(r);
        r = next;
    }
}

static void resume_one(void *ud, const char *id, const char *body) {
    gw_alerts *s = ud;
    if (!s->conf || !s->conf->webhook_count) {
        gw_alert_db_set_delivery(s->db, id, "none", 0, NULL, 0);
    } else if (gw_webhook_send(s->sender, s->cfg, s->conf, id, body) < 0) {
        atomic_fetch_add(&s->dropped, 1);
        gw_alert_db_set_delivery(s->db, id, "dropped", 0, "queue full", 0);
    }
}

static void open_db(gw_alerts *s, int64_t now_ms) {
    if (s->db || now_ms < s->db_retry_ms) return;
    char err[400];
    s->db = gw_alert_db_open(s->db_path, 1, err, sizeof err);
    if (!s->db) {
        char esc[500];
        gw_json_escape(esc, sizeof esc, err, strlen(err));
        gw_log_error("alerts_db_failed", "\"reason\":\"%s\"", esc);
        s->db_retry_ms = now_ms + REOPEN_MS;
        return;
    }
    int max = s->conf ? s->conf->max_pending : 1000;
    int n = gw_alert_db_resume(s->db, now_ms / 1000 - RESUME_S, max, resume_one, s);
    if (n > 0) gw_log_info("alerts_resumed", "\"pending\":%d", n);
}

static void take_config(gw_alerts *s) {
    pthread_mutex_lock(&s->lock);
    if (!s->config_changed) {
        pthread_mutex_unlock(&s->lock);
        return;
    }
    gw_config *old = s->cfg;
    s->cfg = s->next_cfg;
    s->conf = s->next_conf;
    s->next_cfg = NULL;
    s->config_changed = 0;
    pthread_mutex_unlock(&s->lock);
    gw_config_unref(old);
    if (s->conf) s->next_eval_ms = s->last_eval_ms + s->conf->evaluate_every_ms;
}

static void raise_tests(gw_alerts *s, int64_t now) {
    char ids[MAX_TESTS][GW_ALERT_ID_LEN];
    pthread_mutex_lock(&s->lock);
    size_t n = s->test_count;
    memcpy(ids, s->tests, n * sizeof ids[0]);
    s->test_count = 0;
    pthread_mutex_unlock(&s->lock);
    for (size_t i = 0; i < n; i++) {
        gw_alert a;
        gw_alert_init(&a, "test", "info", now);
        memcpy(a.id, ids[i], sizeof a.id);
        snprintf(a.subject_key, sizeof a.subject_key, "test");
        gw_alert_message(&a, "a test alert from aigw: the webhooks are reachable");
        raise_alert(s, &a);
        gw_alert_clear(&a);
    }
}

static void raise_health(gw_alerts *s, const gw_health_event *ev, const gw_health_change *ch) {
    gw_alert a;
    if (ch->endpoint_changed && s->conf->endpoints) {
        gw_alert_init(&a, ev->up ? "endpoint_up" : "endpoint_down", ev->up ? "info" : "warning",
                      ev->time);
        gw_alert_subject(&a, "channel", ev->channel);
        gw_alert_subject(&a, "endpoint", ev->url);
        if (!ev->up) gw_alert_value_str(&a, "reason", ev->code ? ev->code : "unknown");
        if (ev->up)
            gw_alert_message(&a, "endpoint %s of channel %s is up again", ev->url, ev->channel);
        else
            gw_alert_message(&a, "endpoint %s of channel %s is down (%s)", ev->url, ev->channel,
                             ev->code ? ev->code : "unknown");
        raise_alert(s, &a);
        gw_alert_clear(&a);
    }
    if (ch->channel_changed && s->conf->channels) {
        gw_alert_init(&a, ch->channel_down ? "channel_down" : "channel_up",
                      ch->channel_down ? "critical" : "info", ev->time);
        gw_alert_subject(&a, "channel", ev->channel);
        gw_alert_value_int(&a, "endpoints", (int64_t)ch->channel_endpoints);
        gw_alert_value_int(&a, "endpoints_down", (int64_t)ch->channel_down_count);
        gw_alert_message(
            &a,
            ch->channel_down ? "channel %s is down: none of its %zu endpoints is healthy"
                             : "channel %s is up again: %zu of its endpoints are down",
            ev->channel, ch->channel_down ? ch->channel_endpoints : ch->channel_down_count);
        raise_alert(s, &a);
        gw_alert_clear(&a);
    }
}

static void drain_health(gw_alerts *s) {
    gw_health_event ev;
    while (gw_health_ring_pop(&s->ring, &ev)) {
        gw_health_change ch;
        gw_health_table_apply(s->table, s->cfg, &ev, &ch);
        if (s->conf) raise_health(s, &ev, &ch);
    }
    uint64_t dropped = atomic_load(&s->ring.dropped);
    if (dropped != s->ring_dropped_logged) {
        gw_log_warn("health_events_dropped", "\"total\":%llu", (unsigned long long)dropped);
        s->ring_dropped_logged = dropped;
    }
}

static void evaluate(gw_alerts *s, int64_t now_ms) {
    if (!s->conf || !s->db) return;
    if (now_ms < s->next_eval_ms && now_ms >= s->last_eval_ms) return; /* moved back: now */
    char err[300] = "";
    gw_alert_sink sink = {.raise = raise_alert, .last = last_alert, .ud = s};
    int rc = gw_alert_checks_run(s->db, s->conf, now_ms / 1000, &sink, err, sizeof err);
    if (rc < 0 && !s->checks_failing) {
        char esc[400];
        gw_json_escape(esc, sizeof esc, err, strlen(err));
        gw_log_warn("alert_checks_failed",
                    "\"reason\":\"%s\",\"message\":\"budgets, anomalies and error rates need the "
                    "meter's usage rollups; endpoint and channel alerts go on\"",
                    esc);
    }
    s->checks_failing = rc < 0;
    if (gw_alert_db_prune(s->db, now_ms / 1000 - (int64_t)s->conf->history_days * 86400,
                          s->conf->history_max) < 0)
        gw_log_warn("alerts_prune_failed", "\"reason\":\"%s\"", "database busy or failing");
    s->last_eval_ms = now_ms;
    s->next_eval_ms = now_ms + s->conf->evaluate_every_ms;
    atomic_store(&s->last_evaluation, now_ms / 1000);
    atomic_fetch_add(&s->evaluations, 1);
}

static void *run(void *arg) {
    gw_alerts *s = arg;
    struct pollfd pfd = {.fd = s->wake_fd, .events = POLLIN};
    take_config(s);
    open_db(s, gw_wall_ns() / 1000000);
    while (!atomic_load(&s->stop)) {
        int64_t now_ms = gw_wall_ns() / 1000000;
        open_db(s, now_ms);
        apply_results(s);
        raise_tests(s, now_ms / 1000);
        drain_health(s);
        evaluate(s, now_ms);
        if (poll(&pfd, 1, TICK_MS) > 0) {
            uint64_t v;
            ssize_t n = read(s->wake_fd, &v, sizeof v);
            (void)n;
        }
        take_config(s);
    }
    /* the sender first, so what it finishes is written before the connection goes */
    gw_webhook_sender_stop(s->sender);
    s->sender = NULL;
    apply_results(s);
    return NULL;
}

gw_alerts *gw_alerts_start(const char *db_path, gw_config *cfg, const gw_alerts_conf *conf,
                           char *err, size_t errlen) {
    gw_alerts *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "alerts: out of memory");
        return NULL;
    }
    s->wake_fd = -1;
    pthread_mutex_init(&s->lock, NULL);
    gw_health_ring_init(&s->ring);
    if (!(s->db_path = strdup(db_path)) || !(s->table = calloc(1, sizeof *s->table))) {
        snprintf(err, errlen, "alerts: out of memory");
        goto fail;
    }
    s->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (s->wake_fd < 0) {
        snprintf(err, errlen, "alerts: eventfd: %s", strerror(errno));
        goto fail;
    }
    atomic_init(&s->last_evaluation, -1);
    /* the table exists before the first request can ask for the history */
    sqlite3 *db = gw_alert_db_open(db_path, 1, err, errlen);
    if (!db) goto fail;
    gw_alert_db_close(db);
    s->next_cfg = gw_config_ref(cfg);
    s->next_conf = conf;
    s->config_changed = 1;
    if (!(s->sender = gw_webhook_sender_start(on_delivered, s, err, errlen))) goto fail;
    if (pthread_create(&s->thread, NULL, run, s) != 0) {
        snprintf(err, errlen, "alerts: cannot start the evaluator thread");
        goto fail;
    }
    pthread_setname_np(s->thread, "aigw-alerts");
    s->started = 1;
    return s;
fail:
    gw_alerts_stop(s);
    return NULL;
}

void gw_alerts_set_config(gw_alerts *s, gw_config *cfg, const gw_alerts_conf *conf) {
    pthread_mutex_lock(&s->lock);
    gw_config *old = s->next_cfg;
    s->next_cfg = gw_config_ref(cfg);
    s->next_conf = conf;
    s->config_changed = 1;
    pthread_mutex_unlock(&s->lock);
    gw_config_unref(old);
    wake(s);
}

void gw_alerts_stop(gw_alerts *s) {
    if (!s) return;
    if (s->started) {
        atomic_store(&s->stop, 1);
        wake(s);
        pthread_join(s->thread, NULL);
    }
    gw_webhook_sender_stop(s->sender); /* when the thread never ran */
    while (s->results) {
        result *r = s->results;
        s->results = r->next;
        free(r);
    }
    if (s->wake_fd >= 0) close(s->wake_fd);
    pthread_mutex_destroy(&s->lock);
    gw_alert_db_close(s->db);
    gw_alert_db_close(s->read_db);
    gw_config_unref(s->cfg);
    gw_config_unref(s->next_cfg);
    free(s->table);
    free(s->db_path);
    free(s);
}

void gw_alerts_endpoint_health(const char *channel, const char *base_url, int up, const char *code,
                               void *ud) {
    gw_alerts *s = ud;
    if (gw_health_ring_push(&s->ring, channel, base_url, up, code, gw_wall_ns() / 1000000000) == 0)
        wake(s);
}

int gw_alerts_test(gw_alerts *s, char *id_out, size_t outlen) {
    char id[GW_ALERT_ID_LEN] = "alr_";
    gw_random_hex(id + 4, 8);
    pthread_mutex_lock(&s->lock);
    int full = s->test_count == MAX_TESTS;
    if (!full) memcpy(s->tests[s->test_count++], id, sizeof id);
    pthread_mutex_unlock(&s->lock);
    if (full) return -1;
    snprintf(id_out, outlen, "%s", id);
    wake(s);
    return 0;
}

void gw_alerts_get_stats(gw_alerts *s, gw_alerts_stats *out) {
    *out = (gw_alerts_stats){
        .evaluations = atomic_load(&s->evaluations),
        .last_evaluation = atomic_load(&s->last_evaluation),
        .raised = atomic_load(&s->raised),
        .dropped = atomic_load(&s->dropped),
        .delivery_failures = atomic_load(&s->failures),
        .health_events_dropped = atomic_load(&s->ring.dropped),
        .pending = s->sender ? gw_webhook_pending(s->sender) : 0,
    };
}

int gw_alerts_history(gw_alerts *s, const gw_alert_query *q, struct evbuffer *out, char *err,
                      size_t errlen) {
    if (!s->read_db && !(s->read_db = gw_alert_db_open(s->db_path, 0, err, errlen))) return -1;
    return gw_alert_db_list(s->read_db, q, out, err, errlen);
}
