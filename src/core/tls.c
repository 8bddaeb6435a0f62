#include "core/tls.h"

#include <errno.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void openssl_error(char *err, size_t errlen, const char *what) {
    char detail[256];
    ERR_error_string_n(ERR_get_error(), detail, sizeof detail);
    snprintf(err, errlen, "%s: %s", what, detail);
}

/* mkdir -p of the directory part of path. */
static int make_parent_dirs(const char *path) {
    char dir[1024];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash) return 0;
    *slash = '\0';
    for (char *p = dir + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(dir, 0755) < 0 && errno != EEXIST) return -1;
        *p = '/';
    }
    return mkdir(dir, 0755) < 0 && errno != EEXIST ? -1 : 0;
}

static int write_pem(const char *path, int private, EVP_PKEY *key, X509 *cert) {
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    if (private) fchmod(fileno(f), 0600);
    int ok =
        private ? PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL) : PEM_write_X509(f, cert);
    return fclose(f) == 0 && ok ? 0 : -1;
}

int gw_tls_file_missing(const char *path) {
    struct stat st;
    return stat(path, &st) < 0 && (errno == ENOENT || errno == ENOTDIR);
}

int gw_tls_ensure_self_signed(const char *cert_path, const char *key_path, char *err,
                              size_t errlen) {
    int have_cert = !gw_tls_file_missing(cert_path), have_key = !gw_tls_file_missing(key_path);
    if (have_cert && have_key) return 0; /* unreadable ones are for gw_tls_server_ctx to say */
    if (have_cert || have_key) {
        /* making a pair would overwrite the one that exists, perhaps a real certificate */
        snprintf(err, errlen,
                 "%s exists but %s does not: self_signed makes a pair only when both are missing",
                 have_cert ? cert_path : key_path, have_cert ? key_path : cert_path);
        return -1;
    }
    if (make_parent_dirs(cert_path) < 0 || make_parent_dirs(key_path) < 0) {
        snprintf(err, errlen, "cannot create the directory of %s: %s", cert_path, strerror(errno));
        return -1;
    }
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *cert = X509_new();
    int rc = -1;
    if (!key || !cert) {
        openssl_error(err, errlen, "cannot generate a key");
        goto out;
    }
    X509_set_version(cert, 2);
    unsigned char serial[16];
    FILE *urandom = fopen("/dev/urandom", "rb");
    if (!urandom || fread(serial, 1, sizeof serial, urandom) != sizeof serial) {
        if (urandom) fclose(urandom);
        snprintf(err, errlen, "cannot read /dev/urandom");
        goto out;
    }
    fclose(urandom);
    serial[0] &= 0x7f;
    BIGNUM *bn = BN_bin2bn(serial, sizeof serial, NULL);
    BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert));
    BN_free(bn);
    X509_gmtime_adj(X509_getm_notBefore(cert), -3600);
    X509_gmtime_adj(X509_getm_notAfter(cert), 825L * 24 * 3600);
    X509_set_pubkey(cert, key);
    X509_NAME *name = X509_get_subject_name(cert);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"localhost", -1, -1,
                               0);
    X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)"aigw self-signed",
                               -1, -1, 0);
    X509_set_issuer_name(cert, name);
    X509V3_CTX v3;
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, cert, cert, NULL, NULL, 0);
    static const char *const exts[][2] = {
        {"subjectAltName", "DNS:localhost,IP:127.0.0.1,IP:::1"},
        {"basicConstraints", "critical,CA:TRUE"}, /* so clients can trust it as its own CA */
        {"keyUsage", "critical,digitalSignature,keyCertSign"},
        {"extendedKeyUsage", "serverAuth"},
    };
    for (size_t i = 0; i < sizeof exts / sizeof exts[0]; i++) {
        X509_EXTENSION *ext = X509V3_EXT_conf(NULL, &v3, exts[i][0], exts[i][1]);
        if (!ext) {
            openssl_error(err, errlen, "cannot build the certificate");
            goto out;
        }
        X509_add_ext(cert, ext, -1);
        X509_EXTENSION_free(ext);
    }
    if (!X509_sign(cert, key, EVP_sha256())) {
        openssl_error(err, errlen, "cannot sign the certificate");
        goto out;
    }
    if (write_pem(key_path, 1, key, NULL) < 0 || write_pem(cert_path, 0, NULL, cert) < 0) {
        snprintf(err, errlen, "cannot write %s or %s: %s", cert_path, key_path, strerror(errno));
        goto out;
    }
    rc = 1;
out:
    X509_free(cert);
    EVP_PKEY_free(key);
    return rc;
}

static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                       const unsigned char *in, unsigned int inlen, void *arg) {
    (void)ssl;
    (void)arg;
    static const unsigned char http11[] = "\x08http/1.1";
    if (SSL_select_next_proto((unsigned char **)out, outlen, http11, sizeof http11 - 1, in,
                              inlen) == OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_OK;
    return SSL_TLSEXT_ERR_NOACK; /* a client that offers only h2 still gets HTTP/1.1 */
}

SSL_CTX *gw_tls_server_ctx(const char *cert_path, const char *key_path, char *err, size_t errlen) {
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) {
        openssl_error(err, errlen, "cannot create a TLS context");
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    if (SSL_CTX_use_certificate_chain_file(ctx, cert_path) != 1) {
        openssl_error(err, errlen, "cannot load the certificate");
        SSL_CTX_free(ctx);
        return NULL;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, key_path, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1) {
        openssl_error(err, errlen, "cannot load the private key");
        SSL_CTX_free(ctx);
        return NULL;
    }
    SSL_CTX_set_alpn_select_cb(ctx, alpn_select, NULL);
    return ctx;
}

/* Stands in for OpenSSL's default, which would prompt on the terminal for a passphrase. */
static int refuse_passphrase(char *buf, int size, int rwflag, void *asked) {
    (void)buf;
    (void)size;
    (void)rwflag;
    *(int *)asked = 1;
    return -1;
}

/* The first error queued is the cause ("no start line"); later ones only wrap it ("PEM lib"). */
static void openssl_reason(char *err, size_t errlen, const char *what) {
    const char *reason = ERR_reason_error_string(ERR_peek_error());
    snprintf(err, errlen, "%s (%s)", what, reason ? reason : "unknown error");
    ERR_clear_error();
}

/* Opens a file to read, with "cannot read: ..." in err when it cannot be. */
static FILE *open_readable(const char *path, char *err, size_t errlen) {
    FILE *f = fopen(path, "r");
    struct stat st;
    if (!f)
        snprintf(err, errlen, "cannot read: %s", strerror(errno));
    else if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode))
        snprintf(err, errlen, "cannot read: %s", strerror(EISDIR));
    else
        return f;
    if (f) fclose(f);
    return NULL;
}

int gw_tls_check_pair(const char *cert_path, const char *key_path, char *cert_err, char *key_err,
                      size_t errlen) {
    cert_err[0] = key_err[0] = '\0';
    ERR_clear_error();
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) {
        openssl_reason(cert_err, errlen, "cannot create a TLS context");
        return -1;
    }
    int have_cert = 0;
    FILE *f = open_readable(cert_path, cert_err, errlen);
    if (f) {
        fclose(f);
        /* the loader gw_tls_server_ctx uses, so check and serve agree on what a chain file is */
        have_cert = SSL_CTX_use_certificate_chain_file(ctx, cert_path) == 1;
        if (!have_cert) openssl_reason(cert_err, errlen, "not a PEM certificate");
    }

    EVP_PKEY *key = NULL;
    int asked_passphrase = 0;
    if ((f = open_readable(key_path, key_err, errlen))) {
        key = PEM_read_PrivateKey(f, NULL, refuse_passphrase, &asked_passphrase);
        fclose(f);
        if (!key && asked_passphrase) {
            snprintf(key_err, errlen, "is encrypted: aigw needs a key without a passphrase");
            ERR_clear_error();
        } else if (!key) {
            openssl_reason(key_err, errlen, "not a PEM private key");
        }
    }

    if (have_cert && key) {
        if (X509_check_private_key(SSL_CTX_get0_certificate(ctx), key) != 1)
            openssl_reason(key_err, errlen, "does not match the certificate");
        else if (SSL_CTX_use_PrivateKey(ctx, key) != 1 || SSL_CTX_check_private_key(ctx) != 1)
            openssl_reason(key_err, errlen, "cannot be used with the certificate");
    }
    EVP_PKEY_free(key);
    SSL_CTX_free(ctx);
    return cert_err[0] || key_err[0] ? -1 : 0;
}
