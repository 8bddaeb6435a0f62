#include "admin/keys_cli.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config/load.h"
#include "store/keys.h"
#include "store/keys_spec.h"
#include "upstream/endpoints.h"
#include "upstream/pools.h"

static const char usage_text[] =
    "usage: aigw keys [-c FILE] create --name NAME [--tenant T] [--project P] --models a,b*\n"
    "       aigw keys [-c FILE] list\n"
    "       aigw keys [-c FILE] show|disable|enable|rotate|revoke ID\n"
    "The store is the config's store.path (default aigw.db). create and rotate print the new\n"
    "secret once: keep it, it is not stored.\n";

static void print_record(const gw_key_record *rec, const char *secret) {
    json_object *o = gw_key_record_json(rec);
    if (o && secret) json_object_object_add(o, "key", json_object_new_string(secret));
    puts(o ? json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
                                                   JSON_C_TO_STRING_NOSLASHESCAPE)
           : "{}");
    json_object_put(o);
}

static int print_listed(const gw_key_record *rec, void *ctx) {
    (void)ctx;
    json_object *o = gw_key_record_json(rec);
    puts(o ? json_object_to_json_string_ext(o,
                                            JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)
           : "{}");
    json_object_put(o);
    return 0;
}

static int failed(gw_keys_status rc, const char *err) {
    static const char *const what[] = {"ok",
                                       "no key with that id",
                                       "invalid",
                                       "the key is revoked",
                                       "too many keys",
                                       "the store failed"};
    fprintf(stderr, "aigw keys: %s%s%s\n", what[rc], *err ? ": " : "", err);
    return 1;
}

/* "a,b*" into the models array (pointers into a copy the caller frees). */
static size_t split_models(char *list, const char **out, size_t cap) {
    size_t n = 0;
    for (char *tok = strtok(list, ","); tok && n < cap; tok = strtok(NULL, ","))
        if (*tok) out[n++] = tok;
    return n;
}

static int run(gw_key_store *st, int argc, char **argv) {
    const char *sub = argv[1];
    char err[300] = "";
    int64_t now = (int64_t)time(NULL);
    gw_key_record rec = {0};
    gw_keys_status rc;
    if (!strcmp(sub, "create")) {
        const char *name = NULL, *tenant = NULL, *project = NULL;
        char *models = NULL;
        for (int i = 2; i + 1 < argc; i += 2) {
            if (!strcmp(argv[i], "--name"))
                name = argv[i + 1];
            else if (!strcmp(argv[i], "--tenant"))
                tenant = argv[i + 1];
            else if (!strcmp(argv[i], "--project"))
                project = argv[i + 1];
            else if (!strcmp(argv[i], "--models"))
                models = argv[i + 1];
            else
                return fprintf(stderr, "aigw keys create: unknown option %s\n", argv[i]), 2;
        }
        if (!name || !models)
            return fputs("aigw keys create: --name and --models are required\n", stderr), 2;
        char *copy = strdup(models);
        const char *list[GW_KEY_MODELS_MAX];
        size_t n = copy ? split_models(copy, list, GW_KEY_MODELS_MAX) : 0;
        gw_key_spec spec = {
            .name = name, .tenant = tenant, .project = project, .models = list, .model_count = n};
        char secret[GW_KEY_SECRET_LEN + 1];
        rc = gw_key_store_create(st, &spec, now, &rec, secret, err, sizeof err);
        if (rc == GW_KEYS_OK) print_record(&rec, secret);
        memset(secret, 0, sizeof secret);
        free(copy);
    } else if (!strcmp(sub, "list")) {
        gw_key_list_opts opts = {0};
        rc = gw_key_store_list(st, &opts, print_listed, NULL, err, sizeof err);
    } else if (argc == 3) {
        const char *id = argv[2];
        gw_key_update u = {0};
        if (!strcmp(sub, "show")) {
            rc = gw_key_store_get(st, id, &rec);
            if (rc == GW_KEYS_OK) print_record(&rec, NULL);
        } else if (!strcmp(sub, "disable") || !strcmp(sub, "enable")) {
            u.set = GW_KEY_SET_DISABLED;
            u.disabled = !strcmp(sub, "disable");
            rc = gw_key_store_update(st, id, &u, now, &rec, err, sizeof err);
            if (rc == GW_KEYS_OK) print_record(&rec, NULL);
        } else if (!strcmp(sub, "rotate")) {
            char secret[GW_KEY_SECRET_LEN + 1];
            rc = gw_key_store_rotate(st, id, now, &rec, secret, err, sizeof err);
            if (rc == GW_KEYS_OK) print_record(&rec, secret);
            memset(secret, 0, sizeof secret);
        } else if (!strcmp(sub, "revoke")) {
            rc = gw_key_store_revoke(st, id, now, &rec, err, sizeof err);
            if (rc == GW_KEYS_OK) print_record(&rec, NULL);
        } else {
            return fputs(usage_text, stderr), 2;
        }
    } else {
        return fputs(usage_text, stderr), 2;
    }
    gw_key_record_clear(&rec);
    return rc == GW_KEYS_OK ? 0 : failed(rc, err);
}

int gw_keys_cli(int argc, char **argv, const char *config_path) {
    if (argc < 2) return fputs(usage_text, stderr), 2;
    const char *path = "aigw.db";
    gw_config *cfg = NULL;
    if (config_path) {
        gw_config_errors errs;
        cfg = gw_config_load(config_path, NULL, &errs);
        if (!cfg) {
            for (size_t i = 0; i < errs.count; i++)
                fprintf(stderr, "%s\n", errs.messages[i]);
            gw_pools_free_all();
            gw_endpoints_free_all();
            return 1;
        }
        path = cfg->store_path;
    }
    char err[300];
    gw_key_store *st = gw_key_store_open(path, err, sizeof err);
    int rc = st ? run(st, argc, argv) : (fprintf(stderr, "aigw keys: %s: %s\n", path, err), 1);
    gw_key_store_close(st);
    gw_config_unref(cfg);
    gw_pools_free_all();
    gw_endpoints_free_all();
    return rc;
}
