/*
 * tls.h - AutoMTLS as go-plugin does it, with OpenSSL, for one bridge
 * process (internal to the bridge).
 *
 * Each process makes a fresh identity: a P-256 key and a self-signed
 * certificate with SAN DNS:localhost (Go ignores the CN), usable for server
 * and client authentication, valid from 30 s ago. Terraform learns the
 * certificate from the handshake line (base64 of its DER, standard
 * alphabet, no padding) and trusts nothing else. We in turn trust only the
 * certificate Terraform put in PLUGIN_CLIENT_CERT and require the client to
 * present it. TLS 1.2 is the floor; ALPN selects "h2".
 *
 * A tls_stream is one server-side TLS session driven through two memory
 * BIOs, so that the socket stays with libuv: ciphertext read from the socket
 * is fed in, plaintext comes out for nghttp2; plaintext from nghttp2 goes
 * in, ciphertext comes out for the socket. Nothing here does I/O.
 */
#ifndef TFBRIDGE_TLS_H
#define TFBRIDGE_TLS_H

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>

#define TLS_ERR_MAX 256

typedef struct tls_identity {
    EVP_PKEY *key;
    X509 *cert;
    char *cert_b64; /* base64 (std alphabet, no '=') of the DER; malloc'd */
} tls_identity;

/* Generates a key and a self-signed certificate for "localhost". Returns 0,
 * or -1 with a reason in err. On failure nothing needs freeing. */
int tls_identity_generate(tls_identity *id, char err[TLS_ERR_MAX]);
void tls_identity_free(tls_identity *id);

/* A server context: our identity, TLS >= 1.2, ALPN h2, and a client
 * certificate required and verified against `client_cert_pem` (the PEM of
 * PLUGIN_CLIENT_CERT, which may hold several certificates; each becomes a
 * trust anchor). Returns a new context, or NULL with a reason in err. */
SSL_CTX *tls_server_ctx_new(const tls_identity *id, const char *client_cert_pem,
                            char err[TLS_ERR_MAX]);

typedef enum tls_status {
    TLS_OK = 0,      /* progress made (or nothing to do) */
    TLS_FAILED = -1, /* the session is broken: close the connection */
    TLS_CLOSED = -2, /* the peer ended the session (close_notify): close too */
} tls_status;

typedef struct tls_stream {
    SSL *ssl;
    BIO *in;  /* ciphertext from the peer, read by OpenSSL */
    BIO *out; /* ciphertext for the peer, written by OpenSSL */
    bool handshake_done;
    char error[TLS_ERR_MAX]; /* why the session failed, once it has */
} tls_stream;

/* Sets up a server session on ctx. Returns 0 or -1. */
int tls_stream_init(tls_stream *s, SSL_CTX *ctx);
void tls_stream_free(tls_stream *s);

/* Hands ciphertext from the socket to the session. Returns 0 or -1 (out of
 * memory). */
int tls_stream_feed(tls_stream *s, const void *data, size_t len);

/* Advances the handshake and decrypts what has arrived, calling
 * on_plain(arg, data, len) for each run of plaintext. on_plain returns 0 to
 * go on, a positive value to stop (its value is returned). Returns 0 when
 * everything fed so far has been consumed (the session may want more),
 * TLS_CLOSED when the peer ended the session, or TLS_FAILED with s->error
 * set. */
int tls_stream_pump(tls_stream *s, int (*on_plain)(void *arg, const char *data, size_t len),
                    void *arg);

/* Encrypts plaintext for the peer (only after the handshake). Returns 0 or
 * TLS_FAILED. */
int tls_stream_write(tls_stream *s, const void *data, size_t len);

/* Moves the ciphertext waiting for the peer into a new malloc'd buffer.
 * Returns its length (0 when nothing waits, *out NULL), or -1 when memory
 * ran out. */
long tls_stream_take_output(tls_stream *s, char **out);

/* The protocol ALPN selected ("h2"), or NULL. Borrowed. */
const char *tls_stream_alpn(const tls_stream *s, size_t *len);

#endif /* TFBRIDGE_TLS_H */
