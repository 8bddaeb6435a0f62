/* The x-sim-* request headers: per-request timing overrides and injected faults, which let the
 * gateway's tests make one engine slow, broken or rude without restarting it. The faults that
 * need no answer body (reset) are carried out here; the others shape the answer elsewhere. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sys/socket.h>
#include <unistd.h>

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

static bool parse_fault(const char *value, sim_options *opt) {
    if (strcasecmp(value, "none") == 0 || value[0] == '\0') {
        opt->fault = SIM_FAULT_NONE;
    } else if (strncasecmp(value, "status:", 7) == 0) {
        opt->fault = SIM_FAULT_STATUS;
        return parse_int(value + 7, 400, 599, &opt->fault_arg);
    } else if (strcasecmp(value, "hang") == 0) {
        opt->fault = SIM_FAULT_HANG;
    } else if (strcasecmp(value, "reset") == 0) {
        opt->fault = SIM_FAULT_RESET;
    } else if (strncasecmp(value, "cut:", 4) == 0) {
        opt->fault = SIM_FAULT_CUT;
        return parse_int(value + 4, 0, SIM_MAX_OUTPUT_TOKENS, &opt->fault_arg);
    } else if (strcasecmp(value, "cut") == 0) {
        opt->fault = SIM_FAULT_CUT;
        opt->fault_arg = 1;
    } else if (strcasecmp(value, "malformed") == 0) {
        opt->fault = SIM_FAULT_MALFORMED;
    } else if (strcasecmp(value, "mid-error") == 0) {
        opt->fault = SIM_FAULT_MID_ERROR;
    } else {
        return false;
    }
    return true;
}

static bool parse_shape(const char *value, sim_error_shape *shape) {
    if (strcasecmp(value, "openai") == 0)
        *shape = SIM_SHAPE_OPENAI;
    else if (strcasecmp(value, "flat") == 0)
        *shape = SIM_SHAPE_FLAT;
    else if (strcasecmp(value, "tgi") == 0)
        *shape = SIM_SHAPE_TGI;
    else if (strcasecmp(value, "empty") == 0)
        *shape = SIM_SHAPE_EMPTY;
    else
        return false;
    return true;
}

bool sim_options_from_headers(const sim_server *s, struct evhttp_request *req, sim_options *opt,
                              sim_problem *problem) {
    struct evkeyvalq *headers = evhttp_request_get_input_headers(req);
    opt->first_token_ms = s->first_token_ms;
    opt->inter_token_ms = s->inter_token_ms;
    opt->output_tokens = s->output_tokens;
    opt->fault = SIM_FAULT_NONE;
    opt->fault_arg = 0;
    opt->error_shape = SIM_SHAPE_OPENAI;

    /* The shape first: the problems below are written in it. */
    const char *shape = evhttp_find_header(headers, "x-sim-error-shape");
    if (shape != NULL && !parse_shape(shape, &opt->error_shape)) {
        sim_problem_set(problem, 400, NULL,
                        "Invalid x-sim-error-shape header: expected openai, flat, tgi or empty.");
        return false;
    }
    if (!header_int(req, "x-sim-first-token-ms", 0, SIM_MAX_DELAY_MS, &opt->first_token_ms,
                    problem) ||
        !header_int(req, "x-sim-inter-token-ms", 0, SIM_MAX_DELAY_MS, &opt->inter_token_ms,
                    problem) ||
        !header_int(req, "x-sim-output-tokens", 1, SIM_MAX_OUTPUT_TOKENS, &opt->output_tokens,
                    problem))
        return false;
    const char *fault = evhttp_find_header(headers, "x-sim-fault");
    if (fault != NULL && !parse_fault(fault, opt)) {
        sim_problem_set(problem, 400, NULL,
                        "Invalid x-sim-fault header: expected status:CODE (400-599), hang, reset, "
                        "cut:N, malformed or mid-error.");
        return false;
    }
    return true;
}

void sim_fault_reset(struct evhttp_request *req) {
    struct evhttp_connection *conn = evhttp_request_get_connection(req);
    if (conn == NULL) return;
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
     * after the callback returns for a server connection. */
    evhttp_connection_free(conn);
}
