/* The x-sim-* request headers: per-request timing overrides and injected faults, which let the
 * gateway's tests make one engine slow, broken or rude without restarting it; and the same as
 * instance-wide defaults (POST /sim/fault), which the headers override. The faults that need no
 * answer body (reset) are carried out here; the others shape the answer elsewhere. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>
#ifdef __linux__
#include <linux/sockios.h>
#endif

#include <event2/bufferevent.h>

#include "sim/sim_internal.h"

/* A whole decimal number in [min, max], surrounding blanks allowed; false otherwise. */
static bool parse_int(const char *s, int min, int max, int *out) {
    while (*s == ' ' || *s == '\t')
        s++;
    if (*s < '0' || *s > '9') return false;
    long value = 0;
    while (*s >= '0' && *s <= '9') {
        value = value * 10 + (*s - '0');
        if (value > max) return false;
        s++;
    }
    while (*s == ' ' || *s == '\t')
        s++;
    if (*s != '\0' || value < min) return false;
    *out = (int)value;
    return true;
}

static bool header_int(struct evhttp_request *req, const char *name, int min, int max, int *out,
                       sim_problem *problem) {
    const char *value = evhttp_find_header(evhttp_request_get_input_headers(req), name);
    if (value == NULL) return true;
    if (parse_int(value, min, max, out)) return true;
    sim_problem_set(problem, 400, NULL, "Invalid %s header: expected an integer in [%d, %d].", name,
                    min, max);
    return false;
}

/* refuse is only instance-wide: one request cannot make its own connection refused. */
static bool parse_fault(const char *value, bool instance_wide, sim_fault *fault, int *arg) {
    *arg = 0;
    if (strcasecmp(value, "none") == 0 || value[0] == '\0') {
        *fault = SIM_FAULT_NONE;
    } else if (strncasecmp(value, "status:", 7) == 0) {
        *fault = SIM_FAULT_STATUS;
        return parse_int(value + 7, 400, 599, arg);
    } else if (strcasecmp(value, "hang") == 0) {
        *fault = SIM_FAULT_HANG;
    } else if (strcasecmp(value, "stall") == 0) {
        *fault = SIM_FAULT_STALL;
    } else if (strcasecmp(value, "reset") == 0) {
        *fault = SIM_FAULT_RESET;
    } else if (strncasecmp(value, "reset:", 6) == 0) {
        *fault = SIM_FAULT_RESET_AFTER;
        return parse_int(value + 6, 0, SIM_MAX_OUTPUT_TOKENS, arg);
    } else if (strncasecmp(value, "cut:", 4) == 0) {
        *fault = SIM_FAULT_CUT;
        return parse_int(value + 4, 0, SIM_MAX_OUTPUT_TOKENS, arg);
    } else if (strcasecmp(value, "cut") == 0) {
        *fault = SIM_FAULT_CUT;
        *arg = 1;
    } else if (strcasecmp(value, "malformed") == 0) {
        *fault = SIM_FAULT_MALFORMED;
    } else if (strcasecmp(value, "mid-error") == 0) {
        *fault = SIM_FAULT_MID_ERROR;
    } else if (instance_wide && strcasecmp(value, "refuse") == 0) {
        *fault = SIM_FAULT_REFUSE;
    } else {
        return false;
    }
    return true;
}

/* The canonical spelling, as parse_fault reads it back. */
static void format_fault(sim_fault fault, int arg, char *buf, size_t len) {
    switch (fault) {
    case SIM_FAULT_NONE:
        snprintf(buf, len, "none");
        break;
    case SIM_FAULT_STATUS:
        snprintf(buf, len, "status:%d", arg);
        break;
    case SIM_FAULT_HANG:
        snprintf(buf, len, "hang");
        break;
    case SIM_FAULT_STALL:
        snprintf(buf, len, "stall");
        break;
    case SIM_FAULT_RESET:
        snprintf(buf, len, "reset");
        break;
    case SIM_FAULT_RESET_AFTER:
        snprintf(buf, len, "reset:%d", arg);
        break;
    case SIM_FAULT_CUT:
        snprintf(buf, len, "cut:%d", arg);
        break;
    case SIM_FAULT_MALFORMED:
        snprintf(buf, len, "malformed");
        break;
    case SIM_FAULT_MID_ERROR:
        snprintf(buf, len, "mid-error");
        break;
    case SIM_FAULT_REFUSE:
        snprintf(buf, len, "refuse");
        break;
    }
}

static const char *const shape_names[SIM_SHAPE_NAMED_COUNT] = {
    [SIM_SHAPE_OPENAI] = "openai", [SIM_SHAPE_FLAT] = "flat",
    [SIM_SHAPE_TGI] = "tgi",       [SIM_SHAPE_EMPTY] = "empty",
    [SIM_SHAPE_MINDIE] = "mindie", [SIM_SHAPE_ANTHROPIC] = "anthropic",
    [SIM_SHAPE_AZURE] = "azure",
};

static bool parse_shape(const char *value, sim_error_shape *shape) {
    for (size_t i = 0; i < sizeof(shape_names) / sizeof(shape_names[0]); i++) {
        if (strcasecmp(value, shape_names[i]) == 0) {
            *shape = (sim_error_shape)i;
            return true;
        }
    }
    return false;
}

bool sim_options_from_headers(const sim_server *s, struct evhttp_request *req, sim_options *opt,
                              sim_problem *problem) {
    struct evkeyvalq *headers = evhttp_request_get_input_headers(req);
    sim_instance_setting instance;
    sim_instance_load(s, &instance);
    opt->first_token_ms =
        instance.first_token_ms >= 0 ? instance.first_token_ms : s->first_token_ms;
    opt->inter_token_ms =
        instance.inter_token_ms >= 0 ? instance.inter_token_ms : s->inter_token_ms;
    opt->output_tokens = s->output_tokens;
    /* A refusing instance resets requests on connections opened before it refused (the router
     * does so before reading options); should one get this far, it is reset all the same. */
    opt->fault = instance.fault == SIM_FAULT_REFUSE ? SIM_FAULT_RESET : instance.fault;
    opt->fault_arg = instance.fault_arg;
    opt->error_shape = instance.error_shape >= 0 ? (sim_error_shape)instance.error_shape : s->shape;

    /* The shape first: the problems below are written in it. */
    const char *shape = evhttp_find_header(headers, "x-sim-error-shape");
    if (shape != NULL && !parse_shape(shape, &opt->error_shape)) {
        sim_problem_set(problem, 400, NULL,
                        "Invalid x-sim-error-shape header: expected openai, flat, tgi, empty, "
                        "mindie, anthropic or azure.");
        return false;
    }
    if (!header_int(req, "x-sim-first-token-ms", 0, SIM_MAX_DELAY_MS, &opt->first_token_ms,
                    problem) ||
        !header_int(req, "x-sim-inter-token-ms", 0, SIM_MAX_DELAY_MS, &opt->inter_token_ms,
                    problem) ||
        !header_int(req, "x-sim-output-tokens", 1, SIM_MAX_OUTPUT_TOKENS, &opt->output_tokens,
                    problem))
        return false;
    /* A scripted answer: checked here, so a bad one is refused like any bad x-sim-* header;
     * the generation builds its own copy later. */
    opt->text = NULL;
    opt->text_percent = false;
    opt->chunk_bytes = 0;
    opt->text_tokens = 0;
    if (!header_int(req, "x-sim-chunk-bytes", 1, SIM_MAX_CHUNK_BYTES, &opt->chunk_bytes, problem))
        return false;
    const char *encoding = evhttp_find_header(headers, "x-sim-text-encoding");
    if (encoding != NULL) {
        if (strcasecmp(encoding, "percent") == 0) {
            opt->text_percent = true;
        } else if (strcasecmp(encoding, "none") != 0) {
            sim_problem_set(problem, 400, NULL,
                            "Invalid x-sim-text-encoding header: expected percent or none.");
            return false;
        }
    }
    const char *text = evhttp_find_header(headers, "x-sim-text");
    if (text != NULL) {
        if (!sim_script_check("x-sim-text", text, opt->text_percent, opt->chunk_bytes,
                              &opt->text_tokens, problem))
            return false;
        opt->text = text;
    }
    if (!sim_script_parts_from_headers(req, opt, problem)) return false;
    const char *fault = evhttp_find_header(headers, "x-sim-fault");
    if (fault != NULL && !parse_fault(fault, false, &opt->fault, &opt->fault_arg)) {
        sim_problem_set(problem, 400, NULL,
                        "Invalid x-sim-fault header: expected none, status:CODE (400-599), hang, "
                        "stall, reset, reset:N, cut:N, malformed or mid-error.");
        return false;
    }
    return true;
}

void sim_instance_clear(sim_instance_setting *setting) {
    setting->fault = SIM_FAULT_NONE;
    setting->fault_arg = 0;
    setting->error_shape = -1;
    setting->first_token_ms = -1;
    setting->inter_token_ms = -1;
}

void sim_instance_load(const sim_server *s, sim_instance_setting *out) {
    const sim_instance_fault *f = &s->instance;
    for (;;) {
        unsigned before = atomic_load_explicit(&f->seq, memory_order_acquire);
        if (before & 1u) continue; /* a writer is between its few stores */
        out->fault = (sim_fault)atomic_load_explicit(&f->fault, memory_order_relaxed);
        out->fault_arg = atomic_load_explicit(&f->fault_arg, memory_order_relaxed);
        out->error_shape = atomic_load_explicit(&f->error_shape, memory_order_relaxed);
        out->first_token_ms = atomic_load_explicit(&f->first_token_ms, memory_order_relaxed);
        out->inter_token_ms = atomic_load_explicit(&f->inter_token_ms, memory_order_relaxed);
        /* The loads above may not move below the second read of the sequence. */
        atomic_thread_fence(memory_order_acquire);
        if (atomic_load_explicit(&f->seq, memory_order_relaxed) == before) return;
    }
}

void sim_instance_store(sim_server *s, const sim_instance_setting *in) {
    sim_instance_fault *f = &s->instance;
    unsigned seq = atomic_load_explicit(&f->seq, memory_order_relaxed);
    atomic_store_explicit(&f->seq, seq + 1, memory_order_relaxed);
    /* Readers must see the odd sequence before any of the new values. */
    atomic_thread_fence(memory_order_release);
    atomic_store_explicit(&f->fault, (int)in->fault, memory_order_relaxed);
    atomic_store_explicit(&f->fault_arg, in->fault_arg, memory_order_relaxed);
    atomic_store_explicit(&f->error_shape, in->error_shape, memory_order_relaxed);
    atomic_store_explicit(&f->first_token_ms, in->first_token_ms, memory_order_relaxed);
    atomic_store_explicit(&f->inter_token_ms, in->inter_token_ms, memory_order_relaxed);
    atomic_store_explicit(&f->seq, seq + 2, memory_order_release);
}

/* A delay field: an integer in [0, SIM_MAX_DELAY_MS], or null for "not set" (-1). */
static bool json_delay(json_object *value, const char *name, int *out, sim_problem *problem) {
    if (value == NULL) {
        *out = -1;
        return true;
    }
    if (json_object_is_type(value, json_type_int)) {
        int64_t ms = json_object_get_int64(value);
        if (ms >= 0 && ms <= SIM_MAX_DELAY_MS) {
            *out = (int)ms;
            return true;
        }
    }
    sim_problem_set(problem, 400, NULL, "Invalid %s: expected null or an integer in [0, %d].", name,
                    SIM_MAX_DELAY_MS);
    return false;
}

bool sim_instance_from_json(json_object *body, sim_instance_setting *out, sim_problem *problem) {
    sim_instance_clear(out);
    json_object_object_foreach(body, key, value) {
        if (strcmp(key, "fault") == 0) {
            if (!json_object_is_type(value, json_type_string) ||
                !parse_fault(json_object_get_string(value), true, &out->fault, &out->fault_arg)) {
                sim_problem_set(problem, 400, NULL,
                                "Invalid fault: expected none, status:CODE (400-599), hang, stall, "
                                "reset, reset:N, cut:N, malformed, mid-error or refuse.");
                return false;
            }
        } else if (strcmp(key, "error_shape") == 0) {
            sim_error_shape shape;
            if (value == NULL) {
                out->error_shape = -1;
            } else if (json_object_is_type(value, json_type_string) &&
                       parse_shape(json_object_get_string(value), &shape)) {
                out->error_shape = (int)shape;
            } else {
                sim_problem_set(problem, 400, NULL,
                                "Invalid error_shape: expected null, openai, flat, tgi, empty, "
                                "mindie, anthropic or azure.");
                return false;
            }
        } else if (strcmp(key, "first_token_ms") == 0) {
            if (!json_delay(value, key, &out->first_token_ms, problem)) return false;
        } else if (strcmp(key, "inter_token_ms") == 0) {
            if (!json_delay(value, key, &out->inter_token_ms, problem)) return false;
        } else {
            /* A misspelt field would otherwise be a silent no-op in a test. */
            sim_problem_set(problem, 400, NULL,
                            "Unknown field \"%.64s\": expected fault, error_shape, first_token_ms "
                            "or inter_token_ms.",
                            key);
            return false;
        }
    }
    return true;
}

static void add_optional_int(struct evbuffer *out, const char *name, int value) {
    if (value >= 0)
        evbuffer_add_printf(out, ",\"%s\":%d", name, value);
    else
        evbuffer_add_printf(out, ",\"%s\":null", name);
}

void sim_instance_body(const sim_instance_setting *setting, struct evbuffer *out) {
    char fault[32];
    format_fault(setting->fault, setting->fault_arg, fault, sizeof(fault));
    evbuffer_add_printf(out, "{\"fault\":\"%s\",\"error_shape\":", fault);
    if (setting->error_shape >= 0)
        evbuffer_add_printf(out, "\"%s\"", shape_names[setting->error_shape]);
    else
        evbuffer_add(out, "null", 4);
    add_optional_int(out, "first_token_ms", setting->first_token_ms);
    add_optional_int(out, "inter_token_ms", setting->inter_token_ms);
    evbuffer_add(out, "}", 1);
}

size_t sim_connection_unsent(struct evhttp_connection *conn) {
    struct bufferevent *bev = evhttp_connection_get_bufferevent(conn);
    size_t unsent = evbuffer_get_length(bufferevent_get_output(bev));
#ifdef SIOCOUTQNSD
    /* Linux: bytes in the send queue not yet sent (sent ones reach the peer before the RST). */
    int queued = 0;
    evutil_socket_t fd = bufferevent_getfd(bev);
    if (fd >= 0 && ioctl(fd, SIOCOUTQNSD, &queued) == 0 && queued > 0) unsent += (size_t)queued;
#endif
    return unsent;
}

void sim_fault_reset(struct evhttp_request *req) {
    struct evhttp_connection *conn = evhttp_request_get_connection(req);
    if (conn == NULL) return;
    sim_connection_reset(conn);
}

void sim_connection_reset(struct evhttp_connection *conn) {
    evutil_socket_t fd = bufferevent_getfd(evhttp_connection_get_bufferevent(conn));
    if (fd >= 0) {
        struct linger abortive = {.l_onoff = 1, .l_linger = 0};
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &abortive, sizeof(abortive));
        /* evhttp_connection_free shuts the socket down for writing before it closes it, which
         * would send a FIN ahead of the RST and the client would read a clean EOF. Connecting
         * to AF_UNSPEC disconnects at once, and Linux aborts an established socket with an RST.
         * The later close of the (now unconnected) fd sends nothing more. */
        struct sockaddr unspec = {.sa_family = AF_UNSPEC};
        if (connect(fd, &unspec, sizeof(unspec)) != 0) {
            /* Not Linux, or already gone: the abortive linger still resets on close. */
        }
    }
    /* Safe from the request callback: evhttp touches neither the connection nor the request
     * after the callback returns for a server connection. Also from a timer: the requests still
     * on the connection are freed with it. */
    evhttp_connection_free(conn);
}
