#include "core/server.h"

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
#include "core/config.h"
#include "core/http_server.h"
#include "core/log.h"
#include "core/tls.h"
#include "core/worker.h"
#include "sim/sim.h"

enum { EXIT_POLL_MS = 20 };

struct gw_server {
    const char *config_path;
    gw_config *cfg;
    uint64_t generation;
    int worker_count;
    gw_worker *workers;
    struct event_base *base;
    struct event *sig_hup, *sig_term, *sig_int, *exit_poll;
    gw_http_server *admin;
    SSL_CTX *tls;
    sim_server *sim;
    char sim_url[64];
    int draining;
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

/* Loads path; if a channel is builtin:sim, starts the simulator and loads again with its URL. */
static gw_config *load_config(gw_server *s, gw_config_errors *errs) {
    gw_config *cfg = gw_config_load(s->config_path, s->sim ? s->sim_url : NULL, errs);
    if (!cfg || s->sim || !gw_config_wants_sim(cfg)) return cfg;
    gw_config_unref(cfg);
    if (ensure_sim(s) < 0) {
        snprintf(errs->messages[0], sizeof errs->messages[0],
                 "cannot start the built-in simulator");
        errs->count = 1;
        return NULL;
    }
    return gw_config_load(s->config_path, s->sim_url, errs);
}

static int same_listen(const gw_listen *a, const gw_listen *b) {
    if (!a->host || !b->host) return a->host == b->host;
    return a->port == b->port && !strcmp(a->host, b->host);
}

int gw_server_reload(gw_server *s, gw_config_errors *errs) {
    gw_config *cfg = load_config(s, errs);
    if (!cfg) {
        log_config_errors(errs);
        gw_log_warn("reload_rejected", "\"errors\":%zu", errs->count);
        return -1;
    }
    if (!same_listen(&cfg->http, &s->cfg->http) || !same_listen(&cfg->https, &s->cfg->https) ||
        !same_listen(&cfg->admin, &s->cfg->admin) || cfg->workers != s->cfg->workers ||
        strcmp(cfg->access_log, s->cfg->access_log))
        gw_log_warn("reload_partial",
                    "\"message\":\"listen addresses, workers, the TLS pair and log.access take "
                    "effect on restart\"");
    if (cfg->admin_token_generated) /* keep the printed token; the old arena goes with the old */
        cfg->admin_token = gw_arena_strdup(&cfg->arena, s->cfg->admin_token);
    cfg->generation = ++s->generation;
    gw_log_set_level((gw_log_level)cfg->log_level);
    for (int i = 0; i < s->worker_count; i++)
        gw_worker_post_config(&s->workers[i], gw_config_ref(cfg));
    gw_config *old = s->cfg;
    s->cfg = cfg;
    gw_config_unref(old);
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
        gw_server_reload(s, &errs);
        return;
    }
    if (s->draining) { /* a second signal: stop now */
        gw_log_warn("shutdown_forced", NULL);
        event_base_loopexit(s->base, NULL);
        return;
    }
    s->draining = 1;
    gw_log_info("shutdown", "\"signal\":%d,\"deadline_ms\":%d", (int)sig,
                s->cfg->shutdown_timeout_ms);
    for (int i = 0; i < s->worker_count; i++)
        gw_worker_request_stop(&s->workers[i]);
    on_exit_poll(-1, 0, s);
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

static int start(gw_server *s, const gw_serve_options *opts) {
    gw_config_errors errs;
    s->cfg = load_config(s, &errs);
    if (!s->cfg) {
        for (size_t i = 0; i < errs.count; i++)
            fprintf(stderr, "%s\n", errs.messages[i]);
        return -1;
    }
    s->cfg->generation = s->generation = 1;
    gw_config *c = s->cfg;
    gw_log_set_level((gw_log_level)c->log_level);
    if (c->access_log && strcmp(c->access_log, "off") && gw_log_open(c->access_log) < 0) {
        fprintf(stderr, "aigw: cannot open log %s\n", c->access_log);
        return -1;
    }
    char err[300];
    if (c->https.host) {
        if (c->tls_self_signed) {
            int made = gw_tls_ensure_self_signed(c->tls_cert, c->tls_key, err, sizeof err);
            if (made < 0) {
                gw_log_error("tls_failed", "\"message\":\"%s\"", err);
                return -1;
            }
            if (made) gw_log_info("tls_self_signed", "\"cert\":\"%s\"", c->tls_cert);
        }
        s->tls = gw_tls_server_ctx(c->tls_cert, c->tls_key, err, sizeof err);
        if (!s->tls) {
            gw_log_error("tls_failed", "\"message\":\"%s\"", err);
            return -1;
        }
    }
    const gw_listen *listens[] = {&c->http, &c->https, &c->admin};
    for (size_t i = 0; i < 3; i++) {
        if (listens[i]->host &&
            gw_http_probe_port(listens[i]->host, listens[i]->port, err, sizeof err) < 0) {
            gw_log_error("start_failed", "\"message\":\"%s\"", err);
            return -1;
        }
    }
    s->worker_count = c->workers > 0 ? c->workers : (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (s->worker_count < 1) s->worker_count = 1;
    s->workers = calloc((size_t)s->worker_count, sizeof *s->workers);
    for (int i = 0; i < s->worker_count; i++) {
        if (gw_worker_init(&s->workers[i], i, c, s->tls) < 0) {
            gw_log_error("start_failed", "\"message\":\"%s\"", s->workers[i].error);
            return -1;
        }
    }
    s->base = event_base_new();
    if (c->admin.host) {
        s->admin = gw_admin_start(s, s->base, c, err, sizeof err);
        if (!s->admin) {
            gw_log_error("start_failed", "\"message\":\"%s\"", err);
            return -1;
        }
    }
    for (int i = 0; i < s->worker_count; i++) {
        if (gw_worker_spawn(&s->workers[i]) < 0) {
            gw_log_error("start_failed", "\"message\":\"%s\"", s->workers[i].error);
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
    return 0;
}

static void stop(gw_server *s) {
    for (int i = 0; i < s->worker_count; i++) {
        if (s->workers[i].thread) {
            gw_worker_request_stop(&s->workers[i]);
            gw_worker_join(&s->workers[i]);
        }
        gw_worker_destroy(&s->workers[i]);
    }
    free(s->workers);
    gw_admin_stop(s->admin);
    if (s->sig_hup) event_free(s->sig_hup);
    if (s->sig_term) event_free(s->sig_term);
    if (s->sig_int) event_free(s->sig_int);
    if (s->exit_poll) event_free(s->exit_poll);
    if (s->base) event_base_free(s->base);
    if (s->sim) sim_stop(s->sim);
    if (s->tls) SSL_CTX_free(s->tls);
    gw_config_unref(s->cfg);
}

int gw_serve(const gw_serve_options *opts) {
    signal(SIGPIPE, SIG_IGN);
    evthread_use_pthreads();
    curl_global_init(CURL_GLOBAL_DEFAULT); /* before any thread: it is not thread-safe */
    gw_server s = {.config_path = opts->config_path};
    int rc = start(&s, opts);
    if (rc == 0) {
        event_base_dispatch(s.base);
        gw_log_info("stopped", NULL);
    }
    stop(&s);
    curl_global_cleanup();
    gw_log_close();
    libevent_global_shutdown();
    return rc == 0 ? 0 : 1;
}
