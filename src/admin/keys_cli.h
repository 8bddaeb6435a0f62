/* aigw keys: the key store from the command line, on the same database the server reads (the
 * server notices a change within a second and publishes it to its workers). */
#ifndef AIGW_ADMIN_KEYS_CLI_H
#define AIGW_ADMIN_KEYS_CLI_H

/* argv[0] is "keys"; config_path may be NULL (the store path's default). Exit status. */
int gw_keys_cli(int argc, char **argv, const char *config_path);

#endif
