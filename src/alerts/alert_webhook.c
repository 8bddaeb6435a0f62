#include "alerts/alert_webhook.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alerts/alert.h"
#include "core/clock.h"
#include "core/config.h"

/* One alert on its way: to every webhook of its config, each a job. */
typedef struct group {
    char id[GW_ALERT_ID_LEN];
    char *body;
    gw_config *cfg; /* holds the webhooks' settings until the last job ends */
    int remaining, failed, attempts;
    char last_error[300];
} group;

typedef struct job {
    group *g;
    const gw_alert_webhook *hook;
    int attempts;   /* made so far */
    int64_t due_ns; /* monotonic: the next attempt */
    struct job *next;
} job;

struct gw_webhook_sender {
    pthread_t thread;
    int started;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    job *jobs;     /* unordered: a scan finds the next due (the queue is bounded) */
    size_t groups; /* alerts waiting or in delivery */
    atomic_int stop;
    gw_webhook_done_fn done;
    void *ud;
    CURL *easy; /* the sender thread's own; kept so connections are reused */
};

static size_t discard(char *ptr, size_t size, size_t nmemb, void *ud) {
    (void)ptr;
    (void)ud;
    return size * nmemb; /* the status is the answer */
}

/* Cuts a transfer in flight when the gateway stops. */
static int on_progress(void *ud, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d) {
    (void)a, (void)b, (void)c, (void)d;
    return atomic_load(&((gw_webhook_sender *)ud)->stop) ? 1 : 0;
}

/* One POST of the job's alert; 0 on a 2xx, else -1 and why in err. */
static int post(gw_webhook_sender *s, const job *j, char *err, size_t errlen) {
    const gw_alert_webhook *h = j->hook;
    CURL *e = s->easy;
    curl_easy_reset(e);
    struct curl_slist *headers = NULL, *next;
    char id_header[64];
    snprintf(id_header, sizeof id_header, "X-Aigw-Alert-Id: %s", j->g->id);
    const char *fixed[] = {"Content-Type: application/json", "Expect:", id_header};
    for (size_t i = 0; i < 3 + h->header_count; i++) {
        next = curl_slist_append(headers, i < 3 ? fixed[i] : h->headers[i - 3]);
        if (!next) {
            curl_slist_free_all(headers);
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        headers = next;
    }
    curl_easy_setopt(e, CURLOPT_URL, h->url);
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, j->g->body);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)strlen(j->g->body));
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "aigw/" AIGW_VERSION);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)h->timeout_ms);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(e, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(e, CURLOPT_XFERINFODATA, s);
    CURLcode rc = curl_easy_perform(e);
    long status = 0;
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(headers);
    if (rc == CURLE_OK && status >= 200 && status < 300) return 0;
    if (rc != CURLE_OK)
        snprintf(err, errlen, "%s: %s", h->url, curl_easy_strerror(rc));
    else
        snprintf(err, errlen, "%s: HTTP %ld", h->url, status);
    return -1;
}

static void free_group(group *g) {
    gw_config_unref(g->cfg);
    free(g->body);
    free(g);
}

/* The wait before retry n (1, 2, ...): backoff_ms doubled each time, up to max_backoff_ms. */
static int64_t backoff_ns(const gw_alert_webhook *h, int retry) {
    int64_t ms = h->backoff_ms;
    for (int i = 1; i < retry && ms < h->max_backoff_ms; i++)
        ms *= 2;
    if (ms > h->max_backoff_ms) ms = h->max_backoff_ms;
    return ms * 1000000;
}

/* With the lock held: the job with the earliest due time, unlinked when it is due now; else
 * NULL and *wait_until says when to look again (-1: nothing waits). */
static job *take_due(gw_webhook_sender *s, int64_t now, int64_t *wait_until) {
    job **best = NULL;
    for (job **p = &s->jobs; *p; p = &(*p)->next)
        if (!best || (*p)->due_ns < (*best)->due_ns) best = p;
    *wait_until = best ? (*best)->due_ns : -1;
    if (!best || (*best)->due_ns > now) return NULL;
    job *j = *best;
    *best = j->next;
    return j;
}

static void *run(void *arg) {
    gw_webhook_sender *s = arg;
    char err[300];
    pthread_mutex_lock(&s->lock);
    while (!atomic_load(&s->stop)) {
        int64_t until;
        job *j = take_due(s, gw_now_ns(), &until);
        if (!j) {
            if (until < 0) {
                pthread_cond_wait(&s->cond, &s->lock);
            } else {
                struct timespec ts = {.tv_sec = until / 1000000000, .tv_nsec = until % 1000000000};
                pthread_cond_timedwait(&s->cond, &s->lock, &ts);
            }
            continue;
        }
        pthread_mutex_unlock(&s->lock);
        int ok = post(s, j, err, sizeof err) == 0;
        pthread_mutex_lock(&s->lock);
        group *g = j->g;
        j->attempts++;
        g->attempts++;
        if (!ok && atomic_load(&s->stop)) { /* cut by the shutdown: dropped with the rest */
            j->next = s->jobs;
            s->jobs = j;
            break;
        }
        if (!ok && j->attempts <= j->hook->max_retries) {
            j->due_ns = gw_now_ns() + backoff_ns(j->hook, j->attempts);
            j->next = s->jobs;
            s->jobs = j;
            continue;
        }
        if (!ok) {
            g->failed = 1;
            snprintf(g->last_error, sizeof g->last_error, "%s", err);
        }
        free(j);
        if (--g->remaining > 0) continue;
        s->groups--;
        pthread_mutex_unlock(&s->lock);
        s->done(s->ud, g->id, !g->failed, g->attempts, g->failed ? g->last_error : NULL);
        free_group(g);
        pthread_mutex_lock(&s->lock);
    }
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

gw_webhook_sender *gw_webhook_sender_start(gw_webhook_done_fn done, void *ud, char *err,
                                           size_t errlen) {
    gw_webhook_sender *s = calloc(1, sizeof *s);
    if (!s || !(s->easy = curl_easy_init())) {
        snprintf(err, errlen, "webhook sender: out of memory");
        free(s);
        return NULL;
    }
    s->done = done;
    s->ud = ud;
    pthread_mutex_init(&s->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC); /* gw_now_ns: immune to clock moves */
    pthread_cond_init(&s->cond, &attr);
    pthread_condattr_destroy(&attr);
    if (pthread_create(&s->thread, NULL, run, s) != 0) {
        snprintf(err, errlen, "webhook sender: cannot start its thread");
        gw_webhook_sender_stop(s);
        return NULL;
    }
    pthread_setname_np(s->thread, "aigw-webhook");
    s->started = 1;
    return s;
}

int gw_webhook_send(gw_webhook_sender *s, gw_config *cfg, const gw_alerts_conf *conf,
                    const char *alert_id, const char *body) {
    if (conf->webhook_count == 0) return -1;
    pthread_mutex_lock(&s->lock);
    int full = s->groups >= (size_t)conf->max_pending;
    pthread_mutex_unlock(&s->lock);
    if (full) return -1;
    group *g = calloc(1, sizeof *g);
    job *jobs[GW_ALERT_MAX_WEBHOOKS] = {0};
    int ok = g && (g->body = strdup(body));
    for (size_t i = 0; ok && i < conf->webhook_count; i++)
        ok = (jobs[i] = calloc(1, sizeof *jobs[i])) != NULL;
    if (!ok) {
        for (size_t i = 0; i < conf->webhook_count; i++)
            free(jobs[i]);
        if (g) free(g->body);
        free(g);
        return -1;
    }
    snprintf(g->id, sizeof g->id, "%s", alert_id);
    g->cfg = gw_config_ref(cfg);
    g->remaining = (int)conf->webhook_count;
    int64_t now = gw_now_ns();
    pthread_mutex_lock(&s->lock);
    for (size_t i = 0; i < conf->webhook_count; i++) {
        *jobs[i] = (job){.g = g, .hook = &conf->webhooks[i], .due_ns = now, .next = s->jobs};
        s->jobs = jobs[i];
    }
    s->groups++;
    pthread_cond_signal(&s->cond);
    pthread_mutex_unlock(&s->lock);
    return 0;
}

size_t gw_webhook_pending(gw_webhook_sender *s) {
    pthread_mutex_lock(&s->lock);
    size_t n = s->groups;
    pthread_mutex_unlock(&s->lock);
    return n;
}

void gw_webhook_sender_stop(gw_webhook_sender *s) {
    if (!s) return;
    if (s->started) {
        pthread_mutex_lock(&s->lock);
        atomic_store(&s->stop, 1);
        pthread_cond_signal(&s->cond);
        pthread_mutex_unlock(&s->lock);
        pthread_join(s->thread, NULL);
    }
    while (s->jobs) { /* the last job of a group frees it */
        job *j = s->jobs;
        s->jobs = j->next;
        if (--j->g->remaining == 0) free_group(j->g);
        free(j);
    }
    curl_easy_cleanup(s->easy);
    pthread_cond_destroy(&s->cond);
    pthread_mutex_destroy(&s->lock);
    free(s);
}
