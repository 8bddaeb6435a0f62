#ifndef AIGW_CORE_TLS_H
#define AIGW_CORE_TLS_H

#include <stddef.h>

typedef struct ssl_ctx_st SSL_CTX;

/* Whether path names no file (an unreadable one is not missing: it must not be replaced). */
int gw_tls_file_missing(const char *path);
/* Creates the certificate and key files (EC P-256, self-signed for localhost and 127.0.0.1,
 * valid 825 days) when both are missing. Returns 1 if it made them, 0 if they exist, -1 on error
 * (also when only one exists: a new pair would overwrite it). */
int gw_tls_ensure_self_signed(const char *cert_path, const char *key_path, char *err,
                              size_t errlen);
/* A server context (TLS 1.2+, HTTP/1.1 by ALPN) from PEM files; NULL and err on failure. */
SSL_CTX *gw_tls_server_ctx(const char *cert_path, const char *key_path, char *err, size_t errlen);

/* Whether gw_tls_server_ctx would load this pair, saying which file is wrong: returns 0, or -1
 * with the reason in cert_err and/or key_err (each "" when that file is fine), e.g. "not a PEM
 * certificate (no start line)" or "does not match the certificate (key values mismatch)". */
int gw_tls_check_pair(const char *cert_path, const char *key_path, char *cert_err, char *key_err,
                      size_t errlen);

#endif
