/* The config loader's shared parts: the state of one load and the helpers every section's
 * parser uses (errors with file:line:column, typed scalars, ${VAR} expansion, mapping walks
 * that name the valid keys). A section with a parser of its own (mcp:, metering:) lives in its
 * own file of this folder and reads its nodes through these. Internal to src/config/. */
#ifndef AIGW_CONFIG_LOADER_H
#define AIGW_CONFIG_LOADER_H

#include <stddef.h>
#include <yaml.h>

#include "core/config-t.h"
#include "engines/engine.h"

/* What the walker needs while it validates one document. */
typedef struct loader {
    const char *file;
    yaml_document_t doc;
    gw_config *cfg;
    gw_config_errors *errs;
    const char *sim_base_url;
    yaml_node_t *current_key; /* the key whose value a handler is reading */
    /* the keys of the channel being read that only its engine adapter knows */
    gw_engine_option engine_options[32];
    size_t engine_option_count;
} loader;

void ld_error(loader *ld, const yaml_node_t *node, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
const char *ld_node_kind(const yaml_node_t *node);
yaml_node_t *ld_node(loader *ld, int index);
/* 0 when node is of type, else an error naming what was expected for `what`, and -1. */
int ld_expect_kind(loader *ld, yaml_node_t *node, yaml_node_type_t type, const char *what);
/* A scalar's text in the config's arena, ${VAR} and ${VAR:-default} expanded; NULL on error. */
const char *ld_expand(loader *ld, yaml_node_t *node);
const char *ld_string(loader *ld, yaml_node_t *node, const char *what);
int ld_int(loader *ld, yaml_node_t *node, const char *what, long min, long max, long *out);
int ld_bool(loader *ld, yaml_node_t *node, const char *what, int *out);
void ld_listen(loader *ld, yaml_node_t *node, const char *what, gw_listen *out);

typedef void (*key_handler)(loader *ld, yaml_node_t *value, void *target);
typedef struct key_spec {
    const char *key;
    key_handler handle;
} key_spec;

int ld_duplicate_key(loader *ld, yaml_node_t *node, yaml_node_pair_t *pair, const char *what);
/* Dispatches each key of a mapping to its handler ("*", last, takes any other key) and reports
 * unknown keys with the list of valid ones. */
void ld_walk_mapping(loader *ld, yaml_node_t *node, const char *what, const key_spec *specs,
                     void *target);

#endif
