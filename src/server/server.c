#include "server/server.h"

#include <curl/curl.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "admin/admin.h"
#include "admin/audit.h"
#include "alerts/alerts.h"
#include "config/load.h"
#include "core/clock.h"
#include "core/fd_limit.h"
#include "core/http_server.h"
#include "core/log.h"
#include "filters/auth.h"
#include "filters/limits.h"
#include "filters/switches.h"
#include "meter/meter.h"
#include "meter/reader.h"
#include "meter/metrics.h"
#include "security/zones.h"
#include "store/keys.h"
#include "store/keyset.h"
#include "core/tls.h"
#include "server/persist.h"
#include "server/worker.h"
#include "upstream/endpoints.h"
#include "upstream/health_check.h"
#include "upstream/pools.h"
#include "sim/sim.h"

enum {
    EXIT_POLL_MS = 20,
    POOLS_SYNC_MS = 5000,
    METER_STOP_MS = 5000, /* how long stop waits for a locked metering store */
};

struct gw_server {
    const char *config_path;
    gw_config *cfg;
    uint64_t generation;
    int worker_count;
    gw_worker *workers;
    struct event_base *base;
    struct event *sig_hup, *sig_term, *sig_int, *exit_poll;
    struct event *pools_timer; /* frees replaced endpoint sets, stops unused discoveries */
    gw_health_checker *health; /* active checks of the endpoints that ask for them */
    gw_http_server *admin;
    /* the snapshot the process started with: what listens and logs now, whatever was loaded
     * since, so every reload names what still waits for a restart */
    gw_config *boot_cfg;
    sim_server *sim;
    char sim_url[64];
    int draining;
    /* the store (SQLite: API keys, quota counts, switches, the audit trail), when the config
     * needs it (uses_store); the control thread alone touches it (the admin API runs here too),
     * and publishes the keys as a snapshot to every worker */
    gw_key_store *keys;
    gw_persist *persist; /* quota counts and switches saved in the store */
    /* every second: changes another process (aigw keys) made, and quota counts to save */
    struct event *store_timer;
    gw_switches *switches; /* what the operator turned off (admin API), posted to workers */
    /* the store writer (metering), started before the workers serve; NULL: metering off */
    gw_meter *meter;
    gw_meter_reader *meter_reader; /* the admin API's queries, on a thread of their own */
    gw_metrics *metrics;           /* every worker's table, summed by GET /metrics */
    gw_alerts *alerts; /* metering.alerts: its evaluator and webhook threads; NULL: none */
};

static void log_config_errors(const gw_config_errors *errs) {
    for (size_t i = 0; i < errs->count; i++) {
        char esc[700];
        gw_json_escape(esc, sizeof esc, errs->messages[i], strlen(errs->messages[i]));
        gw_log_error("config_error", "\"message\":\"%s\"", esc);
    }
}

/* The built-in simulator serves any model name, so whatever the config maps to it answers. */
static int ensure_sim(gw_server *s) {
    if (s->sim) return 0;
    char err[256];
    sim_config sc = {.host = "127.0.0.1", .port = 0, .threads = 1, .models = "*"};
    s->sim = sim_start(&sc, err, sizeof err);
    if (!s->sim) {
        gw_log_error("sim_failed", "\"message\":\"%s\"", err);
        return -1;
    }
    snprintf(s->sim_url, sizeof s->sim_url, "http://127.0.0.1:%d/v1", sim_port(s->sim));
    gw_log_info("sim_started", "\"url\":\"%s\"", s->sim_url);
    return 0;
}

/* The snapshot's TLS context, from the pair on disk now: at start and at every reload, so a
 * rotated certificate applies without a restart. A pair that does not load rejects the config. */
static int load_tls(gw_config *cfg, gw_config_errors *errs) {
    if (!cfg->https.host) return 0;
    char err[300];
    if (cfg->tls_self_signed) {
        int made = gw_tls_ensure_self_signed(cfg->tls_cert, cfg->tls_key, err, sizeof err);
        if (made > 0) {
            char cert[300];
            gw_json_escape(cert, sizeof cert, cfg->tls_cert, strlen(cfg->tls_cert));
            gw_log_info("tls_self_signed", "\"cert\":\"%s\"", cert);
        }
        if (made < 0) goto fail;
    }
    cfg->tls_ctx = gw_tls_server_ctx(cfg->tls_cert, cfg->tls_key, err, sizeof err);
    if (cfg->tls_ctx) return 0;
fail:
    snprintf(errs->messages[0], sizeof errs->messages[0], "server.https: %s", err);
    errs->count = 1;
    return -1;
}

/* Loads path; if a channel is builtin:sim, starts the simulator and loads again with its URL. */
static gw_config *load_config(gw_server *s, gw_config_errors *errs) {
    gw_config *cfg = gw_config_load(s->config_path, s->sim ? s->sim_url : NULL, errs);
    if (cfg && !s->sim && gw_config_wants_sim(cfg)) {
        gw_config_unref(cfg);
        if (ensure_sim(s) < 0) {
            snprintf(errs->messages[0], sizeof errs->messages[0],
                     "cannot start the built-in simulator");
            errs->count = 1;
            return NULL;
        }
        cfg = gw_config_load(s->config_path, s->sim_url, errs);
    }
    if (cfg && !s->cfg) gw_log_set_level((gw_log_level)cfg->log_level); /* first lines too */
    if (cfg && load_tls(cfg, errs) < 0) {
        gw_config_unref(cfg);
        return NULL;
    }
    return cfg;
}

static int same_listen(const gw_listen *a, const gw_listen *b) {
    if (!a->host || !b->host) return a->host == b->host;
    return a->port == b->port && !strcmp(a->host, b->host);
}

/* The database of usage and alerts: metering.store, else the key store's file. */
static const char *metering_db(const gw_config *c) {
    return c->metering && c->metering->store ? c->metering->store : c->store_path;
}

/* Alerts begin with the first config that has them (at start or at a reload); a config without
 * them silences them. The database is the one of the start: another waits for a restart. */
static int apply_alerts(gw_server *s, gw_config *cfg) {
    gw_alerts_conf *alerts = cfg->metering ? cfg->metering->alerts : NULL;
    if (s->alerts) {
        gw_alerts_set_config(s->alerts, cfg, alerts);
        return 0;
    }
    if (!alerts) return 0;
    char err[400];
    s->alerts = gw_alerts_start(metering_db(s->boot_cfg), cfg, alerts, err, sizeof err);
    if (!s->alerts) {
        char esc[500];
        gw_json_escape(esc, sizeof esc, err, strlen(err));
        gw_log_error("alerts_failed", "\"message\":\"%s\"", esc);
        return -1;
    }
    gw_endpoints_set_health_hook(gw_alerts_endpoint_health, s->alerts);
    return 0;
}

static int uses_key_store(const gw_config *c) {
    return c->auth && (c->auth->mode == GW_AUTH_API_KEY || c->auth->mode == GW_AUTH_API_KEY_OR_JWT);
}

/* metering's writer is started once: its store, queue and batch, and metering itself being on
 * or off, wait for a restart. "metering.store" or "metering", or NULL when none differs. */
static const char *metering_restart_change(const gw_config *next, const gw_config *now) {
    const gw_metering_conf *a = next->metering, *b = now->metering;
    if (!a || !b) return a == b ? NULL : "metering";
    if (strcmp(a->store, b->store)) return "metering.store";
    if (a->queue_size != b->queue_size || a->batch != b->batch) return "metering";
    return NULL;
}

/* The store opens at start when store.path is written, or when something needs it without
 * being told: API keys (the store holds them) or quotas (spent counts are money, and must not
 * reset on a restart). Otherwise nothing is written to disk: switches and the audit trail live
 * in memory and the log. */
static int uses_store(const gw_config *c) {
    return c->store_path_set || uses_key_store(c) || (c->limits && c->limits->quota_count);
}

/* Names each setting that differs but waits for a restart; returns how many. */
static size_t restart_only_changes(const gw_config *next, const gw_config *now,
                                   gw_restart_pending *pending) {
    size_t n = 0;
    if (!same_listen(&next->http, &now->http)) pending->names[n++] = "server.http.listen";
    if (!same_listen(&next->https, &now->https)) pending->names[n++] = "server.https.listen";
    if (!same_listen(&next->admin, &now->admin)) pending->names[n++] = "server.admin.listen";
    if (next->workers != now->workers) pending->names[n++] = "server.workers";
    if (strcmp(next->access_log, now->access_log)) pending->names[n++] = "log.access";
    /* the store is opened at start: a reload can neither move it nor open it; one that no
     * longer needs it keeps it open, harmlessly */
    if (strcmp(next->store_path, now->store_path) || (uses_store(next) && !uses_store(now)))
        pending->names[n++] = "store.path";
    const char *metering = metering_restart_change(next, now);
    if (metering) pending->names[n++] = metering;
    pending->count = n;
    return n;
}

int gw_server_reload(gw_server *s, gw_config_errors *errs, gw_restart_pending *pending) {
    pending->count = 0;
    gw_config *cfg = load_config(s, errs);
    if (!cfg) {
        log_config_errors(errs);
        gw_log_warn("reload_rejected", "\"errors\":%zu", errs->count);
        return -1;
    }
    if (restart_only_changes(cfg, s->boot_cfg, pending)) {
        char names[256];
        size_t n = 0;
        for (size_t i = 0; i < pending->count; i++)
            n += (size_t)snprintf(names + n, sizeof names - n, "%s\"%s\"", i ? "," : "",
                                  pending->names[i]);
        gw_log_warn("reload_partial",
                    "\"restart_required\":[%s],\"message\":\"these settings keep their running "
                    "values until a restart\"",
                    names);
    }
    if (cfg->admin_token_generated) /* keep the printed token; the old arena goes with the old */
        cfg->admin_token = gw_arena_strdup(&cfg->arena, s->cfg->admin_token);
    cfg->generation = ++s->generation;
    gw_log_set_level((gw_log_level)cfg->log_level);
    for (int i = 0; i < s->worker_count; i++)
        gw_worker_post_config(&s->workers[i], gw_config_ref(cfg));
    gw_config *old = s->cfg;
    s->cfg = cfg;
    gw_config_unref(old);
    gw_pools_sync(s->base); /* discoveries of new channels start, those of removed ones stop */
    if (s->meter && cfg->metering) gw_meter_set_retention(s->meter, &cfg->metering->retention);
    if (s->health) gw_health_checker_set_config(s->health, cfg);
    apply_alerts(s, cfg);
    gw_endpoints_sweep(); /* those no snapshot lists any more; the rest keep their health */
    gw_log_info("reloaded", "\"generation\":%llu", (unsigned long long)s->generation);
    return 0;
}

uint64_t gw_server_generation(const gw_server *s) {
    return s->generation;
}
int gw_server_draining(const gw_server *s) {
    return s->draining;
}
const gw_config *gw_server_config(const gw_server *s) {
    return s->cfg;
}

static int admin_reload(void *ud, gw_config_errors *errs, gw_restart_pending *pending) {
    return gw_server_reload(ud, errs, pending);
}
static uint64_t admin_generation(void *ud) {
    return gw_server_generation(ud);
}
static int admin_draining(void *ud) {
    return gw_server_draining(ud);
}
static const gw_config *admin_config(void *ud) {
    return gw_server_config(ud);
}
static gw_key_store *admin_key_store(void *ud);
static void admin_keys_changed(void *ud);
static struct gw_alerts *admin_alerts(void *ud) {
    return ((gw_server *)ud)->alerts;
}

static const gw_switches *admin_switches(void *ud) {
    return ((gw_server *)ud)->switches;
}
/* A new set with the change, in the store first (a switch the store refused is no switch at
 * all), then to every worker, from its next request on. */
static int admin_set_switch(void *ud, int kind, const char *value, int off) {
    gw_server *s = ud;
    gw_switches *next = gw_switches_with(s->switches, (gw_switch_kind)kind, value, off);
    if (!next) return -1;
    if (gw_persist_switch(s->persist, (gw_switch_kind)kind, value, off, gw_wall_ns() / 1000000000) <
        0) {
        gw_switches_unref(next);
        return -1;
    }
    gw_switches_unref(s->switches);
    s->switches = next;
    for (int i = 0; i < s->worker_count; i++)
        gw_switches_post(&s->workers[i].switches_inbox, next);
    return 0;
}

static void admin_quotas_changed(void *ud) {
    gw_server *s = ud;
    gw_persist_save_quotas(s->persist, gw_wall_ns(), 1);
}
static gw_meter *admin_meter(void *ud) {
    return ((gw_server *)ud)->meter;
}
static gw_meter_reader *admin_meter_reader(void *ud) {
    return ((gw_server *)ud)->meter_reader;
}
static const gw_metrics *admin_metrics(void *ud) {
    return ((gw_server *)ud)->metrics;
}

static const gw_admin_ops admin_ops = {
    .reload = admin_reload,
    .generation = admin_generation,
    .draining = admin_draining,
    .config = admin_config,
    .key_store = admin_key_store,
    .keys_changed = admin_keys_changed,
    .switches = admin_switches,
    .set_switch = admin_set_switch,
    .quotas_changed = admin_quotas_changed,
    .meter = admin_meter,
    .meter_reader = admin_meter_reader,
    .metrics = admin_metrics,
    .alerts = admin_alerts,
};

/* A new snapshot of the store's live keys to every worker: a revocation holds from each one's
 * next request on. When the store cannot be read, the workers keep the snapshot they have. */
/* The zone of each key's quota, loaded here so a worker never reads a file. */
static int load_quota_zone(const gw_key_record *rec, void *ctx) {
    (void)ctx;
    char err[200];
    if (rec->quota.period != GW_KEY_PERIOD_NONE && gw_zones_add(rec->quota.tz, err, sizeof err) < 0)
        gw_log_warn("quota_zone", "\"key\":\"%s\",\"reason\":\"%s\"", rec->id, err);
    return 0;
}

static void publish_keys(gw_server *s) {
    char err[300];
    gw_key_list_opts opts = {0};
    gw_key_store_list(s->keys, &opts, load_quota_zone, NULL, err, sizeof err);
    gw_keyset_builder *b = gw_keyset_builder_new();
    if (!b || gw_keyset_builder_add_store(b, s->keys, err, sizeof err) < 0) {
        if (b) gw_keyset_builder_free(b);
        gw_log_error("keys_not_published", "\"reason\":\"%s\"", b ? "store" : "out of memory");
        return;
    }
    gw_keyset *set = gw_keyset_builder_finish(b, err, sizeof err);
    if (!set) {
        char esc[600];
        gw_json_escape(esc, sizeof esc, err, strlen(err));
        gw_log_error("keys_not_published", "\"reason\":\"%s\"", esc);
        return;
    }
    for (int i = 0; i < s->worker_count; i++)
        gw_keyset_inbox_post(s->workers[i].keys_inbox, set);
    gw_log_debug("keys_published", "\"keys\":%zu", gw_keyset_count(set));
    gw_keyset_unref(set);
}

static void on_store_timer(evutil_socket_t fd, short what, void *arg) {
    gw_server *s = arg;
    (void)fd;
    (void)what;
    if (gw_key_store_changed(s->keys)) publish_keys(s);
    gw_persist_save_quotas(s->persist, gw_wall_ns(), 0);
}

static gw_key_store *admin_key_store(void *ud) {
    return ((gw_server *)ud)->keys;
}
static void admin_keys_changed(void *ud) {
    publish_keys(ud);
}

static void fatal_start(const char *message);

/* The store, when the config needs it (uses_store): opened (made when missing) at start, before
 * the workers serve, so the first request already knows every key, every quota's spent count
 * and every switch that was off. */
static int open_store(gw_server *s, const gw_config *c) {
    char path[400];
    gw_json_escape(path, sizeof path, c->store_path, strlen(c->store_path));
    if (!uses_store(c)) {
        if (c->admin.host)
            gw_log_info("store_off", "\"message\":\"no store.path: operator switches and "
                                     "the audit trail are not kept across a restart\"");
        return 0;
    }
    char err[300], msg[800];
    s->keys = gw_key_store_open(c->store_path, err, sizeof err);
    if (!s->keys) {
        snprintf(msg, sizeof msg, "cannot open the store %s: %s", c->store_path, err);
        fatal_start(msg);
        return -1;
    }
    gw_quota_table *quotas = gw_quotas_table();
    gw_switches *off = NULL;
    s->persist =
        quotas ? gw_persist_open(s->keys, quotas, gw_wall_ns(), &off, err, sizeof err) : NULL;
    if (!s->persist) {
        snprintf(msg, sizeof msg, "cannot read the store %s: %s", c->store_path,
                 quotas ? err : "out of memory");
        fatal_start(msg);
        return -1;
    }
    if (off) { /* the switches that were off before the restart */
        s->switches = off;
        for (int i = 0; i < s->worker_count; i++)
            gw_switches_post(&s->workers[i].switches_inbox, off);
    }
    gw_admin_audit_use_store(s->keys);
    publish_keys(s);
    gw_key_store_changed(s->keys); /* from now on, changes only */
    s->store_timer = event_new(s->base, -1, EV_PERSIST, on_store_timer, s);
    struct timeval every = {1, 0};
    if (!s->store_timer || event_add(s->store_timer, &every) < 0) {
        fatal_start("cannot watch the store");
        return -1;
    }
    gw_log_info("store_opened", "\"path\":\"%s\",\"switches_off\":%zu", path, off ? off->count : 0);
    return 0;
}

/* The store writer's queue, for /metrics: read from the control thread while it runs. */
static void meter_queue_stats(void *ud, gw_metrics_queue_stats *out) {
    gw_meter_stats st;
    gw_meter_get_stats(ud, &st);
    *out = (gw_metrics_queue_stats){.depth = st.queue_depth,
                                    .capacity = st.queue_capacity,
                                    .dropped = st.dropped,
                                    .written = st.written};
}

/* The store writer, when metering is on: started before the workers serve, so the first
 * request's record has a queue to go to. */
static int start_meter(gw_server *s, const gw_config *c) {
    if (!c->metering) return 0;
    char err[400];
    s->meter = gw_meter_start(c->metering, err, sizeof err);
    if (!s->meter) {
        fatal_start(err);
        return -1;
    }
    for (int i = 0; i < s->worker_count; i++)
        s->workers[i].meter = s->meter;
    gw_metrics_set_store_queue(s->metrics, meter_queue_stats, s->meter);
    s->meter_reader =
        gw_meter_reader_start(gw_meter_store_path(s->meter), s->base, err, sizeof err);
    if (!s->meter_reader) {
        fatal_start(err);
        return -1;
    }
    return 0;
}

static void on_pools_timer(evutil_socket_t fd, short what, void *arg) {
    gw_server *s = arg;
    (void)fd;
    (void)what;
    gw_pools_sync(s->base);
}

static void on_exit_poll(evutil_socket_t fd, short what, void *arg) {
    gw_server *s = arg;
    (void)fd;
    (void)what;
    for (int i = 0; i < s->worker_count; i++) {
        if (!gw_worker_exited(&s->workers[i])) {
            struct timeval tv = {0, EXIT_POLL_MS * 1000};
            evtimer_add(s->exit_poll, &tv);
            return;
        }
    }
    event_base_loopexit(s->base, NULL);
}

static void on_signal(evutil_socket_t sig, short what, void *arg) {
    gw_server *s = arg;
    (void)what;
    if (sig == SIGHUP) {
        gw_config_errors errs;
        gw_restart_pending pending;
        gw_server_reload(s, &errs, &pending);
        return;
    }
    if (s->draining) { /* a second signal: stop now, cutting what still runs */
        gw_log_warn("shutdown_forced", NULL);
        for (int i = 0; i < s->worker_count; i++)
            gw_worker_request_stop(&s->workers[i], 1);
        return;
    }
    s->draining = 1;
    gw_log_info("shutdown", "\"signal\":%d,\"deadline_ms\":%d", (int)sig,
                s->cfg->shutdown_timeout_ms);
    for (int i = 0; i < s->worker_count; i++)
        gw_worker_request_stop(&s->workers[i], 0);
    on_exit_poll(-1, 0, s);
}

/* Loopback addresses only: 127.0.0.0/8, ::1, localhost. */
static int loopback(const char *host) {
    return !strncmp(host, "127.", 4) || !strcmp(host, "::1") || !strcmp(host, "localhost");
}

/* An API port anyone on the network can reach, and no authentication: said loudly, once. */
static void warn_if_open(const gw_config *c) {
    if (c->auth && c->auth->mode != GW_AUTH_OFF) return;
    const char *open = c->http.host && !loopback(c->http.host)     ? c->http.host
                       : c->https.host && !loopback(c->https.host) ? c->https.host
                                                                   : NULL;
    if (!open) return;
    gw_log_warn("auth_off",
                "\"listen\":\"%s\",\"message\":\"authentication is off and the API listens "
                "beyond loopback: anyone who reaches it may call every model; set auth.mode\"",
                open);
}

static void print_banner(const gw_server *s) {
    const gw_config *c = s->cfg;
    const char *model = c->model_count ? c->models[0].name : "chat";
    printf("\naigw %s is running (%d workers, config: %s)\n", AIGW_VERSION, s->worker_count,
           c->source ? c->source : "embedded default");
    if (c->http.host) printf("  API   http://127.0.0.1:%d/v1\n", c->http.port);
    if (c->https.host)
        printf("  API   https://127.0.0.1:%d/v1 (certificate %s)\n", c->https.port, c->tls_cert);
    if (c->admin.host)
        printf("  admin http://%s:%d (token %s)\n", c->admin.host, c->admin.port,
               c->admin_token_generated ? c->admin_token : "from the config");
    printf(
        "\nTry it:\n  curl http://127.0.0.1:%d/v1/chat/completions \\\n"
        "    -H 'Content-Type: application/json' \\\n"
        "    -d '{\"model\":\"%s\",\"messages\":[{\"role\":\"user\",\"content\":\"Hello\"}]}'\n\n"
        "Or with the OpenAI SDK: base_url=\"http://127.0.0.1:%d/v1\", any api_key.\n"
        "Ctrl-C stops it.\n\n",
        c->http.port, model, c->http.port);
    fflush(stdout);
}

/* Why the gateway cannot start: on stderr, where a service manager shows it, not stdout. */
static void fatal_start(const char *message) {
    char esc[700];
    gw_json_escape(esc, sizeof esc, message, strlen(message));
    gw_log_fatal("start_failed", "\"message\":\"%s\"", esc);
}

static int start(gw_server *s, const gw_serve_options *opts) {
    gw_config_errors errs;
    s->cfg = load_config(s, &errs);
    if (!s->cfg) {
        for (size_t i = 0; i < errs.count; i++)
            fprintf(stderr, "%s\n", errs.messages[i]);
        return -1;
    }
    s->cfg->generation = s->generation = 1;
    s->boot_cfg = gw_config_ref(s->cfg);
    gw_config *c = s->cfg;
    gw_log_set_level((gw_log_level)c->log_level);
    if (c->access_log_on && gw_log_open(c->access_log) < 0) {
        fprintf(stderr, "aigw: cannot open log %s\n", c->access_log);
        return -1;
    }
    char err[300];
    const gw_listen *listens[] = {&c->http, &c->https, &c->admin};
    for (size_t i = 0; i < 3; i++) {
        if (listens[i]->host &&
            gw_http_probe_port(listens[i]->host, listens[i]->port, err, sizeof err) < 0) {
            fatal_start(err);
            return -1;
        }
    }
    s->worker_count = c->workers > 0 ? c->workers : (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (s->worker_count < 1) s->worker_count = 1;
    s->workers = calloc((size_t)s->worker_count, sizeof *s->workers);
    s->metrics = gw_metrics_new(s->worker_count);
    if (!s->workers || !s->metrics) {
        s->worker_count = 0;
        fatal_start("out of memory for the workers");
        return -1;
    }
    for (int i = 0; i < s->worker_count; i++) {
        if (gw_worker_init(&s->workers[i], i, c, c->tls_ctx) < 0) {
            fatal_start(s->workers[i].error);
            return -1;
        }
        gw_worker *w = &s->workers[i];
        w->metrics = gw_metrics_worker(s->metrics, i, &w->cfg, &w->stats);
    }
    s->base = event_base_new();
    s->pools_timer = s->base ? event_new(s->base, -1, EV_PERSIST, on_pools_timer, s) : NULL;
    if (!s->base || !s->pools_timer) {
        fatal_start("cannot create the control loop");
        return -1;
    }
    struct timeval every = {POOLS_SYNC_MS / 1000, (POOLS_SYNC_MS % 1000) * 1000};
    event_add(s->pools_timer, &every);
    gw_pools_sync(s->base); /* DNS discovery of the channels that use it begins */
    s->health = gw_health_checker_new(s->base);
    if (!s->health) {
        fatal_start("cannot start the health checker");
        return -1;
    }
    gw_health_checker_set_config(s->health, c);
    if (open_store(s, c) < 0) return -1;
    if (start_meter(s, c) < 0) return -1;
    if (apply_alerts(s, c) < 0) {
        fatal_start("cannot start the alerts (see alerts_failed)");
        return -1;
    }
    if (c->admin.host) {
        s->admin = gw_admin_start(&admin_ops, s, s->base, c, err, sizeof err);
        if (!s->admin) {
            fatal_start(err);
            return -1;
        }
    }
    /* before the workers run: a table that grows under a burst stalls the worker that grew it */
    gw_fd_table_reserve(c->max_connections, s->worker_count);
    for (int i = 0; i < s->worker_count; i++) {
        if (gw_worker_spawn(&s->workers[i]) < 0) {
            fatal_start(s->workers[i].error);
            return -1;
        }
    }
    s->sig_hup = evsignal_new(s->base, SIGHUP, on_signal, s);
    s->sig_term = evsignal_new(s->base, SIGTERM, on_signal, s);
    s->sig_int = evsignal_new(s->base, SIGINT, on_signal, s);
    s->exit_poll = evtimer_new(s->base, on_exit_poll, s);
    event_add(s->sig_hup, NULL);
    event_add(s->sig_term, NULL);
    event_add(s->sig_int, NULL);
    gw_log_info("started",
                "\"version\":\"%s\",\"workers\":%d,\"http_port\":%d,\"https_port\":%d,"
                "\"admin_port\":%d,\"models\":%zu,\"channels\":%zu",
                AIGW_VERSION, s->worker_count, c->http.host ? c->http.port : 0,
                c->https.host ? c->https.port : 0, c->admin.host ? c->admin.port : 0,
                c->model_count, c->channel_count);
    if (c->admin_token_generated && !opts->banner)
        gw_log_info("admin_token", "\"token\":\"%s\"", c->admin_token);
    if (opts->banner) print_banner(s);
    warn_if_open(c);
    /* from here lines go through the writer thread; those above were written at once, so
     * they come before the banner and a failed start shows them all */
    if (gw_log_start_writer() < 0)
        gw_log_warn("log_writer_failed", "\"message\":\"lines are "
                                         "written by their threads\"");
    return 0;
}

static void stop(gw_server *s) {
    /* every worker stopped and joined before any is freed: a worker still running may post to
     * another's MCP inbox and signal its eventfd (core/wake.h), which must not be gone yet */
    for (int i = 0; i < s->worker_count; i++)
        if (s->workers[i].thread) gw_worker_request_stop(&s->workers[i], 1);
    for (int i = 0; i < s->worker_count; i++)
        if (s->workers[i].thread) gw_worker_join(&s->workers[i]);
    for (int i = 0; i < s->worker_count; i++)
        gw_worker_destroy(&s->workers[i]);
    free(s->workers);
    gw_metrics_free(s->metrics); /* after the workers: nothing counts any more */
    gw_admin_stop(s->admin);
    gw_meter_reader_stop(s->meter_reader); /* after the admin: no query waits for an answer */
    /* after the workers: nothing submits any more; what is queued is written */
    gw_meter_stop(s->meter, METER_STOP_MS);
    if (s->sig_hup) event_free(s->sig_hup);
    if (s->sig_term) event_free(s->sig_term);
    if (s->sig_int) event_free(s->sig_int);
    if (s->exit_poll) event_free(s->exit_poll);
    if (s->pools_timer) event_free(s->pools_timer);
    if (s->store_timer) event_free(s->store_timer);
    /* the workers are gone: every count is settled, the last changes are saved */
    if (s->persist) gw_persist_save_quotas(s->persist, gw_wall_ns(), 1);
    gw_persist_free(s->persist);
    gw_admin_audit_use_store(NULL);
    gw_key_store_close(s->keys);
    gw_switches_unref(s->switches);
    gw_health_checker_free(s->health);
    /* after the workers and the checker: nothing reports health any more */
    gw_endpoints_set_health_hook(NULL, NULL);
    gw_alerts_stop(s->alerts);
    gw_pools_stop_all(); /* their events are on the control loop */
    if (s->base) event_base_free(s->base);
    if (s->sim) sim_stop(s->sim);
    gw_config_unref(s->cfg);
    gw_config_unref(s->boot_cfg);
    gw_pools_free_all();
    gw_endpoints_free_all();
}

/* libevent's own warnings and errors (a failed epoll_ctl, say) as lines of the gateway's log,
 * which its operators parse, rather than bare text on stderr. It runs on any thread and calls
 * no libevent function, as libevent requires: the log wakes its writer with a futex. */
static void libevent_message(int severity, const char *msg) {
    char text[512];
    gw_json_escape(text, sizeof text, msg, strlen(msg));
    gw_log_level level = severity >= EVENT_LOG_ERR    ? GW_LOG_ERROR
                         : severity == EVENT_LOG_WARN ? GW_LOG_WARN
                                                      : GW_LOG_DEBUG;
    gw_log(level, "libevent", "\"message\":\"%s\"", text);
}

int gw_serve(const gw_serve_options *opts) {
    signal(SIGPIPE, SIG_IGN);
    event_set_log_callback(libevent_message);
    /* Locks for the bases more than one thread uses: the control loop's (the metering reader's
     * thread activates its delivery event there, meter/reader.c). The workers' bases opt out
     * with EVENT_BASE_FLAG_NOLOCK (server/worker.c). */
    evthread_use_pthreads();
    curl_global_init(CURL_GLOBAL_DEFAULT); /* before any thread: it is not thread-safe */
    gw_server s = {.config_path = opts->config_path};
    int rc = start(&s, opts);
    if (rc == 0) {
        event_base_dispatch(s.base);
        gw_log_info("stopped", NULL);
    }
    stop(&s);
    gw_log_stop_writer(); /* every queued line is written before the log closes */
    curl_global_cleanup();
    gw_log_close();
    libevent_global_shutdown();
    return rc == 0 ? 0 : 1;
}
