/* What `aigw check` verifies beyond the YAML: that `serve` can use what the config points at,
 * and (on request) that each engine serves the models mapped to it. */
#ifndef AIGW_CONFIG_PREFLIGHT_H
#define AIGW_CONFIG_PREFLIGHT_H

#include <stdio.h>

#include "core/config-t.h"

/* The files serve opens at start: the TLS pair (readable PEM, key matching the certificate; with
 * self_signed and both missing, that the pair can be created) and a log.access file (openable
 * for appending; a file it had to create is removed again). Prints each problem to err as
 * "CONFIG: field: path: what is wrong" and notes to out; returns the number of problems. */
int gw_preflight_check(const gw_config *cfg, FILE *out, FILE *err);

/* Asks each channel's engine for its models (GET {base_url}/models, all channels at once, 2 s to
 * connect and 5 s in all) and warns on err about every model whose upstream name its channel
 * does not list, and about every channel that could not be asked. builtin:sim channels serve any
 * name and are skipped. Needs curl_global_init. Returns the number of warnings. */
int gw_preflight_probe(const gw_config *cfg, FILE *out, FILE *err);

#endif
