#include "upstream/fetch.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum { MAX_HEADER_BYTES = 16 * 1024 };

struct gw_fetch {
    gw_curl_job job; /* first: its address tags the transfer (curl_multi.h) */
    gw_curl_multi *multi;
    CURL *easy;
    struct curl_slist *headers;
    char *body;
    gw_fetch_done_cb done;
    gw_fetch_data_cb on_data;
    void *ud;
    char *resp;
    size_t resp_len, resp_cap, max_resp;
    int too_large, aborted;
    size_t head_len;
    /* last, and not zeroed at start: 16 KiB a fetch need not clear */
    char error[CURL_ERROR_SIZE];
    char head[MAX_HEADER_BYTES];
};

static void fetch_free(gw_fetch *f) {
    if (f->easy) {
        curl_multi_remove_handle(gw_curl_multi_handle(f->multi), f->easy);
        gw_curl_easy_put(f->multi, f->easy);
    }
    curl_slist_free_all(f->headers);
    free(f->body);
    free(f->resp);
    free(f);
}

static size_t on_write(char *data, size_t size, size_t n, void *arg) {
    gw_fetch *f = arg;
    size_t len = size * n;
    if (f->on_data) {
        if (f->on_data(f, data, len, f->ud) < 0) {
            f->aborted = 1;
            return 0;
        }
        return len;
    }
    if (f->resp_len + len > f->max_resp) {
        f->too_large = 1;
        return 0;
    }
    if (f->resp_len + len + 1 > f->resp_cap) {
        size_t cap = f->resp_cap ? f->resp_cap : 4096;
        while (cap < f->resp_len + len + 1)
            cap *= 2;
        char *p = realloc(f->resp, cap);
        if (!p) return 0;
        f->resp = p;
        f->resp_cap = cap;
    }
    memcpy(f->resp + f->resp_len, data, len);
    f->resp_len += len;
    return len;
}

/* Keeps the header block of the last response (a 100 Continue or a redirect starts anew). */
static size_t on_header(char *data, size_t size, size_t n, void *arg) {
    gw_fetch *f = arg;
    size_t len = size * n;
    if (len > 5 && !memcmp(data, "HTTP/", 5)) f->head_len = 0;
    if (f->head_len + len <= sizeof f->head) {
        memcpy(f->head + f->head_len, data, len);
        f->head_len += len;
    }
    return len;
}

const char *gw_fetch_header(const gw_fetch *f, const char *name, size_t *len) {
    size_t nlen = strlen(name);
    const char *found = NULL;
    size_t found_len = 0;
    for (size_t i = 0; i < f->head_len;) {
        const char *line = f->head + i;
        const char *end = memchr(line, '\n', f->head_len - i);
        size_t llen = end ? (size_t)(end - line) : f->head_len - i;
        if (llen > nlen && line[nlen] == ':' && !strncasecmp(line, name, nlen)) {
            const char *v = line + nlen + 1;
            size_t vlen = llen - nlen - 1;
            while (vlen && (*v == ' ' || *v == '\t')) {
                v++;
                vlen--;
            }
            while (vlen && (v[vlen - 1] == '\r' || v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
                vlen--;
            found = v;
            found_len = vlen;
        }
        i += llen + 1;
    }
    if (found && len) *len = found_len;
    return found;
}

int gw_fetch_status(const gw_fetch *f) {
    long status = 0;
    curl_easy_getinfo(f->easy, CURLINFO_RESPONSE_CODE, &status);
    return (int)status;
}

static void on_done(gw_curl_job *job, CURL *easy, CURLcode code) {
    gw_fetch *f = (gw_fetch *)job;
    long status = 0;
    char *ctype = NULL;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(easy, CURLINFO_CONTENT_TYPE, &ctype);
    if (f->aborted && code == CURLE_WRITE_ERROR) code = CURLE_OK; /* the consumer ended it */
    gw_fetch_result res = {.status = (int)status,
                           .code = f->too_large ? CURLE_FILESIZE_EXCEEDED : code,
                           .error = f->error[0] ? f->error : curl_easy_strerror(code),
                           .too_large = f->too_large,
                           .body = f->resp ? f->resp : "",
                           .body_len = f->resp_len,
                           .content_type = ctype ? ctype : ""};
    if (f->resp) f->resp[f->resp_len] = '\0';
    f->done(f, &res, f->ud);
    fetch_free(f);
}

gw_fetch *gw_fetch_start(gw_curl_multi *m, const gw_fetch_request *req, gw_fetch_done_cb done,
                         void *ud) {
    gw_fetch *f = malloc(sizeof *f);
    if (!f) return NULL;
    memset(f, 0, offsetof(gw_fetch, error));
    f->error[0] = '\0';
    f->job.done = on_done;
    f->multi = m;
    f->done = done;
    f->on_data = req->on_data;
    f->ud = ud;
    f->max_resp = req->max_response_bytes ? req->max_response_bytes : 1 << 20;
    f->headers = curl_slist_append(NULL, "Expect:");
    for (size_t i = 0; f->headers && req->headers && req->headers[i]; i++) {
        struct curl_slist *h = curl_slist_append(f->headers, req->headers[i]);
        if (!h) {
            curl_slist_free_all(f->headers);
            f->headers = NULL;
        }
        f->headers = h;
    }
    if (req->body) {
        f->body = malloc(req->body_len + 1);
        if (f->body) memcpy(f->body, req->body, req->body_len);
    }
    f->easy = gw_curl_easy_get(m);
    if (!f->headers || !f->easy || (req->body && !f->body)) {
        if (!f->easy) f->easy = NULL;
        fetch_free(f);
        return NULL;
    }
    CURL *e = f->easy;
    curl_easy_setopt(e, CURLOPT_URL, req->url);
    if (!strcmp(req->method, "GET")) {
        curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    } else if (!strcmp(req->method, "HEAD")) {
        curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    } else {
        if (req->body || strcmp(req->method, "DELETE")) {
            curl_easy_setopt(e, CURLOPT_POSTFIELDS, f->body ? f->body : "");
            curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
        }
        if (strcmp(req->method, "POST")) curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, req->method);
    }
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, f->headers);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, f);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, f);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, f->error);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
                     (long)(req->connect_timeout_ms > 0 ? req->connect_timeout_ms : 10000));
    if (req->timeout_ms > 0) curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)req->timeout_ms);
    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, NULL);
    gw_curl_job_add(m, e, &f->job);
    return f;
}

void gw_fetch_cancel(gw_fetch *f) {
    if (f) fetch_free(f);
}
