/* aigw-sim: the engine simulator as a standalone process. It prints one line once it accepts
 * connections, so a test can start it with --port 0 and read the port (with --control-port, and
 * in mindie mode for the management port, a line naming that port comes first), and it stops
 * cleanly (every byte freed, exit 0) on SIGTERM or SIGINT. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "sim/sim.h"

static void usage(FILE *out) {
    fprintf(out,
            "usage: aigw-sim [options]\n"
            "An inference engine simulator: vLLM's OpenAI API by default, or another engine's\n"
            "wire format (--engine), with /sim/* test hooks.\n"
            "\n"
            "  --engine NAME       openai (default, vLLM-like), vllm, sglang, mindie, tgi,\n"
            "                      anthropic or azure\n"
            "  --host H            bind address (default 127.0.0.1)\n"
            "  --port N            port, 0 picks a free one (default 8000)\n"
            "  --threads N         worker threads (default 1)\n"
            "  --first-token-ms N  delay before the first token / a whole answer (default 0)\n"
            "  --inter-token-ms N  delay between streamed tokens (default 0)\n"
            "  --output-tokens N   tokens generated without max_tokens (default 16)\n"
            "  --models a,b        served model names, * for any (default sim-model)\n"
            "  --control-port N    also serve /sim/* on port N (0 picks a free one), which\n"
            "                      the refuse fault leaves open (default: none)\n"
            "  --management-port N mindie: the management port (/health, /v2/health/live,\n"
            "                      /v2/health/ready); 0 or absent picks a free one\n"
            "  --help              this text\n"
            "\n"
            "Per request: x-sim-first-token-ms, x-sim-inter-token-ms, x-sim-output-tokens,\n"
            "x-sim-fault (status:CODE, hang, stall, reset, reset:N, cut:N, malformed,\n"
            "mid-error) and x-sim-error-shape (openai, flat, tgi, empty, mindie, anthropic,\n"
            "azure; default: the engine's own).\n"
            "Scripted answer: x-sim-text: TEXT makes the generated text exactly TEXT (UTF-8, at\n"
            "most 16 KiB; with x-sim-text-encoding: percent it is %%XX-encoded, for any byte,\n"
            "blanks at either end included). Its tokens are its words, each with the blanks\n"
            "before it, or with x-sim-chunk-bytes: N (1-4096) pieces of N bytes, stretched to\n"
            "the end of a UTF-8 character. completion_tokens counts them; max_tokens cuts\n"
            "them (finish \"length\"), else the text ends with \"stop\". In every engine mode,\n"
            "chat and completions, streamed or not; tool-call answers are unaffected.\n"
            "For the whole instance: POST /sim/fault {\"fault\":...} (also refuse; none\n"
            "clears), GET /sim/fault.\n");
}

static bool parse_number(const char *flag, const char *text, int min, int max, int *out) {
    char *end = NULL;
    errno = 0;
    long value = strtol(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || value < min || value > max) {
        fprintf(stderr, "aigw-sim: %s expects an integer in [%d, %d], got '%s'\n", flag, min, max,
                text);
        return false;
    }
    *out = (int)value;
    return true;
}

int main(int argc, char **argv) {
    enum {
        OPT_HOST = 1,
        OPT_PORT,
        OPT_THREADS,
        OPT_FIRST,
        OPT_INTER,
        OPT_OUTPUT,
        OPT_MODELS,
        OPT_CONTROL_PORT,
        OPT_ENGINE,
        OPT_MANAGEMENT_PORT,
    };
    static const struct option options[] = {
        {"host", required_argument, NULL, OPT_HOST},
        {"port", required_argument, NULL, OPT_PORT},
        {"threads", required_argument, NULL, OPT_THREADS},
        {"first-token-ms", required_argument, NULL, OPT_FIRST},
        {"inter-token-ms", required_argument, NULL, OPT_INTER},
        {"output-tokens", required_argument, NULL, OPT_OUTPUT},
        {"models", required_argument, NULL, OPT_MODELS},
        {"control-port", required_argument, NULL, OPT_CONTROL_PORT},
        {"engine", required_argument, NULL, OPT_ENGINE},
        {"management-port", required_argument, NULL, OPT_MANAGEMENT_PORT},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    sim_config cfg = {.host = "127.0.0.1", .port = 8000, .threads = 1, .output_tokens = 16};
    opterr = 0;
    int opt;
    bool ok = true;
    while (ok && (opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (opt) {
        case OPT_HOST:
            cfg.host = optarg;
            break;
        case OPT_PORT:
            ok = parse_number("--port", optarg, 0, 65535, &cfg.port);
            break;
        case OPT_THREADS:
            ok = parse_number("--threads", optarg, 1, 256, &cfg.threads);
            break;
        case OPT_FIRST:
            ok = parse_number("--first-token-ms", optarg, 0, 3600000, &cfg.first_token_delay_ms);
            break;
        case OPT_INTER:
            ok = parse_number("--inter-token-ms", optarg, 0, 3600000, &cfg.inter_token_delay_ms);
            break;
        case OPT_OUTPUT:
            ok = parse_number("--output-tokens", optarg, 1, 100000, &cfg.output_tokens);
            break;
        case OPT_MODELS:
            cfg.models = optarg;
            break;
        case OPT_CONTROL_PORT:
            cfg.control_listener = true;
            ok = parse_number("--control-port", optarg, 0, 65535, &cfg.control_port);
            break;
        case OPT_ENGINE:
            cfg.engine = optarg;
            break;
        case OPT_MANAGEMENT_PORT:
            cfg.management_listener = true;
            ok = parse_number("--management-port", optarg, 0, 65535, &cfg.management_port);
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            fprintf(stderr, "aigw-sim: unknown option or missing value: %s\n", argv[optind - 1]);
            ok = false;
        }
    }
    if (ok && optind < argc) {
        fprintf(stderr, "aigw-sim: unexpected argument: %s\n", argv[optind]);
        ok = false;
    }
    if (!ok) {
        usage(stderr);
        return 2;
    }

    /* Block the stop signals before the workers exist, so they inherit the mask and only the
     * main thread, in sigwait, ever receives them. */
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
    signal(SIGPIPE, SIG_IGN);

    char err[256] = "";
    sim_server *server = sim_start(&cfg, err, sizeof(err));
    if (server == NULL) {
        fprintf(stderr, "aigw-sim: %s\n", err);
        return 1;
    }
    bool ipv6 = strchr(cfg.host, ':') != NULL && cfg.host[0] != '[';
    /* The control line first: whoever waits for the listening line then knows both ports. */
    if (sim_control_port(server) >= 0)
        printf("aigw-sim control on http://%s%s%s:%d\n", ipv6 ? "[" : "", cfg.host, ipv6 ? "]" : "",
               sim_control_port(server));
    if (sim_management_port(server) >= 0)
        printf("aigw-sim management on http://%s%s%s:%d/\n", ipv6 ? "[" : "", cfg.host,
               ipv6 ? "]" : "", sim_management_port(server));
    printf("aigw-sim listening on http://%s%s%s:%d\n", ipv6 ? "[" : "", cfg.host, ipv6 ? "]" : "",
           sim_port(server));
    fflush(stdout);

    int sig = 0;
    while (sigwait(&stop_signals, &sig) != 0) {
    }
    sim_stop(server);
    libevent_global_shutdown();
    return 0;
}
