#include "config/preflight.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/tls.h"
#include "engines/engine.h"

enum {
    PROBE_CONNECT_TIMEOUT_MS = 2000,
    PROBE_TOTAL_TIMEOUT_MS = 5000,
    PROBE_MAX_BODY = 4 * 1024 * 1024, /* a model list is a few KiB; more is not an engine */
    SERVED_LIST_CHARS = 300,          /* of "it serves: a, b, ..." in a warning */
};

static const char *config_name(const gw_config *cfg) {
    return cfg->source ? cfg->source : "<default>";
}

/* Whether serve could create `path` (it makes missing directories): the nearest existing
 * ancestor must be a directory this user can write in. Says why not in `why`. */
static int can_create(const char *path, char *why, size_t why_len) {
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", path);
    for (;;) {
        char *slash = strrchr(dir, '/');
        int at_top = !slash || slash == dir;
        if (!slash)
            snprintf(dir, sizeof dir, ".");
        else if (slash == dir)
            dir[1] = '\0'; /* "/name": the root */
        else
            *slash = '\0';
        struct stat st;
        if (stat(dir, &st) == 0) {
            if (!S_ISDIR(st.st_mode)) {
                snprintf(why, why_len, "%s is not a directory", dir);
                return 0;
            }
            if (access(dir, W_OK | X_OK) < 0) {
                snprintf(why, why_len, "cannot write in %s: %s", dir, strerror(errno));
                return 0;
            }
            return 1;
        }
        if ((errno != ENOENT && errno != ENOTDIR) || at_top) {
            snprintf(why, why_len, "%s: %s", dir, strerror(errno));
            return 0;
        }
    }
}

static int check_tls(const gw_config *cfg, FILE *out, FILE *err) {
    const char *file = config_name(cfg), *cert = cfg->tls_cert, *key = cfg->tls_key;
    if (!cfg->https.host || !cert || !key) return 0; /* config.c requires both when https is on */
    int cert_missing = gw_tls_file_missing(cert), key_missing = gw_tls_file_missing(key);
    int problems = 0;
    char why[PATH_MAX + 64];
    if (cfg->tls_self_signed && cert_missing && key_missing) {
        fprintf(out, "%s: server.https: will create a self-signed pair at %s and %s\n", file, cert,
                key);
        if (!can_create(cert, why, sizeof why)) {
            fprintf(err, "%s: server.https.cert: %s: cannot create: %s\n", file, cert, why);
            problems++;
        }
        if (!can_create(key, why, sizeof why)) {
            fprintf(err, "%s: server.https.key: %s: cannot create: %s\n", file, key, why);
            problems++;
        }
        return problems;
    }
    char cert_err[512], key_err[512];
    if (gw_tls_check_pair(cert, key, cert_err, key_err, sizeof cert_err) == 0) return 0;
    /* serve's self_signed would not replace the one file that exists (see tls.h) */
    const char *hint =
        cfg->tls_self_signed ? " (self_signed makes a pair only when both files are missing)" : "";
    if (cert_err[0]) {
        fprintf(err, "%s: server.https.cert: %s: %s%s\n", file, cert, cert_err,
                cert_missing ? hint : "");
        problems++;
    }
    if (key_err[0]) {
        fprintf(err, "%s: server.https.key: %s: %s%s\n", file, key, key_err,
                key_missing ? hint : "");
        problems++;
    }
    return problems;
}

/* serve opens log.access with O_WRONLY|O_APPEND|O_CREAT (log.c). */
static int check_access_log(const gw_config *cfg, FILE *err) {
    const char *target = cfg->access_log;
    if (!target || !strcmp(target, "stdout") || !strcmp(target, "stderr") || !strcmp(target, "off"))
        return 0;
    int fd = open(target, O_WRONLY | O_APPEND | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) {
        /* create it as serve would, then remove it: check leaves no empty file behind.
         * O_EXCL: what gets unlinked is surely the file made here. */
        fd = open(target, O_WRONLY | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (fd >= 0) unlink(target);
    }
    if (fd < 0) {
        fprintf(err, "%s: log.access: %s: cannot open for appending: %s\n", config_name(cfg),
                target, strerror(errno));
        return 1;
    }
    close(fd);
    return 0;
}

int gw_preflight_check(const gw_config *cfg, FILE *out, FILE *err) {
    return check_tls(cfg, out, err) + check_access_log(cfg, err);
}

/* --- probe --- */

typedef struct channel_probe {
    const gw_channel *channel;
    CURL *easy;
    struct curl_slist *headers;
    char *url;
    char *body;
    size_t body_len;
    int body_too_big;
    int done;
    CURLcode result;
    char curl_error[CURL_ERROR_SIZE];
} channel_probe;

static size_t on_body(char *data, size_t size, size_t count, void *ud) {
    channel_probe *p = ud;
    size_t n = size * count;
    if (p->body_len + n > PROBE_MAX_BODY) {
        p->body_too_big = 1;
        return 0; /* curl stops with CURLE_WRITE_ERROR */
    }
    char *grown = realloc(p->body, p->body_len + n + 1);
    if (!grown) return 0;
    memcpy(grown + p->body_len, data, n);
    p->body = grown;
    p->body_len += n;
    p->body[p->body_len] = '\0';
    return n;
}

static int probe_start(channel_probe *p, const gw_channel *ch, CURLM *multi) {
    p->channel = ch;
    const char *base_url = ch->endpoint_urls[0]; /* the channel's first engine speaks for all */
    size_t base_len = strlen(base_url);
    while (base_len && base_url[base_len - 1] == '/')
        base_len--;
    const char *suffix = ch->engine->models_path; /* the engine's own model list */
    size_t suffix_len = strlen(suffix);
    p->url = malloc(base_len + suffix_len + 1);
    p->easy = curl_easy_init();
    if (!p->url || !p->easy) return -1;
    memcpy(p->url, base_url, base_len);
    memcpy(p->url + base_len, suffix, suffix_len + 1);
    CURL *e = p->easy;
    curl_easy_setopt(e, CURLOPT_URL, p->url);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, ch->headers); /* the adapter's authentication */
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, p);
    curl_easy_setopt(e, CURLOPT_PRIVATE, p);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, p->curl_error);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)PROBE_CONNECT_TIMEOUT_MS);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)PROBE_TOTAL_TIMEOUT_MS);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https"); /* as the request path */
    return curl_multi_add_handle(multi, e) == CURLM_OK ? 0 : -1;
}

static void probe_free(channel_probe *p, CURLM *multi) {
    if (p->easy) {
        curl_multi_remove_handle(multi, p->easy);
        curl_easy_cleanup(p->easy);
    }
    free(p->url);
    free(p->body);
}

/* The "data" array of an OpenAI model list, or NULL when the body is not one. */
static json_object *model_list(json_object *root) {
    json_object *data;
    if (!json_object_is_type(root, json_type_object) ||
        !json_object_object_get_ex(root, "data", &data) ||
        !json_object_is_type(data, json_type_array))
        return NULL;
    for (size_t i = 0; i < json_object_array_length(data); i++) {
        json_object *id, *item = json_object_array_get_idx(data, i);
        if (!json_object_is_type(item, json_type_object) ||
            !json_object_object_get_ex(item, "id", &id) ||
            !json_object_is_type(id, json_type_string))
            return NULL;
    }
    return data;
}

static const char *model_id(json_object *data, size_t i) {
    json_object *id;
    json_object_object_get_ex(json_object_array_get_idx(data, i), "id", &id);
    return json_object_get_string(id);
}

/* "a, b, c" of the served ids, cut with ", ..." past SERVED_LIST_CHARS. */
static void served_list(json_object *data, char *out, size_t out_len) {
    size_t n = json_object_array_length(data), used = 0;
    out[0] = '\0';
    if (n == 0) snprintf(out, out_len, "none");
    for (size_t i = 0; i < n; i++) {
        const char *id = model_id(data, i);
        if (used + strlen(id) + 2 > SERVED_LIST_CHARS && i > 0) {
            snprintf(out + used, out_len - used, ", ... (%zu more)", n - i);
            return;
        }
        used += (size_t)snprintf(out + used, out_len - used, "%s%s", i ? ", " : "", id);
        if (used >= out_len) return;
    }
}

/* Reads one finished probe: warnings for the channel, or for each of its models it lacks. */
static int probe_report(const gw_config *cfg, const channel_probe *p, FILE *out, FILE *err) {
    const char *file = config_name(cfg), *name = p->channel->name;
    long status = 0;
    if (!p->done) {
        fprintf(err, "%s: warning: channel '%s': cannot list models: the probe did not finish\n",
                file, name);
        return 1;
    }
    if (p->result == CURLE_OK) curl_easy_getinfo(p->easy, CURLINFO_RESPONSE_CODE, &status);
    if (p->body_too_big) {
        fprintf(err, "%s: warning: channel '%s': cannot list models: GET %s: more than %d bytes\n",
                file, name, p->url, PROBE_MAX_BODY);
        return 1;
    }
    if (p->result != CURLE_OK) {
        fprintf(err, "%s: warning: channel '%s': cannot list models: %s\n", file, name,
                p->curl_error[0] ? p->curl_error : curl_easy_strerror(p->result));
        return 1;
    }
    if (status != 200) {
        fprintf(err, "%s: warning: channel '%s': cannot list models: GET %s answered HTTP %ld%s\n",
                file, name, p->url, status,
                status == 401 || status == 403 ? " (is its api_key right?)" : "");
        return 1;
    }
    json_tokener *tok = json_tokener_new();
    json_object *root =
        tok ? json_tokener_parse_ex(tok, p->body ? p->body : "", (int)p->body_len) : NULL;
    int complete = tok && json_tokener_get_error(tok) == json_tokener_success;
    json_tokener_free(tok);
    json_object *data = complete ? model_list(root) : NULL;
    int warnings = 0;
    if (!data) {
        fprintf(err,
                "%s: warning: channel '%s': cannot list models: GET %s: not an OpenAI model list "
                "({\"data\":[{\"id\":...}]})\n",
                file, name, p->url);
        warnings = 1;
    } else {
        char served[SERVED_LIST_CHARS + 64];
        served_list(data, served, sizeof served);
        fprintf(out, "%s: channel '%s' serves: %s\n", file, name, served);
        size_t n = json_object_array_length(data);
        for (size_t m = 0; m < cfg->model_count; m++) {
            const gw_model *model = &cfg->models[m];
            for (size_t t = 0; t < model->targets.count; t++) {
                const gw_target *target = &model->targets.targets[t];
                if (target->channel != p->channel) continue;
                size_t i = 0;
                while (i < n && strcmp(model_id(data, i), target->upstream_model))
                    i++;
                if (i < n) continue;
                fprintf(err,
                        "%s: warning: model '%s' -> channel '%s' serves no model '%s' (it "
                        "serves: %s)\n",
                        file, model->name, name, target->upstream_model, served);
                warnings++;
            }
        }
    }
    json_object_put(root);
    return warnings;
}

int gw_preflight_probe(const gw_config *cfg, FILE *out, FILE *err) {
    channel_probe *probes = calloc(cfg->channel_count ? cfg->channel_count : 1, sizeof *probes);
    CURLM *multi = curl_multi_init();
    if (!probes || !multi) {
        fprintf(err, "%s: warning: cannot probe the channels: out of memory\n", config_name(cfg));
        free(probes);
        if (multi) curl_multi_cleanup(multi);
        return 1;
    }
    size_t count = 0;
    int warnings = 0;
    for (size_t i = 0; i < cfg->channel_count; i++) {
        const gw_channel *ch = &cfg->channels[i];
        if (!ch->endpoint_url_count || !strcmp(ch->endpoint_urls[0], "builtin:sim")) continue;
        if (!ch->engine->models_path) {
            fprintf(out, "%s: channel '%s': type %s lists no models; not probed\n",
                    config_name(cfg), ch->name, ch->type);
            continue;
        }
        if (probe_start(&probes[count++], ch, multi) < 0) {
            fprintf(err, "%s: warning: channel '%s': cannot list models: out of memory\n",
                    config_name(cfg), ch->name);
            warnings++;
            probe_free(&probes[--count], multi);
            memset(&probes[count], 0, sizeof probes[count]);
        }
    }
    /* all channels at once: the whole probe takes at most the total timeout */
    int running = 1;
    while (running && curl_multi_perform(multi, &running) == CURLM_OK && running)
        curl_multi_poll(multi, NULL, 0, 1000, NULL);
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(multi, &left))) {
        char *private;
        if (msg->msg != CURLMSG_DONE) continue;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &private);
        channel_probe *p = (channel_probe *)private;
        p->result = msg->data.result;
        p->done = 1;
    }
    for (size_t i = 0; i < count; i++) {
        warnings += probe_report(cfg, &probes[i], out, err);
        probe_free(&probes[i], multi);
    }
    curl_multi_cleanup(multi);
    free(probes);
    return warnings;
}
