// COpenSSL: OpenSSL's TLS API for the native TCP data plane, and what Swift cannot import by itself: macros as
// inline functions, and a socket BIO that never raises SIGPIPE.
#ifndef HANDOFF_COPENSSL_SHIM_H
#define HANDOFF_COPENSSL_SHIM_H

#include <errno.h>
#include <sys/socket.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

/// Writes with send(MSG_NOSIGNAL): OpenSSL's own socket BIO uses write(), and a peer that has gone away would
/// kill the process with SIGPIPE.
static inline int handoff_socket_bio_write(BIO *bio, const char *data, int length) {
    int fd = -1;
    BIO_get_fd(bio, &fd);
    errno = 0;
    ssize_t sent = send(fd, data, (size_t)length, MSG_NOSIGNAL);
    BIO_clear_retry_flags(bio);
    if (sent <= 0 && BIO_sock_should_retry((int)sent)) BIO_set_retry_write(bio);
    return (int)sent;
}

/// A socket BIO method whose writes are `handoff_socket_bio_write`; NULL when out of memory. One per session,
/// freed with BIO_meth_free after the session (SSL_free) that uses it.
static inline BIO_METHOD *handoff_socket_bio_method_new(void) {
    const BIO_METHOD *socket = BIO_s_socket();
    BIO_METHOD *method = BIO_meth_new(BIO_TYPE_SOCKET, "handoff socket");
    if (method == NULL) return NULL;
    BIO_meth_set_write(method, handoff_socket_bio_write);
    BIO_meth_set_read(method, BIO_meth_get_read(socket));
    BIO_meth_set_puts(method, BIO_meth_get_puts(socket));
    BIO_meth_set_ctrl(method, BIO_meth_get_ctrl(socket));
    BIO_meth_set_create(method, BIO_meth_get_create(socket));
    BIO_meth_set_destroy(method, BIO_meth_get_destroy(socket));
    return method;
}

/// Attaches `ssl` to the socket `fd` (which stays open when `ssl` is freed) through a BIO of `method`; 1 on
/// success, 0 otherwise.
static inline int handoff_ssl_attach(SSL *ssl, int fd, BIO_METHOD *method) {
    BIO *bio = BIO_new(method);
    if (bio == NULL) return 0;
    BIO_set_fd(bio, fd, BIO_NOCLOSE);
    SSL_set_bio(ssl, bio, bio);
    return 1;
}

/// SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION).
static inline int handoff_ssl_ctx_require_tls13(SSL_CTX *ctx) {
    return (int)SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
}

/// SSL_CTX_set_read_ahead(ctx, 1).
static inline void handoff_ssl_ctx_read_ahead(SSL_CTX *ctx) { SSL_CTX_set_read_ahead(ctx, 1); }

#endif
