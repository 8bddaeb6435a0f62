/* aigw: serve, check, version. */
#include <stdio.h>
#include <string.h>

#include "core/config.h"
#include "core/server.h"

static void usage(FILE *out) {
    fputs("usage: aigw serve [-c FILE] [--banner]   run the gateway (no file: embedded default)\n"
          "       aigw check -c FILE                  validate a config, print its errors\n"
          "       aigw default-config                 print the embedded default config\n"
          "       aigw version\n",
          out);
}

static int cmd_check(const char *path) {
    gw_config_errors errs;
    gw_config *cfg = gw_config_load(path, NULL, &errs);
    if (!cfg) {
        for (size_t i = 0; i < errs.count; i++)
            fprintf(stderr, "%s\n", errs.messages[i]);
        fprintf(stderr, "%s: %zu error%s\n", path ? path : "<default>", errs.count,
                errs.count == 1 ? "" : "s");
        return 1;
    }
    printf("%s: ok (%zu channel%s, %zu model%s)\n", path ? path : "<default>", cfg->channel_count,
           cfg->channel_count == 1 ? "" : "s", cfg->model_count, cfg->model_count == 1 ? "" : "s");
    gw_config_unref(cfg);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1], *config = NULL;
    int banner = 0;
    for (int i = 2; i < argc; i++) {
        if ((!strcmp(argv[i], "-c") || !strcmp(argv[i], "--config")) && i + 1 < argc) {
            config = argv[++i];
        } else if (!strcmp(argv[i], "--banner")) {
            banner = 1;
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
        return cmd_check(config);
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
