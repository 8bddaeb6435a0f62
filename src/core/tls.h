#ifndef AIGW_CORE_TLS_H
#define AIGW_CORE_TLS_H

#include <stddef.h>

typedef struct ssl_ctx_st SSL_CTX;

/* Creates the certificate and key files (EC P-256, self-signed for localhost and 127.0.0.1,
 * valid 825 days) unless both exist. Returns 1 if it made them, 0 if they existed, -1 on error. */
int gw_tls_ensure_self_signed(const char *cert_path, const char *key_path, char *err,
                              size_t errlen);
/* A server context (TLS 1.2+, HTTP/1.1 by ALPN) from PEM files; NULL and err on failure. */
SSL_CTX *gw_tls_server_ctx(const char *cert_path, const char *key_path, char *err, size_t errlen);

#endif
