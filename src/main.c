/* aigw: serve, check, keys, version. */
#include <curl/curl.h>
#include <stdio.h>
#include <string.h>

#include "admin/keys_cli.h"
#include "config/load.h"
#include "config/preflight.h"
#include "server/server.h"
#include "store/sqlite_open.h"
#include "upstream/endpoints.h"
#include "upstream/pools.h"

static void usage(FILE *out) {
    fputs("usage: aigw serve [-c FILE] [--banner]   run the gateway (no file: embedded default)\n"
          "       aigw check -c FILE [--probe [--strict]]\n"
          "                                           validate a config and the files it names;\n"
          "                                           --probe: ask each engine for its models,\n"
          "                                           --strict: exit 1 on warnings too\n"
          "       aigw keys [-c FILE] create|list|show|disable|enable|rotate|revoke ...\n"
          "                                           manage API keys in the key store\n"
          "       aigw default-config                 print the embedded default config\n"
          "       aigw version\n",
          out);
}

typedef struct check_options {
    const char *path;
    int probe;  /* ask each channel's engine which models it serves */
    int strict; /* warnings fail the check too */
} check_options;

/* Validates the YAML, then what serve would trip over (preflight.c): a file check passes is
 * one serve starts with. */
static int cmd_check(const check_options *opts) {
    const char *path = opts->path;
    gw_config_errors errs;
    gw_config *cfg = gw_config_load(path, NULL, &errs);
    if (!cfg) {
        for (size_t i = 0; i < errs.count; i++)
            fprintf(stderr, "%s\n", errs.messages[i]);
        fprintf(stderr, "%s: %zu error%s\n", path, errs.count, errs.count == 1 ? "" : "s");
        gw_pools_free_all();
        gw_endpoints_free_all();
        return 1;
    }
    int errors = gw_preflight_check(cfg, stdout, stderr), warnings = 0;
    if (opts->probe) {
        curl_global_init(CURL_GLOBAL_DEFAULT);
        warnings = gw_preflight_probe(cfg, stdout, stderr);
        curl_global_cleanup();
    }
    int failed = errors || (opts->strict && warnings);
    if (errors)
        fprintf(stderr, "%s: %d error%s\n", path, errors, errors == 1 ? "" : "s");
    else if (failed)
        fprintf(stderr, "%s: %d warning%s (failing: --strict)\n", path, warnings,
                warnings == 1 ? "" : "s");
    else
        printf("%s: ok (%zu channel%s, %zu model%s)%s\n", path, cfg->channel_count,
               cfg->channel_count == 1 ? "" : "s", cfg->model_count,
               cfg->model_count == 1 ? "" : "s", warnings ? " with warnings" : "");
    gw_config_unref(cfg);
    gw_pools_free_all();
    gw_endpoints_free_all();
    return failed ? 1 : 0;
}

int main(int argc, char **argv) {
    gw_sqlite_configure();
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1], *config = NULL;
    if (!strcmp(cmd, "keys")) { /* its own arguments: aigw keys [-c FILE] SUBCOMMAND ... */
        int first = 1;
        if (argc > 3 && (!strcmp(argv[2], "-c") || !strcmp(argv[2], "--config"))) {
            config = argv[3];
            argv[3] = argv[1];
            first = 3;
        }
        return gw_keys_cli(argc - first, argv + first, config);
    }
    int banner = 0;
    check_options check = {0};
    for (int i = 2; i < argc; i++) {
        if ((!strcmp(argv[i], "-c") || !strcmp(argv[i], "--config")) && i + 1 < argc) {
            config = argv[++i];
        } else if (!strcmp(argv[i], "--banner")) {
            banner = 1;
        } else if (!strcmp(cmd, "check") && !strcmp(argv[i], "--probe")) {
            check.probe = 1;
        } else if (!strcmp(cmd, "check") && !strcmp(argv[i], "--strict")) {
            check.strict = 1;
        } else {
            fprintf(stderr, "aigw: unknown argument '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    if (!strcmp(cmd, "serve")) return gw_serve(&(gw_serve_options){config, banner});
    if (!strcmp(cmd, "check")) {
        if (!config) {
            fprintf(stderr, "aigw check: -c FILE is required\n");
            return 2;
        }
        check.path = config;
        return cmd_check(&check);
    }
    if (!strcmp(cmd, "default-config")) {
        fputs(gw_default_config_yaml, stdout);
        return 0;
    }
    if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
        printf("aigw %s\n", AIGW_VERSION);
        return 0;
    }
    if (!strcmp(cmd, "help") || !strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
        usage(stdout);
        return 0;
    }
    fprintf(stderr, "aigw: unknown command '%s'\n", cmd);
    usage(stderr);
    return 2;
}
